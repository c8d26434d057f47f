// One draw function per lane kind of a device row: the label gutter, the compute lane (F/B/W/BW
// boxes, folded blocks, labels, critical marks, search matches), its bubbles, the measured lane of
// a recorded run, and the send, receive, host-link (offload / reload) and collective (dp, tp) lanes. Culling and folding come from gui/model.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "gui/gantt/gantt_side.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

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

ImU32 idle_colour(const Theme& t, GapCause cause) {
  // A reload from host is data in flight too.
  return cause == GapCause::Transfer || cause == GapCause::Reload ? t.idle_transfer
         : cause == GapCause::Drain                               ? t.idle_drain
                                                                  : t.idle_dependency;
}

}  // namespace

void GanttView::draw_row_label(UiContext& c, ImDrawList* dl, const SideCtx& s, const DeviceRow& row) {
  const Theme& t = c.theme;
  const int d = row.device;
  const int D = static_cast<int>(s.data->devices.size());
  const float lx = s.x0 - label_w_;
  const float y0 = s.top + row.y0, y1 = s.top + row.y1;
  const bool oom = s.stats && d < static_cast<int>(s.stats->size()) && (*s.stats)[d].oom;
  dl->AddRectFilled(ImVec2(lx, y0), ImVec2(lx + t.px(3), y1), oom ? t.bad : with_alpha(t.device_colour(d, D), 0.9f));
  // The label fits its row: a smaller font on thin rows (A and B together), never spilling over.
  ImFont* font = ImGui::GetFont();
  const float lane_h = row.lanes[0].y1 - row.lanes[0].y0;
  const float size = row_label_size(ImGui::GetFontSize(), row.y1 - row.y0, t.px(8));
  const float ty = s.top + row.lanes[0].y0 + std::max(0.0f, (lane_h - size) * 0.5f);
  const std::string name = strf("GPU %d", d);
  dl->PushClipRect(ImVec2(lx, y0), ImVec2(s.x0 - t.px(2), y1), true);
  dl->AddText(font, size, ImVec2(lx + t.px(10), ty), t.text, name.c_str());
  std::string sub;
  if (s.plan && d < s.plan->placement.num_devices()) {
    const auto& st = s.plan->placement.device_stages[d];
    sub = "s";
    for (size_t k = 0; k < st.size() && k < 4; ++k) {
      if (k) sub += ',';
      sub += std::to_string(st[k]);
    }
    if (st.size() > 4) sub += ",…";
  }
  if (s.stats && d < static_cast<int>(s.stats->size()) && s.side->summary.iteration_ms > 0)
    sub += strf(" %.0f%%", 100.0 * (*s.stats)[d].busy_ms / s.side->summary.iteration_ms);
  if (oom) sub = "OOM  " + sub;
  const float scale = size / ImGui::GetFontSize();
  const float name_w = ImGui::CalcTextSize(name.c_str()).x * scale;
  const float sub_w = ImGui::CalcTextSize(sub.c_str()).x * scale;
  if (lx + t.px(16) + name_w + sub_w < s.x0 - t.px(4))
    dl->AddText(font, size, ImVec2(s.x0 - t.px(6) - sub_w, ty), oom ? t.bad : t.text_dim, sub.c_str());
  dl->PopClipRect();
}

void GanttView::draw_idle_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int d, float ly0, float ly1) {
  const Theme& t = c.theme;
  const Lane& idle = s.data->devices[d].idle;
  if (idle.empty()) return;
  items_.clear();
  cull_and_fold(idle, axis_, kMinVisiblePx, items_);
  for (const DrawItem& it : items_) {
    const TimelineBox& b = idle.boxes[it.first];
    const ImU32 col = s.gaps && b.ref < s.gaps->size() ? idle_colour(t, (*s.gaps)[b.ref].cause) : t.idle_dependency;
    const ImVec2 a(it.x0, ly0), z(std::max(it.x1, it.x0 + 1), ly1);
    if (it.folded()) {
      // Many slivers of idle time: a faint wash as dense as the idle share.
      const double share = it.end > it.start ? it.busy_ms / (it.end - it.start) : 0;
      dl->AddRectFilled(a, z, with_alpha(col, static_cast<float>(0.08 + 0.3 * std::min(1.0, share))));
      continue;
    }
    dl->AddRectFilled(a, z, with_alpha(col, 0.13f));
    if (z.x - a.x > 6) hatch(dl, a, z, with_alpha(col, 0.30f), c.theme.px(7));
  }
}

