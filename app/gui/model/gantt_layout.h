#pragma once
// Vertical layout of the Gantt: one row per device, each row a stack of lanes (compute, then the
// measured overlay, then thin send and receive lanes). Pure geometry in pixels relative to the top
// of the row area, so drawing, hit-testing and tests agree on where every lane is.
#include <cstdint>
#include <utility>
#include <vector>

#include "explorer/timeline_query.h"

namespace adaptis::gui {

using explorer::LaneKind;
using explorer::lane_kind_name;

struct LaneSlot {
  LaneKind kind = LaneKind::Compute;
  float y0 = 0, y1 = 0;
};

struct DeviceRow {
  int device = 0;
  float y0 = 0, y1 = 0;  // the whole row, lanes plus padding
  std::vector<LaneSlot> lanes;
};

struct GanttLayoutOptions {
  float compute_h = 18;   // the F/B/W lane
  float measured_h = 7;   // a recorded run's actions, under the prediction
  float transfer_h = 5;   // send and receive lanes
  float host_h = 5;       // the host-link lane (offload / reload copies)
  float collective_h = 5; // the dp and tp collective lanes of a whole-cluster plan
  float lane_gap = 1;     // between lanes of one row
  float row_pad = 3;      // above and below a row's lanes
  bool measured = false;
  bool transfers = true;
  bool host = false;      // a host-link lane under each device (the plan offloads)
  bool dp = false;        // a data-parallel lane (gradient sync, ZeRO gathers, optimizer step)
  bool tp = false;        // a tensor/context/expert-parallel lane (blocking shares of F and B)
};

struct GanttLayout {
  std::vector<DeviceRow> rows;
  float height = 0;

  // The row whose span holds y, or -1.
  int row_at(float y) const;
  // The lane of `row` under y (nullptr between lanes or outside the row).
  const LaneSlot* lane_at(int row, float y) const;
  // Rows overlapping [y0, y1) as [first, last).
  std::pair<int, int> visible(float y0, float y1) const;
  // The slot of `kind` in `row`, or nullptr when the row has no such lane.
  const LaneSlot* slot(int row, LaneKind kind) const;
};

GanttLayout layout_rows(int num_devices, const GanttLayoutOptions& opt);

}  // namespace adaptis::gui
