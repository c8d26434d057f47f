// The timeline: overview strip, time ruler, per-device rows (F/B/W compute lane with bubbles,
// measured overlay, send and receive lanes), critical path, dependency arrows of the selection,
// drag-to-reorder, and the memory pane under it. Culling, folding, hit-testing and the row
// geometry come from gui/model; this file only turns them into ImDrawList calls.
#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
#include <cmath>

#include "gui/gui_app.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

constexpr float kMinVisiblePx = 3.0f;  // Tracy's MinVisSize: narrower boxes fold together

const char* op_long(Op op) {
  switch (op) {
    case Op::F: return "forward";
    case Op::B: return "backward (input gradient)";
    case Op::W: return "backward (weight gradient)";
    case Op::BW: return "backward (fused)";
  }
  return "?";
}

std::string action_text(Op op, int stage, int mb) { return strf("%s s%d mb%d", op_name(op), stage, mb); }

// Memory of a device at time t from its step samples.
double memory_at(const std::vector<MemorySample>& m, double t) {
  if (m.empty()) return 0;
  auto it = std::upper_bound(m.begin(), m.end(), t, [](double v, const MemorySample& s) { return v < s.t; });
  if (it == m.begin()) return m.front().bytes;
  return (it - 1)->bytes;
}

void zigzag(ImDrawList* dl, float x0, float x1, float yc, float amp, ImU32 col) {
  const float step = amp * 2;
  if (x1 - x0 < step) return;
  dl->PathLineTo(ImVec2(x0, yc));
  bool up = true;
  for (float x = x0 + step * 0.5f; x < x1; x += step * 0.5f) {
    dl->PathLineTo(ImVec2(x, yc + (up ? -amp : amp)));
    up = !up;
  }
  dl->PathStroke(col, 0, 1.0f);
}

void hatch(ImDrawList* dl, ImVec2 a, ImVec2 b, ImU32 col, float spacing) {
  const float h = b.y - a.y;
  dl->PushClipRect(a, b, true);
  for (float x = a.x - h; x < b.x; x += spacing) dl->AddLine(ImVec2(x, b.y), ImVec2(x + h, a.y), col, 1.0f);
  dl->PopClipRect();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void GuiApp::zoom_to(double t0, double t1) {
  if (!(t1 > t0)) return;
  const double pad = (t1 - t0) * 0.05;
  axis_.t0 = t0 - pad;
  axis_.t1 = t1 + pad;
}

void GuiApp::draw_timeline_area(float width, float height) {
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing_);  // for tooltips; the layout here is explicit
  draw_timeline_contents(width, height);
  ImGui::PopStyleVar();
}

void GuiApp::draw_timeline_contents(float width, float height) {
  sync_timelines();
  const Theme& t = theme_;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  float y = origin.y;
  gantt_label_w_ = t.px(140);

  // A refused edit stays on screen, explained, until the next one succeeds.
  if (!editor_.last_error().empty()) {
    const float wrap = width - t.px(40);
    const ImVec2 ts = ImGui::CalcTextSize(editor_.last_error().c_str(), nullptr, false, wrap);
    const float bh = ts.y + t.px(10);
    dl->AddRectFilled(ImVec2(origin.x, y), ImVec2(origin.x + width, y + bh), IM_COL32(92, 34, 34, 255));
    dl->AddRectFilled(ImVec2(origin.x, y), ImVec2(origin.x + t.px(4), y + bh), t.bad);
    ImGui::SetCursorScreenPos(ImVec2(origin.x + t.px(12), y + t.px(5)));
    ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + wrap);
    ImGui::TextUnformatted(editor_.last_error().c_str());
    ImGui::PopTextWrapPos();
    y += bh;
  }

  // Comparison header: A and B with the difference.
  if (compare_) {
    const float hh = ImGui::GetTextLineHeightWithSpacing() + t.px(8);
    dl->AddRectFilled(ImVec2(origin.x, y), ImVec2(origin.x + width, y + hh), IM_COL32(34, 36, 42, 255));
    ImGui::SetCursorScreenPos(ImVec2(origin.x + t.px(10), y + t.px(4)));
    const PlanSummary& a = sides_[0].summary;
    const PlanSummary& b = sides_[1].summary;
    ImGui::TextColored(ImColor(t.op[0]), "A");
    ImGui::SameLine(0, t.px(6));
    ImGui::Text("%s  %s", sides_[0].label.c_str(), format_ms(a.iteration_ms).c_str());
    ImGui::SameLine(0, t.px(18));
    ImGui::TextColored(ImColor(t.op[2]), "B");
    ImGui::SameLine(0, t.px(6));
    if (b.iteration_ms > 0) {
      ImGui::Text("%s  %s", sides_[1].label.c_str(), format_ms(b.iteration_ms).c_str());
      const SummaryDiff d = diff(b, a);
      ImGui::SameLine(0, t.px(24));
      ImGui::TextDisabled("A vs B:");
      ImGui::SameLine(0, t.px(6));
      ImGui::TextColored(ImColor(d.iteration_ms <= 0 ? t.good : t.bad), "iteration %s ms",
                         format_signed(d.iteration_ms, 2).c_str());
      ImGui::SameLine(0, t.px(6));
      ImGui::TextDisabled("(%+.1f%%, %.2fx)", d.iteration_pct, d.speedup);
      ImGui::SameLine(0, t.px(14));
      ImGui::TextColored(ImColor(d.bubble_ratio <= 0 ? t.good : t.bad), "bubble %+.1f pp", d.bubble_ratio * 100);
      if (a.peak_memory_bytes > 0 && b.peak_memory_bytes > 0) {
        ImGui::SameLine(0, t.px(14));
        ImGui::TextColored(ImColor(d.peak_memory_bytes <= 0 ? t.good : t.warn), "peak memory %s%s",
                           d.peak_memory_bytes >= 0 ? "+" : "-", format_bytes(std::fabs(d.peak_memory_bytes)).c_str());
      }
    } else {
      ImGui::TextColored(ImColor(t.bad), "%s", sides_[1].label.c_str());
    }
    y += hh;
  }

  const float x_left = origin.x, x_time0 = origin.x + gantt_label_w_;
  const float scrollbar = ImGui::GetStyle().ScrollbarSize;
  const float x_time1 = origin.x + width - scrollbar;
  axis_.x0 = x_time0;
  axis_.width = std::max(10.0f, x_time1 - x_time0);
  double t_end = sides_[0].data.t_end;
  if (compare_) t_end = std::max(t_end, sides_[1].data.t_end);
  t_end = std::max(t_end, sides_[0].data.measured_t_end);
  if (!(t_end > 0)) t_end = 1;
  if (fit_pending_) {
    axis_.fit(0, t_end);
    fit_pending_ = false;
  }
  axis_.clamp(0, t_end, std::max(1e-6, t_end * 1e-7));

  if (toggles_.overview) {
    const float oh = t.px(26);
    draw_overview(dl, ImVec2(x_left, y), ImVec2(origin.x + width, y + oh));
    y += oh;
  }
  const float rh = t.px(22);
  draw_ruler(dl, ImVec2(x_left, y), ImVec2(origin.x + width, y + rh));
  y += rh;

  // A cost file without memory figures gives flat zero curves: no pane then.
  const bool show_memory = toggles_.memory && !sides_[0].memory.empty() && sides_[0].summary.peak_memory_bytes > 0;
  const float split = t.px(5);
  const float rows_h = std::max(t.px(40), origin.y + height - y - (show_memory ? memory_h_ + split : 0));
  ImGui::SetCursorScreenPos(ImVec2(x_left, y));
  draw_gantt_rows(width, rows_h);
  if (show_memory) {
    ImGui::SetCursorScreenPos(ImVec2(x_left, y + rows_h));
    splitter("##split_memory", false, split, width, &memory_h_, t.px(50), height * 0.6f, true);
    draw_memory(width, memory_h_);
  }

  // Time under the mouse and the measured range, over ruler and rows.
  const ImVec2 m = ImGui::GetIO().MousePos;
  if (m.x >= x_time0 && m.x < x_time1 && m.y >= gantt_y0_ - rh && m.y < origin.y + height &&
      ImGui::IsWindowHovered(ImGuiHoveredFlags_ChildWindows)) {
    ImDrawList* fg = ImGui::GetWindowDrawList();
    fg->AddLine(ImVec2(m.x, gantt_y0_ - rh), ImVec2(m.x, origin.y + height), IM_COL32(255, 255, 255, 50));
    const std::string label = format_ms(axis_.t_of(m.x));
    const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
    const float lx = std::min(m.x + t.px(4), x_time1 - ts.x - t.px(4));
    fg->AddRectFilled(ImVec2(lx - t.px(3), gantt_y0_ - rh + t.px(2)), ImVec2(lx + ts.x + t.px(3), gantt_y0_ - t.px(2)),
                      IM_COL32(60, 66, 80, 255), t.px(3));
    fg->AddText(ImVec2(lx, gantt_y0_ - rh + (rh - ts.y) * 0.5f), t.text, label.c_str());
  }
}

