#include "tui/render.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/format.h"
#include "tui/render_views.h"

namespace adaptis::tui {

namespace {

void draw_tabs(const TuiState& s, Screen& scr) {
  // Background work, visible from every view.
  std::string badge;
  const explorer::OptimizerState& o = s.core.optimizer();
  if (o.state == explorer::JobState::Running) badge = fmt(" optimize %.0f%% ", 100 * o.progress.fraction);
  else if (s.core.cluster_plans().state == explorer::JobState::Running)
    badge = fmt(" cluster %.0f%% ", 100 * s.core.cluster_plans().progress.fraction);
  else if (s.core.launched().running) {
    const exec::RunSummary* row = s.core.launched_row();
    badge = row ? fmt(" run %d/%d ", row->steps_done, row->steps) : std::string(" run starting ");
  }
  // The tabs, compact (no title, one space apart) when the badge would not fit beside them.
  int tabs = 0;
  for (int v = 0; v < kNumViews; ++v) tabs += static_cast<int>(fmt(" %d %s ", v + 1, view_name(static_cast<View>(v))).size());
  // The title only when the tabs fit beside it.
  const bool title = scr.width() >= 72 && tabs + 8 <= scr.width();
  const int full = tabs + (title ? 8 : 0);
  const bool compact = !badge.empty() && full + static_cast<int>(badge.size()) > scr.width();
  // Narrower still: the other views by number only.
  int compact_w = 0;
  for (int v = 0; v < kNumViews; ++v) compact_w += static_cast<int>(fmt("%d %s ", v + 1, view_name(static_cast<View>(v))).size());
  const bool numbers = compact && compact_w + static_cast<int>(badge.size()) > scr.width();
  int x = 0;
  if (!compact && title) x = scr.put(0, 0, "adaptis ", Style::Title);
  for (int v = 0; v < kNumViews; ++v) {
    const bool active = v == static_cast<int>(s.view);
    const std::string label = numbers && !active ? fmt("%d", v + 1)
                              : compact          ? fmt("%d %s", v + 1, view_name(static_cast<View>(v)))
                                                 : fmt(" %d %s ", v + 1, view_name(static_cast<View>(v)));
    x = scr.put(x, 0, label, active ? Style::TabActive : Style::Tab);
    if (compact) x = scr.put(x, 0, " ", Style::Tab);
  }
  scr.fill(x, 0, scr.width() - x, ' ', Style::Tab);
  if (!badge.empty() && x + static_cast<int>(badge.size()) <= scr.width())
    scr.put(scr.width() - static_cast<int>(badge.size()), 0, badge, Style::Warn);
}

// The line every view shares: what is on screen and how fast it is.
void draw_summary(const TuiState& s, Screen& scr) {
  const explorer::Explorer& c = s.core;
  const bool valid = c.has_plan() && c.problem().empty();
  const std::string what = valid ? c.on_screen_label() : c.editor().request().schedule;
  int x = scr.put(0, 1, fmt("%s  %s  dev=%d mb=%d v=%d ", c.editor().costs().model.c_str(), what.c_str(),
                            shown_devices(s), shown_microbatches(s), c.stages_per_device()),
                  Style::Normal);
  if (!valid) {
    scr.put(x, 1, "| not a valid plan", Style::Bad);
    return;
  }
  const SimResult& sim = c.editor().sim();
  x = scr.put(x, 1, fmt("| %.2f ms  bubble %.1f%%", sim.iteration_ms, 100 * sim.bubble_ratio), Style::Good);
  if (sim.oom) x = scr.put(x, 1, "  OOM", Style::Bad);
  // A whole-cluster plan: throughput over all its GPUs, MFU and the communication it cannot hide.
  if (sim.has_parallel)
    scr.put(x, 1, fmt("  %d GPUs %.0f tok/s MFU %.1f%% exp.comm %s", sim.parallel.gpus, sim.parallel.tokens_per_s,
                      100 * sim.parallel.mfu, app::format_ms(sim.parallel.exposed_comm_ms).c_str()),
            Style::Good);
}

void draw_status(const TuiState& s, Screen& scr, int y, int rows) {
  if (s.searching) {
    int x = scr.put(0, y, "search: ", Style::Warn);
    x = scr.put(x, y, s.search_input, Style::Normal);
    scr.set(x, y, '_', Style::Selected);
    scr.put(x + 2, y, "mb N  s N  d N  F/B/W/BW   enter applies, esc closes", Style::Dim);
    return;
  }
  const explorer::OptimizerState& o = s.core.optimizer();
  if (o.state == explorer::JobState::Running) {
    const double f = std::clamp(o.progress.fraction, 0.0, 1.0);
    int x = scr.put(0, y, "optimizing ", Style::Warn);
    const int bar_w = std::clamp(scr.width() / 6, 10, 30);
    scr.set(x, y, '[', Style::Normal);
    draw_bar(scr, x + 1, y, bar_w, {{f, '#', Style::Progress}}, '.', Style::BarEmpty);
    scr.set(x + 1 + bar_w, y, ']', Style::Normal);
    x += bar_w + 3;
    std::string best = o.progress.best_ms > 0 ? fmt("best %.2f ms", o.progress.best_ms) : "best -";
    x = scr.put(x, y, fmt("%3.0f%% %.1fs  %s  %lld plans  ", 100 * f, o.progress.elapsed_s, best.c_str(),
                          o.progress.evaluated),
                Style::Normal);
    x = scr.put(x, y, "x", Style::Key);
    x = scr.put(x, y, " cancels  ", Style::Dim);
    scr.put(x, y, o.progress.phase, Style::Dim);
    return;
  }
  // A long message wraps onto the rows status_rows() gave it (the body is shorter meanwhile).
  const explorer::Message& m = s.core.message();
  draw_wrapped(scr, Rect{0, y, scr.width(), rows}, y, m.text, m.error ? Style::Bad : Style::Normal);
}

std::vector<std::pair<const char*, const char*>> hints(View v) {
  std::vector<std::pair<const char*, const char*>> h = {{"q", "quit"}, {"?", "help"}, {"tab", "view"}};
  switch (v) {
    case View::Layers:
      h.insert(h.end(), {{"j/k", "layer"}, {"[]", "boundary"}, {"<>", "move"}, {"e", "even"}, {"u", "undo"},
                         {"o", "optimize"}, {"r", "run"}});
      break;
    case View::Plan:
      h.insert(h.end(), {{"s", "sched"}, {"m/M", "mb"}, {"d/D", "dev"}, {"v/V", "chunks"}, {"<>", "boundary"},
                         {"u", "undo"}, {"o", "optimize"}, {"r", "run"}, {"a/z", "recompute"}, {"f", "offload"}});
      break;
    case View::Gantt:
      h.insert(h.end(), {{"+/-", "zoom"}, {"h/l", "pan"}, {"0", "fit"}, {"enter", "select"}, {"/", "search"},
                         {"p/c", "producer/consumer"}, {"j/k", "scroll"}});
      break;
    case View::Devices:
      h.insert(h.end(), {{"j/k", "scroll"}, {"s", "sched"}, {"m/M", "mb"}, {"d/D", "dev"}, {"a", "recompute"},
                         {"y", "auto"}, {"o", "optimize"}});
      break;
    case View::Compare:
      h.insert(h.end(), {{"j/k", "select"}, {"enter", "use"}, {"m/M", "mb"}, {"d/D", "dev"}, {"o", "optimize"}});
      break;
    case View::Runs: h.insert(h.end(), {{"r", "launch run"}, {"g", "refresh"}, {"j/k", "select"}}); break;
    case View::Cluster:
      h.insert(h.end(), {{"C", "search"}, {"j/k", "select"}, {"enter", "show"}, {"d/D", "GPUs"}, {"m/M", "batch"},
                         {"x", "cancel"}});
      break;
    case View::Data:
      h.insert(h.end(), {{"j/k", "unit"}, {"enter", "Gantt"}, {"p/P", "mode"}, {"b/B", "budget"}, {"l/L", "slices"},
                         {"i/I", "units"}, {"O", "order"}, {"c", "slicing"}, {"()", "context"}, {"{}", "batch"},
                         {"u", "undo"}});
      break;
  }
  return h;
}

void draw_hints(const TuiState& s, Screen& scr, int y) {
  int x = 0;
  for (const auto& [k, label] : hints(s.view)) {
    int need = static_cast<int>(std::string(k).size() + std::string(label).size()) + 3;
    if (x + need > scr.width()) break;
    x = scr.put(x, y, k, Style::Key);
    x = scr.put(x + 1, y, label, Style::Dim) + 2;
  }
}

const char* const kHelp[] = {
    "views      1-8 or tab / shift-tab: Layers Plan Gantt Devices Compare Runs Cluster Data",
    "plan       s/S next/previous schedule    m/M micro-batches +1/-1",
    "           d/D devices +1/-1             v/V chunks per device +1/-1",
    "partition  [ ] (j k in Plan) select a boundary  < > or , . move it   e even",
    "gantt      + - zoom   h l or arrows pan (H L a page)   0 fit   j k devices",
    "           enter select an action: arrows next/previous and device above/below,",
    "           p its producer, c its consumer, esc clears   / search (mb 3 s2 B)  n N",
    "memory     a/A recompute of every stage   f/F offload +25%/-25%   y auto",
    "           t/T pick a stage (* in Plan)   z/Z its recompute (none/sel/full)",
    "           K checkpoint (or keep) the selected action's unit on its stage (--lengths)",
    "undo       u undo   U redo (every plan edit)",
    "lists      j k or arrows move   pgup pgdn   home end   enter use (compare)",
    "optimizer  o start (progress below)   x or esc cancel",
    "runs       r run the plan on screen (adaptis run) and watch   g refresh",
    "cluster    C search whole-cluster plans (pp tp dp cp ep, ZeRO, mbs) x cancels",
    "           in Cluster: d/D GPUs x2 /2  m/M batch x2 /2  enter shows a row",
    "data       8: length histogram and units of --lengths; j k a unit, enter its actions",
    "           re-pack: p/P mode (pad pack-tokens pack slice elastic)  b/B budget x2 /2",
    "           l/L slices per row +1/-1  i/I least units x2 /2  O unit order  c slicing",
    "           ( ) context /2 x2   { } global batch /2 x2 (the lengths read again)",
    "other      w save the plan file   W save the session (--session-out)   ? help   q quit",
};

void draw_help(Screen& scr) {
  const int n = static_cast<int>(std::size(kHelp));
  int w = 0;
  for (const char* line : kHelp) w = std::max(w, static_cast<int>(std::string(line).size()));
  w = std::min(w + 4, scr.width());
  const int h = std::min(n + 4, scr.height());
  const int x0 = (scr.width() - w) / 2, y0 = std::max(0, (scr.height() - h) / 2);
  for (int y = y0; y < y0 + h; ++y) {
    scr.fill(x0, y, w, ' ', Style::Normal);
    scr.set(x0, y, '|', Style::Dim);
    scr.set(x0 + w - 1, y, '|', Style::Dim);
  }
  scr.fill(x0, y0, w, '-', Style::Dim);
  scr.fill(x0, y0 + h - 1, w, '-', Style::Dim);
  scr.put(x0 + 2, y0, " keys ", Style::Title);
  for (int i = 0; i < n && y0 + 1 + i < y0 + h - 2; ++i) scr.put(x0 + 2, y0 + 1 + i, kHelp[i], Style::Normal, w - 4);
  scr.put(x0 + 2, y0 + h - 2, "any key closes this", Style::Dim, w - 4);
}

}  // namespace

int status_rows(const TuiState& s, int width) {
  if (s.searching || s.core.optimizer().state == explorer::JobState::Running) return 1;
  const int lines = wrapped_lines(s.core.message().text, width);
  return std::clamp(lines, 1, 3);
}

int max_first_device(const TuiState& s, View view, int width, int height) {
  if (!s.core.has_plan() || !s.core.problem().empty()) return 0;
  const Rect body = body_rect(width, height, status_rows(s, width));
  const int D = static_cast<int>(s.core.editor().sim().devices.size());
  if (view == View::Gantt) return std::max(0, D - gantt_layout(s, body).devices_shown);
  if (view == View::Devices) return std::max(0, D - devices_view_shown(body, D));
  return 0;
}

int gantt_devices_shown(const TuiState& s, int width, int height) {
  if (!s.core.has_plan()) return 1;
  const Rect body = body_rect(width, height, status_rows(s, width));
  return gantt_layout(s, body).devices_shown;
}

Screen render(const TuiState& s, int width, int height) {
  Screen scr(width, height);
  if (width < kMinWidth || height < kMinHeight) {
    std::string msg = fmt("terminal too small: %dx%d, need %dx%d", width, height, kMinWidth, kMinHeight);
    scr.put(0, 0, msg, Style::Bad);
    if (height > 1) scr.put(0, 1, "q quits", Style::Dim);
    return scr;
  }
  draw_tabs(s, scr);
  draw_summary(s, scr);
  const int status = status_rows(s, width);
  const Rect body = body_rect(width, height, status);
  switch (s.view) {
    case View::Layers: draw_layers_view(s, scr, body); break;
    case View::Plan: draw_plan_view(s, scr, body); break;
    case View::Gantt: draw_gantt_view(s, scr, body); break;
    case View::Devices: draw_devices_view(s, scr, body); break;
    case View::Compare: draw_compare_view(s, scr, body); break;
    case View::Runs: draw_runs_view(s, scr, body); break;
    case View::Cluster: draw_cluster_view(s, scr, body); break;
    case View::Data: draw_data_view(s, scr, body); break;
  }
  draw_status(s, scr, height - 1 - status, status);
  draw_hints(s, scr, height - 1);
  if (s.show_help) draw_help(scr);
  return scr;
}

}  // namespace adaptis::tui
