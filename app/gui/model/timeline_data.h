#pragma once
// The timeline the Gantt draws, derived once per simulation: per device a compute lane (F/B/W/BW),
// send and receive lanes (P2P transfers of activations and gradients), an idle lane (the
// simulator's gaps with their causes), the critical path, and optionally a measured lane from a
// recorded run. Plain data sorted by time, so culling and hit-testing are binary searches.
#include <cstdint>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis::gui {

// What a box on the timeline stands for. The first four equal the planner's Op values.
enum class BoxKind : uint8_t { F = 0, B = 1, W = 2, BW = 3, Send = 4, Recv = 5, Idle = 6, Measured = 7 };
constexpr int kNumBoxKinds = 8;
const char* box_kind_name(BoxKind k);
inline BoxKind box_kind_of(Op op) { return static_cast<BoxKind>(op); }

struct TimelineBox {
  double start = 0, end = 0;  // ms
  BoxKind kind = BoxKind::F;
  bool critical = false;      // on the critical path (compute boxes only)
  Op op = Op::F;              // compute/measured: the action; transfers: the producing action's op
  int32_t stage = 0, mb = 0;  // the action (transfers: the stage whose output or gradient moves)
  int32_t peer = -1;          // transfers: the device on the other end
  uint32_t ref = 0;           // compute: index in SimResult::timeline[d]; idle: index in SimResult::gaps
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

struct DeviceLanes {
  Lane compute;   // F/B/W/BW in execution order (also sorted by start)
  Lane send;      // transfers this device sends
  Lane recv;      // transfers this device receives
  Lane idle;      // bubbles (SimResult gaps) with cause
  Lane measured;  // a recorded run's measured actions, when one is overlaid
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
  double measured_t_end = 0;            // when a measured run is overlaid
  size_t num_actions = 0;

  // The compute box of (op, stage, mb); device -1 when no device runs it.
  PathStep locate(Op op, int stage, int mb) const;
};

// Builds the lanes of a successful simulation. Transfers are reconstructed from the plan's
// cross-device edges with the same link model as the simulator (per-link FIFO from the producer's
// end), so their boxes end where the consumer could start.
TimelineData build_timeline(const Plan& plan, const SimResult& sim, const std::vector<StageCost>& stages,
                            const Cluster& cluster, const SimOptions& opt);

// A timeline with only compute lanes from a measured run (per device, any order), to show a run
// where a plan would be (comparing runs, or a run with a plan).
TimelineData build_measured_timeline(const std::vector<std::vector<TimedAction>>& measured, int num_stages,
                                     int num_microbatches);

// Puts a measured timeline (one list per device, any order) into the `measured` lanes. Times are
// in ms from the run's start. Devices beyond data.devices are ignored.
void set_measured(TimelineData& data, const std::vector<std::vector<TimedAction>>& measured);

// Walks back from the last-finishing action: each step goes to whatever made the current action
// start when it did (its device's previous action, or the dependency that arrived last). Marks the
// boxes `critical` and returns the path in time order.
std::vector<PathStep> critical_path(TimelineData& data, const Plan& plan);

}  // namespace adaptis::gui
