// What the Gantt draws over its lanes: the critical path's hops between devices, the selected
// action's dependency arrows, hover and selection outlines, the measured range with where its time
// goes, the ghost of an action being dragged, and stage chips dropped onto a device row.
#include <imgui.h>
#include <imgui_internal.h>

#include <algorithm>
#include <cmath>

#include "gui/gantt/gantt_side.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void GanttView::draw_critical_links(UiContext& c, ImDrawList* dl, const SideCtx& s, float clip_y0, float clip_y1) {
  const TimelineData& data = *s.data;
  const GanttLayout& L = *s.layout;
  const ImU32 col = with_alpha(c.theme.critical, 0.85f);
  for (size_t i = 1; i < data.critical_path.size(); ++i) {
    const explorer::PathStep& a = data.critical_path[i - 1];
    const explorer::PathStep& b = data.critical_path[i];
    if (a.device == b.device) continue;
    if (a.device >= static_cast<int>(L.rows.size()) || b.device >= static_cast<int>(L.rows.size())) continue;
    const TimelineBox& ba = data.devices[a.device].compute.boxes[a.index];
    const TimelineBox& bb = data.devices[b.device].compute.boxes[b.index];
    const float xa = axis_.x_of(ba.end), xb = axis_.x_of(bb.start);
    if (std::max(xa, xb) < axis_.x0 || std::min(xa, xb) > axis_.x0 + axis_.width) continue;
    const LaneSlot* sa = L.slot(a.device, LaneKind::Compute);
    const LaneSlot* sb = L.slot(b.device, LaneKind::Compute);
    const float ya = s.top + (a.device < b.device ? sa->y1 : sa->y0);
    const float yb = s.top + (a.device < b.device ? sb->y0 : sb->y1);
    if (std::max(ya, yb) < clip_y0 || std::min(ya, yb) > clip_y1) continue;
    dl->AddLine(ImVec2(xa, ya), ImVec2(std::max(xb, xa), yb), col, c.theme.px(1.5f));
  }
}

void GanttView::draw_dependency_arrows(UiContext& c, ImDrawList* dl, const SideCtx& s) {
  const explorer::Pick& sel = c.core.view().selected;
  if (sel.lane != LaneKind::Compute || sel.idle) return;
  const TimelineBox* b = box(sel);
  if (!b) return;
  const TimelineData& data = *s.data;
  const GanttLayout& L = *s.layout;
  const Theme& t = c.theme;
  auto centre_y = [&](int device) {
    const LaneSlot* slot = L.slot(device, LaneKind::Compute);
    return slot ? s.top + (slot->y0 + slot->y1) * 0.5f : s.top;
  };
  auto arrow = [&](const explorer::PathStep& from, const explorer::PathStep& to, ImU32 col) {
    const TimelineBox& a = data.devices[from.device].compute.boxes[from.index];
    const TimelineBox& z = data.devices[to.device].compute.boxes[to.index];
    const ImVec2 p0(axis_.x_of(a.end), centre_y(from.device));
    const ImVec2 p1(axis_.x_of(z.start), centre_y(to.device));
    const float dx = std::max(t.px(20), std::fabs(p1.x - p0.x) * 0.4f);
    dl->AddBezierCubic(p0, ImVec2(p0.x + dx, p0.y), ImVec2(p1.x - dx, p1.y), p1, col, t.px(1.8f));
    dl->AddTriangleFilled(ImVec2(p1.x, p1.y), ImVec2(p1.x - t.px(7), p1.y - t.px(4)), ImVec2(p1.x - t.px(7), p1.y + t.px(4)),
                          col);
    dl->AddCircleFilled(p0, t.px(2.5f), col);
  };
  const explorer::PathStep me{sel.device, sel.index};
  for (const explorer::ActionEdge& e : explorer::action_edges(data, b->op, b->stage, b->mb)) {
    if (e.incoming) arrow(e.where, me, t.arrow_in);
    else arrow(me, e.where, t.arrow_out);
  }
}

void GanttView::draw_outlines(UiContext& c, ImDrawList* dl, const SideCtx& s) {
  auto outline = [&](const explorer::Pick& p, ImU32 col, float thick) {
    if (p.side != s.index) return;
    const TimelineBox* b = box(p);
    const LaneSlot* slot = s.layout->slot(p.device, p.lane);
    if (!b || !slot) return;
    const float bx0 = axis_.x_of(b->start), bx1 = std::max(axis_.x_of(b->end), bx0 + 2);
    dl->AddRect(ImVec2(bx0 - 1, s.top + slot->y0 - 1), ImVec2(bx1 + 1, s.top + slot->y1 + 1), col, c.theme.px(2), 0, thick);
  };
  if (!fold_hover_.valid) outline(hovered_, IM_COL32(255, 255, 255, 150), 1.0f);
  outline(c.core.view().selected, c.theme.selection, 2.0f);
}

