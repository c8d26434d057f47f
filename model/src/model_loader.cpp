// Model spec file -> analytical per-layer costs on a cluster's reference device.
#include "adaptis/model/model_loader.h"

#include "adaptis/model/cost_model.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_spec.h"

namespace adaptis {

CostTable load_model_costs(const std::string& model_path, const Cluster& cluster) {
  if (cluster.devices.empty()) throw InputError(model_path + ": the cluster has no devices to cost the model on");
  const Device& reference = cluster.devices.front();
  ModelSpec spec = load_model_spec(model_path);
  spec.efficiency = machine_efficiency(spec, cluster);
  CostTable t = analytical_costs(spec, reference);
  // Cost tables hold times on a speed-1.0 device and the simulator divides by each device's speed;
  // the times just computed are the reference device's own, so express them at speed 1.0.
  for (auto& l : t.layers) {
    for (double* ms : {&l.f_ms, &l.b_ms, &l.w_ms, &l.f_pair_ms, &l.b_pair_ms, &l.w_pair_ms, &l.f_fixed_ms, &l.b_fixed_ms,
                       &l.w_fixed_ms})
      *ms *= reference.speed;
    if (l.recompute_selective_ms > 0) l.recompute_selective_ms *= reference.speed;  // negative = not given
  }
  validate_cost_table(t, model_path + ": analytical costs at speed 1.0");
  return t;
}

}  // namespace adaptis
