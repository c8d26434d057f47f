#include "tui/gantt_cells.h"

#include <algorithm>
#include <cmath>

namespace adaptis::tui {

std::vector<GanttCell> gantt_row(const std::vector<TimedAction>& timeline, double t0, double t1, int columns) {
  std::vector<GanttCell> cells(static_cast<size_t>(std::max(0, columns)));
  if (columns <= 0 || t1 <= t0) return cells;
  const double width = (t1 - t0) / columns;
  // Actions are in start order and do not overlap on one device (overlapped pairs share a start),
  // so one forward sweep finds each cell's candidates.
  auto first = std::lower_bound(timeline.begin(), timeline.end(), t0,
                                [](const TimedAction& a, double t) { return a.end <= t; });
  for (int c = 0; c < columns; ++c) {
    const double a = t0 + c * width, b = a + width;
    while (first != timeline.end() && first->end <= a) ++first;
    double covered = 0, best = 0;
    const TimedAction* winner = nullptr;
    for (auto it = first; it != timeline.end() && it->start < b; ++it) {
      double ov = std::min(b, it->end) - std::max(a, it->start);
      if (ov <= 0) continue;
      covered += ov;
      if (ov > best) {
        best = ov;
        winner = &*it;
      }
    }
    if (winner && covered * 2 >= width) cells[static_cast<size_t>(c)] = GanttCell{true, winner->action};
  }
  return cells;
}

double tick_step_ms(double span_ms, int columns, int min_cols) {
  if (span_ms <= 0 || columns <= 0) return 1;
  const double min_step = span_ms * std::max(1, min_cols) / columns;
  double p = std::pow(10.0, std::floor(std::log10(min_step)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= min_step) return m * p;
  return 10 * p;
}

TimeWindow gantt_window(double total_ms, double zoom, double left_ms) {
  TimeWindow w;
  if (total_ms <= 0) return w;
  const double span = total_ms / std::max(1.0, zoom);
  w.t0 = std::clamp(left_ms, 0.0, total_ms - span);
  w.t1 = w.t0 + span;
  return w;
}

}  // namespace adaptis::tui
