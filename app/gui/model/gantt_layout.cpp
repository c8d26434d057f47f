#include "gui/model/gantt_layout.h"

#include <algorithm>

namespace adaptis::gui {

GanttLayout layout_rows(int num_devices, const GanttLayoutOptions& opt) {
  GanttLayout g;
  g.rows.reserve(num_devices > 0 ? num_devices : 0);
  float y = 0;
  for (int d = 0; d < num_devices; ++d) {
    DeviceRow r;
    r.device = d;
    r.y0 = y;
    float ly = y + opt.row_pad;
    auto add = [&](LaneKind k, float h) {
      r.lanes.push_back({k, ly, ly + h});
      ly += h + opt.lane_gap;
    };
    add(LaneKind::Compute, opt.compute_h);
    // Collectives right under the compute they belong to.
    if (opt.tp) add(LaneKind::Tp, opt.collective_h);
    if (opt.dp) add(LaneKind::Dp, opt.collective_h);
    if (opt.measured) add(LaneKind::Measured, opt.measured_h);
    if (opt.transfers) {
      add(LaneKind::Send, opt.transfer_h);
      add(LaneKind::Recv, opt.transfer_h);
    }
    if (opt.host) add(LaneKind::Host, opt.host_h);
    ly -= opt.lane_gap;
    r.y1 = ly + opt.row_pad;
    y = r.y1;
    g.rows.push_back(std::move(r));
  }
  g.height = y;
  return g;
}

int GanttLayout::row_at(float y) const {
  auto it = std::upper_bound(rows.begin(), rows.end(), y, [](float v, const DeviceRow& r) { return v < r.y1; });
  if (it == rows.end() || y < it->y0) return -1;
  return static_cast<int>(it - rows.begin());
}

const LaneSlot* GanttLayout::lane_at(int row, float y) const {
  if (row < 0 || row >= static_cast<int>(rows.size())) return nullptr;
  for (const LaneSlot& s : rows[row].lanes)
    if (y >= s.y0 && y < s.y1) return &s;
  return nullptr;
}

std::pair<int, int> GanttLayout::visible(float y0, float y1) const {
  auto first = std::upper_bound(rows.begin(), rows.end(), y0, [](float v, const DeviceRow& r) { return v < r.y1; });
  auto last = std::lower_bound(first, rows.end(), y1, [](const DeviceRow& r, float v) { return r.y0 < v; });
  return {static_cast<int>(first - rows.begin()), static_cast<int>(last - rows.begin())};
}

const LaneSlot* GanttLayout::slot(int row, LaneKind kind) const {
  if (row < 0 || row >= static_cast<int>(rows.size())) return nullptr;
  for (const LaneSlot& s : rows[row].lanes)
    if (s.kind == kind) return &s;
  return nullptr;
}

}  // namespace adaptis::gui
