#pragma once
// Time -> character cells for the TUI's Gantt: which action a cell shows when a cell spans many
// actions (zoomed out) or a fraction of one (zoomed in), and where the time axis ticks go.
#include <string>
#include <vector>

#include "adaptis/planner/simulator.h"
#include "explorer/timeline_data.h"

namespace adaptis::tui {

struct GanttCell {
  bool busy = false;
  Action action;  // valid when busy
};

// Cells for one device's timeline over [t0, t1) split into `columns` equal spans. A cell is busy
// when actions cover at least half of its span (so many short actions do not vanish when zoomed
// out); it then shows the action covering the most of it. `timeline` is in start order.
std::vector<GanttCell> gantt_row(const std::vector<TimedAction>& timeline, double t0, double t1, int columns);

// Cells for one device's host-link lane (explorer::DeviceLanes::host) over [t0, t1): '>' where an
// offload copy runs during the cell, '<' for a reload (the copy covering most of the cell wins), 0
// where the link is idle. Copies are often far shorter than a cell, so any overlap shows.
std::vector<char> host_row(const explorer::Lane& host, double t0, double t1, int columns);

// Cells for one device's collective lane (explorer::DeviceLanes::dp or ::tp) over [t0, t1): the
// letter of the collective covering most of the cell (collective_letter), 0 where there is none;
// any overlap shows, as on the host row.
std::vector<char> collective_row(const explorer::Lane& lane, double t0, double t1, int columns);
// g dp gradient sync, z ZeRO gather, t tensor-parallel, c context-parallel, e expert-parallel,
// o optimizer step.
char collective_letter(explorer::BoxKind k);

// A round tick step (1, 2 or 5 x 10^k ms) giving labels at least `min_cols` columns apart.
double tick_step_ms(double span_ms, int columns, int min_cols = 12);

}  // namespace adaptis::tui