void GuiApp::draw_overview(ImDrawList* dl, ImVec2 p0, ImVec2 p1) {
  const Theme& t = theme_;
  dl->AddRectFilled(p0, p1, IM_COL32(22, 23, 27, 255));
  const float x0 = p0.x + gantt_label_w_, x1 = p1.x - ImGui::GetStyle().ScrollbarSize;
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + (p1.y - p0.y - ImGui::GetTextLineHeight()) * 0.5f), t.text_dim,
              "utilisation");
  double t_end = std::max(sides_[0].data.t_end, compare_ ? sides_[1].data.t_end : 0.0);
  if (!(t_end > 0) || x1 <= x0) return;
  TimeAxis full;
  full.t0 = 0;
  full.t1 = t_end;
  full.x0 = x0;
  full.width = x1 - x0;
  auto draw_busy = [&](const TimelineSide& s, float ya, float yb, ImU32 col) {
    if (s.busy.empty()) return;
    const float bw = (full.x_of(s.data.t_end) - x0) / static_cast<float>(s.busy.size());
    for (size_t i = 0; i < s.busy.size(); ++i) {
      const float h = (yb - ya) * s.busy[i];
      const float bx = x0 + bw * static_cast<float>(i);
      dl->AddRectFilled(ImVec2(bx, yb - h), ImVec2(bx + std::max(1.0f, bw), yb), col);
    }
  };
  const float pad = t.px(3);
  if (compare_) {
    const float mid = (p0.y + p1.y) * 0.5f;
    draw_busy(sides_[0], p0.y + pad, mid - 1, with_alpha(t.op[0], 0.75f));
    draw_busy(sides_[1], mid + 1, p1.y - pad, with_alpha(t.op[2], 0.75f));
  } else {
    draw_busy(sides_[0], p0.y + pad, p1.y - pad, with_alpha(t.op[0], 0.75f));
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
  }
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Devices busy over the iteration; click or drag to move the view");
}

void GuiApp::draw_ruler(ImDrawList* dl, ImVec2 p0, ImVec2 p1) {
  const Theme& t = theme_;
  dl->AddRectFilled(p0, p1, IM_COL32(30, 31, 36, 255));
  dl->AddLine(ImVec2(p0.x, p1.y - 0.5f), ImVec2(p1.x, p1.y - 0.5f), t.grid_strong);
  const std::string span = format_ms(axis_.span());
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + (p1.y - p0.y - ImGui::GetTextLineHeight()) * 0.5f), t.text_dim,
              ("span " + span).c_str());
  const double step = tick_step_ms(axis_, t.px(90));
  const double minor = step / 5;
  dl->PushClipRect(ImVec2(axis_.x0, p0.y), ImVec2(axis_.x0 + axis_.width, p1.y), true);
  const double first = std::floor(axis_.t0 / minor) * minor;
  for (int i = 0;; ++i) {
    const double tt = first + minor * i;
    if (tt > axis_.t1) break;
    const float x = std::floor(axis_.x_of(tt)) + 0.5f;
    const bool major = std::fabs(std::remainder(tt, step)) < minor * 0.01;
    dl->AddLine(ImVec2(x, p1.y - (major ? t.px(7) : t.px(3))), ImVec2(x, p1.y), major ? t.text_dim : t.grid_strong);
    if (major) {
      const std::string label = format_tick(tt, step);
      dl->AddText(ImVec2(x + t.px(4), p0.y + t.px(3)), t.text_dim, label.c_str());
    }
  }
  dl->PopClipRect();
  gantt_y0_ = p1.y;
}

// ---------------------------------------------------------------------------------------------
// Rows

GanttPick GuiApp::pick_at(ImVec2 m, float top_a, float top_b) const {
  GanttPick none;
  if (m.x < axis_.x0 || m.x >= axis_.x0 + axis_.width) return none;
  const int sides = compare_ ? 2 : 1;
  for (int s = 0; s < sides; ++s) {
    const float top = s == 0 ? top_a : top_b;
    const GanttLayout& L = layouts_[s];
    const int row = L.row_at(m.y - top);
    if (row < 0 || row >= static_cast<int>(sides_[s].data.devices.size())) continue;
    const LaneSlot* slot = L.lane_at(row, m.y - top);
    if (!slot) continue;
    const DeviceLanes& dev = sides_[s].data.devices[row];
    GanttPick p;
    p.side = s;
    p.device = row;
    p.lane = slot->kind;
    const float slack = theme_.px(2);
    switch (slot->kind) {
      case LaneKind::Compute:
        p.index = hit_test(dev.compute, axis_, m.x, slack);
        if (p.index < 0 && toggles_.bubbles) {
          p.index = hit_test(dev.idle, axis_, m.x, 0);
          p.idle = p.index >= 0;
        }
        break;
      case LaneKind::Measured: p.index = hit_test(dev.measured, axis_, m.x, slack); break;
      case LaneKind::Send: p.index = hit_test(dev.send, axis_, m.x, slack); break;
      case LaneKind::Recv: p.index = hit_test(dev.recv, axis_, m.x, slack); break;
    }
    if (p.index >= 0) return p;
    none.side = -1;
    none.device = row;
  }
  return none;
}

const TimelineBox* GuiApp::pick_box(const GanttPick& p) const {
  if (!p.valid() || p.side > 1 || p.device < 0 || p.device >= static_cast<int>(sides_[p.side].data.devices.size()))
    return nullptr;
  const DeviceLanes& dev = sides_[p.side].data.devices[p.device];
  const Lane* lane = nullptr;
  switch (p.lane) {
    case LaneKind::Compute: lane = p.idle ? &dev.idle : &dev.compute; break;
    case LaneKind::Measured: lane = &dev.measured; break;
    case LaneKind::Send: lane = &dev.send; break;
    case LaneKind::Recv: lane = &dev.recv; break;
  }
  if (!lane || p.index >= static_cast<int>(lane->size())) return nullptr;
  return &lane->boxes[p.index];
}

