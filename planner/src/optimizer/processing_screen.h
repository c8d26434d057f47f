#pragma once
// Internal to the variable-length optimizer (varlen_optimizer.cpp): the screen of candidate sequence
// processings, spread over the optimizer's worker pool.
//
// A candidate is first prepared (its units, whether they can run, its lower bound), then screened: balanced
// partitions on a sequential and a V placement, each list-scheduled by a few policies, and Seq1F1B's order when
// rows are sliced. Every (processing, placement, policy) schedule and every Seq1F1B replay is a job of its own
// and writes only its own slot; each processing's best is then picked in a fixed order (placement, then policy,
// then Seq1F1B; the first of equals wins), so the screen's results are the same whatever the thread count.
#include <atomic>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/unit.h"
#include "worker_pool.h"

namespace adaptis {

// The screen's best plan for one processing.
struct ScreenResult {
  bool ok = false;  // some schedule ran
  double ms = 0;
  bool fits = false;
  std::string what;  // "11 stages, list-scheduled (...)" / "seq1f1b on a cost-balanced partition"
  Plan plan;         // with Plan::units
};

struct ScreenedProcessing {
  SequenceProcessing processing;
  std::vector<WorkUnit> units;
  std::string error;  // why the processing does not apply ("" = it does)
  int slices = 0;
  double lower_bound_ms = 0;  // iteration_lower_bound() of its units
  bool screened = false;      // the screen ran (false: not reached, cancelled, or it does not apply)
  ScreenResult screen;
  int evaluations = 0;  // list-schedule runs and simulations the screen spent
};

// Turns each processing into units and bounds it, one job per processing (a processing that does not apply
// gets its error).
std::vector<ScreenedProcessing> prepare_processings(opt::WorkerPool& pool, const CostTable& costs,
                                                    const Cluster& cluster, int devices, const SequenceLengths& data,
                                                    const std::vector<SequenceProcessing>& processings,
                                                    const SimOptions& sim);

// Screens `batch[first, last)`, the prepared processings that apply. A cancellation skips the jobs not yet
// started (their processings stay unscreened).
void screen_processings(opt::WorkerPool& pool, const CostTable& costs, const Cluster& cluster, int devices,
                        const SimOptions& sim, std::vector<ScreenedProcessing>& all, size_t first, size_t last,
                        const std::atomic<bool>* cancel);

}  // namespace adaptis
