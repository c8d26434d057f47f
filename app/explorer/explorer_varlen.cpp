// The explorer's variable-length view (varlen_view.h): the plan's units and the iteration's lengths.
#include "explorer/explorer.h"

namespace adaptis::explorer {

const VarlenView& Explorer::varlen() const {
  static const VarlenView kNone;
  if (!has_plan()) return kNone;
  if (!varlen_ || varlen_revision_ != editor_.revision()) {
    varlen_ = std::make_shared<const VarlenView>(
        varlen_view(editor_.plan(), editor_.sim(), editor_.costs(), config_.lengths));
    varlen_revision_ = editor_.revision();
  }
  return *varlen_;
}

std::string Explorer::selected_unit_text() const {
  const TimelineBox* b = selected_box();
  if (!b || view_.selected.idle) return "";  // a bubble is nobody's unit
  const Plan* plan = side(view_.selected.side).plan();
  if (!b || !plan || b->mb < 0) return "";
  return unit_text(*plan, b->mb);
}

}  // namespace adaptis::explorer
