// The TUI's list views: every built-in schedule on the current input (with the selected row's full
// reason when it does not apply), and the recorded runs with a launched run's progress.
#include <algorithm>
#include <cmath>

#include "common/format.h"
#include "common/schedule_compare.h"
#include "tui/render_views.h"

namespace adaptis::tui {

void draw_compare_view(const TuiState& s, Screen& scr, Rect r) {
  const auto table = s.core.schedule_table();
  const auto& rows = *table;
  const app::CompareRow* best = app::fastest(rows);
  const bool valid = s.core.has_plan() && s.core.problem().empty();
  const double now = valid ? s.core.editor().sim().iteration_ms : 0;
  const std::string on_screen = valid ? s.core.on_screen_label() : std::string();
  const int n = static_cast<int>(rows.size());
  const int cursor = std::clamp(s.cursor[static_cast<int>(View::Compare)], 0, std::max(0, n - 1));
  // The selected row's reason (or a note) in full under the table: a table cell cuts it short.
  std::string detail = "enter shows the selected row   * on screen   speedup = on-screen time / row time";
  Style detail_style = Style::Dim;
  if (n > 0 && !rows[static_cast<size_t>(cursor)].ok) {
    detail = rows[static_cast<size_t>(cursor)].name + ": " + rows[static_cast<size_t>(cursor)].error;
    detail_style = Style::Warn;
  }
  const int detail_rows = std::clamp(wrapped_lines(detail, r.w), 1, 3);
  int y = r.y;
  scr.put(r.x, y++,
          fmt("  %-22s %10s %8s %10s %8s  %s", "schedule", "iter ms", "bubble", "peak mem", "speedup", "note"),
          Style::Header);
  const int visible = r.y + r.h - y - detail_rows;
  const int first = scroll_first(cursor, visible, n);
  for (int i = 0; i < visible && first + i < n; ++i, ++y) {
    const app::CompareRow& row = rows[static_cast<size_t>(first + i)];
    const bool current = !on_screen.empty() && row.name == on_screen;
    const bool selected = first + i == cursor;
    std::string line;
    Style st = Style::Normal;
    if (!row.ok) {
      line = fmt("%c%c%-22s %10s %8s %10s %8s  %s", selected ? '>' : ' ', current ? '*' : ' ', row.name.c_str(), "-",
                 "-", "-", "-", row.error.substr(0, row.error.find('\n')).c_str());
      st = Style::Dim;
    } else {
      const std::string vs = now > 0 ? fmt("%.3fx", now / row.sim.iteration_ms) : "-";
      line = fmt("%c%c%-22s %10.2f %7.2f%% %10s %8s  %s%s", selected ? '>' : ' ', current ? '*' : ' ',
                 row.name.c_str(), row.sim.iteration_ms, 100 * row.sim.bubble_ratio,
                 bytes_or_dash(app::peak_memory(row.sim)).c_str(), vs.c_str(), row.sim.oom ? "OOM " : "",
                 &row == best ? "fastest" : "");
      st = row.sim.oom ? Style::Bad : (&row == best ? Style::Good : Style::Normal);
    }
    scr.put(r.x, y, line, selected ? Style::Selected : st, r.w);
    if (selected) scr.restyle(r.x, y, r.w, Style::Selected);
  }
  const int dy = r.y + r.h - detail_rows;
  draw_wrapped(scr, Rect{r.x, dy, r.w, detail_rows}, dy, detail, detail_style);
}

namespace {

std::string run_progress(const exec::RunSummary& row) {
  std::string out = fmt("run #%lld %s  step %d/%d", static_cast<long long>(row.id), row.status.c_str(),
                        row.steps_done, row.steps);
  if (row.steps_done > 0 && std::isfinite(row.final_loss)) out += fmt("  loss %.4f", row.final_loss);
  const double measured = explorer::measured_iteration_ms(row);
  if (measured > 0) out += fmt("  %.2f ms", measured);
  if (row.predicted_iteration_ms > 0) out += fmt(" (predicted %.2f)", row.predicted_iteration_ms);
  return out;
}

}  // namespace

void draw_runs_view(const TuiState& s, Screen& scr, Rect r) {
  const explorer::RunStoreView& store = s.core.runs();
  const explorer::LaunchedRun& run = s.core.launched();
  int y = r.y;
  scr.put(r.x, y++, "run store " + (store.db_path.empty() ? std::string("(none)") : store.db_path), Style::Dim, r.w);
  // The launched child first: it is what the user is watching.
  if (run.pid > 0 && y < r.y + r.h) {
    const std::string state = run.running ? "running" : fmt("finished, exit status %d", run.exit_status);
    scr.put(r.x, y++, fmt("launched pid %d: %s", run.pid, state.c_str()),
            run.running ? Style::Warn : (run.exit_status == 0 ? Style::Good : Style::Bad));
    if (y < r.y + r.h) scr.put(r.x + 2, y++, run.command, Style::Dim, r.w - 2);
    if (const exec::RunSummary* row = s.core.launched_row(); row && y < r.y + r.h) {
      const int bar_w = std::clamp(r.w / 8, 6, 30);
      scr.set(r.x + 2, y, '[', Style::Normal);
      draw_bar(scr, r.x + 3, y, bar_w,
               {{row->steps > 0 ? static_cast<double>(row->steps_done) / row->steps : 0, '#', Style::Progress}}, '.',
               Style::BarEmpty);
      scr.set(r.x + 3 + bar_w, y, ']', Style::Normal);
      scr.put(r.x + 5 + bar_w, y++, run_progress(*row), Style::Normal, r.w - bar_w - 5);
    }
    // Its output, as much as leaves room for the table.
    const int tail_rows = std::min<int>(static_cast<int>(run.log_tail.size()), std::max(0, (r.y + r.h - y) / 3));
    for (int i = static_cast<int>(run.log_tail.size()) - tail_rows; i < static_cast<int>(run.log_tail.size()); ++i)
      scr.put(r.x + 2, y++, "| " + run.log_tail[static_cast<size_t>(i)], Style::Dim, r.w - 2);
  }
  if (y >= r.y + r.h) return;
  if (!store.read) {
    scr.put(r.x, y, "reading the run store...", Style::Dim);
    return;
  }
  if (!store.note.empty())
    y = draw_wrapped(scr, Rect{r.x, y, r.w, r.y + r.h - y}, y, store.note, store.note_is_error ? Style::Bad : Style::Dim);
  if (store.runs.empty()) {
    const std::string blocker = s.core.launch_blocker();
    if (y < r.y + r.h)
      draw_wrapped(scr, Rect{r.x, y, r.w, r.y + r.h - y}, y,
                   blocker.empty() ? "r runs the plan on screen and records it here"
                                   : "r cannot launch runs here: " + blocker,
                   Style::Dim);
    return;
  }
  if (run.pid > 0 && y + 3 <= r.y + r.h) ++y;  // set the watched run apart from the table
  if (y + 2 > r.y + r.h) return;
  const bool wide = r.w >= 100;
  std::string head = fmt("%5s %-10s %-14.14s %3s %3s %7s %9s %9s %7s", "run", "status", "schedule", "dev", "mb",
                         "steps", "meas. ms", "pred. ms", "error");
  if (wide) head += fmt("  %-19s %s", "started", "model");
  scr.put(r.x, y++, head, Style::Header, r.w);
  const int n = static_cast<int>(store.runs.size());
  const int visible = r.y + r.h - y;
  const int cursor = s.cursor[static_cast<int>(View::Runs)];
  const int first = scroll_first(cursor, visible, n);
  for (int i = 0; i < visible && first + i < n; ++i, ++y) {
    const exec::RunSummary& row = store.runs[static_cast<size_t>(first + i)];
    const double measured_ms = explorer::measured_iteration_ms(row);
    const std::string measured = measured_ms > 0 ? fmt("%.2f", measured_ms) : "-";
    const std::string predicted = row.predicted_iteration_ms > 0 ? fmt("%.2f", row.predicted_iteration_ms) : "-";
    // Signed prediction error, (measured - predicted) / predicted: positive when the run was slower.
    const std::string err = app::format_percent(explorer::prediction_error(row));
    const bool selected = first + i == cursor;
    std::string line = fmt("%c%4lld %-10s %-14.14s %3d %3d %3d/%-3d %9s %9s %7s", selected ? '>' : ' ',
                           static_cast<long long>(row.id), row.status.c_str(), row.schedule.c_str(), row.num_devices,
                           row.num_microbatches, row.steps_done, row.steps, measured.c_str(), predicted.c_str(),
                           err.c_str());
    if (wide) line += fmt("  %-19s %s", explorer::local_time(row.started_utc_ns).c_str(), row.model_name.c_str());
    const Style st = row.status == "failed"       ? Style::Bad
                     : row.status == "running"    ? Style::Warn
                     : row.status == "incomplete" ? Style::Dim
                                                  : Style::Normal;
    scr.put(r.x, y, line, selected ? Style::Selected : st, r.w);
    if (selected) scr.restyle(r.x, y, r.w, Style::Selected);
  }
}

}  // namespace adaptis::tui
