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
// budget, whichever comes first, and returns the best plan found so far. The time budget covers the
// set-up too (lower bound, baselines, seeds, the final replay): on an input so large that even those do
// not fit, the best plan so far (or the plain 1F1B plan) comes back with stopped_by "time", within
// max(0.5 s, 10%) of the budget.
//
// Determinism: the work is a fixed sequence of batches (a batch's result does not depend on how
// many threads ran it), and the budgets are checked only between batches. So the same seed, inputs
// and max_evaluations give the same plan on any machine and thread count. A wall-clock budget stops
// between batches too (before a batch that would not finish in time), so a time-cut result is
// reproducible as well: OptimizeResult::search_evaluations, passed back as max_evaluations (with
// time to spare), repeats it exactly. Only a cancellation, or a batch that overran the deadline and
// had to be cut inside, gives a result that is not reproducible (OptimizeResult::reproducible).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/plan_target.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

// Worker threads at most: 4 per hardware thread (more cannot help the search, and thousands would starve
// the machine), and never more than 256.
int max_optimizer_threads();

struct OptimizeOptions {
  int devices = 4;             // plan for the first `devices` devices of the cluster
  int microbatches = 8;
  double time_limit_s = 2.0;   // wall-clock budget; > 0
  uint64_t seed = 1;           // same seed + same inputs -> same plan, whatever the thread count
  int threads = 0;             // 0 = all hardware threads; at most max_optimizer_threads()
  SimOptions sim;              // comm latency etc.
  // 0 = no limit beyond the layer count for models up to 256 layers; deeper models get
  // max(4, 256 / devices) stages per device at most.
  int max_stages_per_device = 0;
  long long max_evaluations = 0;  // deterministic work budget in plan evaluations; 0 = none
  // A whole-cluster configuration the costs were derived for (parallel_costs.h): every plan the
  // search replays is simulated with it (data-parallel sync, optimizer step) and the best plan
  // carries it. Unset = a bare pipeline.
  std::optional<ParallelConfig> parallel;
  // Variable-length units (Plan::units, units.h): one micro-batch per unit, in this order (`microbatches`
  // is then ignored); every candidate is scheduled with the units' own costs and slice dependencies, and
  // the returned plan carries them. Empty = identical micro-batches. The cost table must state its
  // reference micro-batch (cost_reference()). To choose the units too, see varlen_optimizer.h.
  std::vector<WorkUnit> units;
  // Activation memory policies (Plan::memory, memory_policy.h) a stage may get. The defaults keep
  // every stage at no recompute and no offload (the search without this dimension). A single
  // other choice applies it to every stage; several make the search choose per stage, jointly
  // with partition, placement and schedule, under each device's memory limit: built-in schedules
  // are tried with every uniform recompute policy, seeds that do not fit climb recompute then
  // offload on their overflowing devices, and local search moves change single stages' policies
  // (full recompute of a stage's first k layers too when partial_full). Offload needs a host link
  // on every device (InputError otherwise).
  std::vector<Recompute> recompute_choices = {Recompute::None};
  std::vector<double> offload_choices = {0.0};
  bool partial_full = true;
  // Where the plan must run (plan_target.h). Adaptis: the full search above. Torch: the same
  // search, keeping only plans PyTorch's runtime accepts after the micro-batch relabelling (the
  // returned plan is relabelled). Torchtitan: also only looped or V placements (the search keeps
  // the placement of its looped / V seeds and moves partition and schedule). Megatron: a search
  // over Megatron-LM's own configurations (megatron_search.h): stages per rank, micro-batch group
  // size and any uneven layout, each with the order Megatron runs.
  PlanTarget target = PlanTarget::Adaptis;
  // When the time budget started (default: when optimize() is called). A caller that already spent part
  // of the user's budget (loading the inputs, deriving costs from a model) passes its own start, so the
  // whole command keeps the budget.
  std::optional<std::chrono::steady_clock::time_point> budget_start;
};

// A built-in schedule as `compare` runs it (its own even partition and default placement), simulated
// by the optimizer's first phase: callers show the comparison without simulating them again.
struct BuiltinResult {
  std::string name;   // the schedule's name
  StageMemoryPolicy memory;  // the uniform policy it ran with (each one the search tries; none without)
  bool ok = false;    // simulated without deadlock
  std::string error;  // why not: the schedule's constraint, a deadlock, or the budget ran out first
  Plan plan;
  SimResult sim;
};

struct OptimizeProgress {
  double elapsed_s = 0, fraction = 0;  // fraction of the budget/search done, 0..1
  double best_ms = 0;                  // best feasible iteration time so far (0 = none yet)
  long long evaluated = 0;             // plans simulated
  std::string phase;                   // "baselines", "partition", "placement", "schedule", ...
};

// Called from the optimizer's coordinating thread whenever the best improves and at least every ~100 ms.
using OptimizeCallback = std::function<void(const OptimizeProgress&, const Plan* best)>;

// Why a search ended.
enum class StopReason : uint8_t {
  Complete,     // it ran its course
  Optimal,      // a plan reached the lower bound: none can be faster
  Evaluations,  // max_evaluations
  Time,         // time_limit_s
  Cancelled,
};
const char* stop_reason_name(StopReason r);  // "complete", "optimal", "evaluations", "time", "cancelled"

struct OptimizeResult {
  bool feasible = false;       // false: no plan fits memory; `best` is then the closest plan
  Plan best;                   // plan.name = "adaptis-opt"
  SimResult sim;
  double overflow_bytes = 0;   // when infeasible: how much the closest plan exceeds its worst device
  std::string message;         // human summary (e.g. why nothing fits)
  OptimizeProgress final_progress;
  bool cancelled = false;
  StopReason stopped_by = StopReason::Complete;
  // Plans evaluated by the search proper (before the final replay of the finalists); with
  // max_evaluations set to this, the same seed repeats this result (see above).
  long long search_evaluations = 0;
  bool reproducible = true;  // false after a cancellation or a batch cut at the deadline
  IterationLowerBound lower_bound;  // no plan of this input can be faster (lower_bound.h)
  // Every built-in schedule, in all_schedules() order; with memory policies in the search, that list
  // once per uniform recompute policy, weakest first.
  std::vector<BuiltinResult> builtins;
  PlanTarget target = PlanTarget::Adaptis;  // the target `best` was searched for (it runs there)
};

// Throws InputError for invalid options (budget <= 0, devices > cluster, microbatches < 1, more devices than
// layers, an offload fraction outside [0, 1] or without a host link, ...). Returns the best plan found; never
// a plan over a device's memory limit when any fits.
OptimizeResult optimize(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& opt,
                        const OptimizeCallback& on_progress = {}, const std::atomic<bool>* cancel = nullptr);

}  // namespace adaptis
