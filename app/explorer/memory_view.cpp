#include "explorer/memory_view.h"

#include <algorithm>
#include <cmath>

#include "adaptis/planner/memory_policy.h"

namespace adaptis::explorer {

MemoryOverview memory_overview(const Plan& plan, const SimResult& sim, const std::vector<double>& caps) {
  MemoryOverview m;
  m.policies = has_memory_policy(plan);
  m.policy_text = describe_memory(plan.memory);
  for (const auto& list : plan.schedule)
    for (const Action& a : list) m.recompute_actions += a.op == Op::R ? 1 : 0;
  m.host_copies = sim.host_transfers.size();
  double worst_fill = -1;
  for (size_t d = 0; d < sim.devices.size(); ++d) {
    const DeviceStats& s = sim.devices[d];
    DeviceMemoryRow r;
    r.peak_bytes = s.peak_memory_bytes;
    r.cap_bytes = d < caps.size() ? caps[d] : s.memory_limit_bytes;
    r.static_bytes = s.static_bytes;
    r.kept_bytes = s.peak_kept_bytes;
    r.recomputed_bytes = s.peak_recomputed_bytes;
    r.carried_bytes = s.peak_carried_bytes;
    r.w_grad_bytes = s.peak_w_grad_bytes;
    r.on_host_bytes = s.peak_offloaded_bytes;
    r.recompute_ms = s.recompute_ms;
    r.host_copy_ms = s.host_copy_ms;
    r.oom = s.oom;
    m.oom = m.oom || s.oom;
    m.has_sizes = m.has_sizes || s.peak_memory_bytes > 0;
    // Without caps the highest peak is the one to watch.
    const double fill = r.cap_bytes > 0 ? r.fill() : r.peak_bytes * 1e-30;
    if (r.peak_bytes > 0 && fill > worst_fill) {
      worst_fill = fill;
      m.worst = static_cast<int>(d);
    }
    m.devices.push_back(r);
  }
  return m;
}

Recompute next_recompute(Recompute r, int dir) {
  constexpr int kSteps = 3;  // None, Selective, Full
  const int at = static_cast<int>(r);
  return static_cast<Recompute>(((at + (dir < 0 ? -1 : 1)) % kSteps + kSteps) % kSteps);
}

double step_offload_fraction(double fraction, int dir) {
  // Snapped to the 25% grid first, so a fraction from a plan file steps to the grid's next value.
  const double q = std::clamp(fraction, 0.0, 1.0) * 4;
  const double next = dir < 0 ? std::ceil(q - 1e-9) - 1 : std::floor(q + 1e-9) + 1;
  return std::clamp(next / 4, 0.0, 1.0);
}

std::vector<StageMemoryPolicy> auto_memory_ladder(double offload) {
  std::vector<StageMemoryPolicy> out;
  for (Recompute r : {Recompute::None, Recompute::Selective, Recompute::Full}) {
    StageMemoryPolicy p;
    p.recompute = r;
    p.offload_fraction = offload;
    out.push_back(p);
  }
  return out;
}

}  // namespace adaptis::explorer
