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
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"

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
  };
  Order order = Order::BackwardFirst;
  Pick forward = Pick::OldestMicrobatch;
  Pick backward = Pick::OldestMicrobatch;
  // At most this many micro-batches started but not finished on a device at once (0 = no cap):
  // the warm-up depth knob of 1F1B-style schedules, traded against activation memory.
  int max_inflight = 0;
  // Run the backward as separate B and W actions (only meaningful when the costs have W time);
  // false fuses them into BW.
  bool split_backward = true;

  bool operator==(const ListSchedulePolicy&) const = default;
};

std::string describe(const ListSchedulePolicy& p);  // "B>F>W mb/mb inflight=4 split"

// Everything the scheduler needs about one (partition, placement): per-stage costs and devices.
struct ListScheduleProblem {
  int microbatches = 1;
  std::vector<StageCost> stages;  // per stage (from stage_costs())
  std::vector<int> stage_device;  // stage -> device
  int num_devices = 0;
  // When false, devices may exceed their memory limit (used to find the closest plan when
  // nothing fits); when true, an F only starts when the device can hold another micro-batch.
  bool enforce_memory = true;
};

struct ListScheduleResult {
  bool ok = false;            // false: the memory cap left every device unable to proceed
  std::string error;          // why not, when !ok
  double iteration_ms = 0;    // makespan
  bool fits_memory = true;    // every device's peak within its limit
  double overflow_bytes = 0;  // max over devices of (peak - limit), > 0 only when !fits_memory
  std::vector<double> peak_bytes;           // per device: static + peak live activations
  std::vector<std::vector<Action>> orders;  // per device, when requested
};

// Reusable scratch space so the optimizer's inner loop does not allocate per call. Not thread
// safe: use one per thread.
class ListScheduler {
 public:
  ListScheduleResult run(const ListScheduleProblem& problem, const Cluster& cluster, const SimOptions& sim,
                         const ListSchedulePolicy& policy, bool want_orders);

 private:
  // Flat per-action state; action id = (stage * microbatches + mb) * 3 + kind (0 F, 1 B/BW, 2 W).
  std::vector<double> arrival_, duration_;
  std::vector<int> remaining_;
  std::vector<uint64_t> key_;
  std::vector<std::vector<int>> pending_;  // per device: actions whose inputs are all done
  std::vector<double> free_at_, next_time_, link_free_, reserved_, live_, peak_live_, static_, limit_,
      mb_bytes_;
  std::vector<int> inflight_, next_admit_, left_on_device_, last_kind_;
  std::vector<char> started_mb_;
  std::vector<double> fwd_xfer_, bwd_xfer_;
};

// Convenience wrapper: a Plan (named `name`) from a problem and policy, orders included.
// Throws InputError when the policy cannot schedule the problem (see ListScheduleResult::error).
Plan list_schedule_plan(const ListScheduleProblem& problem, const Partition& partition, const Cluster& cluster,
                        const SimOptions& sim, const ListSchedulePolicy& policy, const std::string& name);

}  // namespace adaptis
