// The lower bound of lower_bound.h for variable-length units. The same three bounds as
// lower_bound.cpp, with sums over the units where that file multiplies by the micro-batch count, and
// the unit that gives the shortest ramp or chain where it follows micro-batch 0 (or the last one):
// with units of different sizes any of them may be the first through the pipeline or the last out.
#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include "adaptis/model/error.h"
#include "lower_bound_devices.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/units.h"

namespace adaptis {

IterationLowerBound iteration_lower_bound(const CostTable& costs, const Cluster& cluster, int devices,
                                          const std::vector<WorkUnit>& units, const SimOptions& sim) {
  const BoundDevices dev = bound_devices(cluster, devices, sim);
  if (units.empty()) throw InputError("lower bound: no units");
  const CostReference ref = cost_reference(costs);
  const int L = costs.num_layers(), D = devices, U = static_cast<int>(units.size());
  const double fastest = dev.fastest, slowest = dev.slowest, speed_sum = dev.speed_sum, shrink = dev.shrink;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // Per layer and unit: F, B, W (speed-1 ms).
  std::vector<double> f(static_cast<size_t>(L) * U), b(f.size()), w(f.size());
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    StageCost sc;
    sc.f_ms = c.f_ms, sc.b_ms = c.b_ms, sc.w_ms = c.w_ms;
    sc.f_pair_ms = c.f_pair_ms, sc.b_pair_ms = c.b_pair_ms, sc.w_pair_ms = c.w_pair_ms;
    sc.f_fixed_ms = c.f_fixed_ms, sc.b_fixed_ms = c.b_fixed_ms, sc.w_fixed_ms = c.w_fixed_ms;
    for (int u = 0; u < U; ++u) {
      const UnitStageCost x = unit_stage_cost(sc, units[u], ref);
      const size_t i = static_cast<size_t>(l) * U + u;
      f[i] = x.f_ms, b[i] = x.b_ms, w[i] = x.w_ms;
    }
  }
  auto at = [U](int l, int u) { return static_cast<size_t>(l) * U + u; };

  IterationLowerBound out;
  std::vector<double> total(L, 0.0), sum_f(L, 0.0), sum_b(L, 0.0);
  double work = 0;
  for (int l = 0; l < L; ++l) {
    for (int u = 0; u < U; ++u) {
      total[l] += f[at(l, u)] + b[at(l, u)] + w[at(l, u)];
      sum_f[l] += f[at(l, u)];
      sum_b[l] += b[at(l, u)];
    }
    total[l] *= shrink;
    work += total[l];
  }

  // Prefix sums per unit, and their minimum over units: head_f[k] = the earliest any unit can have
  // its forward through layers 0..k-1; head_b[k] the shortest backward chain through layers k-1..0.
  std::vector<double> head_f(L + 1, 0.0), head_b(L + 1, 0.0);
  {
    std::vector<double> pf(U, 0.0), pb(U, 0.0);
    for (int k = 1; k <= L; ++k) {
      double mf = kInf, mb = kInf;
      for (int u = 0; u < U; ++u) {
        pf[u] += f[at(k - 1, u)];
        pb[u] += b[at(k - 1, u)];
        mf = std::min(mf, pf[u]);
        mb = std::min(mb, pb[u]);
      }
      head_f[k] = mf, head_b[k] = mb;
    }
  }

  // work: between the first forward reaching layer k-1 and layer k only the devices holding layers
  // 0..k-1 have work (and the mirror image at the end without W to fill it).
  const bool split_w = costs.split_backward();
  double idle_work = 0;
  for (int k = 1; k < D && k <= L; ++k) {
    double ramp = (head_f[k] - head_f[k - 1]) * shrink / fastest;
    if (!split_w) ramp += (head_b[k] - head_b[k - 1]) * shrink / fastest;
    idle_work += std::max(0.0, ramp) * (D - k) * slowest;
  }
  out.work_ms = (work + idle_work) / speed_sum;

  // chain: layer l's device waits for the first forward to reach it, runs every unit's F and B on l,
  // and the last of those B is followed by its unit's backward through layers l-1..0; the last F on l
  // is followed by its unit's forward through the later layers and its whole backward.
  std::vector<double> after_f(U, 0.0), all_b(U, 0.0);
  for (int u = 0; u < U; ++u)
    for (int l = 0; l < L; ++l) after_f[u] += f[at(l, u)], all_b[u] += b[at(l, u)];
  std::vector<double> below_b(U, 0.0);  // per unit: its B through layers < l
  for (int l = 0; l < L; ++l) {
    double tail_before = kInf, last_f_tail = kInf;
    for (int u = 0; u < U; ++u) {
      after_f[u] -= f[at(l, u)];
      tail_before = std::min(tail_before, below_b[u]);
      last_f_tail = std::min(last_f_tail, after_f[u] + all_b[u]);
    }
    const double fb = (sum_f[l] + sum_b[l]) * shrink;
    double t = head_f[l] + std::max(total[l], fb + tail_before);
    t = std::max(t, head_f[l] + sum_f[l] * shrink + last_f_tail);
    t /= fastest;
    if (t > out.chain_ms) out.chain_ms = t, out.chain_layer = l;
    for (int u = 0; u < U; ++u) below_b[u] += b[at(l, u)];
  }

  // bins: of the kD+1 heaviest layers, some device holds k+1, at least the k+1 lightest of them.
  std::vector<double> sorted = total;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  for (int k = 0; k * D + 1 <= L; ++k) {
    double s = 0;
    for (int i = k * D - k; i <= k * D; ++i) s += sorted[i];
    out.bins_ms = std::max(out.bins_ms, s / fastest);
  }

  out.ms = out.work_ms, out.binding = "work";
  if (out.chain_ms > out.ms) out.ms = out.chain_ms, out.binding = "chain";
  if (out.bins_ms > out.ms) out.ms = out.bins_ms, out.binding = "bins";
  return out;
}

}  // namespace adaptis
