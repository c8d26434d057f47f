#pragma once
// A provable lower bound on the iteration time of ANY plan (partition, placement, schedule) of a
// model on a set of devices: what no optimizer can beat, so the gap to it says how much is left to
// find. Comm time, action overheads and memory limits are left out (each can only add time), so
// the bound holds with any SimOptions.
//
// The bound is the largest of:
//   work   all the work spread over the devices, plus the warm-up idle time no plan avoids (before
//          micro-batch 0 has passed k layers, only the devices holding those k layers have work)
//          and, without a separate W to fill it, the mirror-image cool-down idle time;
//   chain  for each layer, its device cannot start it before micro-batch 0's forward reaches it,
//          must run all its micro-batches' F and B, and its last B is followed by the backward of
//          every earlier layer (the heavy-LM-head bound);
//   bins   for each k, some device holds at least k+1 of the kD+1 heaviest layers (layers are not
//          split across devices).
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/unit.h"

namespace adaptis {

struct IterationLowerBound {
  double ms = 0;        // the bound: the largest of the three below
  double work_ms = 0;   // work spread evenly + unavoidable ramp idle time
  double chain_ms = 0;  // the tightest per-layer chain
  double bins_ms = 0;   // layer granularity
  int chain_layer = -1; // the layer that gives chain_ms
  std::string binding;  // "work", "chain" or "bins": which one gives `ms`
};

// For the first `devices` devices of `cluster` and `microbatches` micro-batches. Throws InputError
// when devices is not in [1, cluster size] or microbatches < 1.
IterationLowerBound iteration_lower_bound(const CostTable& costs, const Cluster& cluster, int devices,
                                          int microbatches, const SimOptions& sim = {});

// Variable-length units (Plan::units, units.h): the same three bounds with every unit's own per-layer
// costs. The ramps and chains take the unit that makes them shortest (any unit may go first or last),
// the work and bins sum every unit. Throws InputError as above, or when the cost table has no
// reference for unit costs (cost_reference()).
IterationLowerBound iteration_lower_bound(const CostTable& costs, const Cluster& cluster, int devices,
                                          const std::vector<WorkUnit>& units, const SimOptions& sim = {});

}  // namespace adaptis