void GanttView::draw_compute_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int d, float ly0, float ly1,
                                  bool mouse_row) {
  const Theme& t = c.theme;
  const Lane& lane = s.data->devices[d].compute;
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  items_.clear();
  cull_and_fold(lane, axis_, kMinVisiblePx, items_);
  const bool many_stages = s.plan && d < s.plan->placement.num_devices() && s.plan->placement.device_stages[d].size() > 1;
  // With a search, what does not match fades.
  const float dim = s.filter ? 0.22f : 1.0f;
  for (const DrawItem& it : items_) {
    const float bx0 = std::max(it.x0, s.x0 - 2), bx1 = std::min(it.x1, s.x1 + 2);
    if (it.folded()) {
      // Boxes too small to draw: one block, striped by the share of each op in it (so the warm-up
      // reads as F, the cool-down as B/W), as opaque as the block is busy.
      const float busy = it.end > it.start ? static_cast<float>(std::min(1.0, it.busy_ms / (it.end - it.start))) : 1.0f;
      const float alpha = (0.45f + 0.4f * busy) * dim;
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
        zigzag(dl, bx0 + 1, std::min(bx0 + t.px(24), bx1 - 1), (ly0 + ly1) * 0.5f, std::min(t.px(2.5f), (ly1 - ly0) * 0.2f),
               IM_COL32(255, 255, 255, 90));
      if (mouse_row && mouse.x >= it.x0 && mouse.x < it.x1) fold_hover_ = {true, s.index, d, LaneKind::Compute, it};
    } else {
      const TimelineBox& b = lane.boxes[it.first];
      const bool match = s.filter && s.filter->matches(b, d);
      ImU32 col = t.box_colour(b.kind, chunk_of(s.index, d, b.stage));
      if (s.filter && !match) col = with_alpha(col, dim);
      const float w = it.x1 - it.x0;
      // Rounded corners only where they show: an arc costs many vertices per box.
      const float round = w > t.px(24) ? t.px(2) : 0.0f;
      dl->AddRectFilled(ImVec2(bx0, ly0), ImVec2(std::max(bx1, bx0 + 1), ly1), col, round);
      if (w > 5) dl->AddRect(ImVec2(bx0, ly0), ImVec2(bx1, ly1), mix(col, IM_COL32(0, 0, 0, 255), 0.45f), round, 0, 1.0f);
      if (match) dl->AddRect(ImVec2(bx0 - 1, ly0 - 1), ImVec2(bx1 + 1, ly1 + 1), t.warn, round, 0, 1.5f);
      if (c.ui.toggles.labels && w > t.px(14) && ly1 - ly0 >= ImGui::GetTextLineHeight() - 1) {
        char long_text[48], short_text[16];
        if (many_stages) std::snprintf(long_text, sizeof long_text, "%s%d s%d", op_name(b.op), b.mb, b.stage);
        else std::snprintf(long_text, sizeof long_text, "%s%d", op_name(b.op), b.mb);
        std::snprintf(short_text, sizeof short_text, "%d", b.mb);
        if (const char* label = fitting_label(w, t.px(6), long_text, short_text)) {
          const ImVec2 ts = ImGui::CalcTextSize(label);
          const float lo = std::max(s.x0, it.x0) + t.px(3);
          const float tx = std::clamp((it.x0 + it.x1 - ts.x) * 0.5f, lo, std::max(lo, std::min(s.x1, it.x1) - ts.x - t.px(3)));
          dl->AddText(ImVec2(tx, (ly0 + ly1 - ts.y) * 0.5f), with_alpha(t.text_on_box, dim), label);
        }
      }
    }
    if (c.ui.toggles.critical && it.critical && !it.folded())
      dl->AddRectFilled(ImVec2(bx0, ly1 - t.px(2.5f)), ImVec2(std::max(bx1, bx0 + 1), ly1), t.critical);
  }
  // Search matches inside folded blocks would vanish: mark each with a tick above the lane.
  if (s.filter && !items_.empty()) {
    for (size_t i = lane.first_reaching(axis_.t0), n = lane.last_starting(axis_.t1); i < n; ++i) {
      const TimelineBox& b = lane.boxes[i];
      if (!s.filter->matches(b, d) || axis_.x_of(b.end) - axis_.x_of(b.start) >= kMinVisiblePx) continue;
      const float x = axis_.x_of((b.start + b.end) / 2);
      dl->AddTriangleFilled(ImVec2(x - t.px(3), ly0), ImVec2(x + t.px(3), ly0), ImVec2(x, ly0 + t.px(5)), t.warn);
    }
  }
}

