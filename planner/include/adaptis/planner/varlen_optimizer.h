#pragma once
// The optimizer for variable-length data: jointly chooses how one iteration's sequences become units
// (packing by cost or by tokens, slicing long sequences, the token budget per unit, the order units
// enter the pipeline: sequence_processor.h) and the plan that runs them (partition, placement,
// schedule: optimizer.h).
//
// How it searches:
//   1. candidates: the processings of default_processings() (or the caller's), each turned into units;
//   2. screen: every candidate scheduled quickly (cost-balanced partitions on a sequential and a V
//      placement, a few list-scheduling policies, and Seq1F1B's order when rows are sliced), under the
//      devices' memory limits; the screen is a fixed amount of work, so it is deterministic. Its schedules
//      run on `search.threads` worker threads and are compared in a fixed order, so the thread count does
//      not change what it finds (nor does it change the checkpointing search of step 5, whose layouts run
//      on the same threads);
//   3. the best `finalists` candidates (plans that fit memory first) get the full joint search of
//      optimize() with OptimizeOptions::units, sharing the rest of the time and evaluation budgets;
//   4. the fastest plan that fits wins (the screen's own plans included).
//   5. when memory binds (no screened plan fits, or those that fit are over 5% slower than the fastest
//      that does not), per-unit activation checkpointing (StageMemoryPolicy::units: a stage recomputes
//      the forwards of chosen units in their backward) is searched on the most promising processings: the stages over their limit select the units that save the most bytes per ms of
//      recompute until they fit, then selections memory does not need are dropped; where recomputing is not
//      enough, the stages of devices with a host link also copy kept activations to host (offload); the
//      fastest fitting plan wins (its Plan::memory says what it checkpoints and offloads). When memory does
//      not bind it is not searched.
// No plan of a candidate processing can beat the lower bound of its units (lower_bound.h), so none at all can
// beat the lowest of them: once the fastest plan that fits reaches that (within a relative 1e-9), the search
// ends there, between two fixed batches of the screen, before a checkpointing search or before a full search,
// so it still does not depend on the thread count.
#include <atomic>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/sequence_processor.h"

namespace adaptis {

struct VarlenOptimizeOptions {
  // devices, time_limit_s, seed, threads, sim, max_stages_per_device, max_evaluations; microbatches and
  // units are ignored (they come from the processing).
  OptimizeOptions search;
  std::vector<SequenceProcessing> processings;  // candidates; empty = default_processings()
  bool allow_slicing = true;
  long long slice_multiple = 1;
  int finalists = 2;  // candidates that get the full plan search
};

// The candidate processings for `data` on `devices` devices: for unit budgets of the context, half and
// a quarter of it: equal-token packing, cost-balanced packing (two orders) and elastic processing (two
// unit counts, two orders); and Seq1F1B-style slicing of equal-token packs into 2 and 4 slices.
std::vector<SequenceProcessing> default_processings(const SequenceLengths& data, int devices, bool allow_slicing,
                                                    long long slice_multiple);

struct ProcessingTrial {
  SequenceProcessing processing;
  std::string error;        // why the processing does not apply ("" = it does)
  int units = 0, slices = 0;
  double screen_ms = 0;     // the screen's best iteration time (0 when nothing could be scheduled)
  bool fits = false;        // the screen's best plan fits memory
  std::string screen_plan;  // what gave screen_ms
  double lower_bound_ms = 0;
  bool finalist = false;
  double final_ms = 0;      // the full search's iteration time (finalists)
  bool checkpoint_searched = false;  // got the per-unit checkpointing search (nothing fit without it)
  double checkpoint_ms = 0;          // its best fitting plan's time (0 = none fits)
};

struct VarlenOptimizeResult {
  OptimizeResult best;             // best.best carries its units (Plan::units)
  SequenceProcessing processing;   // how those units were made
  std::vector<ProcessingTrial> trials;
  long long tokens = 0;            // content tokens of the iteration (padding excluded)
  double tokens_per_s = 0;         // tokens / iteration time
  std::string message;
  // When no plan fits memory even with per-unit checkpointing: why (the closest try's worst device and
  // what holds it there).
  std::string memory_note;
  // What the best plan checkpoints (describe_memory of its Plan::memory; "" = nothing), how many
  // (stage, unit) pairs recompute, and the recompute time summed over devices (simulated).
  std::string checkpointing;
  int checkpointed_pairs = 0;
  double recompute_ms = 0;
  // With checkpointing chosen: the best fitting plan without it (0 = none fits without it).
  double without_checkpointing_ms = 0;
  // The lowest lower bound of the candidate processings that can run: no plan of any of them is faster.
  double lower_bound_ms = 0;
  bool reached_lower_bound = false;   // the best plan fits and is at lower_bound_ms
  // And so the search left out work it would otherwise have done (best.stopped_by is then Optimal).
  bool ended_at_lower_bound = false;
  // List-schedule runs and simulations spent: the screen, the checkpointing search and the full searches
  // (their search_evaluations).
  long long evaluations = 0;
};

// Throws InputError for bad options or data (see optimize() and process_sequences()). A cancellation stops the
// search between steps (the screen's first batch always runs, so a plan comes back).
VarlenOptimizeResult optimize_lengths(const CostTable& costs, const Cluster& cluster, const SequenceLengths& data,
                                      const VarlenOptimizeOptions& options, const OptimizeCallback& on_progress = {},
                                      const std::atomic<bool>* cancel = nullptr);

}  // namespace adaptis
