#pragma once
// The model panel's horizontal layer axis: layer k occupies [x_of(k), x_of(k + 1)), and a stage
// boundary sits at the left edge of its first layer. Dragging a boundary snaps to the nearest edge.
#include <vector>

#include "adaptis/model/cost_table.h"

namespace adaptis::gui {

struct LayerAxis {
  float x0 = 0, width = 1;
  int layers = 1;

  float layer_px() const { return width / static_cast<float>(layers > 0 ? layers : 1); }
  float x_of(int boundary) const { return x0 + layer_px() * static_cast<float>(boundary); }
  // Layer under x, clamped to 0..layers-1.
  int layer_at(float x) const;
  // Nearest layer edge to x, clamped to [lo, hi] (a boundary may not cross its neighbours).
  int snap_boundary(float x, int lo, int hi) const;
};

// The largest per-layer values, to scale the model panel's bars.
struct LayerScale {
  double time_ms = 0;      // max f + b + w
  double memory_bytes = 0; // max state + act_b + act_w
};
LayerScale layer_scale(const CostTable& costs);

// How uneven the layers are: max / mean of f + b + w (1.0 = homogeneous).
double heterogeneity(const CostTable& costs);

}  // namespace adaptis::gui
