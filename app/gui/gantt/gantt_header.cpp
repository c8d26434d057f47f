// The Gantt's header rows: why the last request gives no plan, A against B, the search field, the
// utilisation overview strip and the time ruler; and the time under the mouse, in the ruler's unit.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>

#include "gui/gantt/gantt_side.h"
#include "gui/widgets.h"

namespace adaptis::gui {

float GanttView::draw_problem_banner(UiContext& c, ImVec2 origin, float width) {
  // A refused edit stays on screen, explained, until the next one succeeds.
  const std::string& err = c.core.editor().last_error();
  if (err.empty()) return 0;
  const Theme& t = c.theme;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float wrap = width - t.px(40);
  const ImVec2 ts = ImGui::CalcTextSize(err.c_str(), nullptr, false, wrap);
  const float bh = ts.y + t.px(10);
  dl->AddRectFilled(origin, ImVec2(origin.x + width, origin.y + bh), IM_COL32(92, 34, 34, 255));
  dl->AddRectFilled(origin, ImVec2(origin.x + t.px(4), origin.y + bh), t.bad);
  ImGui::SetCursorScreenPos(ImVec2(origin.x + t.px(12), origin.y + t.px(5)));
  ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + wrap);
  ImGui::TextUnformatted(err.c_str());
  ImGui::PopTextWrapPos();
  return bh;
}

float GanttView::draw_compare_header(UiContext& c, ImVec2 origin, float width) {
  if (num_sides_ < 2) return 0;
  const Theme& t = c.theme;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float hh = ImGui::GetTextLineHeightWithSpacing() + t.px(8);
  dl->AddRectFilled(origin, ImVec2(origin.x + width, origin.y + hh), IM_COL32(34, 36, 42, 255));
  const explorer::AbComparison ab = c.core.ab();
  // One line; what does not fit is clipped, and the whole text is in the tooltip.
  ImGui::PushClipRect(origin, ImVec2(origin.x + width - t.px(4), origin.y + hh), true);
  ImGui::SetCursorScreenPos(ImVec2(origin.x + t.px(10), origin.y + t.px(4)));
  ImGui::BeginGroup();
  ImGui::TextColored(ImColor(t.op[0]), "A");
  ImGui::SameLine(0, t.px(6));
  ImGui::Text("%s  %s", sides_[0].label.c_str(), app::format_ms(ab.a.iteration_ms).c_str());
  ImGui::SameLine(0, t.px(18));
  ImGui::TextColored(ImColor(t.op[2]), "B");
  ImGui::SameLine(0, t.px(6));
  std::string tip;
  if (ab.b_is_run && c.core.comparison().run) {
    ImGui::Text("%s", sides_[1].label.c_str());
  } else if (ab.b.iteration_ms > 0) {
    ImGui::Text("%s  %s", sides_[1].label.c_str(), app::format_ms(ab.b.iteration_ms).c_str());
  } else {
    ImGui::TextColored(ImColor(t.bad), "%s", sides_[1].label.c_str());
  }
  if (ab.comparable) {
    const explorer::SummaryDiff& d = ab.d;
    ImGui::SameLine(0, t.px(24));
    ImGui::TextDisabled("A vs B:");
    ImGui::SameLine(0, t.px(6));
    ImGui::TextColored(ImColor(d.iteration_ms <= 0 ? t.good : t.bad), "iteration %s ms",
                       app::format_signed(d.iteration_ms, 2).c_str());
    ImGui::SameLine(0, t.px(6));
    ImGui::TextDisabled("(%+.1f%%, %.2fx)", d.iteration_pct, d.speedup);
    ImGui::SameLine(0, t.px(14));
    ImGui::TextColored(ImColor(d.bubble_ratio <= 0 ? t.good : t.bad), "bubble %+.1f pp", d.bubble_ratio * 100);
    if (ab.a.peak_memory_bytes > 0 && ab.b.peak_memory_bytes > 0) {
      ImGui::SameLine(0, t.px(14));
      ImGui::TextColored(ImColor(d.peak_memory_bytes <= 0 ? t.good : t.warn), "peak memory %s%s",
                         d.peak_memory_bytes >= 0 ? "+" : "-", app::format_bytes(std::fabs(d.peak_memory_bytes)).c_str());
    }
  } else if (ab.b_is_run && !ab.why_not.empty()) {
    ImGui::SameLine(0, t.px(18));
    ImGui::TextColored(ImColor(t.warn), "not compared with A (hover)");
    tip = ab.why_not;
  }
  ImGui::EndGroup();
  ImGui::PopClipRect();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("A: %s\nB: %s%s%s", sides_[0].label.c_str(), sides_[1].label.c_str(), tip.empty() ? "" : "\n\n",
                      tip.c_str());
  return hh;
}

