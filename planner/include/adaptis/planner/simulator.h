#pragma once
// The pipeline performance model: an event-driven simulation of a Plan's per-device action lists
// on a Cluster with per-layer costs. Gives iteration time, per-device busy/bubble time (split into
// warm-up / in-between / cool-down), every idle gap with the dependency that caused it, the memory
// timeline and peak per device with an OOM flag, and a deadlock diagnosis when the orders cannot run.
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/units.h"

namespace adaptis {

struct SimOptions {
  // Overrides every link's latency when >= 0 (the CLI's --comm-latency-ms).
  double comm_latency_ms = -1;
  // When true, P2P transfers run beside compute (separate stream); when false, the sender's
  // compute stream is busy for the transfer.
  bool overlap_comm = true;
  // Fixed launch/bookkeeping overhead added to every action, ms.
  double action_overhead_ms = 0;
  // For DualPipe F&B pairs: fraction of the shorter action hidden by the overlap (0 = none).
  double pair_overlap = 0;
  // Record memory samples over time (needed for plots; off in the optimizer's inner loop).
  bool record_memory_timeline = true;
  // Record idle gaps with causes.
  bool record_gaps = true;
};

struct TimedAction {
  Action action;
  int device = 0;
  double start = 0, end = 0;
};

enum class BubblePhase : uint8_t { WarmUp, InBetween, CoolDown };
const char* bubble_phase_name(BubblePhase p);

// Why a device sat idle: the action it was waiting to start and the dependency that arrived last.
enum class GapCause : uint8_t {
  Dependency,  // waiting for a producer action (on another device, or earlier on this one) to finish
  Transfer,    // the producer had finished; the P2P transfer was still in flight
  Drain,       // trailing idle: this device was done, others were still working
};
const char* gap_cause_name(GapCause c);

struct Gap {
  int device = 0;
  double start = 0, end = 0;
  BubblePhase phase = BubblePhase::InBetween;
  GapCause cause = GapCause::Dependency;
  Action waiting;              // the action that could not start (undefined for Drain)
  Action producer;             // the dependency that arrived last (undefined for Drain)
  int producer_device = -1;
  double producer_end = 0;     // when the producer finished
  double arrival = 0;          // when its output reached this device
};

struct MemorySample {
  double t = 0;
  double bytes = 0;  // static + live activations at time t
};

struct DeviceStats {
  double busy_ms = 0;
  double bubble_ms = 0;
  double warmup_bubble_ms = 0, inbetween_bubble_ms = 0, cooldown_bubble_ms = 0;
  double static_bytes = 0;
  double peak_activation_bytes = 0;
  double peak_memory_bytes = 0;
  double memory_limit_bytes = 0;
  bool oom = false;
  double send_bytes = 0;
};

struct SimResult {
  bool ok = false;        // false: the orders deadlock; see `error`
  std::string error;      // deadlock diagnosis naming each stuck device, its action and what it waits for
  double iteration_ms = 0;
  double bubble_ratio = 0;  // sum of bubble / (devices * iteration)
  bool oom = false;
  std::vector<DeviceStats> devices;
  std::vector<std::vector<TimedAction>> timeline;  // per device, in execution order
  std::vector<Gap> gaps;                           // every idle interval, all devices
  std::vector<std::vector<MemorySample>> memory;   // per device, when record_memory_timeline
  // Plans with units (Plan::units): per unit, its F + B + W time summed over every stage on a speed-1.0
  // device: the widths views draw units with. Empty for identical micro-batches.
  std::vector<double> unit_work_ms;
};

// Simulates `plan`. Throws InputError when the plan does not fit the inputs (partition not covering
// the cost table, more devices in the plan than the cluster has, actions naming missing stages).
// A deadlocking order is not an exception: it returns ok == false with a diagnosis.
SimResult simulate(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& opt = {});

// Same, with stage costs already aggregated (the optimizer's inner loop).
SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt);
// Plans with units: `unit_costs[stage * units + unit]` (unit_stage_costs()) gives each action's time and
// bytes. simulate() builds them from the cost table's reference (units.h) when Plan::units is set;
// without them (empty) every unit costs the stage costs, which keeps the slice dependencies.
SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt, const std::vector<UnitStageCost>& unit_costs);

}  // namespace adaptis
