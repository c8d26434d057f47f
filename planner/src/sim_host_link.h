#pragma once
// Internal to the planner: the host-link copies of activation offload and the activation memory
// ledger, shared by the simulator and the list scheduler's replay so both apply the same rules
// (memory_policy.h states them).
#include <array>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/units.h"

namespace adaptis {

// Devices in one host-link group that hold a stage which offloads: the share each gets.
std::vector<int> host_link_sharing(const std::vector<int>& stage_device, const std::vector<StageCost>& stages,
                                   const Cluster& cluster, int num_devices);

// The copies of one iteration, issued as the device orders run. Each device has two FIFO channels
// (to host, to device); a copy starts when it is requested and its channel is free.
class HostCopies {
 public:
  // `orders`: per device, its actions in order; stage costs carry offload_bytes and recompute.
  // `unit_costs` (Plan::units, [stage * num_microbatches + mb]), when given: each unit copies its own
  // UnitStageCost::offload_bytes.
  HostCopies(const std::vector<std::vector<Action>>& orders, const std::vector<StageCost>& stages,
             const std::vector<int>& stage_device, const Cluster& cluster, int num_microbatches,
             const std::vector<UnitStageCost>* unit_costs = nullptr);

  bool active() const { return active_; }
  // The action at (device, position) started at `t`: issues the reloads it triggers. Returns how
  // many (0..2); reload(k) gives each one's consumer position and end time.
  int on_start(int device, int pos, double t);
  struct Reload {
    int consumer = -1;  // position on the device
    double end = 0;
  };
  const Reload& reload(int k) const { return issued_[k]; }
  // The F at (device, pos) ended at `t`: issues its offload when it has one.
  void on_forward_end(int device, int pos, double t);

  const std::vector<HostTransfer>& transfers() const { return transfers_; }
  std::vector<HostTransfer>& transfers() { return transfers_; }

 private:
  int m_ = 1;
  bool active_ = false;
  std::vector<double> bytes_;           // per (stage, mb): offload bytes
  std::vector<HostLink> link_;          // per device
  std::vector<int> sharing_;            // per device
  std::vector<double> to_host_free_, to_device_free_;  // per device: channel free at
  std::vector<double> offload_end_;     // per (stage, mb)
  // Per device and position: the consumers whose reload this action triggers (-1 = none), and
  // whether this F is offloaded.
  std::vector<std::vector<std::array<int, 2>>> triggers_;
  std::vector<std::vector<char>> offloaded_;
  std::vector<std::vector<Action>> orders_;
  Reload issued_[2];
  std::vector<HostTransfer> transfers_;
};

// What the memory ledger reports for one device.
struct DeviceMemory {
  double peak_activation = 0;  // peak of live activation bytes (no static)
  double peak_kept = 0, peak_recomputed = 0, peak_offloaded = 0;  // the split at that peak
  double peak_carried = 0;  // of which slices' key/value gradient carries (UnitStageCost::carry_bytes)
  double peak_w_grad = 0;   // of which output gradients a B made for its W (StageCost::w_grad_bytes)
  double recomputed_bytes = 0;  // re-created by R over the iteration
};

// Reused between device_memory calls so a simulation allocates its ledger once.
struct MemoryLedgerScratch {
  std::vector<double> bytes;  // per stage the device touches: 3 x micro-batches (kept, re-created, on host)
  std::vector<int> slot;      // per stage: its slot on the device walked (-1 = none)
};

// Walks one device's timed actions (in order) and its host copies (any order), applying the
// memory rules: F allocates what it keeps at its start, R re-creates the rest at its start, B / W /
// BW free at their end, an offload frees its bytes when it ends and a reload reserves them when it
// starts. Copy events at a time t are applied before an action event at t. `samples`, when given,
// receives the memory timeline (static + live) as the simulator records it. `unit_costs`, when given
// (Plan::units, [stage * num_microbatches + mb]), holds each micro-batch's own activation bytes: F keeps
// its unit's kept() (everything unless that (stage, unit) recomputes), and slices' key/value gradient
// carries live from the start of the B that creates them to the end of their own unit's B.
DeviceMemory device_memory(const std::vector<TimedAction>& actions, const std::vector<const HostTransfer*>& copies,
                           const std::vector<StageCost>& stages, int num_microbatches, double static_bytes,
                           double end_time, std::vector<MemorySample>* samples, MemoryLedgerScratch& scratch,
                           const std::vector<UnitStageCost>* unit_costs = nullptr);

}  // namespace adaptis
