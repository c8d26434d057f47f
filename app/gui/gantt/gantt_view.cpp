// The timeline pane's frame: layout of header, overview, ruler, rows and memory pane; the rows'
// geometry per side; mouse input (wheel zoom, pan, click to select, drag to reorder or measure).
#include "gui/gantt/gantt_view.h"

#include <imgui_internal.h>

#include <algorithm>
#include <cmath>

#include "gui/gantt/gantt_side.h"
#include "gui/widgets.h"

namespace adaptis::gui {

float GanttView::row_y(int side, int device) const {
  if (side < 0 || side > 1 || device < 0 || device >= static_cast<int>(layouts_[side].rows.size())) return -1;
  const LaneSlot* s = layouts_[side].slot(device, LaneKind::Compute);
  return s ? side_top_[side] + (s->y0 + s->y1) * 0.5f : -1;
}

const explorer::TimelineBox* GanttView::box(const explorer::Pick& p) const {
  if (!p.valid() || p.side >= num_sides_) return nullptr;
  const explorer::Side& s = sides_[p.side];
  if (s.empty()) return nullptr;
  return explorer::pick_box(s.timeline(), s.measured(), p);
}

int GanttView::chunk_of(int side, int device, int stage) const {
  const Plan* plan = sides_[side].plan();
  if (!plan || device < 0 || device >= plan->placement.num_devices()) return 0;
  const auto& st = plan->placement.device_stages[device];
  for (size_t k = 0; k < st.size(); ++k)
    if (st[k] == stage) return static_cast<int>(k);
  return 0;
}

void GanttView::set_axis(UiContext& c) {
  c.core.set_window(axis_.t0, axis_.t1);
  axis_.t0 = c.core.view().window.t0;
  axis_.t1 = c.core.view().window.t1;
}

void GanttView::draw(UiContext& c, float width, float height) {
  const Theme& t = c.theme;
  sides_[0] = c.core.side(0);
  num_sides_ = c.core.comparing() ? 2 : 1;
  sides_[1] = num_sides_ == 2 ? c.core.side(1) : explorer::Side{};
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  float y = origin.y;
  label_w_ = t.px(150);
  if (memory_h_ <= 0) memory_h_ = t.px(120);

  y += draw_problem_banner(c, ImVec2(origin.x, y), width);
  y += draw_compare_header(c, ImVec2(origin.x, y), width);
  const float search_h = ImGui::GetFrameHeight() + t.px(6);
  draw_search_bar(c, ImVec2(origin.x, y), width, search_h);
  y += search_h;

  const float scrollbar = ImGui::GetStyle().ScrollbarSize;
  axis_ = TimeAxis::of(c.core.view().window, origin.x + label_w_, std::max(10.0f, width - label_w_ - scrollbar));
  if (c.ui.toggles.overview) {
    const float oh = t.px(26);
    draw_overview(c, dl, ImVec2(origin.x, y), ImVec2(origin.x + width, y + oh));
    y += oh;
  }
  const float rh = t.px(22);
  ruler_y0_ = y;
  draw_ruler(c, dl, ImVec2(origin.x, y), ImVec2(origin.x + width, y + rh));
  y += rh;

  const bool show_memory = c.ui.toggles.memory && MemoryView::has_memory(sides_[0]);
  const float split = t.px(5);
  const float rows_h = std::max(t.px(40), origin.y + height - y - (show_memory ? memory_h_ + split : 0));
  ImGui::SetCursorScreenPos(ImVec2(origin.x, y));
  draw_rows(c, width, rows_h);
  if (show_memory) {
    ImGui::SetCursorScreenPos(ImVec2(origin.x, y + rows_h));
    splitter("##split_memory", false, split, width, &memory_h_, t.px(50), height * 0.6f, true);
    const explorer::Pick& sel = c.core.view().selected;
    memory_.draw(c, axis_, sides_, num_sides_, sel.side == 0 ? sel.device : -1, width, memory_h_);
  }
  draw_cursor(c, ruler_y0_, origin.y + height);
}

// ---------------------------------------------------------------------------------------------
// Rows

void GanttView::draw_rows(UiContext& c, float width, float height) {
  const Theme& t = c.theme;
  const int sides = num_sides_;
  side_header_ = sides == 2 ? ImGui::GetTextLineHeight() + t.px(8) : 0;
  const float side_gap = sides == 2 ? t.px(6) : 0;

  // Lane heights: fill the height when there are few devices, stay compact with many. Per side: a
  // measured lane when the side has a run's measurements, send/recv lanes when it has transfers.
  auto has_transfers = [](const explorer::Side& s) {
    for (const auto& d : s.timeline().devices)
      if (!d.send.empty() || !d.recv.empty()) return true;
    return false;
  };
  auto has_host_copies = [](const explorer::Side& s) {
    for (const auto& d : s.timeline().devices)
      if (!d.host.empty()) return true;
    return false;
  };
  auto has_lane = [](const explorer::Side& s, explorer::Lane explorer::DeviceLanes::*lane) {
    for (const auto& d : s.timeline().devices)
      if (!(d.*lane).empty()) return true;
    return false;
  };
  GanttLayoutOptions lo;
  lo.transfers = c.ui.toggles.transfers && has_transfers(sides_[0]);
  lo.host = has_host_copies(sides_[0]);
  lo.dp = has_lane(sides_[0], &explorer::DeviceLanes::dp);
  lo.tp = has_lane(sides_[0], &explorer::DeviceLanes::tp);
  lo.collective_h = t.px(5);
  lo.host_h = t.px(4);
  lo.measured = c.ui.toggles.measured && sides_[0].measured();
  lo.measured_h = t.px(8);
  lo.transfer_h = t.px(4);
  lo.lane_gap = t.px(1);
  lo.row_pad = t.px(2);
  int total_devices = 0;
  for (int s = 0; s < sides; ++s) total_devices += static_cast<int>(sides_[s].timeline().devices.size());
  const float extra = (lo.measured ? lo.measured_h + lo.lane_gap : 0) +
                      (lo.transfers ? 2 * (lo.transfer_h + lo.lane_gap) : 0) + (lo.host ? lo.host_h + lo.lane_gap : 0) +
                      (lo.dp ? lo.collective_h + lo.lane_gap : 0) + (lo.tp ? lo.collective_h + lo.lane_gap : 0) +
                      2 * lo.row_pad;
  const float avail = height - sides * side_header_ - side_gap;
  lo.compute_h = total_devices > 0 ? std::clamp(avail / total_devices - extra, t.px(11), t.px(40)) : t.px(18);
  GanttLayoutOptions lo_side[2] = {lo, lo};
  if (sides == 2) {
    lo_side[1].transfers = c.ui.toggles.transfers && has_transfers(sides_[1]);
    lo_side[1].measured = c.ui.toggles.measured && sides_[1].measured();
    lo_side[1].host = has_host_copies(sides_[1]);
    lo_side[1].dp = has_lane(sides_[1], &explorer::DeviceLanes::dp);
    lo_side[1].tp = has_lane(sides_[1], &explorer::DeviceLanes::tp);
  }
  for (int s = 0; s < sides; ++s)
    layouts_[s] = layout_rows(static_cast<int>(sides_[s].timeline().devices.size()), lo_side[s]);

  ImGui::PushStyleColor(ImGuiCol_ChildBg, t.background);
  ImGui::BeginChild("##rows", ImVec2(width, height), false, ImGuiWindowFlags_NoScrollWithMouse);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 wpos = ImGui::GetWindowPos();
  const float view_w = ImGui::GetWindowWidth();
  const float content_top = wpos.y - ImGui::GetScrollY();
  side_top_[0] = content_top + side_header_;
  side_top_[1] = side_top_[0] + layouts_[0].height + side_gap + side_header_;
  const float total_h = sides == 2 ? side_top_[1] - content_top + layouts_[1].height : layouts_[0].height;
  rows_y0_ = wpos.y;
  rows_y1_ = wpos.y + height;

  ImGui::SetCursorScreenPos(wpos);
  ImGui::InvisibleButton("##canvas", ImVec2(std::max(1.0f, view_w), height),
                         ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight |
                             ImGuiButtonFlags_MouseButtonMiddle);
  canvas_hovered_ = ImGui::IsItemHovered();
  handle_input(c);
  // An edit in handle_input changed the data: take this frame's sides again and lay them out.
  sides_[0] = c.core.side(0);
  if (sides == 2) sides_[1] = c.core.side(1);
  for (int s = 0; s < sides; ++s)
    if (layouts_[s].rows.size() != sides_[s].timeline().devices.size())
      layouts_[s] = layout_rows(static_cast<int>(sides_[s].timeline().devices.size()), lo_side[s]);
  ImGui::SetCursorPos(ImVec2(0, std::max(total_h, 1.0f)));
  ImGui::Dummy(ImVec2(1, 1));

  fold_hover_prev_ = fold_hover_;
  fold_hover_ = {};
  for (int s = 0; s < sides; ++s) {
    if (sides == 2) {
      // The side's header: which plan (or run) the rows below are, kept clear of the measure band.
      const float hy = side_top_[s] - side_header_;
      if (hy + side_header_ > rows_y0_ && hy < rows_y1_) {
        dl->AddRectFilled(ImVec2(wpos.x, hy), ImVec2(wpos.x + view_w, hy + side_header_), IM_COL32(40, 43, 52, 255));
        dl->AddRectFilled(ImVec2(wpos.x, hy), ImVec2(wpos.x + t.px(3), hy + side_header_), s == 0 ? t.op[0] : t.op[2]);
        const explorer::PlanSummary& su = sides_[s].summary;
        const std::string text =
            strf("%s   %s", s == 0 ? "A" : "B", sides_[s].label.c_str()) +
            (su.iteration_ms > 0 && !sides_[s].is_run
                 ? strf("   ·   %s   ·   bubble %.1f%%", app::format_ms(su.iteration_ms).c_str(), su.bubble_ratio * 100)
                 : std::string());
        dl->PushClipRect(ImVec2(wpos.x, hy), ImVec2(wpos.x + view_w, hy + side_header_), true);
        dl->AddText(ImVec2(wpos.x + t.px(10), hy + t.px(4)), t.text, text.c_str());
        dl->PopClipRect();
      }
    }
    const SideCtx ctx = make_side_ctx(c, s);
    draw_side(c, dl, ctx, rows_y0_, rows_y1_);
  }
  accept_stage_drops(c, wpos.x, wpos.x + view_w, rows_y0_, rows_y1_);
  draw_measure_band(c, dl, rows_y0_, rows_y1_);
  if (dragging_action_) draw_drag_ghost(c, dl);
  // Tooltip of what is under the mouse (a folded block wins over a box the hit-test found in it).
  if (!dragging_action_ && canvas_hovered_) {
    if (fold_hover_.valid) fold_tooltip(c);
    else if (hovered_.valid()) box_tooltip(c, hovered_);
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
}

GanttView::SideCtx GanttView::make_side_ctx(UiContext& c, int s) const {
  SideCtx x;
  x.index = s;
  x.side = &sides_[s];
  x.data = &sides_[s].timeline();
  x.measured = sides_[s].measured();
  x.plan = sides_[s].plan();
  x.gaps = sides_[s].gaps();
  x.stats = sides_[s].eval ? &sides_[s].eval->sim.devices : nullptr;
  x.layout = &layouts_[s];
  x.top = side_top_[s];
  x.x0 = axis_.x0;
  x.x1 = axis_.x0 + axis_.width;
  x.filter = c.core.view().filter.active() ? &c.core.view().filter : nullptr;
  return x;
}

void GanttView::draw_side(UiContext& c, ImDrawList* dl, const SideCtx& s, float clip_y0, float clip_y1) {
  const Theme& t = c.theme;
  const GanttLayout& L = *s.layout;
  auto [r0, r1] = L.visible(clip_y0 - s.top, clip_y1 - s.top);
  r1 = std::min(r1, static_cast<int>(s.data->devices.size()));
  const float lx = s.x0 - label_w_;
  const ImVec2 mouse = ImGui::GetIO().MousePos;

  // Vertical grid lines at the ruler's major ticks.
  const double step = tick_step_ms(axis_, t.px(90));
  // Backgrounds first, then labels over them: a row shorter than the text must not hide the
  // label of the row above (rows are thin when A and B share the pane).
  for (int r = r0; r < r1; ++r) {
    const DeviceRow& row = L.rows[r];
    const float y0 = s.top + row.y0, y1 = s.top + row.y1;
    dl->AddRectFilled(ImVec2(lx, y0), ImVec2(s.x1, y1), r % 2 ? t.lane_background_alt : t.lane_background);
    dl->AddLine(ImVec2(lx, y1 - 0.5f), ImVec2(s.x1, y1 - 0.5f), IM_COL32(0, 0, 0, 90));
    for (double tt = std::ceil(axis_.t0 / step) * step; tt <= axis_.t1; tt += step) {
      const float x = std::floor(axis_.x_of(tt)) + 0.5f;
      dl->AddLine(ImVec2(x, y0), ImVec2(x, y1), t.grid);
    }
  }
  for (int r = r0; r < r1; ++r) draw_row_label(c, dl, s, L.rows[r]);

  for (int r = r0; r < r1; ++r) {
    const DeviceRow& row = L.rows[r];
    const int d = row.device;
    const float y0 = s.top + row.y0, y1 = s.top + row.y1;
    dl->PushClipRect(ImVec2(s.x0, y0), ImVec2(s.x1, y1), true);
    for (const LaneSlot& slot : row.lanes) {
      const float ly0 = s.top + slot.y0, ly1 = s.top + slot.y1;
      const bool mouse_row = canvas_hovered_ && mouse.y >= ly0 && mouse.y < ly1;
      switch (slot.kind) {
        case LaneKind::Compute:
          if (c.ui.toggles.bubbles) draw_idle_lane(c, dl, s, d, ly0, ly1);
          draw_compute_lane(c, dl, s, d, ly0, ly1, mouse_row);
          break;
        case LaneKind::Measured: draw_measured_lane(c, dl, s, d, ly0, ly1, mouse_row); break;
        case LaneKind::Send:
        case LaneKind::Recv:
        case LaneKind::Host:
        case LaneKind::Dp:
        case LaneKind::Tp: draw_transfer_lane(c, dl, s, d, slot.kind, ly0, ly1, mouse_row); break;
      }
    }
    dl->PopClipRect();
  }

  // Critical path hops between devices, then the selection's dependencies, then outlines.
  dl->PushClipRect(ImVec2(s.x0, clip_y0), ImVec2(s.x1, clip_y1), true);
  if (c.ui.toggles.critical) draw_critical_links(c, dl, s, clip_y0, clip_y1);
  if (c.core.view().selected.side == s.index) draw_dependency_arrows(c, dl, s);
  draw_outlines(c, dl, s);
  dl->PopClipRect();
}

// ---------------------------------------------------------------------------------------------
// Input

explorer::Pick GanttView::pick_at(UiContext& c, ImVec2 m) const {
  explorer::Pick none;
  if (m.x < axis_.x0 || m.x >= axis_.x0 + axis_.width) return none;
  for (int s = 0; s < num_sides_; ++s) {
    const GanttLayout& L = layouts_[s];
    const float top = side_top_[s];
    const int row = L.row_at(m.y - top);
    const TimelineData& data = sides_[s].timeline();
    if (row < 0 || row >= static_cast<int>(data.devices.size())) continue;
    const LaneSlot* slot = L.lane_at(row, m.y - top);
    if (!slot) continue;
    const explorer::DeviceLanes& dev = data.devices[row];
    explorer::Pick p;
    p.side = s;
    p.device = row;
    p.lane = slot->kind;
    const float slack = c.theme.px(2);
    switch (slot->kind) {
      case LaneKind::Compute:
        p.index = hit_test(dev.compute, axis_, m.x, slack);
        if (p.index < 0 && c.ui.toggles.bubbles) {
          p.index = hit_test(dev.idle, axis_, m.x, 0);
          p.idle = p.index >= 0;
        }
        break;
      case LaneKind::Measured:
        if (const explorer::MeasuredLanes* ml = sides_[s].measured(); ml && row < static_cast<int>(ml->devices.size()))
          p.index = hit_test(ml->devices[row], axis_, m.x, slack);
        break;
      case LaneKind::Send: p.index = hit_test(dev.send, axis_, m.x, slack); break;
      case LaneKind::Recv: p.index = hit_test(dev.recv, axis_, m.x, slack); break;
      case LaneKind::Host: p.index = hit_test(dev.host, axis_, m.x, slack); break;
      case LaneKind::Dp: p.index = hit_test(dev.dp, axis_, m.x, slack); break;
      case LaneKind::Tp: p.index = hit_test(dev.tp, axis_, m.x, slack); break;
    }
    if (p.index >= 0) return p;
  }
  return none;
}

void GanttView::handle_input(UiContext& c) {
  ImGuiIO& io = ImGui::GetIO();
  const ImVec2 m = io.MousePos;
  const bool hovered = ImGui::IsItemHovered();
  const bool locked = c.core.editing_locked();
  hovered_ = hovered && !dragging_action_ ? pick_at(c, m) : explorer::Pick{};
  const TimeAxis before = axis_;

  if (hovered && io.MouseWheel != 0) {
    if (io.KeyCtrl) ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseWheel * c.theme.px(60));
    else if (io.KeyShift) axis_.pan_px(io.MouseWheel * axis_.width * 0.1f);
    else axis_.zoom_at(m.x, std::pow(0.8, static_cast<double>(io.MouseWheel)));
  }
  if (hovered && io.MouseWheelH != 0) axis_.pan_px(io.MouseWheelH * axis_.width * 0.1f);
  // Right or middle drag pans (time and rows).
  if (ImGui::IsItemActive() &&
      (ImGui::IsMouseDragging(ImGuiMouseButton_Right, 1) || ImGui::IsMouseDragging(ImGuiMouseButton_Middle, 1))) {
    axis_.pan_px(io.MouseDelta.x);
    ImGui::SetScrollY(ImGui::GetScrollY() - io.MouseDelta.y);
  }

  if (ImGui::IsItemActivated() && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    click_candidate_ = true;
    drag_ = {};
    press_on_empty_ = false;
    const explorer::Pick p = pick_at(c, m);
    // A folded block is not an action to drag: a drag from it measures instead.
    if (p.valid() && p.side == 0 && p.lane == LaneKind::Compute && !p.idle && !locked && !fold_hover_prev_.valid) {
      drag_ = p;
      drag_grab_dx_ = m.x - axis_.x_of(box(p)->start);
    } else {
      press_on_empty_ = true;
      measure_anchor_ = axis_.t_of(m.x);
    }
  }
  if (ImGui::IsItemActive() && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 4)) {
    click_candidate_ = false;
    if (drag_.valid()) dragging_action_ = true;
    else if (press_on_empty_) c.core.measure(measure_anchor_, axis_.t_of(m.x));
  }
  if (ImGui::IsItemDeactivated() && ImGui::IsMouseReleased(ImGuiMouseButton_Left)) {
    if (dragging_action_) {
      dragging_action_ = false;
      if (const explorer::TimelineBox* b = box(drag_)) {
        const Lane& lane = sides_[0].timeline().devices[drag_.device].compute;
        const double centre = axis_.t_of(m.x - drag_grab_dx_) + (b->end - b->start) / 2;
        const int idx = drop_index(lane, centre);
        const int n = static_cast<int>(c.core.editor().plan().schedule[drag_.device].size());
        const int to = idx >= static_cast<int>(lane.size()) ? n : static_cast<int>(lane.boxes[idx].ref);
        c.core.move_action(drag_.device, static_cast<int>(b->ref), to);
      }
      drag_ = {};
    } else if (click_candidate_) {
      const explorer::Pick p = pick_at(c, m);
      const ClickResult r = resolve_click(fold_hover_prev_, p, box(p), false);
      if (r.kind == ClickKind::Select) {
        c.core.select(r.pick);
        c.ui.bottom_tab_request = BottomTab::Details;
      } else if (r.kind == ClickKind::Deselect) {
        c.core.clear_selection();
      }
    }
    click_candidate_ = false;
  }
  if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) {
    const ClickResult r = resolve_click(fold_hover_prev_, hovered_, box(hovered_), true, axis_.t_of(m.x), axis_.span());
    if (r.kind == ClickKind::Zoom && r.t1 > r.t0) {
      const double pad = (r.t1 - r.t0) * 0.05;
      axis_.t0 = r.t0 - pad;
      axis_.t1 = r.t1 + pad;
    }
  }
  if (axis_.t0 != before.t0 || axis_.t1 != before.t1) set_axis(c);
}

}  // namespace adaptis::gui
