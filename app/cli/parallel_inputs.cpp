// Inputs of a whole-cluster plan (a plan file with a "parallel" section): the cost model and the
// cluster as that configuration sees them.
#include "adaptis/model/parallel_costs.h"
#include "cli/inputs.h"

namespace adaptis::cli {

void apply_parallel_plan(Inputs& in, const InputOptions& o, const ParallelConfig& config) {
  if (config.gpus() > in.cluster.topology.num_gpus())
    throw InputError("the plan's parallel configuration (" + describe(config) + ") needs " +
                     std::to_string(config.gpus()) + " GPUs but " +
                     (o.cluster.empty() ? "--devices gives " + std::to_string(in.cluster.num_devices())
                                        : "--cluster " + o.cluster + " has " +
                                              std::to_string(in.cluster.topology.num_gpus())));
  if (!o.model.empty()) in.costs = parallel_costs(load_model_spec(o.model), in.cluster, config);
  in.cluster = replica_cluster(in.cluster, config);
}

}  // namespace adaptis::cli