void GanttView::draw_search_bar(UiContext& c, ImVec2 p0, float width, float height) {
  const Theme& t = c.theme;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, ImVec2(p0.x + width, p0.y + height), IM_COL32(28, 29, 34, 255));
  ImGui::SetCursorScreenPos(ImVec2(p0.x + t.px(10), p0.y + t.px(3)));
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Search");
  ImGui::SameLine();
  if (c.ui.focus_search) {
    ImGui::SetKeyboardFocusHere();
    c.ui.focus_search = false;
    search_text_ = c.core.view().filter_text;
  }
  ImGui::SetNextItemWidth(t.px(220));
  if (ImGui::InputTextWithHint("##search", "mb 3  s2  B  d1   (Ctrl+F)", &search_text_,
                               ImGuiInputTextFlags_EnterReturnsTrue))
    c.core.set_filter(search_text_);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Matches actions by micro-batch (mb N), stage (s N), device (d N) and op (F, B, W, BW).\n"
                      "Enter searches; N / Shift+N or F3 step through the matches; Esc clears.");
  ImGui::SameLine();
  const explorer::TimelineFilter& f = c.core.view().filter;
  if (f.active()) {
    const size_t n = explorer::count_matches(sides_[0].timeline(), f);
    ImGui::TextColored(ImColor(n ? t.warn : t.bad), "%s: %zu match%s", explorer::describe(f).c_str(), n,
                       n == 1 ? "" : "es");
    ImGui::SameLine();
    if (ImGui::SmallButton("<")) c.core.select_next_match(-1);
    ImGui::SameLine();
    if (ImGui::SmallButton(">")) c.core.select_next_match(+1);
    ImGui::SameLine();
    if (ImGui::SmallButton("clear")) {
      c.core.set_filter("");
      search_text_.clear();
    }
  } else {
    ImGui::TextDisabled("arrows: previous/next action, device above/below  ·  [ ]: producer/consumer  ·  L: legend");
  }
}

void GanttView::draw_overview(UiContext& c, ImDrawList* dl, ImVec2 p0, ImVec2 p1) {
  const Theme& t = c.theme;
  dl->AddRectFilled(p0, p1, IM_COL32(22, 23, 27, 255));
  const float x0 = p0.x + label_w_, x1 = p1.x - ImGui::GetStyle().ScrollbarSize;
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + (p1.y - p0.y - ImGui::GetTextLineHeight()) * 0.5f), t.text_dim,
              "utilisation");
  const double t_end = c.core.extent();
  if (!(t_end > 0) || x1 <= x0) return;
  TimeAxis full{0, t_end, x0, x1 - x0};
  // Devices busy per slice, computed once per simulation.
  for (int s = 0; s < num_sides_; ++s) {
    const void* key = &sides_[s].timeline();
    if (busy_key_[s] != key) {
      busy_[s] = busy_profile(sides_[s].timeline(), 0, sides_[s].timeline().t_end, 400);
      busy_key_[s] = key;
    }
  }
  auto draw_busy = [&](int s, float ya, float yb, ImU32 col) {
    const std::vector<float>& busy = busy_[s];
    if (busy.empty()) return;
    const float bw = (full.x_of(sides_[s].timeline().t_end) - x0) / static_cast<float>(busy.size());
    for (size_t i = 0; i < busy.size(); ++i) {
      const float h = (yb - ya) * busy[i];
      const float bx = x0 + bw * static_cast<float>(i);
      dl->AddRectFilled(ImVec2(bx, yb - h), ImVec2(bx + std::max(1.0f, bw), yb), col);
    }
  };
  const float pad = t.px(3);
  if (num_sides_ == 2) {
    const float mid = (p0.y + p1.y) * 0.5f;
    draw_busy(0, p0.y + pad, mid - 1, with_alpha(t.op[0], 0.75f));
    draw_busy(1, mid + 1, p1.y - pad, with_alpha(t.op[2], 0.75f));
  } else {
    draw_busy(0, p0.y + pad, p1.y - pad, with_alpha(t.op[0], 0.75f));
  }
  // The visible window.
  const float vx0 = std::max(x0, full.x_of(axis_.t0)), vx1 = std::min(x1, full.x_of(axis_.t1));
  dl->AddRectFilled(ImVec2(vx0, p0.y + 1), ImVec2(std::max(vx0 + 2, vx1), p1.y - 1), IM_COL32(255, 255, 255, 28));
  dl->AddRect(ImVec2(vx0, p0.y + 1), ImVec2(std::max(vx0 + 2, vx1), p1.y - 1), IM_COL32(255, 255, 255, 110));
  // Click or drag to move the view there.
  ImGui::SetCursorScreenPos(ImVec2(x0, p0.y));
  ImGui::InvisibleButton("##overview", ImVec2(x1 - x0, p1.y - p0.y));
  if (ImGui::IsItemActive()) {
    const double centre = full.t_of(ImGui::GetIO().MousePos.x);
    const double span = axis_.span();
    axis_.t0 = centre - span / 2;
    axis_.t1 = centre + span / 2;
    set_axis(c);
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Devices busy over the iteration; click or drag to move the view");
}

