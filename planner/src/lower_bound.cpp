// The three bounds of lower_bound.h. Times are in speed-1 ms; devices of different speeds are
// bounded with the fastest one's speed (every device is at most that fast), so the bound stays
// valid, though looser, on mixed clusters.
#include "adaptis/planner/lower_bound.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "adaptis/model/error.h"
#include "lower_bound_devices.h"

namespace adaptis {

IterationLowerBound iteration_lower_bound(const CostTable& costs, const Cluster& cluster, int devices,
                                          int microbatches, const SimOptions& sim) {
  const BoundDevices dev = bound_devices(cluster, devices, sim);
  if (microbatches < 1) throw InputError("lower bound: micro-batches must be >= 1");
  const int L = costs.num_layers(), D = devices;
  const double m = microbatches;
  const double fastest = dev.fastest, slowest = dev.slowest, speed_sum = dev.speed_sum, shrink = dev.shrink;

  IterationLowerBound out;
  std::vector<double> total(L);
  double work = 0;
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    total[l] = (c.f_ms + c.b_ms + c.w_ms) * shrink;
    work += total[l] * m;
  }

  // work: during [t_{k-1}, t_k), t_k = micro-batch 0's forward through layers 0..k-1, only the
  // (at most k) devices holding those layers have anything to do.
  const bool split_w = costs.split_backward();
  double idle_work = 0;  // idle device-time, in work a device of the slowest speed would have done
  for (int k = 1; k < D && k <= L; ++k) {
    const LayerCost& c = costs.layers[k - 1];
    double ramp = c.f_ms * shrink / fastest;
    if (!split_w) ramp += c.b_ms * shrink / fastest;  // cool-down: no W to fill it
    idle_work += ramp * (D - k) * slowest;
  }
  out.work_ms = (work + idle_work) / speed_sum;

  // chain: layer l's device is idle for its work on l before micro-batch 0 reaches l, and all of
  // l's B precede the backward of layers l-1..0 of the last micro-batch. The F/B chains of one
  // micro-batch cannot overlap (each needs the previous layer's output), so they are not shrunk.
  double head = 0, tail_before = 0, tail_all = 0, forward_after = 0;
  for (const auto& c : costs.layers) tail_all += c.b_ms, forward_after += c.f_ms;
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    forward_after -= c.f_ms;
    const double fb = (c.f_ms + c.b_ms) * shrink * m;
    double t = head + std::max(total[l] * m, fb + tail_before);
    // The last micro-batch's F on l is followed by its forward through the later layers and its
    // whole backward.
    t = std::max(t, head + c.f_ms * shrink * m + forward_after + tail_all);
    t /= fastest;
    if (t > out.chain_ms) out.chain_ms = t, out.chain_layer = l;
    head += c.f_ms;
    tail_before += c.b_ms;
  }

  // bins: of the kD+1 heaviest layers, some device holds k+1, at least the k+1 lightest of them.
  std::vector<double> sorted = total;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  // Prefix sums over the sorted layers: each k sums a window of k + 1, which would be quadratic in L.
  std::vector<double> sorted_prefix(L + 1, 0.0);
  for (int i = 0; i < L; ++i) sorted_prefix[i + 1] = sorted_prefix[i] + sorted[i];
  for (long long k = 0; k * D + 1 <= L; ++k) {
    const double s = sorted_prefix[k * D + 1] - sorted_prefix[k * D - k];
    out.bins_ms = std::max(out.bins_ms, s * m / fastest);
  }

  out.ms = out.work_ms, out.binding = "work";
  if (out.chain_ms > out.ms) out.ms = out.chain_ms, out.binding = "chain";
  if (out.bins_ms > out.ms) out.ms = out.bins_ms, out.binding = "bins";
  return out;
}

}  // namespace adaptis
