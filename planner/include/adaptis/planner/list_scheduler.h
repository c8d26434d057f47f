#pragma once
// Cost-aware dynamic list scheduling: given a partition and a placement, build each device's
// action order by simulating the pipeline and letting every idle device pick, among the actions
// whose inputs have arrived, the best one under a priority policy. This is the AdaPtis/OctoPipe
// "dynamic" scheduler generalised (several priority orders, a per-device cap on micro-batches in
// flight, and an activation-memory cap per device), and it is the optimizer's inner-loop
// evaluator: one call gives both the schedule and its iteration time.
//
// The timing model is the simulator's (simulator.h): durations divided by device speed plus the
// per-action overhead, a P2P transfer per cross-device edge (latency + bytes / bandwidth, FIFO per
// directed link), transfers beside compute unless SimOptions::overlap_comm is false, activations
// allocated when an F starts and freed when its B / W / BW ends. Because the orders it emits are
// then replayed by simulate() with exactly those rules, simulate() reproduces its iteration time
// and peak memory; the optimizer still checks every returned plan with simulate().
//
// Memory policies (memory_policy.h): a recomputing stage's R actions are scheduled like the others:
// right before their B when B could otherwise start (just in time), or earlier, in idle time, when
// the policy allows it and the device has room for the re-created activations. Offload copies run
// on each device's host link with the simulator's rules (a reload starts with the action before
// its consumer; an F followed directly by its consumer is not offloaded), so the emitted orders
// still replay to the same time; peak memory with offload is taken from the simulator's ledger.
// With variable-length units, recompute is per (stage, unit) (StageMemoryPolicy::units, carried by
// UnitStageCost::recompute): only selected units get an R, timed by the unit's own recompute and
// re-creating what the unit's own F dropped; offload with units is refused.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/units.h"

namespace adaptis {

struct ListSchedulePolicy {
  // Which kind of ready action an idle device prefers. W (weight gradient) always comes last, so
  // it fills the gaps the other two leave: the zero-bubble idea.
  enum class Order : uint8_t {
    BackwardFirst,  // B before F: the 1F1B steady state, frees activations early
    ForwardFirst,   // F before B: fills the pipeline first (GPipe-like when memory allows)
    Alternate,      // after an F prefer a B, after a B prefer an F
  };
  // Among ready actions of the same kind, which goes first.
  enum class Pick : uint8_t {
    OldestMicrobatch,  // lowest micro-batch, then the stage furthest along its F or B chain
    FurthestStage,     // the stage furthest along its chain (F: highest stage, B: lowest), then mb
    EarliestStage,     // the stage earliest in its chain (F: lowest stage, B: highest), then mb
    Grouped,           // Megatron's interleaved order: micro-batch groups of `group_size`, each group
                       // through a stage before the next stage (group, stage along the chain, mb)
  };
  Order order = Order::BackwardFirst;
  Pick forward = Pick::OldestMicrobatch;
  Pick backward = Pick::OldestMicrobatch;
  int group_size = 0;  // for Pick::Grouped; 0 = the number of devices
  // At most this many micro-batches started but not finished on a device at once (0 = no cap):
  // the warm-up depth knob of 1F1B-style schedules, traded against activation memory.
  int max_inflight = 0;
  // Run the backward as separate B and W actions (only meaningful when the costs have W time);
  // false fuses them into BW.
  bool split_backward = true;
  // Forward-backward improvement passes after the list schedule (0 = none). Each pass right-
  // justifies the schedule (actions in order of decreasing finish time, each as late as it can go)
  // and then left-justifies it again (in order of the new start times, each into the earliest gap
  // that fits): the classic justification technique for resource-constrained project scheduling.
  // It re-packs the greedy schedule around its critical chains and never lengthens it; a pass
  // whose result would break the memory cap is discarded.
  int improve_passes = 0;
  // Priority perturbation: each action's rank among its kind is pushed back by a pseudo-random
  // amount of up to `jitter` steps of the pick's major field (micro-batches for OldestMicrobatch,
  // stages otherwise), drawn from jitter_seed. 0 = the policy's exact order. Lets the search sample
  // schedules around a priority rule instead of only the rule itself.
  int jitter = 0;
  uint32_t jitter_seed = 0;
  // How forwards are admitted under a device's memory limit. true: a new micro-batch enters a
  // device only when the activations of every admitted micro-batch on all its stages fit at once
  // (never over the limit and never stuck, but wasteful when a device's stages hold their
  // activations at different times, as in a V placement). false: a new micro-batch enters when
  // what is live now plus all its activations on the device fit, and a forward of an admitted one
  // runs when its own stage's activations fit; the oldest unfinished micro-batch may always go on,
  // so memory never deadlocks the schedule, but that exemption can take a device over its limit
  // (ListScheduleResult::fits_memory says so; the optimizer then discards the plan).
  bool reserve_memory = true;
  // Where a recomputing stage's R goes. JustInTime: when its B could otherwise start (the same as
  // a recompute fused into B). BeforeW: also one R ahead, into idle time, before weight gradients
  // (R is on the path to B, W is not). AfterW: one R ahead only when nothing else is ready, the
  // purest bubble filling. An early R needs room for what it re-creates.
  enum class EarlyRecompute : uint8_t { JustInTime, BeforeW, AfterW };
  EarlyRecompute recompute = EarlyRecompute::BeforeW;