void GuiApp::gantt_input(float top_a, float top_b) {
  ImGuiIO& io = ImGui::GetIO();
  const ImVec2 m = io.MousePos;
  const bool hovered = ImGui::IsItemHovered();
  const bool locked = optimizer_.running() && opt_live_;
  hovered_ = hovered && !dragging_action_ ? pick_at(m, top_a, top_b) : GanttPick{};

  if (hovered && io.MouseWheel != 0) {
    if (io.KeyCtrl) ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseWheel * theme_.px(60));
    else if (io.KeyShift) axis_.pan_px(io.MouseWheel * axis_.width * 0.1f);
    else axis_.zoom_at(m.x, std::pow(0.8, static_cast<double>(io.MouseWheel)));
  }
  if (hovered && io.MouseWheelH != 0) axis_.pan_px(io.MouseWheelH * axis_.width * 0.1f);
  // Right or middle drag pans (time and rows).
  if (ImGui::IsItemActive() && (ImGui::IsMouseDragging(ImGuiMouseButton_Right, 1) ||
                                ImGui::IsMouseDragging(ImGuiMouseButton_Middle, 1))) {
    axis_.pan_px(io.MouseDelta.x);
    ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseDelta.y);
  }

  if (ImGui::IsItemActivated() && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    click_candidate_ = true;
    drag_ = {};
    const GanttPick p = pick_at(m, top_a, top_b);
    if (p.valid() && p.side == 0 && p.lane == LaneKind::Compute && !p.idle && !locked && !fold_hover_prev_.valid) {
      drag_ = p;
      drag_grab_dx_ = m.x - axis_.x_of(pick_box(p)->start);
    } else {
      measure_t0_ = measure_t1_ = axis_.t_of(m.x);
    }
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 4)) {
    click_candidate_ = false;
    if (drag_.valid()) {
      dragging_action_ = true;
    } else {
      measure_visible_ = true;
      measure_t1_ = axis_.t_of(m.x);
    }
  }
  if (ImGui::IsItemDeactivated() && ImGui::IsMouseReleased(ImGuiMouseButton_Left)) {
    if (dragging_action_) {
      dragging_action_ = false;
      const TimelineBox* b = pick_box(drag_);
      if (b) {
        const Lane& lane = sides_[0].data.devices[drag_.device].compute;
        const double centre = axis_.t_of(m.x - drag_grab_dx_) + (b->end - b->start) / 2;
        const int idx = drop_index(lane, centre);
        const int to = idx >= static_cast<int>(lane.size()) ? static_cast<int>(editor_.plan().schedule[drag_.device].size())
                                                            : static_cast<int>(lane.boxes[idx].ref);
        const int from = static_cast<int>(b->ref);
        const EditResult r = editor_.move_action(drag_.device, from, to);
        after_edit(r);
        sync_timelines();  // the Gantt below shows the new order in this same frame
      }
      drag_ = {};
    } else if (click_candidate_) {
      selected_ = pick_at(m, top_a, top_b);
      measure_visible_ = false;
      if (selected_.valid()) bottom_tab_request_ = BottomTab::Details;
    }
    click_candidate_ = false;
  }
  if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
    if (fold_hover_prev_.valid) zoom_to(fold_hover_prev_.item.start, fold_hover_prev_.item.end);
    else if (const TimelineBox* b = pick_box(hovered_)) zoom_to(b->start, b->end);
  }
}

