#pragma once
// What a click on the Gantt's rows means, free of any window. A folded block stands for many
// actions too small to draw: a click on it must not pick one of them at random, and a
// double-click zooms to it (what its tooltip promises); a box is selected by a click and zoomed to
// by a double-click; a click on empty space clears the selection.
#include "explorer/timeline_query.h"
#include "gui/model/timeline_view.h"

namespace adaptis::gui {

// A folded block under the mouse in this frame's drawing.
struct FoldUnderMouse {
  bool valid = false;
  int side = 0, device = 0;
  explorer::LaneKind lane = explorer::LaneKind::Compute;
  DrawItem item;
};

enum class ClickKind { None, Select, Deselect, Zoom };
struct ClickResult {
  ClickKind kind = ClickKind::None;
  explorer::Pick pick;    // Select
  double t0 = 0, t1 = 0;  // Zoom: the span to show
};

// `box` is the box the hit-test found under the mouse (`pick`), or null; `mouse_t` the time under
// the mouse and `view_span` the visible span. A fold wider than a quarter of the view (a long run of
// tiny actions) is not shown whole: the zoom goes 4x around the mouse, inside the fold, so repeated
// double-clicks drill down to the actions.
ClickResult resolve_click(const FoldUnderMouse& fold, const explorer::Pick& pick, const explorer::TimelineBox* box,
                          bool double_click, double mouse_t = 0, double view_span = 0);

}  // namespace adaptis::gui
