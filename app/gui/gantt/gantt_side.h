#pragma once
// One side of the Gantt (A or B) as the draw functions see it in a frame. Internal to gui/gantt.
#include <vector>

#include "gui/gantt/gantt_view.h"

namespace adaptis::gui {

struct GanttView::SideCtx {
  int index = 0;
  const explorer::Side* side = nullptr;
  const TimelineData* data = nullptr;
  const explorer::MeasuredLanes* measured = nullptr;  // null when the side has no measurement
  const Plan* plan = nullptr;
  const std::vector<Gap>* gaps = nullptr;             // null for a recorded run
  const std::vector<DeviceStats>* stats = nullptr;    // null for a recorded run
  const GanttLayout* layout = nullptr;
  float top = 0;        // screen y of the side's first row
  float x0 = 0, x1 = 0;  // the time area
  const explorer::TimelineFilter* filter = nullptr;  // an active search, or null
};

constexpr float kMinVisiblePx = 3.0f;  // Tracy's MinVisSize: narrower boxes fold together

}  // namespace adaptis::gui
