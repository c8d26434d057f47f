#pragma once
// Timeline view math, free of any window: the time <-> pixel transform with zoom and pan, the
// Tracy-style culling and folding of sub-pixel boxes into draw items, hit-testing under the mouse,
// where a dragged action would be dropped, and min/max decimation of memory curves. The ImGui
// layer only turns these plain results into rectangles.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/planner/simulator.h"
#include "explorer/timeline_data.h"
#include "explorer/timeline_query.h"

namespace adaptis::gui {

using explorer::BoxKind;
using explorer::box_kind_of;
using explorer::kNumBoxKinds;
using explorer::DeviceLanes;
using explorer::Lane;
using explorer::TimelineBox;
using explorer::TimelineData;

// Maps the visible time range [t0, t1] (ms) onto the pixel span [x0, x0 + width).
struct TimeAxis {
  double t0 = 0, t1 = 1;
  float x0 = 0, width = 1;

  static TimeAxis of(const explorer::TimeWindow& w, float x0, float width) { return {w.t0, w.t1, x0, width}; }
  explorer::TimeWindow window() const { return {t0, t1}; }

  double span() const { return t1 - t0; }
  double ms_per_px() const { return span() / (width > 0 ? width : 1.0f); }
  float x_of(double t) const { return x0 + static_cast<float>((t - t0) / ms_per_px()); }
  double t_of(float x) const { return t0 + static_cast<double>(x - x0) * ms_per_px(); }

  // Scales the span by `factor` (< 1 zooms in) keeping the time under pixel x where it is.
  void zoom_at(float x, double factor);
  // Moves the view by dx pixels (positive dx: content moves right, earlier times come into view).
  void pan_px(float dx);
  // Shows [a, b] with a small margin on each side.
  void fit(double a, double b, double margin_frac = 0.02);
  // Keeps the span within [min_span, hi - lo + margins] and the view overlapping [lo, hi].
  void clamp(double lo, double hi, double min_span);
};

// One thing to draw in a lane: a single box, or `count` consecutive boxes folded together because
// each was narrower than the minimum visible size (drawn as one "N items" block, as Tracy does).
struct DrawItem {
  float x0 = 0, x1 = 0;   // pixels, x1 >= x0 + min_px for folded items
  uint32_t first = 0;     // index of the first box in the lane
  uint32_t count = 1;     // > 1: folded
  BoxKind kind = BoxKind::F;
  bool mixed = false;     // folded boxes of different kinds
  bool critical = false;  // any box on the critical path
  double start = 0, end = 0;  // time span covered (ms)
  double busy_ms = 0;         // sum of the covered boxes' durations
  // Time per kind of the covered boxes (F, B, W, BW; transfers and others count under their op),
  // so a folded block can still show what it is made of.
  float kind_ms[kNumOps] = {0, 0, 0, 0};

  bool folded() const { return count > 1; }
};

// Appends the lane's visible draw items for `axis` to `out`. Boxes narrower than `min_px` fold with
// following narrow boxes while the gap between them is also under `min_px`. Only boxes overlapping
// [t0, t1] are visited (two binary searches), so the cost follows what is on screen, not the lane.
void cull_and_fold(const Lane& lane, const TimeAxis& axis, float min_px, std::vector<DrawItem>& out);

// The box under pixel x (its span grown by `slack_px` each side, nearest first), or -1.
int hit_test(const Lane& lane, const TimeAxis& axis, float x, float slack_px);

// Where an action dropped at time t lands in a device's compute lane: the index of the first box
// whose centre is after t (the list position to insert before, 0..size).
int drop_index(const Lane& compute, double t);

// One pixel column of a decimated step curve: the lowest and highest value it takes inside the
// column and the value at its right edge.
struct ColumnRange {
  float x = 0;
  double lo = 0, hi = 0, last = 0;
};

// Decimates a step series (value holds from a sample's t until the next sample) to one entry per
// pixel column over the visible range. At most width+1 entries whatever the series' length.
void decimate_steps(const std::vector<MemorySample>& samples, const TimeAxis& axis, std::vector<ColumnRange>& out);

// The fraction of devices computing in each of `bins` equal slices of [t0, t1] (compute lanes
// only): the overview strip's utilisation histogram. Empty when bins < 1 or t1 <= t0.
std::vector<float> busy_profile(const TimelineData& data, double t0, double t1, int bins);

// A readable time tick step for the axis: 1, 2 or 5 times a power of ten, at least `min_px` apart.
double tick_step_ms(const TimeAxis& axis, float min_px);

// Where a tick's label goes: right of its tick (`pad` apart), or left of it when it would run past
// `right` (the last label must not be cut off), or nowhere (returns NAN) when that overlaps the
// previous label (ending at `prev_end`) or starts left of `left`.
float tick_label_x(float tick_x, float label_w, float left, float right, float prev_end, float pad);

// The font size of a device row's label: the UI's size, or smaller so the label fits the row
// (thin rows when A and B share the pane), but never under `min_size`.
float row_label_size(float font_size, float row_h, float min_size);

}  // namespace adaptis::gui