void GuiApp::draw_gantt_rows(float width, float height) {
  const Theme& t = theme_;
  const int sides = compare_ ? 2 : 1;
  const float side_header = compare_ ? ImGui::GetTextLineHeight() + t.px(8) : 0;
  const float side_gap = compare_ ? t.px(6) : 0;

  // Lane heights: fill the height when there are few devices, stay compact with many.
  // Per side: a measured lane when the side has a run's measurements, send/recv lanes when it has
  // transfers (a recorded run has none).
  auto has_lane = [](const TimelineSide& s, bool measured) {
    for (const DeviceLanes& d : s.data.devices)
      if (measured ? !d.measured.empty() : (!d.send.empty() || !d.recv.empty())) return true;
    return false;
  };
  GanttLayoutOptions lo;
  lo.transfers = toggles_.transfers && has_lane(sides_[0], false);
  lo.measured = toggles_.measured && has_lane(sides_[0], true);
  lo.measured_h = t.px(8);
  lo.transfer_h = t.px(4);
  lo.lane_gap = t.px(1);
  lo.row_pad = t.px(2);
  int total_devices = 0;
  for (int s = 0; s < sides; ++s) total_devices += static_cast<int>(sides_[s].data.devices.size());
  const float extra = (lo.measured ? lo.measured_h + lo.lane_gap : 0) +
                      (lo.transfers ? 2 * (lo.transfer_h + lo.lane_gap) : 0) + 2 * lo.row_pad;
  const float avail = height - sides * side_header - side_gap;
  lo.compute_h = total_devices > 0 ? std::clamp(avail / total_devices - extra, t.px(11), t.px(40)) : t.px(18);
  GanttLayoutOptions lo_side[2] = {lo, lo};
  if (compare_) {
    lo_side[1].transfers = toggles_.transfers && has_lane(sides_[1], false);
    lo_side[1].measured = toggles_.measured && has_lane(sides_[1], true);
  }
  for (int s = 0; s < sides; ++s) layouts_[s] = layout_rows(static_cast<int>(sides_[s].data.devices.size()), lo_side[s]);

  ImGui::PushStyleColor(ImGuiCol_ChildBg, t.background);
  ImGui::BeginChild("##rows", ImVec2(width, height), false, ImGuiWindowFlags_NoScrollWithMouse);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 wpos = ImGui::GetWindowPos();
  const float scroll = ImGui::GetScrollY();
  const float view_w = ImGui::GetWindowWidth();
  const float content_top = wpos.y - scroll;
  side_top_[0] = content_top + side_header;
  side_top_[1] = side_top_[0] + layouts_[0].height + side_gap + side_header;
  const float total_h = compare_ ? side_top_[1] - content_top + layouts_[1].height : layouts_[0].height;
  const float clip_y0 = wpos.y, clip_y1 = wpos.y + height;
  gantt_origin_ = ImVec2(axis_.x0, side_top_[0]);

  ImGui::SetCursorScreenPos(wpos);
  ImGui::InvisibleButton("##canvas", ImVec2(std::max(1.0f, view_w), height),
                         ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight |
                             ImGuiButtonFlags_MouseButtonMiddle);
  canvas_hovered_ = ImGui::IsItemHovered();
  gantt_input(side_top_[0], side_top_[1]);
  // An edit in gantt_input rebuilt the data: lay the rows out again for it.
  for (int s = 0; s < sides; ++s)
    if (layouts_[s].rows.size() != sides_[s].data.devices.size())
      layouts_[s] = layout_rows(static_cast<int>(sides_[s].data.devices.size()), lo_side[s]);
  ImGui::SetCursorPos(ImVec2(0, std::max(total_h, 1.0f)));
  ImGui::Dummy(ImVec2(1, 1));

  const float x_label0 = wpos.x;
  fold_hover_prev_ = fold_hover_;
  fold_hover_ = {};
  for (int s = 0; s < sides; ++s) {
    if (compare_) {
      const float hy = side_top_[s] - side_header;
      if (hy + side_header > clip_y0 && hy < clip_y1) {
        dl->AddRectFilled(ImVec2(x_label0, hy), ImVec2(wpos.x + view_w, hy + side_header), IM_COL32(40, 43, 52, 255));
        dl->AddRectFilled(ImVec2(x_label0, hy), ImVec2(x_label0 + t.px(3), hy + side_header), s == 0 ? t.op[0] : t.op[2]);
        const PlanSummary& su = sides_[s].summary;
        const std::string text =
            strf("%s   %s", s == 0 ? "A" : "B", sides_[s].label.c_str()) +
            (su.iteration_ms > 0 ? strf("   ·   %s   ·   bubble %.1f%%", format_ms(su.iteration_ms).c_str(),
                                        su.bubble_ratio * 100)
                                 : std::string());
        dl->AddText(ImVec2(x_label0 + t.px(10), hy + t.px(4)), t.text, text.c_str());
      }
    }
    draw_side(dl, s, side_top_[s], gantt_label_w_, axis_.x0, axis_.x0 + axis_.width, clip_y0, clip_y1);
  }

  // Stage chips dragged from the Plan panel drop onto a device row: move the stage there.
  if (ImGui::GetDragDropPayload() && ImGui::GetDragDropPayload()->IsDataType("ADAPTIS_STAGE")) {
    auto [r0, r1] = layouts_[0].visible(clip_y0 - side_top_[0], clip_y1 - side_top_[0]);
    for (int r = r0; r < r1; ++r) {
      const DeviceRow& row = layouts_[0].rows[r];
      const ImRect rect(ImVec2(x_label0, side_top_[0] + row.y0), ImVec2(wpos.x + view_w, side_top_[0] + row.y1));
      if (ImGui::BeginDragDropTargetCustom(rect, ImGui::GetID(strf("##drop_dev%d", r).c_str()))) {
        if (const ImGuiPayload* pl = ImGui::AcceptDragDropPayload("ADAPTIS_STAGE")) {
          const int stage = *static_cast<const int*>(pl->Data);
          after_edit(editor_.move_stage(stage, row.device));
        }
        ImGui::EndDragDropTarget();
      }
    }
  }

  // Measured range.
  if (measure_visible_ && measure_t1_ != measure_t0_) {
    const double a = std::min(measure_t0_, measure_t1_), b = std::max(measure_t0_, measure_t1_);
    const float xa = std::max(axis_.x0, axis_.x_of(a)), xb = std::min(axis_.x0 + axis_.width, axis_.x_of(b));
    if (xb > xa) {
      dl->AddRectFilled(ImVec2(xa, clip_y0), ImVec2(xb, clip_y1), IM_COL32(120, 170, 255, 36));
      dl->AddLine(ImVec2(xa, clip_y0), ImVec2(xa, clip_y1), IM_COL32(120, 170, 255, 160));
      dl->AddLine(ImVec2(xb, clip_y0), ImVec2(xb, clip_y1), IM_COL32(120, 170, 255, 160));
      const std::string label = format_ms(b - a);
      const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
      const float lx = (xa + xb - ts.x) * 0.5f, ly = clip_y0 + t.px(4);
      dl->AddRectFilled(ImVec2(lx - t.px(5), ly - t.px(2)), ImVec2(lx + ts.x + t.px(5), ly + ts.y + t.px(2)),
                        IM_COL32(50, 80, 130, 240), t.px(3));
      dl->AddText(ImVec2(lx, ly), t.text, label.c_str());
    }
  }

  // Dragging an action: a ghost under the mouse and the slot it would land in.
  if (dragging_action_) {
    if (const TimelineBox* b = pick_box(drag_)) {
      const LaneSlot* slot = layouts_[0].slot(drag_.device, LaneKind::Compute);
      const float ly0 = side_top_[0] + slot->y0, ly1 = side_top_[0] + slot->y1;
      const float w = std::max(t.px(4), axis_.x_of(b->end) - axis_.x_of(b->start));
      const float gx = ImGui::GetIO().MousePos.x - drag_grab_dx_;
      const Lane& lane = sides_[0].data.devices[drag_.device].compute;
      const double centre = axis_.t_of(gx) + (b->end - b->start) / 2;
      const int idx = drop_index(lane, centre);
      const float mx = idx < static_cast<int>(lane.size()) ? axis_.x_of(lane.boxes[idx].start)
                                                           : axis_.x_of(lane.boxes.back().end);
      dl->AddRectFilled(ImVec2(gx, ly0 - t.px(3)), ImVec2(gx + w, ly1 + t.px(3)),
                        with_alpha(t.box_colour(b->kind, chunk_of(0, drag_.device, b->stage)), 0.55f), t.px(2));
      dl->AddRect(ImVec2(gx, ly0 - t.px(3)), ImVec2(gx + w, ly1 + t.px(3)), t.selection, t.px(2), 0, 1.5f);
      dl->AddLine(ImVec2(mx, ly0 - t.px(6)), ImVec2(mx, ly1 + t.px(6)), t.warn, t.px(2.5f));
      dl->AddTriangleFilled(ImVec2(mx - t.px(5), ly0 - t.px(9)), ImVec2(mx + t.px(5), ly0 - t.px(9)),
                            ImVec2(mx, ly0 - t.px(3)), t.warn);
      ImGui::BeginTooltip();
      ImGui::Text("Move %s on GPU %d", action_text(b->op, b->stage, b->mb).c_str(), drag_.device);
      if (idx < static_cast<int>(lane.size()))
        ImGui::TextDisabled("before %s (position %u)", action_text(lane.boxes[idx].op, lane.boxes[idx].stage,
                                                                    lane.boxes[idx].mb).c_str(), lane.boxes[idx].ref);
      else
        ImGui::TextDisabled("to the end of the device's list");
      ImGui::TextDisabled("release to re-validate and re-simulate; Esc cancels");
      ImGui::EndTooltip();
    }
  }

  // Tooltip of what is under the mouse (a folded block wins over the box the hit-test found in it).
  if (!dragging_action_ && canvas_hovered_) {
    if (fold_hover_.valid) {
      const DrawItem& it = fold_hover_.item;
      ImGui::BeginTooltip();
      ImGui::Text("%u %s too small to display", it.count,
                  fold_hover_.lane == LaneKind::Compute ? (it.mixed ? "actions" : box_kind_name(it.kind))
                                                        : lane_kind_name(fold_hover_.lane));
      ImGui::TextDisabled("GPU %d  ·  %s .. %s", fold_hover_.device, format_ms(it.start).c_str(), format_ms(it.end).c_str());
      ImGui::TextDisabled("busy %s of %s (%.0f%%)", format_ms(it.busy_ms).c_str(), format_ms(it.end - it.start).c_str(),
                          it.end > it.start ? 100.0 * it.busy_ms / (it.end - it.start) : 0.0);
      if (fold_hover_.lane == LaneKind::Compute && it.busy_ms > 0)
        for (int k = 0; k < kNumOps; ++k)
          if (it.kind_ms[k] > 0) {
            swatch(t.op[k], t.px(9));
            ImGui::SameLine();
            ImGui::Text("%s  %s (%.0f%%)", op_name(static_cast<Op>(k)), format_ms(it.kind_ms[k]).c_str(),
                        100.0 * it.kind_ms[k] / it.busy_ms);
          }
      ImGui::TextDisabled("double-click or scroll to zoom in");
      ImGui::EndTooltip();
    } else if (hovered_.valid()) {
      draw_box_tooltip(hovered_);
    }
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
}

void GuiApp::draw_side(ImDrawList* dl, int side, float top, float label_w, float x0, float x1, float clip_y0,
                       float clip_y1) {
  const Theme& t = theme_;
  const TimelineSide& S = sides_[side];
  const GanttLayout& L = layouts_[side];
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  const bool mouse_in = canvas_hovered_;
  auto [r0, r1] = L.visible(clip_y0 - top, clip_y1 - top);
  r1 = std::min(r1, static_cast<int>(S.data.devices.size()));
  const float lx = x0 - label_w;

  // Vertical grid lines at the ruler's major ticks.
  const double step = tick_step_ms(axis_, t.px(90));
  auto grid = [&](float ya, float yb) {
    const double first = std::ceil(axis_.t0 / step) * step;
    for (double tt = first; tt <= axis_.t1; tt += step) {
      const float x = std::floor(axis_.x_of(tt)) + 0.5f;
      dl->AddLine(ImVec2(x, ya), ImVec2(x, yb), t.grid);
    }
  };

  for (int r = r0; r < r1; ++r) {
    const DeviceRow& row = L.rows[r];
    const int d = row.device;
    const DeviceLanes& dev = S.data.devices[d];
    const float y0 = top + row.y0, y1 = top + row.y1;
    dl->AddRectFilled(ImVec2(lx, y0), ImVec2(x1, y1), r % 2 ? t.lane_background_alt : t.lane_background);
    dl->AddLine(ImVec2(lx, y1 - 0.5f), ImVec2(x1, y1 - 0.5f), IM_COL32(0, 0, 0, 90));
    grid(y0, y1);

    // Label gutter: device, its stages, utilisation; OOM in red.
    {
      const float ly = top + row.lanes[0].y0;
      const bool oom = d < static_cast<int>(S.stats.size()) && S.stats[d].oom;
      dl->AddRectFilled(ImVec2(lx, y0), ImVec2(lx + t.px(3), y1),
                        oom ? t.bad : with_alpha(t.device_colour(d, static_cast<int>(S.data.devices.size())), 0.9f));
      const std::string name = strf("GPU %d", d);
      const float lh = ImGui::GetTextLineHeight();
      const float lane_h = row.lanes[0].y1 - row.lanes[0].y0;
      const float ty = ly + std::max(0.0f, (lane_h - lh) * 0.5f);
      dl->AddText(ImVec2(lx + t.px(10), ty), t.text, name.c_str());
      std::string sub;
      if (d < S.plan.placement.num_devices()) {
        const auto& st = S.plan.placement.device_stages[d];
        sub = "s";
        for (size_t k = 0; k < st.size() && k < 4; ++k) sub += (k ? "," : "") + std::to_string(st[k]);
        if (st.size() > 4) sub += ",…";
      }
      if (d < static_cast<int>(S.stats.size()) && S.summary.iteration_ms > 0)
        sub += strf(" %.0f%%", 100.0 * S.stats[d].busy_ms / S.summary.iteration_ms);
      if (oom) sub = "OOM  " + sub;
      const float name_w = ImGui::CalcTextSize(name.c_str()).x;
      const float sub_w = ImGui::CalcTextSize(sub.c_str()).x;
      if (lx + t.px(16) + name_w + sub_w < x0 - t.px(4))
        dl->AddText(ImVec2(x0 - t.px(6) - sub_w, ty), oom ? t.bad : t.text_dim, sub.c_str());
    }

    dl->PushClipRect(ImVec2(x0, y0), ImVec2(x1, y1), true);
    for (const LaneSlot& slot : row.lanes) {
      const float ly0 = top + slot.y0, ly1 = top + slot.y1;
      const bool mouse_row = mouse_in && mouse.y >= ly0 && mouse.y < ly1;
      items_.clear();
      switch (slot.kind) {
        case LaneKind::Compute: {
          if (toggles_.bubbles && !dev.idle.empty()) {
            cull_and_fold(dev.idle, axis_, kMinVisiblePx, items_);
            for (const DrawItem& it : items_) {
              const TimelineBox& b = dev.idle.boxes[it.first];
              ImU32 c = t.idle_dependency;
              if (b.ref < S.gaps.size()) {
                const GapCause cause = S.gaps[b.ref].cause;
                c = cause == GapCause::Transfer ? t.idle_transfer : cause == GapCause::Drain ? t.idle_drain : t.idle_dependency;
              }
              const ImVec2 a(it.x0, ly0), z(std::max(it.x1, it.x0 + 1), ly1);
              if (it.folded()) {
                // Many slivers of idle time: a faint wash as dense as the idle share.
                const double share = it.end > it.start ? it.busy_ms / (it.end - it.start) : 0;
                dl->AddRectFilled(a, z, with_alpha(c, static_cast<float>(0.08 + 0.3 * std::min(1.0, share))));
                continue;
              }
              dl->AddRectFilled(a, z, with_alpha(c, 0.13f));
              if (z.x - a.x > 6) hatch(dl, a, z, with_alpha(c, 0.30f), t.px(7));
            }
            items_.clear();
          }
          cull_and_fold(dev.compute, axis_, kMinVisiblePx, items_);
          const bool many_stages = d < S.plan.placement.num_devices() && S.plan.placement.device_stages[d].size() > 1;
          for (const DrawItem& it : items_) {
            const float bx0 = std::max(it.x0, x0 - 2), bx1 = std::min(it.x1, x1 + 2);
            if (it.folded()) {
              // Boxes too small to draw: one block, striped by the share of each op in it (so the
              // warm-up reads as F, the cool-down as B/W), as opaque as the block is busy.
              const float busy = it.end > it.start ? static_cast<float>(std::min(1.0, it.busy_ms / (it.end - it.start))) : 1.0f;
              const float alpha = 0.45f + 0.4f * busy;
              float total = 0;
              for (float k : it.kind_ms) total += k;
              float y = ly0;
              for (int k = 0; k < kNumOps && total > 0; ++k) {
                if (it.kind_ms[k] <= 0) continue;
                const float h = (ly1 - ly0) * it.kind_ms[k] / total;
                dl->AddRectFilled(ImVec2(bx0, y), ImVec2(std::max(bx1, bx0 + 1), y + h),
                                  with_alpha(mix(t.op[k], t.background, 0.25f), alpha));
                y += h;
              }
              if (bx1 - bx0 > t.px(12))
                zigzag(dl, bx0 + 1, std::min(bx0 + t.px(24), bx1 - 1), (ly0 + ly1) * 0.5f,
                       std::min(t.px(2.5f), (ly1 - ly0) * 0.2f), IM_COL32(255, 255, 255, 90));
              if (mouse_row && mouse.x >= it.x0 && mouse.x < it.x1) fold_hover_ = {true, side, d, LaneKind::Compute, it};
            } else {
              const TimelineBox& b = dev.compute.boxes[it.first];
              const ImU32 col = t.box_colour(b.kind, chunk_of(side, d, b.stage));
              const float w = it.x1 - it.x0;
              // Rounded corners only where they show: an arc costs many vertices per box.
              const float round = w > t.px(24) ? t.px(2) : 0.0f;
              dl->AddRectFilled(ImVec2(bx0, ly0), ImVec2(std::max(bx1, bx0 + 1), ly1), col, round);
              if (w > 5) dl->AddRect(ImVec2(bx0, ly0), ImVec2(bx1, ly1), mix(col, IM_COL32(0, 0, 0, 255), 0.45f),
                                     round, 0, 1.0f);
              if (toggles_.labels && w > t.px(14) && ly1 - ly0 >= ImGui::GetTextLineHeight() - 1) {
                char long_text[48], short_text[16];
                if (many_stages) std::snprintf(long_text, sizeof long_text, "%s%d s%d", op_name(b.op), b.mb, b.stage);
                else std::snprintf(long_text, sizeof long_text, "%s%d", op_name(b.op), b.mb);
                std::snprintf(short_text, sizeof short_text, "%d", b.mb);
                if (const char* label = fitting_label(w, t.px(6), long_text, short_text)) {
                  const ImVec2 ts = ImGui::CalcTextSize(label);
                  const float tx = std::clamp((it.x0 + it.x1 - ts.x) * 0.5f, std::max(x0, it.x0) + t.px(3),
                                              std::max(std::max(x0, it.x0) + t.px(3), std::min(x1, it.x1) - ts.x - t.px(3)));
                  dl->AddText(ImVec2(tx, (ly0 + ly1 - ts.y) * 0.5f), t.text_on_box, label);
                }
              }
            }
            if (toggles_.critical && it.critical && !it.folded())
              dl->AddRectFilled(ImVec2(bx0, ly1 - t.px(2.5f)), ImVec2(std::max(bx1, bx0 + 1), ly1), t.critical);
          }
          break;
        }
        case LaneKind::Measured: {
          cull_and_fold(dev.measured, axis_, kMinVisiblePx, items_);
          for (const DrawItem& it : items_) {
            const TimelineBox& b = dev.measured.boxes[it.first];
            const ImU32 col = it.folded() ? t.measured : mix(t.box_colour(box_kind_of(b.op), 0), t.measured, 0.45f);
            dl->AddRectFilled(ImVec2(it.x0, ly0), ImVec2(std::max(it.x1, it.x0 + 1), ly1), with_alpha(col, 0.85f), t.px(1));
            if (it.folded() && mouse_row && mouse.x >= it.x0 && mouse.x < it.x1)
              fold_hover_ = {true, side, d, LaneKind::Measured, it};
          }
          break;
        }
        case LaneKind::Send:
        case LaneKind::Recv: {
          const Lane& lane = slot.kind == LaneKind::Send ? dev.send : dev.recv;
          const ImU32 col = slot.kind == LaneKind::Send ? t.send : t.recv;
          dl->AddRectFilled(ImVec2(x0, ly0), ImVec2(x1, ly1), IM_COL32(0, 0, 0, 40));
          cull_and_fold(lane, axis_, kMinVisiblePx, items_);
          for (const DrawItem& it : items_) {
            dl->AddRectFilled(ImVec2(it.x0, ly0), ImVec2(std::max(it.x1, it.x0 + 1), ly1),
                              it.folded() ? with_alpha(col, 0.6f) : col);
            if (it.folded() && mouse_row && mouse.x >= it.x0 && mouse.x < it.x1)
              fold_hover_ = {true, side, d, slot.kind, it};
          }
          break;
        }
      }
    }
    dl->PopClipRect();
  }

  // Critical path hops between devices, then the selection's dependencies, then outlines.
  dl->PushClipRect(ImVec2(x0, clip_y0), ImVec2(x1, clip_y1), true);
  if (toggles_.critical) draw_critical_links(dl, side, top, clip_y0, clip_y1);
  if (selected_.side == side) draw_dependency_arrows(dl, side, top);
  auto outline = [&](const GanttPick& p, ImU32 col, float thick) {
    if (p.side != side) return;
    const TimelineBox* b = pick_box(p);
    const LaneSlot* slot = layouts_[side].slot(p.device, p.lane);
    if (!b || !slot) return;
    const float bx0 = axis_.x_of(b->start), bx1 = std::max(axis_.x_of(b->end), bx0 + 2);
    dl->AddRect(ImVec2(bx0 - 1, top + slot->y0 - 1), ImVec2(bx1 + 1, top + slot->y1 + 1), col, t.px(2), 0, thick);
  };
  if (!fold_hover_.valid) outline(hovered_, IM_COL32(255, 255, 255, 150), 1.0f);
  outline(selected_, t.selection, 2.0f);
  dl->PopClipRect();
}

void GuiApp::draw_critical_links(ImDrawList* dl, int side, float top, float clip_y0, float clip_y1) {
  const TimelineData& data = sides_[side].data;
  const GanttLayout& L = layouts_[side];
  const ImU32 col = with_alpha(theme_.critical, 0.85f);
  for (size_t i = 1; i < data.critical_path.size(); ++i) {
    const PathStep& a = data.critical_path[i - 1];
    const PathStep& b = data.critical_path[i];
    if (a.device == b.device) continue;
    if (a.device >= static_cast<int>(L.rows.size()) || b.device >= static_cast<int>(L.rows.size())) continue;
    const TimelineBox& ba = data.devices[a.device].compute.boxes[a.index];
    const TimelineBox& bb = data.devices[b.device].compute.boxes[b.index];
    const float xa = axis_.x_of(ba.end), xb = axis_.x_of(bb.start);
    if (std::max(xa, xb) < axis_.x0 || std::min(xa, xb) > axis_.x0 + axis_.width) continue;
    const LaneSlot* sa = L.slot(a.device, LaneKind::Compute);
    const LaneSlot* sb = L.slot(b.device, LaneKind::Compute);
    const float ya = top + (a.device < b.device ? sa->y1 : sa->y0), yb = top + (a.device < b.device ? sb->y0 : sb->y1);
    if (std::max(ya, yb) < clip_y0 || std::min(ya, yb) > clip_y1) continue;
    dl->AddLine(ImVec2(xa, ya), ImVec2(std::max(xb, xa), yb), col, theme_.px(1.5f));
  }
}

void GuiApp::draw_dependency_arrows(ImDrawList* dl, int side, float top) {
  if (selected_.lane != LaneKind::Compute || selected_.idle) return;
  const TimelineBox* sel = pick_box(selected_);
  if (!sel) return;
  const TimelineData& data = sides_[side].data;
  const GanttLayout& L = layouts_[side];
  const Theme& t = theme_;
  auto centre_y = [&](int device) {
    const LaneSlot* s = L.slot(device, LaneKind::Compute);
    return s ? top + (s->y0 + s->y1) * 0.5f : top;
  };
  auto arrow = [&](const PathStep& from, const PathStep& to, ImU32 col) {
    if (from.device < 0 || to.device < 0) return;
    const TimelineBox& a = data.devices[from.device].compute.boxes[from.index];
    const TimelineBox& b = data.devices[to.device].compute.boxes[to.index];
    const ImVec2 p0(axis_.x_of(a.end), centre_y(from.device));
    const ImVec2 p1(axis_.x_of(b.start), centre_y(to.device));
    const float dx = std::max(t.px(20), std::fabs(p1.x - p0.x) * 0.4f);
    dl->AddBezierCubic(p0, ImVec2(p0.x + dx, p0.y), ImVec2(p1.x - dx, p1.y), p1, col, t.px(1.8f));
    dl->AddTriangleFilled(ImVec2(p1.x, p1.y), ImVec2(p1.x - t.px(7), p1.y - t.px(4)), ImVec2(p1.x - t.px(7), p1.y + t.px(4)),
                          col);
    dl->AddCircleFilled(p0, t.px(2.5f), col);
  };
  const PathStep me{selected_.device, selected_.index};
  const int s = sel->stage, mb = sel->mb;
  const ImU32 in = IM_COL32(255, 255, 255, 220), out = IM_COL32(255, 214, 102, 230);
  switch (sel->op) {
    case Op::F:
      arrow(data.locate(Op::F, s - 1, mb), me, in);
      arrow(me, data.locate(Op::F, s + 1, mb), out);
      arrow(me, data.locate(Op::B, s, mb), out);
      arrow(me, data.locate(Op::BW, s, mb), out);
      break;
    case Op::B:
    case Op::BW:
      arrow(data.locate(Op::F, s, mb), me, in);
      arrow(data.locate(Op::B, s + 1, mb), me, in);
      arrow(data.locate(Op::BW, s + 1, mb), me, in);
      arrow(me, data.locate(Op::B, s - 1, mb), out);
      arrow(me, data.locate(Op::BW, s - 1, mb), out);
      if (sel->op == Op::B) arrow(me, data.locate(Op::W, s, mb), out);
      break;
    case Op::W: arrow(data.locate(Op::B, s, mb), me, in); break;
  }
}

void GuiApp::draw_box_tooltip(const GanttPick& pick) {
  const TimelineBox* b = pick_box(pick);
  if (!b) return;
  const Theme& t = theme_;
  const TimelineSide& S = sides_[pick.side];
  ImGui::BeginTooltip();
  if (pick.lane == LaneKind::Compute && pick.idle) {
    const Gap* g = b->ref < S.gaps.size() ? &S.gaps[b->ref] : nullptr;
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("Bubble  %s", format_ms(b->end - b->start).c_str());
    ImGui::PopFont();
    if (g) {
      const ImU32 c = g->cause == GapCause::Transfer ? t.idle_transfer : g->cause == GapCause::Drain ? t.idle_drain : t.idle_dependency;
      ImGui::TextColored(ImColor(c), "%s  ·  %s", gap_cause_name(g->cause), bubble_phase_name(g->phase));
      ImGui::Separator();
      switch (g->cause) {
        case GapCause::Dependency:
          ImGui::Text("GPU %d waits to start %s,", g->device, to_string(g->waiting).c_str());
          ImGui::Text("which needs %s on GPU %d;", to_string(g->producer).c_str(), g->producer_device);
          ImGui::Text("that finishes at %s.", format_ms(g->producer_end).c_str());
          break;
        case GapCause::Transfer:
          ImGui::Text("GPU %d waits to start %s:", g->device, to_string(g->waiting).c_str());
          ImGui::Text("%s finished on GPU %d at %s,", to_string(g->producer).c_str(), g->producer_device,
                      format_ms(g->producer_end).c_str());
          ImGui::Text("its output arrives at %s (%s in flight).", format_ms(g->arrival).c_str(),
                      format_ms(g->arrival - g->producer_end).c_str());
          break;
        case GapCause::Drain:
          ImGui::Text("GPU %d has finished its work; others are still running.", g->device);
          break;
      }
    }
    mono_text(t, "%s .. %s", format_ms(b->start).c_str(), format_ms(b->end).c_str());
    ImGui::EndTooltip();
    return;
  }
  if (pick.lane == LaneKind::Send || pick.lane == LaneKind::Recv) {
    const bool act = b->op == Op::F;
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("%s %s", pick.lane == LaneKind::Send ? "Send" : "Receive", act ? "activation" : "gradient");
    ImGui::PopFont();
    ImGui::Text("of %s, %s GPU %d", action_text(b->op, b->stage, b->mb).c_str(),
                pick.lane == LaneKind::Send ? "to" : "from", b->peer);
    mono_text(t, "%s .. %s  (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(),
              format_ms(b->end - b->start).c_str());
    ImGui::EndTooltip();
    return;
  }
  const bool measured_lane = pick.lane == LaneKind::Measured;
  ImGui::PushFont(t.ui_bold);
  ImGui::Text("%s%s", measured_lane ? "Measured " : "", action_text(b->op, b->stage, b->mb).c_str());
  ImGui::PopFont();
  ImGui::TextDisabled("%s  ·  GPU %d", op_long(b->op), pick.device);
  const Partition& part = S.plan.partition;
  if (b->stage >= 0 && b->stage < part.num_stages())
    ImGui::Text("layers %d–%d (%d)", part.bounds[b->stage], part.bounds[b->stage + 1] - 1, part.stage_size(b->stage));
  mono_text(t, "%s .. %s  (%s)", format_ms(b->start).c_str(), format_ms(b->end).c_str(), format_ms(b->end - b->start).c_str());
  if (!measured_lane && pick.device < static_cast<int>(S.memory.size()))
    ImGui::Text("memory after: %s", format_bytes(memory_at(S.memory[pick.device], b->end)).c_str());
  if (b->critical && toggles_.critical) ImGui::TextColored(ImColor(t.critical), "on the critical path");
  // Predicted vs measured for the same action.
  const TimelineData& data = S.data;
  if (pick.device < static_cast<int>(data.devices.size()) && !data.devices[pick.device].measured.empty()) {
    const Lane& other = measured_lane ? data.devices[pick.device].compute : data.devices[pick.device].measured;
    for (const TimelineBox& o : other.boxes)
      if (o.op == b->op && o.stage == b->stage && o.mb == b->mb) {
        const double pred = measured_lane ? o.end - o.start : b->end - b->start;
        const double meas = measured_lane ? b->end - b->start : o.end - o.start;
        ImGui::Separator();
        ImGui::Text("predicted %s, measured %s", format_ms(pred).c_str(), format_ms(meas).c_str());
        ImGui::TextColored(ImColor(std::fabs(meas - pred) <= 0.1 * pred ? t.good : t.warn), "error %+.1f%%",
                           pred > 0 ? 100.0 * (meas - pred) / pred : 0.0);
        break;
      }
  }
  if (pick.side == 0 && !measured_lane && !(optimizer_.running() && opt_live_))
    ImGui::TextDisabled("drag to move it in GPU %d's order", pick.device);
  ImGui::EndTooltip();
}

// ---------------------------------------------------------------------------------------------
// Memory under the Gantt

void GuiApp::draw_memory(float width, float height) {
  const Theme& t = theme_;
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(26, 27, 31, 255));
  ImGui::BeginChild("##memory", ImVec2(width, height), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p0 = ImGui::GetWindowPos();
  const float x0 = axis_.x0, x1 = axis_.x0 + axis_.width;
  const float top = p0.y + t.px(8), bottom = p0.y + height - t.px(6);
  const TimelineSide& A = sides_[0];
  const bool with_b = compare_ && !sides_[1].memory.empty();
  const int D = static_cast<int>(A.memory.size());

  // Scale to the highest peak (the limit only when it is near, so curves do not flatten).
  double peak = 0, limit = 0;
  int peak_dev = -1;
  for (int s = 0; s < (with_b ? 2 : 1); ++s)
    for (size_t d = 0; d < sides_[s].stats.size(); ++d) {
      if (sides_[s].stats[d].peak_memory_bytes > peak) {
        peak = sides_[s].stats[d].peak_memory_bytes;
        if (s == 0) peak_dev = static_cast<int>(d);
      }
      if (d < sides_[s].memory_limit.size()) limit = std::max(limit, sides_[s].memory_limit[d]);
    }
  if (peak_dev < 0 && !A.stats.empty()) peak_dev = 0;
  double y_max = peak * 1.08;
  const bool limit_visible = limit > 0 && limit <= peak * 1.5;
  if (limit_visible) y_max = std::max(y_max, limit * 1.04);
  if (!(y_max > 0)) y_max = 1;
  auto y_of = [&](double v) { return bottom - static_cast<float>(v / y_max) * (bottom - top); };

  // Gutter.
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + t.px(6)), t.text, "Memory");
  dl->AddText(ImVec2(p0.x + t.px(10), p0.y + t.px(6) + ImGui::GetTextLineHeight()), t.text_dim,
              D > 8 ? "max of GPUs" : "per GPU");
  // Horizontal grid with byte labels.
  for (int k = 1; k <= 3; ++k) {
    const double v = y_max * k / 4;
    const float y = y_of(v);
    dl->AddLine(ImVec2(x0, y), ImVec2(x1, y), t.grid);
    const std::string label = format_bytes(v);
    dl->AddText(ImVec2(x0 - ImGui::CalcTextSize(label.c_str()).x - t.px(6), y - ImGui::GetTextLineHeight() * 0.5f),
                t.text_dim, label.c_str());
  }
  dl->AddLine(ImVec2(x0, bottom), ImVec2(x1, bottom), t.grid_strong);

  // Decimated curves per device, re-made only when the view or the data change.
  MemoryCache& mc = memory_cache_;
  if (mc.t0 != axis_.t0 || mc.t1 != axis_.t1 || mc.x0 != axis_.x0 || mc.width != axis_.width ||
      mc.revision != side0_revision_ || mc.compare_revision != (with_b ? compare_revision_ : 0)) {
    for (int s = 0; s < 2; ++s) {
      mc.cols[s].clear();
      if (s == 1 && !with_b) continue;
      for (const auto& series : sides_[s].memory) {
        mc.cols[s].emplace_back();
        decimate_steps(series, axis_, mc.cols[s].back());
      }
    }
    mc.t0 = axis_.t0;
    mc.t1 = axis_.t1;
    mc.x0 = axis_.x0;
    mc.width = axis_.width;
    mc.revision = side0_revision_;
    mc.compare_revision = with_b ? compare_revision_ : 0;
  }

  dl->PushClipRect(ImVec2(x0, p0.y), ImVec2(x1, p0.y + height), true);
  auto curve = [&](const std::vector<ColumnRange>& cols, ImU32 col, float thick, bool fill) {
    if (cols.empty()) return;
    if (fill)
      for (const ColumnRange& c : cols) dl->AddRectFilled(ImVec2(c.x, y_of(c.hi)), ImVec2(c.x + 1, bottom), with_alpha(col, 0.16f));
    dl->PathClear();
    for (const ColumnRange& c : cols) {
      if (c.hi != c.lo) dl->AddLine(ImVec2(c.x + 0.5f, y_of(c.lo)), ImVec2(c.x + 0.5f, y_of(c.hi)), col, thick);
      dl->PathLineTo(ImVec2(c.x, y_of(c.last)));
    }
    dl->PathStroke(col, 0, thick);
  };
  // Envelope over devices for many GPUs: the per-column max.
  auto envelope = [&](const std::vector<std::vector<ColumnRange>>& per_dev) {
    std::vector<ColumnRange> env;
    for (const auto& cols : per_dev) {
      if (env.empty()) {
        env = cols;
        continue;
      }
      for (size_t i = 0; i < cols.size() && i < env.size(); ++i) {
        env[i].hi = std::max(env[i].hi, cols[i].hi);
        env[i].lo = std::max(env[i].lo, cols[i].lo);
        env[i].last = std::max(env[i].last, cols[i].last);
      }
    }
    return env;
  };
  if (with_b) curve(envelope(mc.cols[1]), with_alpha(t.op[2], 0.9f), 1.5f, false);
  if (D <= 8) {
    for (int d = 0; d < D && d < static_cast<int>(mc.cols[0].size()); ++d)
      curve(mc.cols[0][d], t.device_colour(d, D), d == hovered_memory_device_ ? 2.5f : 1.5f, D <= 2);
  } else {
    curve(envelope(mc.cols[0]), t.op[0], 1.5f, true);
    const int focus = selected_.side == 0 && selected_.device >= 0 ? selected_.device : peak_dev;
    if (focus >= 0 && focus < static_cast<int>(mc.cols[0].size())) curve(mc.cols[0][focus], t.device_colour(focus, D), 1.5f, false);
  }
  if (limit_visible) {
    const float y = y_of(limit);
    for (float x = x0; x < x1; x += t.px(10)) dl->AddLine(ImVec2(x, y), ImVec2(std::min(x + t.px(6), x1), y), t.memory_limit, 1.5f);
    dl->AddText(ImVec2(x1 - t.px(110), y - ImGui::GetTextLineHeight() - 1), t.memory_limit,
                ("limit " + format_bytes(limit)).c_str());
  } else if (limit > 0) {
    const std::string s = "limit " + format_bytes(limit) + " (off scale)";
    dl->AddText(ImVec2(x1 - ImGui::CalcTextSize(s.c_str()).x - t.px(8), top), t.text_dim, s.c_str());
  }
  dl->PopClipRect();

  // Hover: values at the mouse time.
  ImGui::SetCursorScreenPos(ImVec2(x0, p0.y));
  ImGui::InvisibleButton("##memory_canvas", ImVec2(std::max(1.0f, x1 - x0), height));
  hovered_memory_device_ = -1;
  if (ImGui::IsItemHovered()) {
    ImGuiIO& io = ImGui::GetIO();
    if (io.MouseWheel != 0) axis_.zoom_at(io.MousePos.x, std::pow(0.8, static_cast<double>(io.MouseWheel)));
    const double tm = axis_.t_of(io.MousePos.x);
    dl->AddLine(ImVec2(io.MousePos.x, p0.y), ImVec2(io.MousePos.x, p0.y + height), IM_COL32(255, 255, 255, 60));
    // The device whose curve is nearest the mouse.
    float best = 1e9f;
    for (int d = 0; d < D; ++d) {
      const float dy = std::fabs(y_of(memory_at(A.memory[d], tm)) - io.MousePos.y);
      if (dy < best) {
        best = dy;
        hovered_memory_device_ = d;
      }
    }
    ImGui::BeginTooltip();
    mono_text(t, "%s", format_ms(tm).c_str());
    std::vector<std::pair<double, int>> vals;
    for (int d = 0; d < D; ++d) vals.emplace_back(memory_at(A.memory[d], tm), d);
    std::sort(vals.rbegin(), vals.rend());
    for (size_t i = 0; i < vals.size() && i < 8; ++i) {
      swatch(t.device_colour(vals[i].second, D), t.px(9));
      ImGui::SameLine();
      const int d = vals[i].second;
      ImGui::Text("GPU %d  %s%s", d, format_bytes(vals[i].first).c_str(),
                  d < static_cast<int>(A.memory_limit.size()) && vals[i].first > A.memory_limit[d] ? "  over the limit" : "");
    }
    if (vals.size() > 8) ImGui::TextDisabled("... %zu more", vals.size() - 8);
    if (with_b) {
      double bmax = 0;
      for (const auto& m : sides_[1].memory) bmax = std::max(bmax, memory_at(m, tm));
      ImGui::TextColored(ImColor(t.op[2]), "B max  %s", format_bytes(bmax).c_str());
    }
    ImGui::EndTooltip();
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
}

}  // namespace adaptis::gui
