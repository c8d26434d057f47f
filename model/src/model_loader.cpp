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
    l.f_ms *= reference.speed;
    l.b_ms *= reference.speed;
    l.w_ms *= reference.speed;
  }
  validate_cost_table(t, model_path + ": analytical costs at speed 1.0");
  return t;
}

}  // namespace adaptis
