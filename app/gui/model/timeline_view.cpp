#include "gui/model/timeline_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace adaptis::gui {

void TimeAxis::zoom_at(float x, double factor) {
  if (!(factor > 0)) return;
  const double t = t_of(x);
  t0 = t - (t - t0) * factor;
  t1 = t + (t1 - t) * factor;
}

void TimeAxis::pan_px(float dx) {
  const double dt = static_cast<double>(dx) * ms_per_px();
  t0 -= dt;
  t1 -= dt;
}

void TimeAxis::fit(double a, double b, double margin_frac) {
  if (!(b > a)) b = a + 1.0;
  const double m = (b - a) * margin_frac;
  t0 = a - m;
  t1 = b + m;
}

void TimeAxis::clamp(double lo, double hi, double min_span) {
  if (!(hi > lo)) hi = lo + 1.0;
  const double margin = (hi - lo) * 0.05;
  const double max_span = (hi - lo) + 2 * margin;
  double s = span();
  if (!(s >= min_span)) {  // also catches NaN
    const double c = std::isfinite(t0 + t1) ? (t0 + t1) / 2 : (lo + hi) / 2;
    t0 = c - min_span / 2;
    t1 = c + min_span / 2;
    s = min_span;
  }
  if (s > max_span) {
    t0 = lo - margin;
    t1 = hi + margin;
    return;
  }
  if (t0 < lo - margin) {
    t0 = lo - margin;
    t1 = t0 + s;
  }
  if (t1 > hi + margin) {
    t1 = hi + margin;
    t0 = t1 - s;
  }
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

double tick_step_ms(const TimeAxis& axis, float min_px) {
  const double min_ms = std::max(1e-12, min_px * axis.ms_per_px());
  double p = std::pow(10.0, std::floor(std::log10(min_ms)));
  for (int guard = 0; guard < 64; ++guard) {
    for (double m : {1.0, 2.0, 5.0})
      if (m * p >= min_ms) return m * p;
    p *= 10;
  }
  return min_ms;
}

std::string format_ms(double ms) {
  char buf[48];
  const double a = std::fabs(ms);
  if (a >= 1e4) std::snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  else if (a >= 100) std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  else if (a >= 1 || a == 0) std::snprintf(buf, sizeof buf, "%.2f ms", ms);
  else if (a >= 1e-3) std::snprintf(buf, sizeof buf, "%.1f us", ms * 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f ns", ms * 1e6);
  return buf;
}

std::string format_tick(double ms, double step_ms) {
  char buf[48];
  // Enough decimals to tell neighbouring ticks apart, in the unit of the step.
  const char* unit = "ms";
  double v = ms, s = step_ms;
  if (step_ms >= 1000) {
    unit = "s";
    v /= 1000;
    s /= 1000;
  } else if (step_ms < 1e-3) {
    unit = "ns";
    v *= 1e6;
    s *= 1e6;
  } else if (step_ms < 1) {
    unit = "us";
    v *= 1e3;
    s *= 1e3;
  }
  int decimals = s >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(s) - 1e-9));
  std::snprintf(buf, sizeof buf, "%.*f %s", std::clamp(decimals, 0, 6), v, unit);
  return buf;
}

}  // namespace adaptis::gui
