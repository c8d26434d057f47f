#include "gui/model/gantt_input.h"

#include <algorithm>

namespace adaptis::gui {

ClickResult resolve_click(const FoldUnderMouse& fold, const explorer::Pick& pick, const explorer::TimelineBox* box,
                          bool double_click, double mouse_t, double view_span) {
  ClickResult r;
  if (fold.valid) {
    if (double_click) {
      r.kind = ClickKind::Zoom;
      r.t0 = fold.item.start;
      r.t1 = fold.item.end;
      if (view_span > 0 && r.t1 - r.t0 > view_span / 4) {
        const double half = view_span / 8;
        const double c = std::clamp(mouse_t, r.t0 + half, std::max(r.t0 + half, r.t1 - half));
        r.t0 = c - half;
        r.t1 = c + half;
      }
    }
    return r;  // a single click on a fold selects nothing hidden inside it
  }
  if (box && pick.valid()) {
    if (double_click) {
      r.kind = ClickKind::Zoom;
      r.t0 = box->start;
      r.t1 = box->end;
    } else {
      r.kind = ClickKind::Select;
      r.pick = pick;
    }
    return r;
  }
  if (!double_click) r.kind = ClickKind::Deselect;
  return r;
}

}  // namespace adaptis::gui
