#pragma once
// Cost-balanced partitions and the placements the optimizer starts from. Pure functions over
// per-layer costs: they know nothing about schedules or the simulator.
#include <functional>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis {

// Per-layer compute weight used for balancing: f + b + w (ms on a speed-1.0 device).
std::vector<double> layer_weights(const CostTable& costs);

// Contiguous partition of the layers into `stage_speed.size()` stages, stage s running on a device
// of relative speed stage_speed[s], minimising the sum of squared stage times
// (sum_s (weight(s) / stage_speed[s])^2): balanced stages, and on heterogeneous devices each stage
// sized to its device. Exact dynamic program, O(stages * layers^2), while that is at most
// kExactPartitionWork steps (every real model); above, each stage boundary is put where the prefix of
// the layer weights comes closest to the stage's share of the total (proportional to its speed),
// O(layers + stages * log(layers)), so a 100,000-layer input takes milliseconds, not hours. Throws
// InputError when there are more stages than layers or a speed is not positive.
constexpr double kExactPartitionWork = 2e7;
Partition balanced_partition(const std::vector<double>& layer_weight, const std::vector<double>& stage_speed);
// Uniform speeds.
Partition balanced_partition(const std::vector<double>& layer_weight, int num_stages);

// Shifts layer boundaries between adjacent stages on different devices until no single-layer
// shift lowers the device loads' sum of squares (sum_d (sum_{s on d} weight(s) / speed_d)^2): the
// stage-level balanced partition is rarely device-level balanced once a device holds several
// stages (the LM head's stage drags its device's load up). Greedy, O(stages) per shift; a cheap
// proxy the optimizer uses to start its simulated search from balanced devices. `stop` (when given) is
// asked between shifts: true ends the balancing early, with the partition as far as it got (still valid).
void balance_device_loads(const std::vector<double>& layer_weight, const std::vector<int>& stage_device,
                          const std::vector<double>& device_speed, Partition& partition,
                          const std::function<bool()>& stop = {});

// Stage -> device maps for S stages on D devices.
std::vector<int> looped_stage_devices(int num_stages, int num_devices);  // s mod D
std::vector<int> wave_stage_devices(int num_stages, int num_devices);    // 0..D-1, D-1..0, 0..D-1, ...
// Longest-processing-time placement: stages in decreasing weight (ties: lower stage first), each on
// the device that finishes it earliest given what it already holds ((load + weight) / speed, ties:
// lower device). Ignores pipeline order, so adjacent stages may share a device: the device-load
// balance of a stage-level bin packing, e.g. the LM head's stage on a device with fewer other
// stages. Every device gets a stage when there are at least as many stages as devices.
std::vector<int> lpt_stage_devices(const std::vector<double>& stage_weight, const std::vector<double>& device_speed);

// Stage costs of a partition from prefix sums, without re-summing every layer: the optimizer's inner
// loop builds thousands of them. Same numbers as stage_costs().
class StageCostCache {
 public:
  explicit StageCostCache(const CostTable& costs);
  int num_layers() const { return static_cast<int>(out_bytes_.size()); }
  StageCost stage(int first_layer, int end_layer) const;  // layers [first_layer, end_layer)
  // With `memory` (one policy per stage), each stage's policy applied (memory_policy.h).
  void stages(const std::vector<int>& bounds, std::vector<StageCost>& out,
              const std::vector<StageMemoryPolicy>* memory = nullptr) const;

 private:
  StageMemoryTable memory_;
  // Prefix sums, index l = sum over layers [0, l).
  std::vector<double> f_, b_, w_, state_, param_, act_b_, act_w_, w_grad_;
  std::vector<double> f_pair_, b_pair_, w_pair_, f_fixed_, b_fixed_, w_fixed_;  // the per-unit split
  std::vector<double> kv_;     // keys and values (known ones), for slices' gradient carries
  std::vector<double> score_;  // attention scores (of act_b_), which units scale by attention area
  std::vector<double> out_bytes_;
};

}  // namespace adaptis
