#pragma once
// The timeline pane: overview strip, time ruler, the A and B rows (a compute lane per device with
// its bubbles, the measured lane of a recorded run, send and receive lanes), the critical path,
// the selection's dependency arrows, the measured range, dragging actions to reorder them, the
// search field and the memory pane under it. The view owns only view state (hover, drag, measure
// gesture, folds under the mouse, layouts, caches); what is selected, searched and measured, and
// the visible time range, belong to the explorer core, so the TUI shows the same.
//
// One draw function per lane kind (gantt_lanes.cpp); overlays (gantt_overlays.cpp), the header,
// overview and ruler (gantt_header.cpp), tooltips (gantt_tooltips.cpp) and the memory pane
// (memory_view.cpp) are split the same way.
#include <imgui.h>

#include <cstdint>
#include <string>
#include <vector>

#include "explorer/explorer.h"
#include "gui/gantt/memory_view.h"
#include "gui/model/gantt_input.h"
#include "gui/model/gantt_layout.h"
#include "gui/model/timeline_view.h"
#include "gui/ui_context.h"

namespace adaptis::gui {

class GanttView {
 public:
  // Draws the pane at the cursor, `width` x `height`, and applies what the user did in it.
  void draw(UiContext& c, float width, float height);

  // Last frame's geometry, for tests and the frame benchmark.
  const TimeAxis& axis() const { return axis_; }
  // Screen y of the middle of a device's compute lane on a side (-1 when not laid out).
  float row_y(int side, int device) const;
  // Screen x of the time area's left edge.
  float time_x0() const { return axis_.x0; }
  bool dragging() const { return dragging_action_; }

 private:
  struct SideCtx;  // one side's data and geometry for this frame (gantt_side.h)
  SideCtx make_side_ctx(UiContext& c, int side) const;

  // Header, overview, ruler, search (gantt_header.cpp).
  float draw_problem_banner(UiContext& c, ImVec2 origin, float width);
  float draw_compare_header(UiContext& c, ImVec2 origin, float width);
  void draw_search_bar(UiContext& c, ImVec2 p0, float width, float height);
  void draw_overview(UiContext& c, ImDrawList* dl, ImVec2 p0, ImVec2 p1);
  void draw_ruler(UiContext& c, ImDrawList* dl, ImVec2 p0, ImVec2 p1);
  void draw_cursor(UiContext& c, float top, float bottom);

  // Rows (gantt_view.cpp) and one function per lane kind (gantt_lanes.cpp).
  void draw_rows(UiContext& c, float width, float height);
  void draw_side(UiContext& c, ImDrawList* dl, const SideCtx& s, float clip_y0, float clip_y1);
  void draw_row_label(UiContext& c, ImDrawList* dl, const SideCtx& s, const DeviceRow& row);
  void draw_compute_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int device, float y0, float y1, bool mouse_row);
  void draw_idle_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int device, float y0, float y1);
  void draw_measured_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int device, float y0, float y1, bool mouse_row);
  void draw_transfer_lane(UiContext& c, ImDrawList* dl, const SideCtx& s, int device, LaneKind kind, float y0, float y1,
                          bool mouse_row);

  // Overlays (gantt_overlays.cpp).
  void draw_critical_links(UiContext& c, ImDrawList* dl, const SideCtx& s, float clip_y0, float clip_y1);
  void draw_dependency_arrows(UiContext& c, ImDrawList* dl, const SideCtx& s);
  void draw_outlines(UiContext& c, ImDrawList* dl, const SideCtx& s);
  void draw_measure_band(UiContext& c, ImDrawList* dl, float clip_y0, float clip_y1);
  void draw_drag_ghost(UiContext& c, ImDrawList* dl);
  void accept_stage_drops(UiContext& c, float x0, float x1, float clip_y0, float clip_y1);

  // Tooltips (gantt_tooltips.cpp).
  void box_tooltip(UiContext& c, const explorer::Pick& pick);
  void fold_tooltip(UiContext& c);

  // Mouse and wheel on the rows (gantt_view.cpp).
  void handle_input(UiContext& c);
  explorer::Pick pick_at(UiContext& c, ImVec2 mouse) const;
  const explorer::TimelineBox* box(const explorer::Pick& p) const;
  int chunk_of(int side, int device, int stage) const;
  void set_axis(UiContext& c);

  TimeAxis axis_;
  explorer::Side sides_[2];  // this frame's sides (shared data, cheap to copy)
  int num_sides_ = 1;
  GanttLayout layouts_[2];
  float side_top_[2] = {0, 0};   // screen y of each side's first row (this frame)
  float side_header_ = 0;
  float label_w_ = 0;
  float rows_y0_ = 0, rows_y1_ = 0;  // the rows' visible band (this frame)
  float ruler_y0_ = 0;
  std::vector<DrawItem> items_;  // scratch
  explorer::Pick hovered_;
  bool canvas_hovered_ = false;
  // Dragging an action to reorder it.
  explorer::Pick drag_;
  bool dragging_action_ = false;
  float drag_grab_dx_ = 0;
  // A left drag on empty space measures a time range (the core keeps the range).
  bool press_on_empty_ = false;
  double measure_anchor_ = 0;
  bool click_candidate_ = false;
  FoldUnderMouse fold_hover_, fold_hover_prev_;
  // The overview strip's utilisation per side, cached per simulation.
  const void* busy_key_[2] = {nullptr, nullptr};
  std::vector<float> busy_[2];
  std::string search_text_;
  MemoryView memory_;
  float memory_h_ = 0;
};

}  // namespace adaptis::gui
