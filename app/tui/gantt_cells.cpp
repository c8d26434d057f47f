#include "tui/gantt_cells.h"

#include <algorithm>
#include <cmath>

#include "common/format.h"

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

namespace {

// Per cell, the box of `lane` overlapping it the most (null where none does).
std::vector<const explorer::TimelineBox*> cell_winners(const explorer::Lane& lane, double t0, double t1, int columns) {
  std::vector<const explorer::TimelineBox*> cells(static_cast<size_t>(std::max(0, columns)), nullptr);
  if (columns <= 0 || t1 <= t0 || lane.empty()) return cells;
  const double width = (t1 - t0) / columns;
  for (int c = 0; c < columns; ++c) {
    const double a = t0 + c * width, b = a + width;
    double best = 0;
    // Boxes of one lane may overlap: the prefix maximum of the ends bounds the scan.
    for (size_t i = lane.first_reaching(a), n = lane.last_starting(b); i < n; ++i) {
      const explorer::TimelineBox& box = lane.boxes[i];
      const double ov = std::min(b, box.end) - std::max(a, box.start);
      if (ov > best) {
        best = ov;
        cells[static_cast<size_t>(c)] = &box;
      }
    }
  }
  return cells;
}

}  // namespace

char collective_letter(explorer::BoxKind k) {
  switch (k) {
    case explorer::BoxKind::GradSync: return 'g';
    case explorer::BoxKind::ParamGather: return 'z';
    case explorer::BoxKind::TensorComm: return 't';
    case explorer::BoxKind::ContextComm: return 'c';
    case explorer::BoxKind::ExpertComm: return 'e';
    case explorer::BoxKind::OptimizerStep: return 'o';
    default: return '?';
  }
}

std::vector<char> collective_row(const explorer::Lane& lane, double t0, double t1, int columns) {
  std::vector<char> cells(static_cast<size_t>(std::max(0, columns)), 0);
  const auto winners = cell_winners(lane, t0, t1, columns);
  for (size_t c = 0; c < winners.size(); ++c)
    if (winners[c]) cells[c] = collective_letter(winners[c]->kind);
  return cells;
}

std::vector<char> host_row(const explorer::Lane& host, double t0, double t1, int columns) {
  std::vector<char> cells(static_cast<size_t>(std::max(0, columns)), 0);
  if (columns <= 0 || t1 <= t0 || host.empty()) return cells;
  const double width = (t1 - t0) / columns;
  for (int c = 0; c < columns; ++c) {
    const double a = t0 + c * width, b = a + width;
    double best = 0;
    const explorer::TimelineBox* winner = nullptr;
    // Copies on one link may overlap (both directions): the prefix maximum of the ends bounds the scan.
    for (size_t i = host.first_reaching(a), n = host.last_starting(b); i < n; ++i) {
      const explorer::TimelineBox& box = host.boxes[i];
      const double ov = std::min(b, box.end) - std::max(a, box.start);
      if (ov > best) {
        best = ov;
        winner = &box;
      }
    }
    if (winner) cells[static_cast<size_t>(c)] = winner->kind == explorer::BoxKind::Offload ? '>' : '<';
  }
  return cells;
}

double tick_step_ms(double span_ms, int columns, int min_cols) {
  if (span_ms <= 0 || columns <= 0) return 1;
  return app::round_tick_step(span_ms * std::max(1, min_cols) / columns);
}

}  // namespace adaptis::tui
