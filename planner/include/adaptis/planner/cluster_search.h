#pragma once
// The whole-cluster plan search: "what is the fastest way to train this model on these GPUs?"
// Enumerates every parallel configuration (pipeline, tensor, data, context and expert degrees,
// micro-batch size and count for the global batch, ZeRO level / distributed optimizer,
// recomputation) that the model and machine allow, drops the ones that provably cannot fit memory,
// orders the rest by a provable lower bound on their iteration time, simulates built-in pipeline
// schedules for them in that order until the bound of the next one is no better than the best
// plan found (no later configuration can win), then runs the pipeline optimizer on the most
// promising ones and ranks everything by throughput.
//
// Pure function over plain data. Deterministic: the enumeration order, the pruning and the
// optimizer's evaluation budgets (OptimizeOptions::max_evaluations, derived from
// ClusterSearchOptions::evaluations) fix the result for a seed; a wall-clock limit only stops it
// early (then ClusterSearchResult::stopped_by says so and the ranking is the best so far).
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/model/parallel_config.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

struct ClusterSearchOptions {
  int gpus = 0;                      // GPUs to use; 0 = all of the cluster's
  long long global_batch_tokens = 0; // tokens per iteration (a multiple of the model's seq_len); required
  // Candidate values; empty = defaults: tp = divisors of gpus_per_node; pp = divisors of the GPUs
  // left up to the layer count; cp = 1, 2, 4, 8 (attention-only models with long sequences);
  // ep = 1 and powers of two dividing the experts; micro-batch sizes 1, 2, 4, 8; ZeRO 0, 1
  // (distributed optimizer), 2, 3; recomputation none, selective, full.
  std::vector<int> tp, pp, cp, ep, micro_batch_sizes, zero_levels;
  std::vector<Recompute> recompute;
  bool overlap_grad_reduce = true;
  bool overlap_param_gather = true;
  int optimize_top = 3;          // configurations whose pipeline the optimizer searches
  // Of those, a configuration that recomputes on every stage is also searched without it, the pipeline
  // optimizer choosing recompute per stage (Plan::memory): the stages that hold fewer micro-batches in
  // flight often fit without recomputing, which saves their recompute time.
  bool per_stage_memory = true;
  long long evaluations = 0;     // optimizer budget per configuration in plan evaluations; 0 = sized
                                 // to the problem (about 2 M simulated actions each)
  uint64_t seed = 1;
  int threads = 0;               // optimizer worker threads (0 = all)
  double time_limit_s = 0;       // wall-clock safety limit; 0 = none
  int max_ranked = 50;           // rows kept in the ranking
  SimOptions sim;
};

// One configuration's outcome (a row of the ranked table).
struct ClusterCandidate {
  ParallelConfig config;
  double lower_bound_ms = 0;     // no plan of this configuration is faster
  std::string schedule;          // how its pipeline was planned: "1f1b", "interleaved-1f1b (v=2)", "optimized", ...
  bool evaluated = false;
  bool fits = false;             // its plan fits every GPU's memory
  Plan plan;                     // carries `config` as Plan::parallel
  double iteration_ms = 0;
  double pipeline_ms = 0;
  double bubble_ratio = 0;
  double tokens_per_s = 0;
  double model_flops_per_gpu = 0;
  double mfu = 0;
  double peak_memory_bytes = 0;  // the fullest GPU
  double memory_limit_bytes = 0;
  double exposed_comm_ms = 0;    // exposed gradient sync + the slowest device's TP/CP/EP time
  double exposed_grad_sync_ms = 0;
  double tp_comm_ms = 0, cp_comm_ms = 0, ep_comm_ms = 0;  // the busiest device's, per iteration
  double recompute_ms = 0;       // the busiest device's recomputed forward time
  double optimizer_ms = 0;       // the slowest device's optimizer step
};

struct ClusterSearchResult {
  std::vector<ClusterCandidate> ranked;  // evaluated configurations that fit, fastest first
  ClusterCandidate best;                 // ranked.front() (or the closest to fitting when none fits)
  bool feasible = false;
  CostTable best_costs;                  // per-GPU costs of the best configuration
  Cluster best_replica;                  // the devices of its pipeline replica
  SimResult best_sim;                    // its full simulation (collectives recorded)
  int gpus = 0;
  long long global_batch = 0;            // sequences per iteration
  long long enumerated = 0;              // configurations considered (degrees x micro-batching x ZeRO x recompute)
  long long invalid = 0;                 // rejected by the model/machine (heads, nodes, ...)
  long long over_memory = 0;             // provably over memory (static state + one micro-batch)
  long long pruned = 0;                  // lower bound no better than the best plan found
  long long simulated = 0;               // configurations whose built-in schedules were simulated
  long long optimized = 0;               // configurations the pipeline optimizer searched
  long long optimizer_evaluations = 0;
  double elapsed_s = 0;
  bool cancelled = false;
  std::string stopped_by;                // "complete", "cancelled" or "time"
  std::string message;                   // one-line summary
};

struct ClusterSearchProgress {
  double fraction = 0;        // 0..1
  double elapsed_s = 0;
  std::string phase;          // "enumerate", "bound", "simulate", "optimize", "done"
  long long done = 0, total = 0;
  double best_tokens_per_s = 0;
  std::string best;           // describe() of the best configuration so far
};
using ClusterSearchCallback = std::function<void(const ClusterSearchProgress&)>;

// Throws InputError for bad options (no global batch, a batch that is not a whole number of
// sequences or not divisible into micro-batches, more GPUs than the cluster has, a candidate
// value out of range). Returns the best so far when cancelled.
ClusterSearchResult search_cluster_plans(const ModelSpec& model, const Cluster& cluster,
                                         const ClusterSearchOptions& opt, const ClusterSearchCallback& progress = {},
                                         const std::atomic<bool>* cancel = nullptr);

// Plans and simulates one given configuration the way the search does (built-in schedules, and
// the optimizer when optimize_evaluations > 0): how a published configuration compares.
ClusterCandidate evaluate_cluster_config(const ModelSpec& model, const Cluster& cluster, const ParallelConfig& config,
                                         long long optimize_evaluations = 0, const SimOptions& sim = {},
                                         uint64_t seed = 1, int threads = 1);

// The table row of a plan simulated with its parallel configuration (plan.parallel set; `costs` the
// per-GPU costs it was simulated with, `replica` its devices).
ClusterCandidate candidate_from_simulation(const Plan& plan, const SimResult& sim, const CostTable& costs,
                                           const Cluster& replica, std::string schedule);

// Sentences saying why `ours` is faster (or not) than `theirs`, from their time breakdowns:
// pipeline bubble, tensor/context/expert communication, exposed gradient sync, recomputation,
// optimizer step, and the degrees that differ.
std::string explain_difference(const ClusterCandidate& ours, const ClusterCandidate& theirs);

}  // namespace adaptis
