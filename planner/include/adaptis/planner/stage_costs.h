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
  LayerCost::Parallel parallel;  // the layers' parallel-configuration costs, summed (zero without one)
};

// Throws InputError when the partition does not cover exactly the table's layers.
std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition);

}  // namespace adaptis
