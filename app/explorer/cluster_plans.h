#pragma once
// The cluster-plan view's state: the whole-cluster search (planner/cluster_search.h) for the
// session's model spec on its whole cluster, run in the background by the driver, and its ranked
// table. Choosing a row puts that configuration's pipeline plan on screen (with per-GPU costs and
// the replica's devices, so its collectives are simulated too). Plain data shared by both front ends.
#include <memory>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/planner/cluster_search.h"
#include "explorer/optimizer_job.h"

namespace adaptis::explorer {

// What the search needs beyond the explorer's inputs. Without a model spec (costs from a file) the
// view says why it cannot search.
struct ClusterPlanSetup {
  std::shared_ptr<const ModelSpec> model;
  Cluster cluster;               // the whole cluster (every GPU), not a pipeline replica
  ClusterSearchOptions options;  // gpus 0 = all; global_batch_tokens 0 = kDefaultSequencesPerGpu per GPU
};

// The global batch when none is given: this many sequences per GPU used.
constexpr long long kDefaultSequencesPerGpu = 4;

struct ClusterPlansState {
  JobState state = JobState::Idle;
  ClusterSearchOptions options;   // of the search in progress (or the last one)
  ClusterSearchProgress progress;
  std::shared_ptr<const ClusterSearchResult> result;      // the last search's outcome (best so far when cancelled)
  std::shared_ptr<const std::vector<ClusterCandidate>> rows;  // the table: ranked, or the closest when none fits
  bool rows_fit = true;           // false: nothing fits memory and the one row is the closest
  std::string message;            // the search's summary, or why it failed
  int selected = 0;               // the table's cursor
  int loaded = -1;                // the row whose plan is on screen (-1: none, or edited since)
  uint64_t loaded_revision = 0;   // the editor revision right after the row was loaded
  bool show_best = false;         // put the best row on screen when the search ends (start-up searches)
};

}  // namespace adaptis::explorer
