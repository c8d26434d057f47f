#pragma once
// A Gantt chart of a simulated plan as text: one row per device, F/B/W/BW and idle time scaled to
// a given width. Used by `adaptis simulate --gantt` and logs; the TUI draws its own with ncurses.
#include <string>

#include "adaptis/planner/simulator.h"

namespace adaptis {

struct TextGanttOptions {
  int width = 100;     // total characters per row, labels included
  bool color = true;   // ANSI background colours; off: letters only
  bool legend = true;
};

// Each cell shows the action covering most of its time span: the micro-batch's last digit on the
// op's colour (or the op letter without colour: F, B, W, X for BW), '.' for idle.
std::string render_text_gantt(const SimResult& sim, const TextGanttOptions& opt);

}  // namespace adaptis