void GanttView::draw_measured_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int d, float ly0, float ly1,
                                   bool mouse_row) {
  if (!s.measured || d >= static_cast<int>(s.measured->devices.size())) return;
  const Theme& t = c.theme;
  const Lane& lane = s.measured->devices[d];
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  items_.clear();
  cull_and_fold(lane, axis_, kMinVisiblePx, items_);
  for (const DrawItem& it : items_) {
    const TimelineBox& b = lane.boxes[it.first];
    const ImU32 col = it.folded() ? t.measured : mix(t.box_colour(box_kind_of(b.op), 0), t.measured, 0.45f);
    dl->AddRectFilled(ImVec2(it.x0, ly0), ImVec2(std::max(it.x1, it.x0 + 1), ly1), with_alpha(col, 0.85f), t.px(1));
    if (it.folded() && mouse_row && mouse.x >= it.x0 && mouse.x < it.x1)
      fold_hover_ = {true, s.index, d, LaneKind::Measured, it};
  }
}

void GanttView::draw_transfer_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int d, LaneKind kind, float ly0,
                                   float ly1, bool mouse_row) {
  const Theme& t = c.theme;
  const explorer::DeviceLanes& dev = s.data->devices[d];
  const Lane& lane = kind == LaneKind::Send ? dev.send
                     : kind == LaneKind::Recv ? dev.recv
                     : kind == LaneKind::Dp   ? dev.dp
                     : kind == LaneKind::Tp   ? dev.tp
                                              : dev.host;
  const ImU32 col = kind == LaneKind::Send ? t.send : t.recv;
  const ImVec2 mouse = ImGui::GetIO().MousePos;
  dl->AddRectFilled(ImVec2(s.x0, ly0), ImVec2(s.x1, ly1), IM_COL32(0, 0, 0, 40));
  items_.clear();
  cull_and_fold(lane, axis_, kMinVisiblePx, items_);
  for (const DrawItem& it : items_) {
    // The host lane carries both directions, the collective lanes several kinds: each box (and a
    // fold of one kind) in its kind's colour.
    const bool by_kind = kind == LaneKind::Host || kind == LaneKind::Dp || kind == LaneKind::Tp;
    const ImU32 box_col = by_kind && !it.mixed ? t.box_colour(it.kind, 0) : col;
    // A fold of one collective kind (many small buckets) is still that kind: drawn solid.
    const bool solid = !it.folded() || ((kind == LaneKind::Dp || kind == LaneKind::Tp) && !it.mixed);
    dl->AddRectFilled(ImVec2(it.x0, ly0), ImVec2(std::max(it.x1, it.x0 + 1), ly1),
                      solid ? box_col : with_alpha(box_col, 0.6f));
    if (it.folded() && mouse_row && mouse.x >= it.x0 && mouse.x < it.x1) fold_hover_ = {true, s.index, d, kind, it};
  }
}

}  // namespace adaptis::gui
