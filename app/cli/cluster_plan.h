#pragma once
// `adaptis plan` (and `adaptis optimize --gpus N`): the whole-cluster plan search
// (planner/cluster_search.h) with a progress bar, the ranked table, the full plan of the best, a
// comparison against a given configuration, --json and a saved plan file.
#include <CLI/CLI.hpp>
#include <string>

#include "adaptis/planner/cluster_search.h"

namespace adaptis::cli {

struct ClusterPlanArgs {
  std::string model, cluster;
  int devices = 0;                 // N x H100 on one node when no --cluster
  int gpus = 0;
  long long global_batch_tokens = 0;
  long long global_batch = 0;      // sequences (instead of tokens)
  std::string tp, pp, cp, ep, micro_batch_sizes, zero, recompute;  // comma lists
  bool no_overlap_grad_reduce = false, no_overlap_param_gather = false;
  bool uniform_recompute = false;  // no per-stage recompute search (ClusterSearchOptions::per_stage_memory)
  int optimize_top = 3;
  long long max_evaluations = 0;
  uint64_t seed = 1;
  int threads = 0;
  double time_limit_s = 0;
  int rows = 10;
  std::string against;             // "pp=8,tp=8,dp=24,mbs=1,recompute=full,..."
  std::string out;
  bool json = false, quiet = false, gantt = false;
  int width = 0;
};

// Adds the search options (shared by `plan` and `optimize --gpus`).
void add_cluster_plan_options(CLI::App* cmd, ClusterPlanArgs& a, bool with_inputs);
int run_cluster_plan(const ClusterPlanArgs& a);

// "pp=8,tp=8,dp=24,mbs=1" -> a configuration (keys as in the JSON form, plus mbs, m, zero,
// distopt, sp, recompute); the global batch defaults to `global_batch`. InputError names `flag`.
ParallelConfig parse_parallel_spec(const std::string& text, long long global_batch, const std::string& flag);

}  // namespace adaptis::cli
