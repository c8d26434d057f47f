#pragma once
// Layer costs summed per stage of a partition: what the simulator, optimizer and executor
// reason about.
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

struct StageCost {
  double f_ms = 0, b_ms = 0, w_ms = 0;  // on a speed-1.0 device
  double state_bytes = 0;               // static memory (weights, grads, optimizer)
  double param_bytes = 0;
  double act_b_bytes = 0;  // per micro-batch, held from F until B
  double act_w_bytes = 0;  // per micro-batch, held from F until W
  double out_bytes = 0;    // activation sent to the next stage (and gradient received back)
  double in_bytes = 0;     // activation received from the previous stage
  // Of f_ms / b_ms / w_ms: the parts that grow with attention pairs and that every micro-batch pays
  // once (LayerCost's split, summed); per-unit costs scale the rest with tokens (planner/units.h).
  double f_pair_ms = 0, b_pair_ms = 0, w_pair_ms = 0;
  double f_fixed_ms = 0, b_fixed_ms = 0, w_fixed_ms = 0;
};

// Throws InputError when the partition does not cover exactly the table's layers.
std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition);

}  // namespace adaptis
