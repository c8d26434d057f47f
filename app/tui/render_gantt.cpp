// The TUI's Gantt: a time axis in the unit its ticks need, a few text rows per device (op letter,
// micro-batch, stage), the selected action and search matches marked, a detail line for the
// selection, the legend and where the window's time goes.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/format.h"
#include "explorer/legend.h"
#include "tui/gantt_cells.h"
#include "tui/render_views.h"

namespace adaptis::tui {

namespace {

// What each text row of a device shows, in the order rows are given.
enum class Lane { Op, Microbatch, Stage };

std::vector<Lane> gantt_lanes(bool color) {
  // With colour the op is the cell's colour, so the first row can carry the micro-batch; the op
  // letters come second (so two rows still show F/B/W for readers who cannot tell the colours
  // apart), the stage third.
  if (color) return {Lane::Microbatch, Lane::Op, Lane::Stage};
  return {Lane::Op, Lane::Microbatch, Lane::Stage};
}

std::string op_label(Op op) {
  explorer::LegendContext c;
  c.fused_backward = true;
  c.recompute = true;
  const explorer::LegendMark want = op == Op::F   ? explorer::LegendMark::Forward
                                    : op == Op::B ? explorer::LegendMark::InputGrad
                                    : op == Op::W ? explorer::LegendMark::WeightGrad
                                    : op == Op::R ? explorer::LegendMark::Recompute
                                                  : explorer::LegendMark::FusedBackward;
  for (const auto& e : explorer::legend(c))
    if (e.mark == want) return e.label;
  return "?";
}

// One line about the selected action: what it is, when, and its inputs and outputs.
std::string selection_text(const TuiState& s) {
  const explorer::Explorer& c = s.core;
  const explorer::TimelineBox* b = c.selected_box();
  if (!b) return "";
  const int d = c.view().selected.device;
  std::string out = app::strf("%s s%d mb%d on d%d: %s..%s (%s)", op_name(b->op), b->stage, b->mb, d,
                              app::format_ms(b->start).c_str(), app::format_ms(b->end).c_str(),
                              app::format_ms(b->end - b->start).c_str());
  std::string in, outs;
  for (const explorer::ActionEdge& e : explorer::action_edges(c.side(0).timeline(), b->op, b->stage, b->mb))
    (e.incoming ? in : outs) += app::strf("%s%s s%d d%d", (e.incoming ? in : outs).empty() ? "" : ", ",
                                          op_name(e.op), e.stage, e.where.device);
  // A variable-length unit: what it holds (its width on the Gantt is its cost).
  if (const std::string unit = c.selected_unit_text(); !unit.empty()) out += "; " + unit;
  if (!in.empty()) out += "; needs " + in;
  if (!outs.empty()) out += "; feeds " + outs;
  // Its collectives: the blocking tp/cp/ep share inside it, a ZeRO gather just before it.
  const explorer::DeviceLanes& dev = c.side(0).timeline().devices[static_cast<size_t>(d)];
  for (const explorer::Lane* lane : {&dev.tp, &dev.dp})
    for (size_t i = lane->first_reaching(b->start - (b->end - b->start)), n = lane->boxes.size(); i < n; ++i) {
      const explorer::TimelineBox& x = lane->boxes[i];
      if (x.start > b->end) break;
      if (x.mb == b->mb && x.stage == b->stage && x.op == b->op)
        out += app::strf("; %s %s", explorer::box_kind_name(x.kind), app::format_ms(x.end - x.start).c_str());
    }
  return out;
}

}  // namespace

GanttLayout gantt_layout(Rect body, int devices, bool color, const GanttExtras& extras) {
  // Two rows of time axis above; legend, window, (memory), (cluster) and detail rows below.
  GanttLayout g;
  g.memory_line = extras.memory_line;
  g.parallel_line = extras.parallel;
  const int rows = std::max(1, body.h - 5 - (g.memory_line ? 1 : 0) - (g.parallel_line ? 1 : 0));
  const int max_lanes = static_cast<int>(gantt_lanes(color).size());
  // Extra rows (collectives first, then the host link) only while each device keeps a compute row
  // beside them.
  int extra = 0;
  auto room = [&](bool want) {
    if (!want || devices <= 0 || rows / devices < extra + 2) return false;
    ++extra;
    return true;
  };
  g.tp = room(extras.tp_row);
  g.dp = room(extras.dp_row);
  g.host = room(extras.host_row);
  g.lanes = devices > 0 ? std::clamp(rows / devices - extra, 1, max_lanes) : 1;
  const int per_device = g.lanes + extra;
  // A blank row between devices when every device still fits with it.
  g.gap = per_device > 1 && devices * (per_device + 1) - 1 <= rows ? 1 : 0;
  g.devices_shown = std::max(1, (rows + g.gap) / (per_device + g.gap));
  return g;
}

GanttLayout gantt_layout(const TuiState& s, Rect body) {
  if (!s.core.has_plan()) return gantt_layout(body, 1, s.color);
  const explorer::MemoryOverview& m = s.core.memory();
  GanttExtras x;
  x.host_row = m.host_copies > 0;
  x.memory_line = m.policies || m.oom;
  const explorer::TimelineData& tl = s.core.side(0).timeline();
  for (const auto& d : tl.devices) {
    x.tp_row = x.tp_row || !d.tp.empty();
    x.dp_row = x.dp_row || !d.dp.empty();
  }
  x.parallel = s.core.editor().sim().has_parallel;
  return gantt_layout(body, static_cast<int>(s.core.editor().sim().devices.size()), s.color, x);
}

void draw_gantt_view(const TuiState& s, Screen& scr, Rect r) {
  if (draw_no_plan(s, scr, r)) return;
  const explorer::Explorer& core = s.core;
  const SimResult& sim = core.editor().sim();
  const int D = static_cast<int>(sim.timeline.size());
  const int label_w = D > 10 ? 6 : 5;
  const int cols = r.w - label_w;
  if (cols < 4 || r.h < 6) return;
  // The core's window has a small margin around the iteration (for the GUI); cells show only time
  // inside the iteration, so the first column is time 0 when the whole iteration is shown.
  explorer::TimeWindow win = core.view().window;
  win.t0 = std::max(0.0, win.t0);
  win.t1 = std::min(sim.iteration_ms, win.t1);
  if (!(win.t1 > win.t0)) win = {0, std::max(sim.iteration_ms, 1e-9)};
  const bool color = s.color;
  const std::vector<Lane> lanes = gantt_lanes(color);
  const GanttLayout layout = gantt_layout(s, r);
  const explorer::TimelineData& lanes_data = core.side(0).timeline();
  const explorer::TimelineFilter& filter = core.view().filter;
  const explorer::TimelineBox* sel = core.selected_box();
  const int sel_device = sel ? core.view().selected.device : -1;

  // Time axis: labels at round times in one unit (named at the left), ticks on the rule below.
  int y = r.y;
  const double step = tick_step_ms(win.span(), cols);
  const app::TimeUnit unit = app::axis_unit(step);
  int next_free = 0;
  scr.put(r.x, y, unit.name, Style::Dim);
  scr.fill(r.x + label_w, y + 1, cols, '-', Style::Dim);
  for (double t = std::ceil(win.t0 / step) * step; t < win.t1; t += step) {
    const int c = static_cast<int>(std::lround((t - win.t0) / win.span() * cols));
    const std::string lab = app::strf("%.*f", unit.decimals, t * unit.per_ms);
    if (c < 0 || c < next_free || c + static_cast<int>(lab.size()) > cols) continue;
    scr.set(r.x + label_w + c, y + 1, '|', Style::Dim);
    scr.put(r.x + label_w + c, y, lab, Style::Dim);
    next_free = c + static_cast<int>(lab.size()) + 1;
  }
  y += 2;

  bool used[kNumOps] = {};
  const int first = std::clamp(s.cursor[static_cast<int>(View::Gantt)], 0, std::max(0, D - layout.devices_shown));
  for (int i = 0; i < layout.devices_shown && first + i < D; ++i) {
    const int d = first + i;
    const std::vector<GanttCell> cells = gantt_row(sim.timeline[static_cast<size_t>(d)], win.t0, win.t1, cols);
    for (int lane = 0; lane < layout.lanes; ++lane, ++y) {
      const Lane what = lanes[static_cast<size_t>(lane)];
      if (lane == 0) scr.put(r.x, y, app::strf("d%d", d), d == sel_device ? Style::Selected : Style::Header);
      // With more than one row per device, the last label column says what the row shows.
      if (layout.lanes > 1)
        scr.set(r.x + label_w - 2, y, what == Lane::Op ? 'o' : what == Lane::Microbatch ? 'm' : 's', Style::Dim);
      for (int c = 0; c < cols; ++c) {
        const GanttCell& cell = cells[static_cast<size_t>(c)];
        const int x = r.x + label_w + c;
        if (!cell.busy) {
          scr.set(x, y, lane == 0 ? '.' : ' ', Style::Idle);
          continue;
        }
        const Action& a = cell.action;
        used[static_cast<int>(a.op)] = true;
        char ch = op_letter(a.op);
        if (what == Lane::Microbatch) ch = static_cast<char>('0' + a.mb % 10);
        if (what == Lane::Stage) ch = static_cast<char>('0' + a.stage % 10);
        Style st = op_style(a.op);
        explorer::TimelineBox probe;
        probe.op = a.op;
        probe.stage = a.stage;
        probe.mb = a.mb;
        // Search: matches keep their colour, the rest fade; the selection stands out.
        if (filter.active() && !filter.matches(probe, d)) {
          st = Style::Dim;
          if (!color && what == Lane::Op) ch = static_cast<char>(ch - 'A' + 'a');
        }
        if (sel && d == sel_device && a.op == sel->op && a.stage == sel->stage && a.mb == sel->mb) st = Style::Selected;
        scr.set(x, y, ch, st);
      }
    }
    // Collectives under the compute rows: tp (t c e, inside F and B) then dp (g z o, beside compute).
    for (const bool tp_row : {true, false}) {
      if (!(tp_row ? layout.tp : layout.dp) || d >= static_cast<int>(lanes_data.devices.size())) continue;
      const explorer::DeviceLanes& dev = lanes_data.devices[static_cast<size_t>(d)];
      scr.set(r.x + label_w - 2, y, tp_row ? 't' : 'g', Style::Dim);
      const std::vector<char> cells = collective_row(tp_row ? dev.tp : dev.dp, win.t0, win.t1, cols);
      for (int c = 0; c < cols; ++c) {
        const char ch = cells[static_cast<size_t>(c)];
        scr.set(r.x + label_w + c, y, ch == 0 ? ' ' : ch, ch == 0 ? Style::Idle : Style::Collective);
      }
      ++y;
    }
    // The host link: '>' offload to host after F, '<' reload before R/B.
    if (layout.host && d < static_cast<int>(lanes_data.devices.size())) {
      scr.set(r.x + label_w - 2, y, 'h', Style::Dim);
      const std::vector<char> copies = host_row(lanes_data.devices[static_cast<size_t>(d)].host, win.t0, win.t1, cols);
      for (int c = 0; c < cols; ++c) {
        const char ch = copies[static_cast<size_t>(c)];
        scr.set(r.x + label_w + c, y, ch == 0 ? ' ' : ch, ch == 0 ? Style::Idle : Style::HostCopy);
      }
      ++y;
    }
    if (i + 1 < layout.devices_shown && first + i + 1 < D) y += layout.gap;
  }
  // The footer sits at the bottom: legend, window, (memory), (cluster) and detail lines.
  y = std::max(y, r.y + r.h - 3 - (layout.memory_line ? 1 : 0) - (layout.parallel_line ? 1 : 0));
  if (y >= r.y + r.h) return;
  // Legend: the ops this plan uses, as they look (a coloured letter, or the letter alone).
  int x = r.x;
  for (int o = 0; o < kNumOps; ++o) {
    if (!used[o]) continue;
    const Op op = static_cast<Op>(o);
    scr.set(x, y, op_letter(op), op_style(op));
    const std::string label = op_label(op);
    x = scr.put(x + 2, y, label.substr(label.find(' ') + 1)) + 2;
  }
  scr.set(x, y, '.', Style::Idle);
  x = scr.put(x + 1, y, " idle  ", Style::Normal);
  if (layout.host) {
    scr.set(x, y, '>', Style::HostCopy);
    x = scr.put(x + 1, y, " offload ", Style::Normal);
    scr.set(x, y, '<', Style::HostCopy);
    x = scr.put(x + 1, y, " reload  ", Style::Normal);
  }
  if (layout.tp || layout.dp) {
    x = scr.put(x, y, layout.tp ? "t/c/e tp/cp/ep " : "", Style::Collective);
    x = scr.put(x, y, layout.dp ? "g dp sync z zero o optim  " : " ", Style::Collective);
  }
  // An active search says what it matches; otherwise the rows are explained.
  if (filter.active()) {
    scr.put(x, y, "search: " + explorer::describe(filter) + " (n/N next, esc)", Style::Warn);
  } else {
    scr.put(x, y, layout.lanes > 1 ? "rows: m micro-batch, o op, s stage (mod 10)"
                                   : color ? "digit = micro-batch mod 10" : "",
            Style::Dim);
  }
  ++y;
  if (y >= r.y + r.h) return;
  // Where the window's time goes (the measured range of the terminal view).
  const explorer::RangeBreakdown rb = explorer::range_breakdown(core.side(0).timeline(), core.side(0).gaps(), win.t0, win.t1);
  const double cells = rb.span() * D;
  // Zoom against the whole iteration (the core's fitted window, margins included).
  const double fit_span = core.extent() * (1 + 2 * explorer::kFitMargin) / core.view().window.span();
  const std::string rows_note =
      D > layout.devices_shown
          ? app::strf("devices %d-%d of %d (j/k)  ", first, std::min(D, first + layout.devices_shown) - 1, D)
          : "";
  const int dec = unit.decimals + 2;
  scr.put(r.x, y,
          app::strf("%swindow %.*f-%.*f of %.*f %s, zoom %.3gx, busy %.0f%% (waiting %.0f%%, in flight %.0f%%)",
                    rows_note.c_str(), dec,
                    win.t0 * unit.per_ms, dec, win.t1 * unit.per_ms, dec, sim.iteration_ms * unit.per_ms, unit.name,
                    fit_span, 100 * rb.utilisation(),
                    cells > 0 ? 100 * (rb.idle_by_cause[0] + rb.idle_by_cause[2]) / cells : 0.0,
                    cells > 0 ? 100 * rb.idle_by_cause[1] / cells : 0.0),
          Style::Dim, r.w);
  ++y;
  if (y >= r.y + r.h) return;
  if (layout.memory_line) {
    const explorer::MemoryOverview& m = core.memory();
    scr.put(r.x, y, "memory " + memory_text(m), m.oom ? Style::Bad : Style::Dim, r.w);
    ++y;
    if (y >= r.y + r.h) return;
  }
  if (layout.parallel_line) {
    scr.put(r.x, y, parallel_text(core), Style::Dim, r.w);
    ++y;
    if (y >= r.y + r.h) return;
  }
  const std::string detail = selection_text(s);
  scr.put(r.x, y, detail.empty() ? "enter selects an action; +/- zoom, h/l pan, 0 fit, / search" : detail,
          detail.empty() ? Style::Dim : Style::Normal, r.w);
}

}  // namespace adaptis::tui