void GanttView::draw_measure_band(UiContext& c, ImDrawList* dl, float clip_y0, float clip_y1) {
  const explorer::TimelineView& v = c.core.view();
  if (!v.measuring) return;
  const Theme& t = c.theme;
  const double a = v.measure_t0, b = v.measure_t1;
  const float xa = std::max(axis_.x0, axis_.x_of(a)), xb = std::min(axis_.x0 + axis_.width, axis_.x_of(b));
  if (xb <= xa) return;
  // The band spans the rows only (the side headers stay readable above it).
  dl->PushClipRect(ImVec2(axis_.x0, clip_y0), ImVec2(axis_.x0 + axis_.width, clip_y1), true);
  for (int s = 0; s < num_sides_; ++s) {
    const float y0 = std::max(clip_y0, side_top_[s]), y1 = std::min(clip_y1, side_top_[s] + layouts_[s].height);
    if (y1 <= y0) continue;
    dl->AddRectFilled(ImVec2(xa, y0), ImVec2(xb, y1), IM_COL32(120, 170, 255, 36));
    dl->AddLine(ImVec2(xa, y0), ImVec2(xa, y1), IM_COL32(120, 170, 255, 160));
    dl->AddLine(ImVec2(xb, y0), ImVec2(xb, y1), IM_COL32(120, 170, 255, 160));
  }
  // Its length and where the time goes on A (the Details tab has the per-device breakdown).
  std::string label = app::format_ms(b - a);
  if (const auto r = c.core.measured_range(0))
    label += strf("  ·  busy %.0f%%  ·  idle %s", 100 * r->utilisation(), app::format_ms(r->idle_ms).c_str());
  label += "  (Esc clears)";
  const ImVec2 ts = ImGui::CalcTextSize(label.c_str());
  const float lx = std::clamp((xa + xb - ts.x) * 0.5f, axis_.x0 + t.px(4), std::max(axis_.x0 + t.px(4), axis_.x0 + axis_.width - ts.x - t.px(4)));
  const float ly = std::max(clip_y0, side_top_[0]) + t.px(4);
  dl->AddRectFilled(ImVec2(lx - t.px(5), ly - t.px(2)), ImVec2(lx + ts.x + t.px(5), ly + ts.y + t.px(2)),
                    IM_COL32(50, 80, 130, 240), t.px(3));
  dl->AddText(ImVec2(lx, ly), t.text, label.c_str());
  dl->PopClipRect();
}

void GanttView::draw_drag_ghost(UiContext& c, ImDrawList* dl) {
  const TimelineBox* b = box(drag_);
  if (!b) return;
  const Theme& t = c.theme;
  const LaneSlot* slot = layouts_[0].slot(drag_.device, LaneKind::Compute);
  if (!slot) return;
  const float ly0 = side_top_[0] + slot->y0, ly1 = side_top_[0] + slot->y1;
  const float w = std::max(t.px(4), axis_.x_of(b->end) - axis_.x_of(b->start));
  const float gx = ImGui::GetIO().MousePos.x - drag_grab_dx_;
  const Lane& lane = sides_[0].timeline().devices[drag_.device].compute;
  const double centre = axis_.t_of(gx) + (b->end - b->start) / 2;
  const int idx = drop_index(lane, centre);
  const float mx = idx < static_cast<int>(lane.size()) ? axis_.x_of(lane.boxes[idx].start) : axis_.x_of(lane.boxes.back().end);
  dl->AddRectFilled(ImVec2(gx, ly0 - t.px(3)), ImVec2(gx + w, ly1 + t.px(3)),
                    with_alpha(t.box_colour(b->kind, chunk_of(0, drag_.device, b->stage)), 0.55f), t.px(2));
  dl->AddRect(ImVec2(gx, ly0 - t.px(3)), ImVec2(gx + w, ly1 + t.px(3)), t.selection, t.px(2), 0, 1.5f);
  dl->AddLine(ImVec2(mx, ly0 - t.px(6)), ImVec2(mx, ly1 + t.px(6)), t.warn, t.px(2.5f));
  dl->AddTriangleFilled(ImVec2(mx - t.px(5), ly0 - t.px(9)), ImVec2(mx + t.px(5), ly0 - t.px(9)), ImVec2(mx, ly0 - t.px(3)),
                        t.warn);
  ImGui::BeginTooltip();
  ImGui::Text("Move %s s%d mb%d on GPU %d", op_name(b->op), b->stage, b->mb, drag_.device);
  if (idx < static_cast<int>(lane.size()))
    ImGui::TextDisabled("before %s s%d mb%d (position %u)", op_name(lane.boxes[idx].op), lane.boxes[idx].stage,
                        lane.boxes[idx].mb, lane.boxes[idx].ref);
  else
    ImGui::TextDisabled("to the end of the device's list");
  ImGui::TextDisabled("release to re-validate and re-simulate; Esc cancels");
  ImGui::EndTooltip();
}

void GanttView::accept_stage_drops(UiContext& c, float x0, float x1, float clip_y0, float clip_y1) {
  // Stage chips dragged from the Plan panel drop onto a device row: move the stage there.
  const ImGuiPayload* payload = ImGui::GetDragDropPayload();
  if (!payload || !payload->IsDataType("ADAPTIS_STAGE")) return;
  auto [r0, r1] = layouts_[0].visible(clip_y0 - side_top_[0], clip_y1 - side_top_[0]);
  for (int r = r0; r < r1; ++r) {
    const DeviceRow& row = layouts_[0].rows[r];
    const ImRect rect(ImVec2(x0, side_top_[0] + row.y0), ImVec2(x1, side_top_[0] + row.y1));
    if (ImGui::BeginDragDropTargetCustom(rect, ImGui::GetID(strf("##drop_dev%d", r).c_str()))) {
      if (const ImGuiPayload* pl = ImGui::AcceptDragDropPayload("ADAPTIS_STAGE"))
        c.core.move_stage(*static_cast<const int*>(pl->Data), row.device);
      ImGui::EndDragDropTarget();
    }
  }
}

}  // namespace adaptis::gui