  bool operator==(const ListSchedulePolicy&) const = default;
};

std::string describe(const ListSchedulePolicy& p);  // "B>F>W F:oldest-mb B:oldest-mb inflight<=4 split-BW"

// Everything the scheduler needs about one (partition, placement): per-stage costs and devices.
struct ListScheduleProblem {
  int microbatches = 1;
  std::vector<StageCost> stages;  // per stage (from stage_costs(), with memory policies applied)
  // The policies behind the stage costs, copied into the emitted plan (empty = none).
  std::vector<StageMemoryPolicy> memory;
  std::vector<int> stage_device;  // stage -> device
  int num_devices = 0;
  // When false, devices may exceed their memory limit (used to find the closest plan when
  // nothing fits); when true, an F only starts when the device can hold another micro-batch.
  bool enforce_memory = true;
  // Variable-length units (Plan::units): every (stage, mb)'s costs, unit_costs[stage * microbatches +
  // mb] (unit_stage_costs() given `memory`, so each says whether it recomputes); empty = every micro-batch costs its stage's costs. slice_prev /
  // slice_next: per micro-batch, the previous / next slice of its row (SliceLinks; empty = no slices).
  // Micro-batches are admitted to a device in index order, so a row's slices must come in slice order;
  // a later slice of a row already on a device is admitted past the in-flight and memory caps (the row
  // cannot finish without it).
  std::vector<UnitStageCost> unit_costs;
  std::vector<int> slice_prev, slice_next;
};

struct ListScheduleResult {
  bool ok = false;            // false: the memory cap left every device unable to proceed
  std::string error;          // why not, when !ok
  double iteration_ms = 0;    // makespan
  // Mean over devices of when each finishes its last action: a finer signal than the makespan for
  // the optimizer's local search (two plans with the same makespan differ in how much slack they have).
  double mean_device_end_ms = 0;
  bool fits_memory = true;    // every device's peak within its limit
  double overflow_bytes = 0;  // max over devices of (peak - limit), > 0 only when !fits_memory
  std::vector<double> peak_bytes;           // per device: static + peak live activations
  std::vector<std::vector<Action>> orders;  // per device, when requested
};

// Reusable scratch space so the optimizer's inner loop does not allocate per call. Not thread
// safe: use one per thread.
class ListScheduler {
 public:
  ListScheduler();
  ~ListScheduler();
  ListScheduler(ListScheduler&&) noexcept;
  ListScheduler& operator=(ListScheduler&&) noexcept;

  ListScheduleResult run(const ListScheduleProblem& problem, const Cluster& cluster, const SimOptions& sim,
                         const ListSchedulePolicy& policy, bool want_orders);

 private:
  struct Impl;  // the per-action scratch state (list_scheduler.cpp)
  std::unique_ptr<Impl> impl_;
};

// Convenience wrapper: a Plan (named `name`) from a problem and policy, orders included.
// Throws InputError when the policy cannot schedule the problem (see ListScheduleResult::error).
Plan list_schedule_plan(const ListScheduleProblem& problem, const Partition& partition, const Cluster& cluster,
                        const SimOptions& sim, const ListSchedulePolicy& policy, const std::string& name);

}  // namespace adaptis
