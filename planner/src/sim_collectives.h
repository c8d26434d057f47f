#pragma once
// What a plan with a parallel configuration (Plan::parallel) adds around the simulator's
// per-device action timeline:
// - data-parallel gradient sync on its own stream per device: the stage's gradients in buckets
//   (ParallelConfig::bucket_size_params), each bucket launched as the stage's last weight-gradient
//   action (W, or BW) produces it (gradients complete from the stage's last layer back, evenly over
//   the action), queued in launch order, all-reduced (ZeRO 0) or reduce-scattered (ZeRO 1+) over
//   the dp x cp ranks (stride tp). Without overlap_grad_reduce the buckets start after the device's
//   last action. ZeRO 2 and 3 keep no full gradient, so every micro-batch's W reduce-scatters its
//   gradients;
// - ZeRO 3: each F and B first all-gathers its stage's weights on a gather stream, prefetched when
//   the device's previous action starts (ParamGatherLane, called from inside the simulation);
// - the optimizer step once the device's compute and gradient sync are done, and with ZeRO 1 the
//   all-gather of the updated weights (hidden under the next forward with overlap_param_gather);
// - the blocking tensor/context/expert-parallel share of each F and B as records;
// - throughput (tokens/s), model FLOP/s per GPU and MFU.
// The iteration ends when every device is done. Network/compute contention is not modelled.
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"

namespace adaptis::sim {

// InputError when plan.parallel disagrees with the plan (pp != devices, microbatches) or the
// cluster (more GPUs than it has).
void check_parallel_plan(const Plan& plan, const Cluster& cluster);

// ZeRO-3 weight gathers before each F and B, one gather stream per device.
class ParamGatherLane {
 public:
  ParamGatherLane(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster, bool record);
  // Earliest start of `a` on device `d` once its stage's weights are gathered; the gather is
  // issued at `issue_at` (when the device's previous action started) or when the stream is free.
  double ready(int d, const Action& a, double issue_at);

  std::vector<CollectiveRecord> records;
  std::vector<double> busy_ms;  // per device

 private:
  std::vector<double> gather_ms_, gather_bytes_;  // per stage
  std::vector<double> stream_free_;               // per device
  bool record_;
};

// Adds the gradient sync, gathers, optimizer step, blocking records and metrics to a finished
// simulation `r` (r.ok). `workload` (may be null) gives tokens and model FLOPs per micro-batch.
void add_parallel_collectives(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                              const SimOptions& opt, const CostTable* workload, ParamGatherLane* gathers,
                              SimResult& r);

}  // namespace adaptis::sim
