#pragma once
// The timeline both explorers draw, derived once per simulation: per device a compute lane
// (F/B/W/BW), send and receive lanes (P2P transfers of activations and gradients), an idle lane
// (the simulator's gaps with their causes) and the critical path; a recorded run's measured actions
// come as separate lanes (MeasuredLanes) drawn under a prediction. Plain data sorted by time, so
// culling, hit-testing and keyboard navigation are binary searches.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis::explorer {

// What a box on the timeline stands for. The first four equal the planner's Op values; R (the
// planner's Op::R, a recompute before B), the host-link copies of offloaded activations and the
// collectives of a whole-cluster plan (SimResult::collectives) came later and are appended.
enum class BoxKind : uint8_t {
  F = 0, B = 1, W = 2, BW = 3, Send = 4, Recv = 5, Idle = 6, Measured = 7,
  R = 8,        // recompute: re-creates the activations a memory policy dropped, before B
  Offload = 9,  // host-link copy of kept activations to host memory after F
  Reload = 10,  // host-link copy back before R / B
  // Collectives of a plan with a parallel configuration, one per CollectiveKind (same order).
  GradSync = 11,       // data-parallel gradient all-reduce / reduce-scatter bucket
  ParamGather = 12,    // ZeRO weight all-gather (ZeRO-3 before F/B, ZeRO-1 after the optimizer)
  TensorComm = 13,     // tensor-parallel share of an F or B (blocking, at the action's end)
  ContextComm = 14,    // context-parallel ring exchange not hidden by attention
  ExpertComm = 15,     // expert-parallel all-to-all dispatch + combine
  OptimizerStep = 16,  // the optimizer step after the device's last gradient is reduced
};
constexpr int kNumBoxKinds = 17;
const char* box_kind_name(BoxKind k);
inline BoxKind box_kind_of(Op op) { return op == Op::R ? BoxKind::R : static_cast<BoxKind>(op); }
inline BoxKind box_kind_of(CollectiveKind k) { return static_cast<BoxKind>(static_cast<int>(BoxKind::GradSync) + static_cast<int>(k)); }
inline bool is_collective(BoxKind k) { return k >= BoxKind::GradSync && k <= BoxKind::OptimizerStep; }
inline CollectiveKind collective_kind_of(BoxKind k) {
  return static_cast<CollectiveKind>(static_cast<int>(k) - static_cast<int>(BoxKind::GradSync));
}

struct TimelineBox {
  double start = 0, end = 0;  // ms
  BoxKind kind = BoxKind::F;
  bool critical = false;      // on the critical path (compute boxes only)
  Op op = Op::F;              // compute/measured: the action; transfers: the producing action's op
  int32_t stage = 0, mb = 0;  // the action (transfers: the stage whose output or gradient moves)
  int32_t peer = -1;          // transfers: the device on the other end
  uint32_t ref = 0;           // compute: index in SimResult::timeline[d]; idle: index in SimResult::gaps;
                              // host copies: index in SimResult::host_transfers; collectives: index in
                              // SimResult::collectives (stage/mb -1: the device's, once per iteration)
};

// One row of boxes sorted by start. Boxes may overlap (sends to two peers at once), so culling uses
// the prefix maximum of the ends: the first box that can reach time t is lower_bound(max_end, t).
struct Lane {
  std::vector<TimelineBox> boxes;
  std::vector<double> max_end;

  bool empty() const { return boxes.empty(); }
  size_t size() const { return boxes.size(); }
  // Sorts by start and rebuilds max_end; call after filling `boxes`.
  void finish();
  // First index whose box may end at or after t.
  size_t first_reaching(double t) const;
  // One past the last index whose box starts at or before t.
  size_t last_starting(double t) const;
};

// A collective box in words, for tooltips and detail lines: "data-parallel gradient sync of s3
// (64 MiB)", "tensor-parallel share of F s2 mb5", "optimizer step"; `sim` (may be null) gives the bytes.
std::string describe_collective(const TimelineBox& b, const SimResult* sim);

struct DeviceLanes {
  Lane compute;   // F/B/W/BW/R in execution order (also sorted by start)
  Lane send;      // transfers this device sends
  Lane recv;      // transfers this device receives
  Lane idle;      // bubbles (SimResult gaps) with cause
  // Host-link copies of a memory policy's offload (Offload after F, Reload before R/B), both
  // directions on one lane; empty when nothing offloads. op/stage/mb: the F that kept the bytes.
  Lane host;
  // Whole-cluster plans (Plan::parallel), drawn under the compute lane; empty otherwise.
  // dp: the data-parallel streams beside compute: gradient sync buckets, ZeRO weight gathers and
  // the optimizer step. tp: the tensor/context/expert-parallel collectives inside F and B (their
  // blocking share, at the end of the action).
  Lane dp;
  Lane tp;
};

// A hop of the critical path: the compute box (device, index in its compute lane).
struct PathStep {
  int device = 0;
  int index = 0;
};

struct TimelineData {
  double t_end = 0;  // iteration time (predicted)
  std::vector<DeviceLanes> devices;
  // (op, stage, mb) -> where its compute box is; see locate().
  int num_stages = 0, num_microbatches = 0;
  std::vector<PathStep> where;
  std::vector<PathStep> critical_path;  // from the first action to the last-finishing one
  size_t num_actions = 0;

  // The compute box of (op, stage, mb); device -1 when no device runs it.
  PathStep locate(Op op, int stage, int mb) const;
};

// Builds the lanes of a successful simulation. Transfers are reconstructed from the plan's
// cross-device edges with the same link model as the simulator (per-link FIFO from the producer's
// end), so their boxes end where the consumer could start; host-link copies are the simulator's own.
// `unit_costs`: a plan with variable-length units, each unit's bytes (as the simulation used them).
TimelineData build_timeline(const Plan& plan, const SimResult& sim, const std::vector<StageCost>& stages,
                            const Cluster& cluster, const SimOptions& opt,
                            const std::vector<UnitStageCost>* unit_costs = nullptr);

// A timeline with only compute lanes from timed actions (per device, any order): a recorded run's
// prediction or measurement shown where a plan would be.
TimelineData timeline_of_actions(const std::vector<std::vector<TimedAction>>& actions, int num_stages,
                                 int num_microbatches);

// A recorded run's measured actions, one lane per device (boxes of kind Measured), drawn under a
// prediction. Times are in ms from the iteration's start.
struct MeasuredLanes {
  std::vector<Lane> devices;
  double t_end = 0;
  bool empty() const { return devices.empty(); }
};
MeasuredLanes measured_lanes(const std::vector<std::vector<TimedAction>>& measured);

// The dependency edges of an action that exist in the timeline: what it needs (inputs) and what
// needs it (outputs), each with where its compute box is. F(s) needs F(s-1); B(s) and BW(s) need
// F(s), their R(s) when the stage recomputes, and the input gradient of s+1; R(s) needs F(s);
// W(s) needs B(s).
struct ActionEdge {
  bool incoming = true;  // true: the action needs `other`; false: `other` needs the action
  Op op = Op::F;
  int stage = 0, mb = 0;
  PathStep where;        // device -1 when no device runs it
};
std::vector<ActionEdge> action_edges(const TimelineData& data, Op op, int stage, int mb);

// Walks back from the last-finishing action: each step goes to whatever made the current action
// start when it did (its device's previous action, or the dependency that arrived last). Marks the
// boxes `critical` and returns the path in time order.
std::vector<PathStep> critical_path(TimelineData& data, const Plan& plan);

}  // namespace adaptis::explorer
