#pragma once
// The auto-optimizer: a joint search over partition (uneven, any number of stages per device),
// placement (sequential, interleaved, V, wave, irregular) and schedule (dynamic list scheduling
// with W filling bubbles, memory caps per device, and every built-in schedule as a candidate),
// guided by the performance model, under each device's memory limit.
//
// How it searches (details in planner/src/optimizer/optimizer.cpp):
//   1. baselines: every built-in schedule, with its even partition and with a cost-balanced one
//      (looped schedules also with 3 and 4 chunks per device);
//   2. seeds: every stage count S in [D, 4D] (and near multiples of D above) on looped, wave and
//      bin-packed placements with balanced partitions, each scheduled by a few list-scheduling
//      policies, the most promising by all of them;
//   3. local search: parallel chains of moves over layer boundaries, stage devices (irregular
//      counts such as 7/6/6/5), stage splits/merges and scheduling policy, each move judged by the
//      list scheduler (a full dynamic schedule per move), in rounds that restart from the best plan
//      perturbed and from untried seeds;
//   4. the best candidates are replayed by simulate(); a plan over a device's memory limit is never
//      returned when any plan fits.
// The search stops by itself (at least four rounds of local search, then more while rounds still
// improve; or at once when a plan reaches the lower bound), at the evaluation budget or at the time
// budget, whichever comes first, and returns the best plan found so far.
//
// Determinism: the work is a fixed sequence of batches (a batch's result does not depend on how
// many threads ran it), and the budgets are checked only between batches. So the same seed, inputs
// and max_evaluations give the same plan on any machine and thread count. A wall-clock budget stops
// between batches too (before a batch that would not finish in time), so a time-cut result is
// reproducible as well: OptimizeResult::search_evaluations, passed back as max_evaluations (with
// time to spare), repeats it exactly. Only a cancellation, or a batch that overran the deadline and
// had to be cut inside, gives a result that is not reproducible (OptimizeResult::reproducible).
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

struct OptimizeOptions {
  int devices = 4;             // plan for the first `devices` devices of the cluster
  int microbatches = 8;
  double time_limit_s = 2.0;   // wall-clock budget; > 0
  uint64_t seed = 1;           // same seed + same inputs -> same plan, whatever the thread count
  int threads = 0;             // 0 = all hardware threads
  SimOptions sim;              // comm latency etc.
  int max_stages_per_device = 0;  // 0 = no limit beyond layer count
  long long max_evaluations = 0;  // deterministic work budget in plan evaluations; 0 = none
  // Variable-length units (Plan::units, units.h): one micro-batch per unit, in this order (`microbatches`
  // is then ignored); every candidate is scheduled with the units' own costs and slice dependencies, and
  // the returned plan carries them. Empty = identical micro-batches. The cost table must state its
  // reference micro-batch (cost_reference()). To choose the units too, see varlen_optimizer.h.
  std::vector<WorkUnit> units;
};

struct OptimizeProgress {
  double elapsed_s = 0, fraction = 0;  // fraction of the budget/search done, 0..1
  double best_ms = 0;                  // best feasible iteration time so far (0 = none yet)
  long long evaluated = 0;             // plans simulated
  std::string phase;                   // "baselines", "partition", "placement", "schedule", ...
};

// Called from the optimizer's coordinating thread whenever the best improves and at least every ~100 ms.
using OptimizeCallback = std::function<void(const OptimizeProgress&, const Plan* best)>;

struct OptimizeResult {
  bool feasible = false;       // false: no plan fits memory; `best` is then the closest plan
  Plan best;                   // plan.name = "adaptis-opt"
  SimResult sim;
  double overflow_bytes = 0;   // when infeasible: how much the closest plan exceeds its worst device
  std::string message;         // human summary (e.g. why nothing fits)
  OptimizeProgress final_progress;
  bool cancelled = false;
  // Why the search ended: "complete" (it ran its course), "optimal" (a plan reached the lower
  // bound, none can be faster), "evaluations" (max_evaluations), "time" (time_limit_s) or
  // "cancelled".
  std::string stopped_by;
  // Plans evaluated by the search proper (before the final replay of the finalists); with
  // max_evaluations set to this, the same seed repeats this result (see above).
  long long search_evaluations = 0;
  bool reproducible = true;  // false after a cancellation or a batch cut at the deadline
  IterationLowerBound lower_bound;  // no plan of this input can be faster (lower_bound.h)
};

// Throws InputError for invalid options (budget <= 0, devices > cluster, microbatches < 1, more devices than
// layers, ...). Returns the best plan found; never a plan over a device's memory limit when any fits.
OptimizeResult optimize(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& opt,
                        const OptimizeCallback& on_progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace adaptis
