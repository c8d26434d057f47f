#include "gui/model/layer_axis.h"

#include <algorithm>
#include <cmath>

namespace adaptis::gui {

int LayerAxis::layer_at(float x) const {
  int k = static_cast<int>(std::floor((x - x0) / layer_px()));
  return std::clamp(k, 0, std::max(0, layers - 1));
}

int LayerAxis::snap_boundary(float x, int lo, int hi) const {
  int k = static_cast<int>(std::lround((x - x0) / layer_px()));
  return std::clamp(k, lo, std::max(lo, hi));
}

LayerScale layer_scale(const CostTable& costs) {
  LayerScale s;
  for (const LayerCost& l : costs.layers) {
    s.time_ms = std::max(s.time_ms, l.f_ms + l.b_ms + l.w_ms);
    s.memory_bytes = std::max(s.memory_bytes, l.state_bytes + l.act_b_bytes + l.act_w_bytes);
  }
  return s;
}

double heterogeneity(const CostTable& costs) {
  if (costs.layers.empty()) return 1.0;
  double sum = 0, mx = 0;
  for (const LayerCost& l : costs.layers) {
    const double t = l.f_ms + l.b_ms + l.w_ms;
    sum += t;
    mx = std::max(mx, t);
  }
  const double mean = sum / static_cast<double>(costs.layers.size());
  return mean > 0 ? mx / mean : 1.0;
}

}  // namespace adaptis::gui