void GanttView::draw_ruler(UiContext& c, ImDrawList* dl, ImVec2 p0, ImVec2 p1) {
  const Theme& t = c.theme;
  dl->AddRectFilled(p0, p1, IM_COL32(30, 31, 36, 255));
  dl->AddLine(ImVec2(p0.x, p1.y - 0.5f), ImVec2(p1.x, p1.y - 0.5f), t.grid_strong);
  const double step = tick_step_ms(axis_, t.px(90));
  const app::TimeUnit unit = app::axis_unit(step);
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + (p1.y - p0.y - ImGui::GetTextLineHeight()) * 0.5f), t.text_dim,
              ("span " + app::format_in_unit(axis_.span(), unit, 1)).c_str());
  const double minor = step / 5;
  const float right = axis_.x0 + axis_.width;
  dl->PushClipRect(ImVec2(axis_.x0, p0.y), ImVec2(right, p1.y), true);
  const double first = std::floor(axis_.t0 / minor) * minor;
  float last_label_end = -1e9f;
  for (int i = 0;; ++i) {
    const double tt = first + minor * i;
    if (tt > axis_.t1) break;
    const float x = std::floor(axis_.x_of(tt)) + 0.5f;
    const bool major = std::fabs(std::remainder(tt, step)) < minor * 0.01;
    dl->AddLine(ImVec2(x, p1.y - (major ? t.px(7) : t.px(3))), ImVec2(x, p1.y), major ? t.text_dim : t.grid_strong);
    if (!major) continue;
    // Labels sit right of their tick; the last one goes left of it rather than being cut off.
    const std::string label = app::format_in_unit(std::fabs(tt) < minor * 1e-6 ? 0.0 : tt, unit);
    const float w = ImGui::CalcTextSize(label.c_str()).x;
    const float lx = tick_label_x(x, w, axis_.x0, right, last_label_end, t.px(4));
    if (std::isnan(lx)) continue;
    dl->AddText(ImVec2(lx, p0.y + t.px(3)), t.text_dim, label.c_str());
    last_label_end = lx + w;
  }
  dl->PopClipRect();
}

void GanttView::draw_cursor(UiContext& c, float top, float bottom) {
  // The time under the mouse, over ruler and rows, in the ruler's unit (one more decimal).
  const Theme& t = c.theme;
  const ImVec2 m = ImGui::GetIO().MousePos;
  const float x1 = axis_.x0 + axis_.width;
  const float rh = t.px(22);
  if (!(m.x >= axis_.x0 && m.x < x1 && m.y >= top && m.y < bottom && ImGui::IsWindowHovered(ImGuiHoveredFlags_ChildWindows)))
    return;
  ImDrawList* fg = ImGui::GetWindowDrawList();
  fg->AddLine(ImVec2(m.x, top), ImVec2(m.x, bottom), IM_COL32(255, 255, 255, 50));
  const app::TimeUnit unit = app::axis_unit(tick_step_ms(axis_, t.px(90)));
  const std::string label = app::format_in_unit(axis_.t_of(m.x), unit, 1);
  const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
  const float lx = std::min(m.x + t.px(4), x1 - ts.x - t.px(4));
  fg->AddRectFilled(ImVec2(lx - t.px(3), top + t.px(2)), ImVec2(lx + ts.x + t.px(3), top + rh - t.px(2)),
                    IM_COL32(60, 66, 80, 255), t.px(3));
  fg->AddText(ImVec2(lx, top + (rh - ts.y) * 0.5f), t.text, label.c_str());
}

}  // namespace adaptis::gui
