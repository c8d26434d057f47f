#pragma once
// The pipeline performance model: an event-driven simulation of a Plan's per-device action lists
// on a Cluster with per-layer costs. Gives iteration time, per-device busy/bubble time (split into
// warm-up / in-between / cool-down), every idle gap with the dependency that caused it, the memory
// timeline and peak per device with an OOM flag, and a deadlock diagnosis when the orders cannot run.
//
// Memory policies (memory_policy.h has the rules): R actions take their stage's recompute time on
// the compute stream and B waits for them; F keeps only what the policy keeps and R re-creates the
// rest; offload and reload copies run on the device's host link (host_transfers), freeing device
// memory when an offload ends and reserving it when a reload starts, and B (or R) waits for its
// reload. Peak memory, the OOM flag and the memory timeline account for all of it, and each device's
// peak is split into what F kept, what R re-created and what sat on the host at that moment.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/units.h"

namespace adaptis {

struct SimOptions {
  // Overrides every link's latency when set (the CLI's --comm-latency-ms); finite and >= 0.
  std::optional<double> comm_latency_ms;
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
  // Record every collective (plans with a parallel configuration) in SimResult::collectives; the
  // totals in SimResult::parallel are kept either way.
  bool record_collectives = true;
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
  Reload,      // its offloaded activations were still being copied back from host memory
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
  double bytes = 0;       // static + live activations at time t
  double recomputed = 0;  // of those, activations R re-created (the rest of the activations F kept)
  double offloaded = 0;   // activation bytes sitting in host memory at time t (not in `bytes`)
};

// One activation copy between a device and host memory (offload after F, reload before R / B).
struct HostTransfer {
  int device = 0;
  int stage = 0, mb = 0;
  bool to_host = true;  // offload; false = reload
  double bytes = 0;
  double request = 0;   // issued: the F's end (offload), the start of the action before the consumer (reload)
  double start = 0, end = 0;
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
  // Memory policies: time spent in R, the host link's busy time (both directions), bytes R
  // re-created and bytes offloaded over the iteration, and the activation peak split into bytes F
  // kept, bytes R re-created, slices' key/value gradient carries and the output gradients separate Bs
  // made for their Ws (peak_activation_bytes = kept + recomputed + carried + w_grad), with the bytes
  // that sat on the host at that moment.
  double recompute_ms = 0;
  double host_copy_ms = 0;
  double recomputed_bytes = 0;
  double offloaded_bytes = 0;
  double peak_kept_bytes = 0, peak_recomputed_bytes = 0, peak_offloaded_bytes = 0;
  double peak_carried_bytes = 0;
  double peak_w_grad_bytes = 0;
};

// Communication and optimizer work outside the per-device action lists, for plans with a parallel
// configuration (Plan::parallel). Each kind is one lane per device in a Gantt:
enum class CollectiveKind : uint8_t {
  GradSync,        // data-parallel gradient all-reduce / reduce-scatter (bucketed), own stream
  ParamGather,     // weight all-gather: ZeRO-3 before each F and B; ZeRO-1 after the optimizer step
  TensorParallel,  // tensor-parallel all-reduce (RS/AG) inside F and B, blocking compute
  ContextParallel, // ring-attention K/V exchange not hidden by attention, inside F and B
  ExpertParallel,  // MoE all-to-all dispatch + combine, inside F and B
  OptimizerStep,   // the optimizer step after the device's last gradient is reduced
};
constexpr int kNumCollectiveKinds = 6;
const char* collective_kind_name(CollectiveKind k);  // "dp-sync", "param-gather", "tp", "cp", "ep", "optimizer"

struct CollectiveRecord {
  CollectiveKind kind = CollectiveKind::GradSync;
  int device = 0;
  int stage = -1;  // the stage whose tensors move (-1: all of the device's)
  int mb = -1;     // the micro-batch (-1: once per iteration)
  Op op = Op::F;   // with mb >= 0: the action it belongs to (ParamGather: the F or B it gathers for)
  double start = 0, end = 0;
  double bytes = 0;  // bytes of the collective's full tensor (0 for the optimizer and blocking parts)
  // TensorParallel / ContextParallel / ExpertParallel records are the action's share of blocking
  // collectives (already inside its start..end), drawn at the end of the action; GradSync and
  // ParamGather run on their own streams beside compute.
};

// Throughput and exposed communication of a plan with a parallel configuration.
struct ParallelMetrics {
  int gpus = 0;                 // pp * tp * cp * dp
  double pipeline_ms = 0;       // the last compute action's end (what iteration_ms is without parallel)
  double iteration_ms = 0;      // every device done: pipeline, gradient sync, optimizer, gathers
  double tokens_per_iteration = 0;
  double tokens_per_s = 0;
  double model_flops_per_gpu = 0;  // model FLOP/s per GPU (F + B + W, no recomputation)
  double mfu = 0;                  // model_flops_per_gpu / the device's peak
  double exposed_grad_sync_ms = 0; // iteration time the gradient sync adds beyond the pipeline
  double exposed_comm_ms = 0;      // exposed gradient sync + the slowest device's blocking TP/CP/EP time
  // Per device: milliseconds spent in each CollectiveKind (blocking kinds included in busy time),
  // and the gradient sync left running after the device's last compute action.
  std::vector<std::array<double, kNumCollectiveKinds>> device_ms;
  std::vector<double> device_grad_sync_exposed_ms;
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
  // Plans with a parallel configuration: iteration_ms then includes the gradient sync, gathers and
  // optimizer step (parallel.pipeline_ms is the compute makespan; bubbles and gaps stay relative to
  // it); `collectives` holds every timed collective when SimOptions::record_collectives.
  bool has_parallel = false;
  ParallelMetrics parallel;
  std::vector<CollectiveRecord> collectives;
  std::vector<HostTransfer> host_transfers;         // activation offload / reload copies, in issue order
  // Plans with units (Plan::units): per unit, its F + B + W time summed over every stage on a speed-1.0
  // device: the widths views draw units with. Empty for identical micro-batches.
  std::vector<double> unit_work_ms;
};

// Simulates `plan`. Throws InputError when the plan does not fit the inputs (partition not covering
// the cost table, more devices in the plan than the cluster has, actions naming missing stages, a
// stage that offloads on a device without a host link).
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
