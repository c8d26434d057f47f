#pragma once
// The inputs every explorer and command works on: a model's per-layer costs, the cluster that runs
// it and the simulator's options. Plain data; the CLI fills it from files and flags (cli/inputs.h).
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/unit.h"

namespace adaptis::app {

struct Inputs {
  CostTable costs;
  Cluster cluster;
  SimOptions sim;
  // Variable-length units made from one iteration's sequence lengths (planner/sequence_processor.h);
  // empty = identical micro-batches. Plans built from these inputs run one micro-batch per unit.
  std::vector<WorkUnit> units = {};
};

}  // namespace adaptis::app
