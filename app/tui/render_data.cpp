// The Data view: the iteration's sequence-length histogram (--lengths) and the units the plan runs,
// one row each with what it holds, its tokens, its cost through the whole model and its time in the
// simulation; enter shows the selected unit's actions on the Gantt. The iteration's context and global
// batch are shown with their keys (the lengths are read again with them, off the UI thread: a
// "loading lengths" line says so meanwhile).
#include <algorithm>

#include "common/format.h"
#include "tui/render_views.h"

namespace adaptis::tui {

void draw_data_view(const TuiState& s, Screen& scr, Rect r) {
  if (draw_no_plan(s, scr, r)) return;
  const explorer::VarlenView& v = s.core.varlen();
  int y = r.y;
  const int bottom = r.y + r.h;
  if (!v.has_units) {
    y = draw_wrapped(scr, r, y,
                     "This plan runs identical micro-batches. Start with --lengths FILE|DIST (a lengths file, a "
                     "histogram JSON or a distribution such as lognormal:median=2048,sigma=1) to plan over "
                     "variable-length sequences: this view then shows their length histogram and the units they "
                     "were packed or sliced into, and the Gantt draws each unit as wide as it costs.",
                     Style::Normal);
    return;
  }
  scr.put(r.x, y, "data ", Style::Header);
  scr.put(r.x + 5, y++, v.data_line, Style::Normal, r.w - 5);
  if (!v.settings_line.empty() && y < bottom) {
    scr.put(r.x, y, "iteration ", Style::Header);
    const int x = scr.put(r.x + 10, y, v.settings_line, Style::Normal, r.w - 10);
    if (v.can_set_lengths && x + 2 < r.x + r.w)
      scr.put(x + 2, y, "( ) context  { } batch", Style::Dim, r.x + r.w - x - 2);
    ++y;
  }
  // The lengths are read off the UI thread: the plan stays as it is until they are in.
  if (s.core.reading_lengths() && y < bottom)
    y = draw_wrapped(scr, Rect{r.x, y, r.w, bottom - y}, y, "loading lengths... " + s.core.lengths_loading_text(),
                     Style::Warn);
  if (!v.processing.empty() && y < bottom) {
    scr.put(r.x, y, "processing ", Style::Header);
    scr.put(r.x + 11, y++, v.processing, Style::Normal, r.w - 11);
  }
  // A refused re-pack stays on screen with its reason until one applies (the next step starts from it).
  if (const auto& refused = s.core.refused_processing(); refused && y < bottom)
    y = draw_wrapped(scr, Rect{r.x, y, r.w, bottom - y}, y,
                     "refused " + describe(*refused) + ": " + s.core.refused_processing_reason(), Style::Bad);
  if (v.can_repack && y < bottom)
    scr.put(r.x, y++, "re-pack: p/P mode  b/B budget  l/L slices/row  i/I least units  O order  c slicing  u undo",
            Style::Dim, r.w);
  // The histogram: at most a third of the rows, so the units keep most of the view.
  if (!v.bins.empty() && y < bottom) {
    const int bar_w = std::clamp(r.w - 52, 4, 40);
    scr.put(r.x, y++, fmt("%-17s %9s %8s %8s  %s", "length", "sequences", "tokens", "s^2/2", "sequences"),
            Style::Header, r.w);
    const int room = std::max(1, r.h / 3);
    const int n = static_cast<int>(v.bins.size());
    for (int i = 0; i < n && y < bottom; ++i) {
      if (i == room - 1 && n > room) {
        scr.put(r.x, y++, fmt("  ... %d more bins", n - i), Style::Dim, r.w);
        break;
      }
      const explorer::LengthBinRow& b = v.bins[static_cast<size_t>(i)];
      const int x = scr.put(r.x, y,
                            fmt("[%6lld, %6lld) %9lld %7.1f%% %7.1f%%  ", b.lo, b.hi, b.sequences, 100 * b.token_share,
                                100 * b.pair_share),
                            Style::Normal, r.w);
      const double f = v.max_bin_sequences > 0 ? double(b.sequences) / double(v.max_bin_sequences) : 0;
      if (x + bar_w <= r.x + r.w) draw_bar(scr, x, y, bar_w, {{f, '#', Style::Progress}}, ' ', Style::Normal);
      ++y;
    }
  }
  if (y >= bottom) return;
  ++y;
  if (y < bottom) scr.put(r.x, y++, v.units_line, Style::Normal, r.w);
  if (!v.cost_note.empty() && y < bottom) scr.put(r.x, y++, v.cost_note, Style::Warn, r.w);
  if (y >= bottom) return;
  scr.put(r.x, y++, fmt("  %5s %5s %8s %10s %10s  %-34s %s", "unit", "docs", "tokens", "cost", "simulated", "what", "cost"),
          Style::Header, r.w);
  const int rows = bottom - y;
  if (rows <= 0) return;
  const int n = static_cast<int>(v.units.size());
  const int cursor = std::clamp(s.cursor[static_cast<int>(View::Data)], 0, std::max(0, n - 1));
  const int first = scroll_first(cursor, rows, n);
  const int bar_w = std::clamp(r.w - 82, 4, 30);
  for (int i = first; i < n && y < bottom; ++i, ++y) {
    const explorer::UnitRow& u = v.units[static_cast<size_t>(i)];
    const bool sel = i == cursor;
    const std::string line = fmt("%s %5d %5d %8lld %10s %10s  %-34s ", sel ? ">" : " ", u.unit, u.docs, u.tokens,
                                 u.cost_ms > 0 ? app::format_ms(u.cost_ms).c_str() : "-",
                                 u.simulated_ms > 0 ? app::format_ms(u.simulated_ms).c_str() : "-", u.what.c_str());
    const int x = scr.put(r.x, y, line, sel ? Style::Selected : Style::Normal, r.w);
    const double c = u.cost_ms > 0 ? u.cost_ms : u.simulated_ms;
    if (x + bar_w <= r.x + r.w && v.max_cost_ms > 0)
      draw_bar(scr, x, y, bar_w, {{c / v.max_cost_ms, '=', u.slice ? Style::Warn : Style::Progress}}, ' ', Style::Normal);
  }
}

}  // namespace adaptis::tui
