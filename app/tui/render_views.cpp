#include "tui/render_views.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <utility>
#include <vector>

#include "adaptis/planner/memory_policy.h"
#include "common/format.h"

namespace adaptis::tui {

std::string fmt(const char* format, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(buf, sizeof buf, format, ap);
  va_end(ap);
  return buf;
}

std::string bytes_or_dash(double bytes) { return bytes > 0 ? app::format_bytes(bytes) : "-"; }

Rect body_rect(int width, int height, int status) { return Rect{0, 2, width, std::max(0, height - 3 - status)}; }

int draw_wrapped(Screen& scr, Rect r, int y, const std::string& text, Style style) {
  if (r.w <= 0) return y;
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

int wrapped_lines(const std::string& text, int width) {
  if (width <= 0) return 0;
  Screen scratch(width, 64);
  return draw_wrapped(scratch, Rect{0, 0, width, 64}, 0, text, Style::Normal);
}

int scroll_first(int cursor, int rows, int n) {
  if (rows <= 0 || n <= rows) return 0;
  return std::clamp(cursor - rows / 2, 0, n - rows);
}

void draw_bar(Screen& scr, int x, int y, int width, std::initializer_list<BarSegment> segments, char rest,
              Style rest_style) {
  if (width <= 0) return;
  // Segment ends are rounded from cumulative fractions so the segments always sum to the bar.
  double acc = 0;
  int col = 0;
  for (const BarSegment& seg : segments) {
    acc += std::max(0.0, seg.fraction);
    const int end = std::clamp(static_cast<int>(std::lround(acc * width)), col, width);
    scr.fill(x + col, y, end - col, seg.ch, seg.style);
    col = end;
  }
  scr.fill(x + col, y, width - col, rest, rest_style);
}

Style op_style(Op op) {
  switch (op) {
    case Op::F: return Style::OpF;
    case Op::B: return Style::OpB;
    case Op::W: return Style::OpW;
    case Op::BW: return Style::OpBW;
    case Op::R: return Style::OpR;
  }
  return Style::Normal;
}

std::string memory_text(const explorer::MemoryOverview& m) {
  if (!m.has_sizes) return "n/a (the costs carry no memory sizes)";
  // Most telling first: the worst device against its cap, the policy, then the peak's split.
  std::string out, split;
  if (m.worst >= 0) {
    const explorer::DeviceMemoryRow& w = m.devices[static_cast<size_t>(m.worst)];
    int over = 0;
    for (const auto& d : m.devices) over += d.oom ? 1 : 0;
    out = fmt("worst d%d %s of %s", m.worst, app::format_bytes(w.peak_bytes).c_str(),
              w.cap_bytes > 0 ? app::format_bytes(w.cap_bytes).c_str() : "?");
    if (w.cap_bytes > 0) out += fmt(" (%.0f%%)", 100 * w.fill());
    if (over > 0) out += fmt(" OOM on %d device%s", over, over == 1 ? "" : "s");
    split = fmt("; act kept %s", app::format_bytes(w.kept_bytes).c_str());
    if (w.recomputed_bytes > 0) split += fmt(", recomputed %s", app::format_bytes(w.recomputed_bytes).c_str());
    if (w.carried_bytes > 0) split += fmt(", kv grad carries %s", app::format_bytes(w.carried_bytes).c_str());
    if (w.w_grad_bytes > 0) split += fmt(", grads for W %s", app::format_bytes(w.w_grad_bytes).c_str());
    if (w.on_host_bytes > 0) split += fmt(", on host %s", app::format_bytes(w.on_host_bytes).c_str());
    out += "; ";
  }
  out += "policy " + (m.policy_text.empty() ? std::string("none") : m.policy_text);
  if (m.recompute_actions > 0 || m.host_copies > 0)
    out += fmt(" (%zu R, %zu host copies)", m.recompute_actions, m.host_copies);
  return out + split;
}

std::string policy_short(const StageMemoryPolicy& p) {
  std::string out = p.recompute == Recompute::None        ? "-"
                    : p.recompute == Recompute::Selective ? "sel"
                    : p.full_layers > 0                   ? fmt("full:%d", p.full_layers)
                                                          : "full";
  if (p.offload_fraction > 0) out += fmt("+off%.0f%%", 100 * p.offload_fraction);
  return out;
}

bool draw_no_plan(const TuiState& s, Screen& scr, Rect r) {
  if (s.core.has_plan() && s.core.problem().empty()) return false;
  int y = r.y;
  y = draw_wrapped(scr, r, y, "This request does not give a valid plan:", Style::Bad);
  const std::string why = !s.core.problem().empty() ? s.core.problem() : s.core.message().text;
  y = draw_wrapped(scr, Rect{r.x + 2, r.y, r.w - 2, r.h}, y, why, Style::Normal);
  draw_wrapped(scr, r, y + 1,
               std::string("Change the schedule (s/S), micro-batches (m/M), devices (d/D) or chunks (v/V); e resets the "
                           "partition") +
                   (s.core.has_plan() ? "; u goes back to the last valid plan." : "."),
               Style::Dim);
  return true;
}

namespace {

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

bool costs_have_memory(const CostTable& c) {
  for (const auto& l : c.layers)
    if (l.param_bytes > 0 || l.state_bytes > 0 || l.act_b_bytes > 0 || l.act_w_bytes > 0) return true;
  return false;
}


}  // namespace

std::string stages_of_device(const Plan& p, int d) {
  std::string out;
  for (int st : p.placement.device_stages[static_cast<size_t>(d)]) {
    if (!out.empty()) out += ',';
    out += std::to_string(st);
  }
  return out;
}

int devices_view_shown(Rect body, int devices) { return std::max(1, std::min(devices, (body.h - 1) / 2)); }

void draw_layers_view(const TuiState& s, Screen& scr, Rect r) {
  const CostTable& costs = s.core.editor().costs();
  const int n = costs.num_layers();
  const bool split = costs.split_backward();
  const bool mem = costs_have_memory(costs);
  const bool with_params = mem && r.w >= 76, with_act = mem && r.w >= 90;
  const Plan* plan = s.core.has_plan() ? &s.core.editor().plan() : nullptr;
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

  // Columns: the F/B(/W) times, sizes when the costs carry them, the stage and device the plan
  // puts the layer on, and a bar of the layer's total time.
  // The layer's kind joins its name when there is room ("layers.3 mamba").
  const int name_w = r.w >= 110 ? 24 : 12;
  std::string head = split ? fmt("%4s %-*s %8s %8s %8s", "#", name_w, "layer", "F ms", "B ms", "W ms")
                           : fmt("%4s %-*s %8s %8s", "#", name_w, "layer", "F ms", "B+W ms");
  if (with_params) head += fmt(" %10s", "params");
  if (with_act) head += fmt(" %10s", "act/mb");
  const int stage_col = static_cast<int>(head.size());
  head += fmt(" %5s %4s ", "stage", "dev");
  const int bar_x = r.x + static_cast<int>(head.size());
  const int bar_w = r.x + r.w - bar_x - 1;
  if (bar_w >= 6) head += "F+B+W time";
  scr.put(r.x, r.y, head, Style::Header);

  const int rows = r.h - 1;
  const int cursor = s.cursor[static_cast<int>(View::Layers)];
  const int first = scroll_first(cursor, rows, n);
  const int boundary_layer = plan && plan->num_stages() > 1 && s.boundary < plan->num_stages()
                                 ? plan->partition.bounds[static_cast<size_t>(s.boundary)]
                                 : -1;
  for (int i = 0; i < rows && first + i < n; ++i) {
    const int l = first + i, y = r.y + 1 + i;
    const LayerCost& c = costs.layers[static_cast<size_t>(l)];
    const std::string label = c.name == c.kind || c.kind.empty() || name_w < 20 ? c.name : c.name + " " + c.kind;
    std::string line = split ? fmt("%4d %-*.*s %8.2f %8.2f %8.2f", l, name_w, name_w, label.c_str(), c.f_ms, c.b_ms,
                                   c.w_ms)
                             : fmt("%4d %-*.*s %8.2f %8.2f", l, name_w, name_w, label.c_str(), c.f_ms, c.b_ms + c.w_ms);
    if (with_params) line += fmt(" %10s", bytes_or_dash(c.param_bytes).c_str());
    if (with_act) line += fmt(" %10s", bytes_or_dash(c.act_b_bytes + c.act_w_bytes).c_str());
    const int st = stage_of[static_cast<size_t>(l)];
    const int dev =
        st >= 0 && st < static_cast<int>(dev_of_stage.size()) ? dev_of_stage[static_cast<size_t>(st)] : -1;
    const std::string st_text = st >= 0 ? fmt("s%d", st) : "-";
    const std::string dev_text = dev >= 0 ? fmt("d%d", dev) : "-";
    line += fmt(" %5s %4s ", st_text.c_str(), dev_text.c_str());
    const bool selected = l == cursor;
    if (selected) line[0] = '>';  // visible without colour or reverse video too
    scr.put(r.x, y, line, selected ? Style::Selected : Style::Normal);
    // The layers on both sides of the selected boundary: what `<` and `>` move.
    if (l == boundary_layer - 1 || l == boundary_layer) {
      scr.set(r.x + stage_col + 1, y, l == boundary_layer ? '>' : '<', Style::Warn);
      scr.restyle(r.x + stage_col + 2, y, 4, Style::Warn);
    }
    if (bar_w >= 6 && max_cost > 0) {
      // Stages alternate bar characters so stage groups read without colour too.
      const bool odd = st >= 0 && st % 2 == 1;
      const double frac = (c.f_ms + c.b_ms + c.w_ms) / max_cost;
      draw_bar(scr, bar_x, y, bar_w, {{frac, odd ? '=' : '#', odd ? Style::BarBetween : Style::BarBusy}}, ' ',
               Style::Normal);
    }
  }
}

void draw_plan_view(const TuiState& s, Screen& scr, Rect r) {
  const explorer::PlanEditor& ed = s.core.editor();
  int y = r.y;
  const int x2 = r.x + 10;
  auto field = [&](const char* label, const std::string& value, Style st = Style::Normal) {
    if (y >= r.y + r.h) return;
    scr.put(r.x, y, label, Style::Dim);
    scr.put(x2, y, value, st, r.w - 10);
    ++y;
  };
  const Cluster& cl = ed.cluster();
  const PlanRequest& req = ed.request();
  if (ed.has_plan() && ed.state().custom && s.core.problem().empty()) {
    field("plan", s.core.on_screen_label() + ": its own partition, placement and orders (s returns to " + req.schedule +
                      ")",
          Style::Good);
  } else {
    std::string desc;
    for (const auto& info : all_schedules())
      if (req.schedule == info.name) desc = info.description;
    field("schedule", req.schedule + (desc.empty() ? "" : " - " + desc));
  }
  const int v = s.core.stages_per_device();
  field("devices", fmt("%d x %s%s%s, %d micro-batches, %d chunk%s per device", shown_devices(s),
                       cl.devices.empty() ? "?" : cl.devices[0].name.c_str(), cl.name.empty() ? "" : " on ",
                       cl.name.c_str(), shown_microbatches(s), v, v == 1 ? "" : "s"));
  // Profiles name their file in `source` already; other sources (the analytical model) do not.
  const std::string& source = ed.costs().source;
  const std::string& label = s.core.config().costs_label;
  field("costs", source.find('/') != std::string::npos || label.empty()
                     ? fmt("%d layers, %s", ed.costs().num_layers(), source.c_str())
                     : fmt("%d layers, %s, from %s", ed.costs().num_layers(), source.c_str(), label.c_str()));
  if (draw_no_plan(s, scr, Rect{r.x, y + 1, r.w, r.y + r.h - y - 1})) return;
  const explorer::Evaluation* e = &ed.eval();
  const Plan& p = e->plan;
  const SimResult& sim = e->sim;
  field("partition", format_partition(p.partition));
  field("placement", format_placement(p.placement));
  const double peak = max_peak(sim);
  field("iteration",
        fmt("%.3f ms   bubble %.2f%%   peak memory %s%s", sim.iteration_ms, 100 * sim.bubble_ratio,
            peak > 0 ? (app::format_bytes(peak) + " of " + app::format_bytes(max_limit(sim))).c_str()
                     : "n/a",
            sim.oom ? "   OOM" : ""),
        sim.oom ? Style::Bad : Style::Good);
  if (e->memory.has_sizes || e->memory.policies) field("memory", memory_text(e->memory), sim.oom ? Style::Bad : Style::Normal);
  ++y;
  if (y + 2 > r.y + r.h) return;

  // Per-stage table: the partition the boundary keys edit, with each stage's compute load.
  const int S = p.num_stages();
  const int D = p.num_devices();
  const std::vector<int> dev = p.placement.stage_device();
  double max_t = 0, sum_t = 0;
  for (const StageCost& c : e->stages) {
    max_t = std::max(max_t, c.f_ms + c.b_ms + c.w_ms);
    sum_t += c.f_ms + c.b_ms + c.w_ms;
  }
  // Without a B/W split in the costs, B is the whole backward: one column, as in the layers view.
  const bool split = ed.costs().split_backward();
  // The memory column: each stage's policy (* marks the stage z/Z edit) and its R time per micro-batch.
  const std::string head = (split ? fmt(" %-5s %-9s %4s %9s %9s %9s %4s ", "stage", "layers", "n", "F ms", "B ms",
                                        "W ms", "dev")
                                  : fmt(" %-5s %-9s %4s %9s %9s %4s ", "stage", "layers", "n", "F ms", "B+W ms", "dev")) +
                           fmt(" %-13s ", "memory");
  const int bar_x = r.x + static_cast<int>(head.size());
  const int bar_w = r.x + r.w - bar_x - 1;
  scr.put(r.x, y++, head + (bar_w >= 6 ? "F+B+W time" : ""), Style::Header);
  // The per-device table below gets the rows left over when every stage fits.
  const int room = r.y + r.h - y - 1;  // one line kept for the imbalance note
  const int rows = std::max(1, std::min(S, room));
  // Scrolled so the selected boundary's two stages are on screen.
  const int first = S <= rows ? 0 : std::clamp(s.boundary - rows / 2, 0, S - rows);
  for (int i = 0; i < rows && first + i < S; ++i) {
    const int st = first + i;
    const StageCost& c = e->stages[static_cast<size_t>(st)];
    const std::string layers = fmt("%d-%d", p.partition.bounds[st], p.partition.bounds[st + 1] - 1);
    const bool marked = S > 1 && (st == s.boundary - 1 || st == s.boundary);
    const char mark = marked ? (st == s.boundary ? '>' : '<') : ' ';
    const std::string line =
        split ? fmt("%c%-5d %-9s %4d %9.2f %9.2f %9.2f %4d  ", mark, st, layers.c_str(), p.partition.stage_size(st),
                    c.f_ms, c.b_ms, c.w_ms, dev[static_cast<size_t>(st)])
              : fmt("%c%-5d %-9s %4d %9.2f %9.2f %4d  ", mark, st, layers.c_str(), p.partition.stage_size(st), c.f_ms,
                    c.b_ms + c.w_ms, dev[static_cast<size_t>(st)]);
    // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "*" + s.
    std::string mem_col(1, st == s.stage ? '*' : ' ');
    mem_col.append(policy_short(stage_memory(p, st)));
    const std::string row_text = line + fmt("%-13.13s ", mem_col.c_str());
    scr.put(r.x, y, row_text, Style::Normal);
    if (marked) scr.restyle(r.x, y, 21, Style::Warn);
    if (bar_w >= 6 && max_t > 0) {
      const double t = c.f_ms + c.b_ms + c.w_ms;
      draw_bar(scr, bar_x, y, bar_w, {{t / max_t, '#', t == max_t ? Style::BarWarmUp : Style::BarBusy}}, ' ',
               Style::Normal);
    }
    ++y;
  }
  if (y >= r.y + r.h || S == 0 || sum_t <= 0) return;
  const std::string more = S > rows ? fmt("stages %d-%d of %d   ", first, first + rows - 1, S) : "";
  scr.put(r.x, y++,
          fmt(" %sslowest/mean stage %.3f   boundary %d: j/k select, < > move, e even   * stage %d: t/T, z/Z", more.c_str(),
              max_t / (sum_t / S), s.boundary, s.stage),
          Style::Dim);

  // Per device, when there is room: what each device holds and how idle it is.
  if (y + 2 + std::min(D, 2) > r.y + r.h) return;
  ++y;
  scr.put(r.x, y++, fmt(" %-6s %-14s %10s %10s %7s %12s", "device", "stages", "busy ms", "idle ms", "idle", "peak mem"),
          Style::Header);
  for (int d = 0; d < D && y < r.y + r.h; ++d, ++y) {
    const DeviceStats& ds = sim.devices[static_cast<size_t>(d)];
    if (d + 1 < D && y + 1 == r.y + r.h) {
      scr.put(r.x, y, fmt(" ... %d more devices in the Devices view (4)", D - d), Style::Dim);
      break;
    }
    scr.put(r.x, y,
            fmt(" d%-5d %-14.14s %10.2f %10.2f %6.1f%% %12s%s", d, stages_of_device(p, d).c_str(), ds.busy_ms,
                ds.bubble_ms, sim.iteration_ms > 0 ? 100 * ds.bubble_ms / sim.iteration_ms : 0.0,
                bytes_or_dash(ds.peak_memory_bytes).c_str(), ds.oom ? " OOM" : ""),
            ds.oom ? Style::Bad : Style::Normal);
  }
}

void draw_devices_view(const TuiState& s, Screen& scr, Rect r) {
  if (draw_no_plan(s, scr, r)) return;
  const SimResult& sim = s.core.editor().sim();
  const Plan& p = s.core.editor().plan();
  const int D = static_cast<int>(sim.devices.size());
  const double T = sim.iteration_ms;
  const bool wide = r.w >= 100;
  int y = r.y;
  scr.put(r.x, y++, "time: # busy  < warm-up  ~ in-between  > cool-down bubble     mem: # static = kept r recomputed / cap",
          Style::Dim, r.w);
  const explorer::MemoryOverview& mem = s.core.memory();
  const int shown = devices_view_shown(r, D);
  const int first = std::clamp(s.cursor[static_cast<int>(View::Devices)], 0, std::max(0, D - shown));
  const int bar_w = std::max(8, (r.w - 5) * 11 / 20);
  for (int i = 0; i < shown && first + i < D; ++i) {
    const int d = first + i;
    const DeviceStats& st = sim.devices[static_cast<size_t>(d)];
    const double pct = T > 0 ? 100 * st.bubble_ms / T : 0.0;
    const std::string line =
        wide ? fmt("d%-3d stages %-10s busy %.2f ms   idle %.2f ms (%.1f%%) = warm-up %.2f + in-between %.2f + "
                   "cool-down %.2f",
                   d, stages_of_device(p, d).c_str(), st.busy_ms, st.bubble_ms, pct, st.warmup_bubble_ms,
                   st.inbetween_bubble_ms, st.cooldown_bubble_ms)
             : fmt("d%-3d busy %.1f  idle %.1f (%.1f%%) = warm %.1f + mid %.1f + cool %.1f", d, st.busy_ms,
                   st.bubble_ms, pct, st.warmup_bubble_ms, st.inbetween_bubble_ms, st.cooldown_bubble_ms);
    scr.put(r.x, y, line, Style::Normal, r.w);
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
    if (st.peak_memory_bytes <= 0) {
      scr.put(x, y, "memory n/a", Style::Dim, r.x + r.w - x);
    } else {
      // The peak split into static bytes, what F kept, what R re-created and slices' key/value gradient
      // carries, against the cap.
      const explorer::DeviceMemoryRow* row = d < static_cast<int>(mem.devices.size()) ? &mem.devices[static_cast<size_t>(d)] : nullptr;
      const double host = row ? row->on_host_bytes : 0;
      const std::string text = fmt("%s/%s%s%s", app::format_bytes(st.peak_memory_bytes).c_str(),
                                   app::format_bytes(limit).c_str(), st.oom ? " OOM" : "",
                                   host > 0 ? (" +" + app::format_bytes(host) + " host").c_str() : "");
      const int mem_w = std::max(4, r.x + r.w - x - 1 - static_cast<int>(text.size()));
      const double scale = limit > 0 ? std::max(limit, st.peak_memory_bytes) : st.peak_memory_bytes;
      const Style kept_style = st.oom ? Style::Bad : Style::BarMemory;
      if (row && scale > 0)
        draw_bar(scr, x, y, mem_w,
                 {{row->static_bytes / scale, '#', kept_style},
                  {row->kept_bytes / scale, '=', kept_style},
                  {row->recomputed_bytes / scale, 'r', Style::BarRecomputed},
                  {row->carried_bytes / scale, 'c', kept_style},
                  {row->w_grad_bytes / scale, 'g', kept_style}},
                 '.', Style::BarEmpty);
      else
        draw_bar(scr, x, y, mem_w,
                 {{limit > 0 ? std::min(1.0, st.peak_memory_bytes / limit) : 1.0, '=', kept_style}}, '.',
                 Style::BarEmpty);
      scr.put(x + mem_w + 1, y, text, st.oom ? Style::Bad : Style::Normal, r.x + r.w - x - mem_w - 1);
    }
    ++y;
  }
  if (D > shown) {
    const std::string note = fmt(" devices %d-%d of %d (j/k) ", first, first + shown - 1, D);
    scr.put(r.x + r.w - static_cast<int>(note.size()), r.y, note, Style::Warn);
  }
  if (y + 2 > r.y + r.h || sim.gaps.empty()) return;
  // The largest bubbles and what caused them.
  std::vector<const Gap*> gaps;
  for (const Gap& g : sim.gaps) gaps.push_back(&g);
  std::stable_sort(gaps.begin(), gaps.end(),
                   [](const Gap* a, const Gap* b) { return a->end - a->start > b->end - b->start; });
  scr.put(r.x, y++, "largest idle gaps: the action that waited <- the input it waited for (why)", Style::Header,
          r.w);
  for (size_t i = 0; i < gaps.size() && y < r.y + r.h; ++i, ++y) {
    const Gap& g = *gaps[i];
    const std::string why = g.cause == GapCause::Drain
                                ? "done, others still working"
                                : fmt("%s <- %s on d%d (%s)", to_string(g.waiting).c_str(),
                                      to_string(g.producer).c_str(), g.producer_device, gap_cause_name(g.cause));
    scr.put(r.x, y,
            fmt("d%-3d %8.2f ms at %8.2f %-9s %s", g.device, g.end - g.start, g.start, bubble_phase_name(g.phase),
                why.c_str()),
            Style::Normal, r.w);
  }
}

}  // namespace adaptis::tui
