#pragma once
// The memory pane under the Gantt: each device's memory over the visible time range (the maximum
// over devices, plus one device, when there are many), the memory limit, and the values under the
// mouse. Curves are decimated to one column per pixel and cached for the view they were made for.
#include <imgui.h>

#include <vector>

#include "explorer/explorer.h"
#include "gui/model/timeline_view.h"
#include "gui/ui_context.h"

namespace adaptis::gui {

class MemoryView {
 public:
  // `sides` as the Gantt draws them; `focus` the device to trace when there are many (-1 = the peak's).
  void draw(UiContext& c, TimeAxis& axis, const explorer::Side* sides, int num_sides, int focus, float width,
            float height);
  // True when the side has memory curves worth a pane (a cost file without sizes gives flat zeros).
  static bool has_memory(const explorer::Side& s);

 private:
  struct Cache {
    double t0 = 0, t1 = 0;
    float x0 = 0, width = 0;
    const void* key[2] = {nullptr, nullptr};
    std::vector<std::vector<ColumnRange>> cols[2];
  } cache_;
  int hovered_device_ = -1;
};

}  // namespace adaptis::gui
