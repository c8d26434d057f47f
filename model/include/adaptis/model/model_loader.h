#pragma once
// From a model spec file to per-layer costs on a cluster's reference device (its first device;
// other devices scale by their relative speed in the simulator).
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"

namespace adaptis {

CostTable load_model_costs(const std::string& model_path, const Cluster& cluster);

}  // namespace adaptis
