#include "adaptis/planner/text_gantt.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace adaptis {

namespace {

const char* op_color(Op op) {
  switch (op) {
    case Op::F: return "\x1b[44;97m";   // blue
    case Op::B: return "\x1b[42;30m";   // green
    case Op::W: return "\x1b[43;30m";   // yellow
    case Op::BW: return "\x1b[46;30m";  // cyan
    case Op::R: return "\x1b[45;97m";   // magenta
  }
  return "";
}

}  // namespace

std::string render_text_gantt(const SimResult& sim, const TextGanttOptions& opt) {
  std::ostringstream os;
  if (!sim.ok || sim.iteration_ms <= 0) return "(no timeline: " + (sim.ok ? std::string("empty plan") : sim.error) + ")\n";
  const int label = 6;  // "d12  "
  const int cols = std::max(10, opt.width - label - 1);
  const double T = sim.iteration_ms;
  const double cell = T / cols;
  for (size_t d = 0; d < sim.timeline.size(); ++d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "d%-4zu ", d);
    os << buf;
    const auto& tl = sim.timeline[d];
    size_t k = 0;
    int prev_color = -1;
    for (int c = 0; c < cols; ++c) {
      double a = c * cell, b = a + cell;
      while (k < tl.size() && tl[k].end <= a) ++k;
      // The action with the largest overlap with [a, b).
      double best = 0;
      const TimedAction* win = nullptr;
      for (size_t j = k; j < tl.size() && tl[j].start < b; ++j) {
        double ov = std::min(b, tl[j].end) - std::max(a, tl[j].start);
        if (ov > best) {
          best = ov;
          win = &tl[j];
        }
      }
      bool busy = win && best >= 0.5 * cell * 0.999;
      if (!busy && win && best > 0) busy = best * 2 > cell;  // majority rule
      if (opt.color) {
        int color = busy ? static_cast<int>(win->action.op) : 9;
        if (color != prev_color) {
          os << "\x1b[0m";
          if (busy) os << op_color(win->action.op);
          else os << "\x1b[90m";
          prev_color = color;
        }
        os << (busy ? static_cast<char>('0' + win->action.mb % 10) : '.');
      } else {
        os << (busy ? op_letter(win->action.op) : '.');
      }
    }
    if (opt.color) os << "\x1b[0m";
    os << '\n';
  }
  if (opt.legend) {
    bool has_r = false;  // recompute actions get a legend entry only where there are some
    for (const auto& dev : sim.timeline)
      for (const auto& ta : dev) has_r = has_r || ta.action.op == Op::R;
    char buf[128];
    std::snprintf(buf, sizeof buf, "      0 ms %*s %.1f ms\n", std::max(0, cols - 18), "", T);
    os << buf;
    if (opt.color)
      os << "      " << op_color(Op::F) << " F \x1b[0m " << op_color(Op::B) << " B \x1b[0m " << op_color(Op::W)
         << " W \x1b[0m " << op_color(Op::BW) << " BW \x1b[0m "
         << (has_r ? std::string(op_color(Op::R)) + " R \x1b[0m " : std::string())
         << " digit = micro-batch mod 10, . = idle\n";
    else if (opt.width >= 70)
      os << "      F forward  B input-grad  W weight-grad  X fused backward  " << (has_r ? "R recompute  " : "")
         << ". idle\n";
    else  // narrow terminals: the short legend still fits
      os << "      F fwd B in-grad W w-grad X BW " << (has_r ? "R recomp " : "") << ". idle\n";
  }
  return os.str();
}

}  // namespace adaptis
