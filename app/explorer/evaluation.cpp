#include "explorer/evaluation.h"

#include <chrono>

#include "adaptis/planner/memory_policy.h"

namespace adaptis::explorer {

std::shared_ptr<const Evaluation> evaluate(Plan plan, const CostTable& costs, Cluster cluster, SimOptions options) {
  const auto t0 = std::chrono::steady_clock::now();
  auto e = std::make_shared<Evaluation>();
  e->plan = std::move(plan);
  e->cluster = std::move(cluster);
  e->options = options;
  e->stages = stage_costs(costs, e->plan.partition, e->plan.memory);
  // A whole-cluster plan needs the cost table's workload (tokens and model FLOPs per micro-batch)
  // for its tokens/s and MFU: only simulate() takes it.
  // Variable-length units cost what their tokens and attention pairs cost (units.h): throws
  // InputError when the cost table has no reference micro-batch to scale from.
  if (!e->plan.units.empty()) unit_stage_costs(e->stages, e->plan.units, cost_reference(costs), e->unit_costs, e->plan.memory);
  e->sim = e->plan.parallel ? simulate(e->plan, costs, e->cluster, e->options)
                            : simulate_stages(e->plan, e->stages, e->cluster, e->options, e->unit_costs);
  if (e->sim.ok)
    e->timeline = build_timeline(e->plan, e->sim, e->stages, e->cluster, e->options,
                                 e->unit_costs.empty() ? nullptr : &e->unit_costs);
  e->summary = summarize(e->sim, e->plan.name);
  for (size_t d = 0; d < e->sim.devices.size(); ++d) {
    double lim = e->sim.devices[d].memory_limit_bytes;
    if (!(lim > 0) && d < e->cluster.devices.size()) lim = e->cluster.devices[d].memory_limit();
    e->memory_limit.push_back(lim);
  }
  e->memory = memory_overview(e->plan, e->sim, e->memory_limit);
  e->eval_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

Cluster resized_cluster(const Cluster& c, int n) {
  Cluster out = c;
  if (n < 1) n = 1;
  if (out.devices.empty()) out.devices.push_back(Device{});
  if (n <= out.num_devices()) {
    out.devices.resize(static_cast<size_t>(n));
  } else {
    const Device last = out.devices.back();
    while (out.num_devices() < n) out.devices.push_back(last);
  }
  return out;
}

}  // namespace adaptis::explorer
