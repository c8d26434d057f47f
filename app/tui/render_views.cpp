#include "tui/render_views.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "cli/report.h"
#include "tui/gantt_cells.h"

namespace adaptis::tui {

std::string fmt(const char* format, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  return buf;
}

int draw_wrapped(Screen& scr, Rect r, int y, const std::string& text, Style style) {
  size_t pos = 0;
  while (pos <= text.size() && y < r.y + r.h) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    // Wrap at spaces where possible.
    while (static_cast<int>(line.size()) > r.w && y < r.y + r.h) {
      size_t cut = line.rfind(' ', static_cast<size_t>(r.w));
      if (cut == std::string::npos || cut == 0) cut = static_cast<size_t>(r.w);
      scr.put(r.x, y++, line.substr(0, cut), style);
      line = line.substr(cut == static_cast<size_t>(r.w) ? cut : cut + 1);
    }
    if (y < r.y + r.h) scr.put(r.x, y++, line, style);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return y;
}

int scroll_first(int cursor, int rows, int n) {
  if (rows <= 0 || n <= rows) return 0;
  return std::clamp(cursor - rows / 2, 0, n - rows);
}

void draw_bar(Screen& scr, int x, int y, int width, std::initializer_list<BarSegment> segments, char rest,
              Style rest_style) {
  // Segment ends are rounded from cumulative fractions so the segments always sum to the bar.
  double acc = 0;
  int col = 0;
  for (const BarSegment& seg : segments) {
    acc += std::max(0.0, seg.fraction);
    int end = std::clamp(static_cast<int>(std::lround(acc * width)), col, width);
    scr.fill(x + col, y, end - col, seg.ch, seg.style);
    col = end;
  }
  scr.fill(x + col, y, width - col, rest, rest_style);
}

namespace {

Style op_style(Op op) {
  switch (op) {
    case Op::F: return Style::OpF;
    case Op::B: return Style::OpB;
    case Op::W: return Style::OpW;
    case Op::BW: return Style::OpBW;
  }
  return Style::Normal;
}

char op_letter(Op op) {
  switch (op) {
    case Op::F: return 'F';
    case Op::B: return 'B';
    case Op::W: return 'W';
    case Op::BW: return 'X';
  }
  return '?';
}

// The plan could not be built or simulated: say why in the body.
bool draw_no_plan(const TuiState& s, Screen& scr, Rect r) {
  if (s.eval && s.eval->ok()) return false;
  int y = r.y;
  if (!s.eval) return scr.put(r.x, y, "no plan"), true;
  y = draw_wrapped(scr, r, y,
                   s.eval->built ? "The plan's orders deadlock:" : "This request does not give a valid plan:",
                   Style::Bad);
  y = draw_wrapped(scr, Rect{r.x + 2, r.y, r.w - 2, r.h}, y, s.eval->error, Style::Normal);
  draw_wrapped(scr, r, y + 1, "Change the schedule (s/S), micro-batches (m/M), devices (d/D) or chunks (v/V).",
               Style::Dim);
  return true;
}

double max_peak(const SimResult& sim) {
  double m = 0;
  for (const auto& d : sim.devices) m = std::max(m, d.peak_memory_bytes);
  return m;
}

double max_limit(const SimResult& sim) {
  double m = 0;
  for (const auto& d : sim.devices) m = std::max(m, d.memory_limit_bytes);
  return m;
}

}  // namespace

void draw_layers_view(const TuiState& s, Screen& scr, Rect r) {
  const CostTable& costs = s.inputs->costs;
  const int n = costs.num_layers();
  const bool with_params = r.w >= 70, with_act = r.w >= 82;
  const Plan* plan = s.eval && s.eval->built ? &s.eval->plan : nullptr;
  std::vector<int> stage_of(static_cast<size_t>(n), -1);
  std::vector<int> dev_of_stage;
  if (plan) {
    for (int st = 0; st < plan->num_stages(); ++st)
      for (int l = plan->partition.bounds[st]; l < plan->partition.bounds[st + 1] && l < n; ++l)
        stage_of[static_cast<size_t>(l)] = st;
    dev_of_stage = plan->placement.stage_device();
  }
  double max_cost = 0;
  for (const auto& l : costs.layers) max_cost = std::max(max_cost, l.f_ms + l.b_ms + l.w_ms);

  std::string head = fmt("%4s %-12s %8s %8s %8s", "#", "layer", "F ms", "B ms", "W ms");
  if (with_params) head += fmt(" %10s", "params");
  if (with_act) head += fmt(" %10s", "act/mb");
  head += fmt(" %5s %4s ", "stage", "dev");
  const int bar_x = r.x + static_cast<int>(head.size());
  const int bar_w = r.x + r.w - bar_x - 1;
  if (bar_w >= 6) head += "F+B+W";
  scr.put(r.x, r.y, head, Style::Header);

  const int rows = r.h - 1;
  const int cursor = s.cursor[static_cast<int>(View::Layers)];
  const int first = scroll_first(cursor, rows, n);
  for (int i = 0; i < rows && first + i < n; ++i) {
    const int l = first + i, y = r.y + 1 + i;
    const LayerCost& c = costs.layers[static_cast<size_t>(l)];
    std::string label = c.name == c.kind || c.kind.empty() ? c.name : c.name + " " + c.kind;
    std::string line = fmt("%4d %-12.12s %8.2f %8.2f %8.2f", l, label.c_str(), c.f_ms, c.b_ms, c.w_ms);
    if (with_params) line += fmt(" %10s", cli::format_bytes(c.param_bytes).c_str());
    if (with_act) line += fmt(" %10s", cli::format_bytes(c.act_b_bytes + c.act_w_bytes).c_str());
    int st = stage_of[static_cast<size_t>(l)];
    int dev = st >= 0 && st < static_cast<int>(dev_of_stage.size()) ? dev_of_stage[static_cast<size_t>(st)] : -1;
    std::string st_text = st >= 0 ? fmt("s%d", st) : "-";
    std::string dev_text = dev >= 0 ? fmt("d%d", dev) : "-";
    line += fmt(" %5s %4s ", st_text.c_str(), dev_text.c_str());
    const bool selected = l == cursor;
    scr.put(r.x, y, line, selected ? Style::Selected : Style::Normal);
    // The layers on both sides of the selected boundary: what `<` and `>` move.
    if (plan && plan->num_stages() > 1 && s.boundary < plan->num_stages()) {
      int bl = plan->partition.bounds[static_cast<size_t>(s.boundary)];
      if (l == bl - 1 || l == bl) {
        int sx = r.x + static_cast<int>(line.size()) - 11;
        scr.restyle(sx, y, 6, Style::Warn);
        scr.set(sx, y, l == bl ? '>' : '<', Style::Warn);
      }
    }
    if (bar_w >= 6 && max_cost > 0) {
      // Stages alternate bar characters so stage groups read without colour too.
      bool odd = st >= 0 && st % 2 == 1;
      double frac = (c.f_ms + c.b_ms + c.w_ms) / max_cost;
      draw_bar(scr, bar_x, y, bar_w, {{frac, odd ? '=' : '#', odd ? Style::BarBetween : Style::BarBusy}}, ' ',
               Style::Normal);
    }
    if (selected) scr.restyle(r.x, y, static_cast<int>(line.size()), Style::Selected);
  }
}

void draw_plan_view(const TuiState& s, Screen& scr, Rect r) {
  const Evaluation* e = s.eval.get();
  int y = r.y;
  const int x2 = r.x + 10;
  auto field = [&](const char* label, const std::string& value, Style st = Style::Normal) {
    if (y >= r.y + r.h) return;
    scr.put(r.x, y, label, Style::Dim);
    scr.put(x2, y, value, st, r.w - 10);
    ++y;
  };
  std::string desc;
  for (const auto& info : all_schedules())
    if (e && e->request.schedule == info.name) desc = info.description;
  const Cluster& cl = s.inputs->cluster;
  if (e && e->from_optimizer)
    field("schedule", "optimized plan (its own partition, placement and orders; s returns to built-ins)", Style::Good);
  else
    field("schedule", s.request.schedule + (desc.empty() ? "" : " - " + desc));
  field("devices", fmt("%d x %s%s%s, micro-batches %d, chunks/device %d", cl.num_devices(),
                       cl.devices.empty() ? "?" : cl.devices[0].name.c_str(), cl.name.empty() ? "" : " on ",
                       cl.name.c_str(), e && e->from_optimizer ? e->plan.num_microbatches : s.request.microbatches,
                       resolved_stages_per_device(s)));
  field("costs", fmt("%s, %d layers (%s)", s.config.costs_label.c_str(), s.inputs->costs.num_layers(),
                     s.inputs->costs.source.c_str()));
  if (draw_no_plan(s, scr, Rect{r.x, y + 1, r.w, r.y + r.h - y - 1})) return;
  const Plan& p = e->plan;
  const SimResult& sim = e->sim;
  field("partition", format_partition(p.partition));
  field("placement", format_placement(p.placement));
  field("iteration", fmt("%.3f ms   bubble %.2f%%   peak memory %s of %s%s", sim.iteration_ms,
                         100 * sim.bubble_ratio, cli::format_bytes(max_peak(sim)).c_str(),
                         cli::format_bytes(max_limit(sim)).c_str(), sim.oom ? "   OOM" : ""),
        sim.oom ? Style::Bad : Style::Good);
  ++y;
  if (y >= r.y + r.h) return;

  // Per-stage table: the partition the boundary keys edit, with each stage's compute load.
  const int S = p.num_stages();
  std::vector<int> dev = p.placement.stage_device();
  double max_t = 0, sum_t = 0;
  for (const StageCost& c : e->stages) {
    max_t = std::max(max_t, c.f_ms + c.b_ms + c.w_ms);
    sum_t += c.f_ms + c.b_ms + c.w_ms;
  }
  std::string head = fmt("%-6s %-9s %4s %9s %9s %9s %4s  ", "stage", "layers", "n", "F ms", "B ms", "W ms", "dev");
  const int bar_x = r.x + static_cast<int>(head.size());
  const int bar_w = r.x + r.w - bar_x - 1;
  scr.put(r.x, y++, head + (bar_w >= 6 ? "load" : ""), Style::Header);
  const int rows = r.y + r.h - y - 1;  // one line kept for the imbalance note
  const int first = std::clamp(s.cursor[static_cast<int>(View::Plan)], 0, std::max(0, S - std::max(1, rows)));
  for (int i = 0; i < rows && first + i < S; ++i) {
    const int st = first + i;
    const StageCost& c = e->stages[static_cast<size_t>(st)];
    std::string layers = fmt("%d-%d", p.partition.bounds[st], p.partition.bounds[st + 1] - 1);
    bool marked = S > 1 && (st == s.boundary - 1 || st == s.boundary);
    std::string line = fmt("%c%-5d %-9s %4d %9.2f %9.2f %9.2f %4d  ", marked ? (st == s.boundary ? '>' : '<') : ' ',
                           st, layers.c_str(), p.partition.stage_size(st), c.f_ms, c.b_ms, c.w_ms,
                           dev[static_cast<size_t>(st)]);
    scr.put(r.x, y, line, Style::Normal);
    if (marked) scr.restyle(r.x, y, 16, Style::Warn);
    if (bar_w >= 6 && max_t > 0) {
      double t = c.f_ms + c.b_ms + c.w_ms;
      draw_bar(scr, bar_x, y, bar_w, {{t / max_t, '#', t == max_t ? Style::BarWarmUp : Style::BarBusy}}, ' ',
               Style::Normal);
    }
    ++y;
  }
  if (y < r.y + r.h && S > 0 && sum_t > 0) {
    std::string more = first + rows < S ? fmt("  (stages %d-%d of %d; j/k scroll)", first, first + rows - 1, S) : "";
    scr.put(r.x, y, fmt("imbalance: slowest stage / mean = %.3f; boundary %d selected ([ ] select, < > move, e even)%s",
                        max_t / (sum_t / S), s.boundary, more.c_str()),
            Style::Dim);
  }
}

void draw_gantt_view(const TuiState& s, Screen& scr, Rect r) {
  if (draw_no_plan(s, scr, r)) return;
  const SimResult& sim = s.eval->sim;
  const int D = static_cast<int>(sim.timeline.size());
  const int label_w = D > 10 ? 5 : 4;
  const int cols = r.w - label_w;
  if (cols < 4) return;
  TimeWindow win = gantt_window(sim.iteration_ms, s.gantt_zoom, s.gantt_left_ms);

  // Axis labels at round times.
  int y = r.y;
  double step = tick_step_ms(win.t1 - win.t0, cols);
  int next_free = 0;
  for (double t = std::ceil(win.t0 / step) * step; t < win.t1; t += step) {
    int c = static_cast<int>(std::lround((t - win.t0) / (win.t1 - win.t0) * cols));
    std::string lab = step >= 1 ? fmt("%.0f", t) : fmt("%.*f", step >= 0.1 ? 1 : 3, t);
    if (c < next_free || c + static_cast<int>(lab.size()) > cols) continue;
    scr.set(r.x + label_w + c, y + 1, '|', Style::Dim);
    scr.put(r.x + label_w + c, y, lab, Style::Dim);
    next_free = c + static_cast<int>(lab.size()) + 1;
  }
  scr.put(r.x, y, "ms", Style::Dim);
  y += 1;  // the tick row is the top border of the chart (ticks drawn on it)
  for (int c = 0; c < cols; ++c)
    if (scr.at(r.x + label_w + c, y).ch != '|') scr.set(r.x + label_w + c, y, '-', Style::Dim);
  ++y;

  const int footer = 2;
  const int rows = std::max(1, r.y + r.h - y - footer);
  const int first = std::clamp(s.cursor[static_cast<int>(View::Gantt)], 0, std::max(0, D - rows));
  for (int i = 0; i < rows && first + i < D; ++i, ++y) {
    const int d = first + i;
    scr.put(r.x, y, fmt("d%d", d), Style::Header);
    std::vector<GanttCell> cells = gantt_row(sim.timeline[static_cast<size_t>(d)], win.t0, win.t1, cols);
    for (int c = 0; c < cols; ++c) {
      const GanttCell& cell = cells[static_cast<size_t>(c)];
      if (!cell.busy) {
        scr.set(r.x + label_w + c, y, '.', Style::Idle);
      } else if (s.config.color) {
        // Colour carries the op; the character carries the micro-batch.
        scr.set(r.x + label_w + c, y, static_cast<char>('0' + cell.action.mb % 10), op_style(cell.action.op));
      } else {
        scr.set(r.x + label_w + c, y, op_letter(cell.action.op), op_style(cell.action.op));
      }
    }
  }
  y = std::max(y, r.y + r.h - footer);
  if (y >= r.y + r.h) return;
  // Legend: colour samples when there is colour, the letters otherwise.
  int x = r.x;
  const std::pair<Op, const char*> legend[] = {
      {Op::F, "forward"}, {Op::B, "input-grad"}, {Op::W, "weight-grad"}, {Op::BW, "backward"}};
  for (const auto& [op, name] : legend) {
    scr.set(x, y, s.config.color ? '0' : op_letter(op), op_style(op));
    x = scr.put(x + 1, y, fmt(" %s  ", name));
  }
  scr.set(x, y, '.', Style::Idle);
  x = scr.put(x + 1, y, " idle", Style::Normal);
  if (s.config.color) scr.put(x, y, "  (digit = micro-batch mod 10)", Style::Dim);
  ++y;
  if (y >= r.y + r.h) return;
  std::string rows_note = D > rows ? fmt("  devices %d-%d of %d (j/k)", first, std::min(D, first + rows) - 1, D) : "";
  scr.put(r.x, y,
          fmt("window %.1f-%.1f of %.1f ms, zoom %gx%s", win.t0, win.t1, sim.iteration_ms, s.gantt_zoom,
              rows_note.c_str()),
          Style::Dim);
}

void draw_devices_view(const TuiState& s, Screen& scr, Rect r) {
  if (draw_no_plan(s, scr, r)) return;
  const SimResult& sim = s.eval->sim;
  const int D = static_cast<int>(sim.devices.size());
  const double T = sim.iteration_ms;
  int y = r.y;
  scr.put(r.x, y++,
          fmt("time bar: # busy  < warm-up bubble  ~ in-between  > cool-down     mem bar: = peak of limit"),
          Style::Dim);
  // Two lines per device; the largest gaps fill the rest of the screen.
  const int dev_rows = std::max(1, std::min(D, (r.y + r.h - y) / 2));
  const int first = std::clamp(s.cursor[static_cast<int>(View::Devices)], 0, std::max(0, D - dev_rows));
  const int bar_w = std::max(8, (r.w - 6) / 2 - 2);
  for (int i = 0; i < dev_rows && first + i < D; ++i) {
    const int d = first + i;
    const DeviceStats& st = sim.devices[static_cast<size_t>(d)];
    scr.put(r.x, y,
            fmt("d%-3d busy %.1f  idle %.1f ms (%.1f%%): warm-up %.1f  between %.1f  cool-down %.1f", d, st.busy_ms,
                st.bubble_ms, T > 0 ? 100 * st.bubble_ms / T : 0.0, st.warmup_bubble_ms, st.inbetween_bubble_ms,
                st.cooldown_bubble_ms),
            Style::Normal);
    scr.restyle(r.x, y, 4, Style::Header);
    ++y;
    int x = r.x + 4;
    if (T > 0)
      draw_bar(scr, x, y, bar_w,
               {{st.busy_ms / T, '#', Style::BarBusy},
                {st.warmup_bubble_ms / T, '<', Style::BarWarmUp},
                {st.inbetween_bubble_ms / T, '~', Style::BarBetween},
                {st.cooldown_bubble_ms / T, '>', Style::BarCoolDown}},
               ' ', Style::BarEmpty);
    x += bar_w + 2;
    const double limit = st.memory_limit_bytes;
    const int mem_w = std::max(4, std::min(bar_w / 2, r.x + r.w - x - 24));
    draw_bar(scr, x, y, mem_w, {{limit > 0 ? std::min(1.0, st.peak_memory_bytes / limit) : 0, '=', st.oom ? Style::Bad : Style::BarMemory}},
             '.', Style::BarEmpty);
    x += mem_w + 1;
    scr.put(x, y,
            fmt("%s/%s%s", cli::format_bytes(st.peak_memory_bytes).c_str(), cli::format_bytes(limit).c_str(),
                st.oom ? " OOM" : ""),
            st.oom ? Style::Bad : Style::Normal, r.x + r.w - x);
    ++y;
  }
  if (D > dev_rows) {
    scr.put(r.x + r.w - 28, r.y, fmt(" devices %d-%d of %d (j/k) ", first, first + dev_rows - 1, D), Style::Dim);
  }
  if (y + 2 > r.y + r.h || sim.gaps.empty()) return;
  // The largest bubbles and what caused them.
  std::vector<const Gap*> gaps;
  for (const Gap& g : sim.gaps) gaps.push_back(&g);
  std::sort(gaps.begin(), gaps.end(), [](const Gap* a, const Gap* b) { return a->end - a->start > b->end - b->start; });
  scr.put(r.x, y++, "largest idle gaps", Style::Header);
  for (size_t i = 0; i < gaps.size() && y < r.y + r.h; ++i, ++y) {
    const Gap& g = *gaps[i];
    std::string why = g.cause == GapCause::Drain
                          ? "done, others still working"
                          : fmt("%s waits for %s on d%d (%s)", to_string(g.waiting).c_str(),
                                to_string(g.producer).c_str(), g.producer_device, gap_cause_name(g.cause));
    scr.put(r.x, y,
            fmt("d%-3d %8.2f ms at %8.2f  %-9s %s", g.device, g.end - g.start, g.start, bubble_phase_name(g.phase),
                why.c_str()),
            Style::Normal, r.w);
  }
}

void draw_compare_view(const TuiState& s, Screen& scr, Rect r) {
  if (!s.compare) {
    scr.put(r.x, r.y, "computing...", Style::Dim);
    return;
  }
  const auto& rows = *s.compare;
  const cli::CompareRow* best = cli::fastest(rows);
  const double now = s.eval && s.eval->ok() ? s.eval->sim.iteration_ms : 0;
  int y = r.y;
  scr.put(r.x, y++, fmt("  %-24s %10s %8s %11s %8s  %s", "schedule", "iter ms", "bubble", "peak mem", "vs now", "note"),
          Style::Header);
  const int n = static_cast<int>(rows.size());
  const int visible = r.y + r.h - y - 1;
  const int cursor = s.cursor[static_cast<int>(View::Compare)];
  const int first = scroll_first(cursor, visible, n);
  for (int i = 0; i < visible && first + i < n; ++i, ++y) {
    const cli::CompareRow& row = rows[static_cast<size_t>(first + i)];
    const bool current = s.eval && ((row.name == "optimized" && s.eval->from_optimizer) ||
                                    (!s.eval->from_optimizer && row.name == s.request.schedule));
    std::string line;
    Style st = Style::Normal;
    if (!row.ok) {
      line = fmt("%c %-24s %10s %8s %11s %8s  %s", current ? '*' : ' ', row.name.c_str(), "-", "-", "-", "-",
                 row.error.substr(0, row.error.find('\n')).c_str());
      st = Style::Dim;
    } else {
      std::string vs = now > 0 ? fmt("%.3fx", now / row.sim.iteration_ms) : "-";
      line = fmt("%c %-24s %10.2f %7.2f%% %11s %8s  %s%s", current ? '*' : ' ', row.name.c_str(),
                 row.sim.iteration_ms, 100 * row.sim.bubble_ratio, cli::format_bytes(max_peak(row.sim)).c_str(),
                 vs.c_str(), row.sim.oom ? "OOM " : "", &row == best ? "fastest" : "");
      st = row.sim.oom ? Style::Bad : (&row == best ? Style::Good : Style::Normal);
    }
    scr.put(r.x, y, line, first + i == cursor ? Style::Selected : st, r.w);
  }
  if (y < r.y + r.h)
    scr.put(r.x, r.y + r.h - 1, "enter: show the selected schedule   * = on screen   vs now = current time / row time",
            Style::Dim);
}

void draw_runs_view(const TuiState& s, Screen& scr, Rect r) {
  const RunsView& runs = s.runs;
  int y = r.y;
  scr.put(r.x, y++, "run store: " + (runs.db_path.empty() ? std::string("(none)") : runs.db_path), Style::Dim);
  if (!runs.note.empty()) y = draw_wrapped(scr, Rect{r.x, y, r.w, r.h - (y - r.y)}, y, runs.note,
                                           runs.store_available ? Style::Dim : Style::Warn);
  // The launched child first: it is what the user is watching.
  if (runs.child_pid > 0 && y < r.y + r.h) {
    std::string state = runs.child_running ? "running" : fmt("finished, exit status %d", runs.child_exit);
    scr.put(r.x, y++, fmt("launched pid %d: %s", runs.child_pid, state.c_str()),
            runs.child_running ? Style::Warn : (runs.child_exit == 0 ? Style::Good : Style::Bad));
    if (y < r.y + r.h) scr.put(r.x + 2, y++, runs.child_command, Style::Dim, r.w - 2);
    const int tail_rows = std::min<int>(static_cast<int>(runs.log_tail.size()), std::max(0, (r.y + r.h - y) / 3));
    for (int i = static_cast<int>(runs.log_tail.size()) - tail_rows; i < static_cast<int>(runs.log_tail.size()); ++i)
      scr.put(r.x + 2, y++, "| " + runs.log_tail[static_cast<size_t>(i)], Style::Normal, r.w - 2);
  }
  if (y >= r.y + r.h) return;
  if (runs.rows.empty()) {
    scr.put(r.x, y, runs.store_available ? "no recorded runs yet: r launches one with the plan on screen" : "",
            Style::Dim);
    return;
  }
  ++y;
  scr.put(r.x, y++, fmt("%-10s %-14s %-9s %6s %12s %12s %7s  %s", "run", "plan", "status", "steps", "measured ms",
                        "predicted ms", "error", "started"),
          Style::Header);
  const int n = static_cast<int>(runs.rows.size());
  const int visible = r.y + r.h - y;
  const int cursor = s.cursor[static_cast<int>(View::Runs)];
  const int first = scroll_first(cursor, visible, n);
  for (int i = 0; i < visible && first + i < n; ++i, ++y) {
    const RunRow& row = runs.rows[static_cast<size_t>(first + i)];
    std::string measured = row.measured_ms > 0 ? fmt("%.2f", row.measured_ms) : "-";
    std::string predicted = row.predicted_ms > 0 ? fmt("%.2f", row.predicted_ms) : "-";
    std::string err = row.measured_ms > 0 && row.predicted_ms > 0
                          ? fmt("%+.1f%%", 100 * (row.predicted_ms - row.measured_ms) / row.measured_ms)
                          : "-";
    Style st = row.status == "failed" ? Style::Bad : row.status == "running" ? Style::Warn : Style::Normal;
    scr.put(r.x, y,
            fmt("%-10.10s %-14.14s %-9.9s %6d %12s %12s %7s  %s", row.id.c_str(), row.plan.c_str(), row.status.c_str(),
                row.steps, measured.c_str(), predicted.c_str(), err.c_str(), row.started.c_str()),
            first + i == cursor ? Style::Selected : st, r.w);
  }
}

}  // namespace adaptis::tui
