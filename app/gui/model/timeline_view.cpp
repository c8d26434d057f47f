#include "gui/model/timeline_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "common/format.h"

namespace adaptis::gui {

// Time-only changes are the explorer core's TimeWindow's; the axis adds the pixel mapping.
void TimeAxis::zoom_at(float x, double factor) {
  explorer::TimeWindow w = window();
  w.zoom_at(t_of(x), factor);
  t0 = w.t0;
  t1 = w.t1;
}

void TimeAxis::pan_px(float dx) {
  explorer::TimeWindow w = window();
  w.pan(-static_cast<double>(dx) * ms_per_px());
  t0 = w.t0;
  t1 = w.t1;
}

void TimeAxis::fit(double a, double b, double margin_frac) {
  explorer::TimeWindow w;
  w.fit(a, b, margin_frac);
  t0 = w.t0;
  t1 = w.t1;
}

void TimeAxis::clamp(double lo, double hi, double min_span) {
  explorer::TimeWindow w = window();
  w.clamp(lo, hi, min_span);
  t0 = w.t0;
  t1 = w.t1;
}

namespace {
// Which kind_ms slot a box adds to: compute boxes by their kind, the others by their action's op.
int op_slot(const TimelineBox& b) {
  const int k = static_cast<int>(b.kind);
  return k < kNumOps ? k : static_cast<int>(b.op);
}
}  // namespace

void cull_and_fold(const Lane& lane, const TimeAxis& axis, float min_px, std::vector<DrawItem>& out) {
  if (lane.empty() || axis.width <= 0) return;
  const double mpp = axis.ms_per_px();
  const double min_ms = min_px * mpp;
  // Start a little left of the view so a fold that begins off-screen still covers its visible part.
  size_t i = lane.first_reaching(axis.t0 - 2 * min_ms);
  const size_t n = lane.last_starting(axis.t1);
  const auto& boxes = lane.boxes;
  while (i < n) {
    const TimelineBox& b = boxes[i];
    if (b.end < axis.t0 - 2 * min_ms) {  // an earlier overlapping box kept max_end high
      ++i;
      continue;
    }
    DrawItem it;
    it.first = static_cast<uint32_t>(i);
    it.kind = b.kind;
    it.critical = b.critical;
    it.start = b.start;
    it.end = b.end;
    it.busy_ms = b.end - b.start;
    it.kind_ms[op_slot(b)] += static_cast<float>(b.end - b.start);
    if (b.end - b.start >= min_ms) {
      ++i;
    } else {
      size_t j = i + 1;
      while (j < n) {
        const TimelineBox& c = boxes[j];
        if (c.end - c.start >= min_ms || c.start - it.end >= min_ms) break;
        if (c.kind != it.kind) it.mixed = true;
        it.critical = it.critical || c.critical;
        it.end = std::max(it.end, c.end);
        it.busy_ms += c.end - c.start;
        it.kind_ms[op_slot(c)] += static_cast<float>(c.end - c.start);
        ++j;
      }
      it.count = static_cast<uint32_t>(j - i);
      i = j;
    }
    it.x0 = axis.x_of(it.start);
    it.x1 = axis.x_of(it.end);
    if (it.folded() && it.x1 - it.x0 < min_px) it.x1 = it.x0 + min_px;
    out.push_back(it);
  }
}

int hit_test(const Lane& lane, const TimeAxis& axis, float x, float slack_px) {
  if (lane.empty()) return -1;
  const double t = axis.t_of(x);
  const double slack = slack_px * axis.ms_per_px();
  size_t hi = lane.last_starting(t + slack);
  size_t lo = lane.first_reaching(t - slack);
  int best = -1;
  double best_dist = slack + 1e-12;
  double best_len = 0;
  for (size_t i = lo; i < hi; ++i) {
    const TimelineBox& b = lane.boxes[i];
    double dist = t < b.start ? b.start - t : t > b.end ? t - b.end : 0.0;
    double len = b.end - b.start;
    // Nearest wins; among boxes containing t the shortest (the most specific) wins.
    if (dist < best_dist || (dist == 0 && best_dist == 0 && len < best_len)) {
      best = static_cast<int>(i);
      best_dist = dist;
      best_len = len;
    }
  }
  return best;
}

int drop_index(const Lane& compute, double t) {
  const auto& b = compute.boxes;
  auto it = std::partition_point(b.begin(), b.end(),
                                 [t](const TimelineBox& x) { return (x.start + x.end) / 2 <= t; });
  return static_cast<int>(it - b.begin());
}

void decimate_steps(const std::vector<MemorySample>& samples, const TimeAxis& axis, std::vector<ColumnRange>& out) {
  if (samples.empty() || axis.width <= 0) return;
  // The sample in force at the left edge: the last one at or before t0.
  auto first = std::upper_bound(samples.begin(), samples.end(), axis.t0,
                                [](double v, const MemorySample& s) { return v < s.t; });
  size_t i = first == samples.begin() ? 0 : static_cast<size_t>(first - samples.begin()) - 1;
  const int cols = static_cast<int>(std::ceil(axis.width));
  double value = samples[i].bytes;  // before the first sample the first value is shown
  for (int c = 0; c <= cols; ++c) {
    const double c_end = axis.t_of(axis.x0 + static_cast<float>(c) + 1.0f);
    ColumnRange col;
    col.x = axis.x0 + static_cast<float>(c);
    col.lo = col.hi = value;
    while (i + 1 < samples.size() && samples[i + 1].t < c_end) {
      ++i;
      value = samples[i].bytes;
      col.lo = std::min(col.lo, value);
      col.hi = std::max(col.hi, value);
    }
    col.last = value;
    out.push_back(col);
    if (i + 1 >= samples.size() && samples.back().t < axis.t_of(col.x)) break;  // past the end
  }
}

std::vector<float> busy_profile(const TimelineData& data, double t0, double t1, int bins) {
  std::vector<float> out;
  if (bins < 1 || !(t1 > t0) || data.devices.empty()) return out;
  std::vector<double> busy(bins, 0.0);
  const double bin_ms = (t1 - t0) / bins;
  for (const DeviceLanes& dev : data.devices)
    for (const TimelineBox& b : dev.compute.boxes) {
      const double s = std::max(b.start, t0), e = std::min(b.end, t1);
      if (!(e > s)) continue;
      int i = std::clamp(static_cast<int>((s - t0) / bin_ms), 0, bins - 1);
      const int last = std::clamp(static_cast<int>((e - t0) / bin_ms), 0, bins - 1);
      for (; i <= last; ++i) {
        const double lo = t0 + i * bin_ms, hi = lo + bin_ms;
        busy[i] += std::max(0.0, std::min(e, hi) - std::max(s, lo));
      }
    }
  out.resize(bins);
  const double denom = bin_ms * static_cast<double>(data.devices.size());
  for (int i = 0; i < bins; ++i) out[i] = static_cast<float>(std::clamp(busy[i] / denom, 0.0, 1.0));
  return out;
}

double tick_step_ms(const TimeAxis& axis, float min_px) { return app::round_tick_step(min_px * axis.ms_per_px()); }

float tick_label_x(float tick_x, float label_w, float left, float right, float prev_end, float pad) {
  float x = tick_x + pad;
  if (x + label_w > right - 2) x = tick_x - pad - label_w;
  if (x < prev_end + pad || x < left) return NAN;
  return x;
}

float row_label_size(float font_size, float row_h, float min_size) {
  return std::min(font_size, std::max(row_h - 1, min_size));
}

}  // namespace adaptis::gui
