#pragma once
// What the explorers ask of a timeline, free of any window: the visible time range and how it
// zooms, pans and fits; a picked box; a search filter (micro-batch, stage, op, device); keyboard
// navigation (next/previous action on a device, the action's producer and consumer, the next
// match); and the busy/idle breakdown of a measured time range. The GUI and the TUI draw these.
#include <cstdint>
#include <string>
#include <vector>

#include "explorer/timeline_data.h"

namespace adaptis::explorer {

// The visible time range in ms.
struct TimeWindow {
  double t0 = 0, t1 = 1;

  double span() const { return t1 - t0; }
  // Scales the span by `factor` (< 1 zooms in) keeping time `at` where it is on screen.
  void zoom_at(double at, double factor);
  void pan(double dt);
  // Shows [a, b] with `margin_frac` of its length on each side.
  void fit(double a, double b, double margin_frac);
  // Keeps the span within [min_span, hi - lo + 10%] and the view overlapping [lo, hi].
  void clamp(double lo, double hi, double min_span);
};
constexpr double kFitMargin = 0.02;

// The lanes of a device row.
// Host: host-link copies; Dp / Tp: a whole-cluster plan's collectives (DeviceLanes::dp, ::tp).
enum class LaneKind : uint8_t { Compute, Measured, Send, Recv, Host, Dp, Tp };
const char* lane_kind_name(LaneKind k);

// A box on the timeline: side 0 is the plan (A), side 1 what it is compared with (B).
struct Pick {
  int side = -1;
  int device = -1;
  LaneKind lane = LaneKind::Compute;
  bool idle = false;  // a bubble in the compute lane
  int index = -1;     // box index in the lane
  bool valid() const { return side >= 0 && device >= 0 && index >= 0; }
  bool operator==(const Pick& o) const {
    return side == o.side && device == o.device && lane == o.lane && idle == o.idle && index == o.index;
  }
};
// The lane a pick points into (nullptr when out of range). `measured` is the side's measured lanes
// (nullptr when it has none).
const Lane* pick_lane(const TimelineData& data, const MeasuredLanes* measured, const Pick& p);
const TimelineBox* pick_box(const TimelineData& data, const MeasuredLanes* measured, const Pick& p);
// The compute box of an action as a pick.
Pick pick_of(int side, const PathStep& where);

// Which compute actions a search matches: every given field must hold (-1 = any). An op of B or W
// also matches a fused BW (it does both).
struct TimelineFilter {
  int mb = -1, stage = -1, device = -1;
  int op = -1;  // an Op, or -1
  bool active() const { return mb >= 0 || stage >= 0 || device >= 0 || op >= 0; }
  bool matches(const TimelineBox& b, int on_device) const;
};
// "mb 3", "mb=3 stage=2", "s2 B", "F", "d1", "gpu 1", "op W": words separated by spaces, each a
// field with its number (mb|m, stage|s, device|d|gpu, op) or an op (F, B, W, BW, R). "" = no filter.
// Throws InputError naming the word it cannot read.
TimelineFilter parse_filter(const std::string& text);
// "mb 3, stage 2" (or "everything").
std::string describe(const TimelineFilter& f);
// Matching compute actions on all devices.
size_t count_matches(const TimelineData& data, const TimelineFilter& f);

// Keyboard navigation over compute boxes. Each returns an invalid pick when there is nowhere to go.
// The next (dir > 0) or previous action on the pick's device.
Pick step_on_device(const TimelineData& data, const Pick& from, int dir);
// The nearest action on the device above (dir < 0) or below (dir > 0), at the pick's time.
Pick step_device(const TimelineData& data, const Pick& from, int dir);
// The input that arrived last (what the action waited for), and the earliest action that needs it.
Pick producer_of(const TimelineData& data, const Pick& from);
Pick consumer_of(const TimelineData& data, const Pick& from);
// The next (dir > 0) or previous matching action in time order over all devices, after `from`
// (from the start when `from` is not a compute pick). Wraps around.
Pick next_match(const TimelineData& data, int side, const TimelineFilter& f, const Pick& from, int dir);
// The first action starting at or after `t` on any device (for keyboard navigation without a pick).
Pick first_action_after(const TimelineData& data, int side, double t);

// Where the time of a range goes, per device and in total.
struct RangeDevice {
  double busy_ms = 0;
  double idle_ms = 0;
  double idle_by_cause[3] = {0, 0, 0};  // GapCause: dependency, transfer (and reload), drain
  int actions = 0;                      // compute actions overlapping the range
};
struct RangeBreakdown {
  double t0 = 0, t1 = 0;
  std::vector<RangeDevice> devices;
  double busy_ms = 0, idle_ms = 0;  // summed over devices
  double idle_by_cause[3] = {0, 0, 0};
  int actions = 0;
  double span() const { return t1 - t0; }
  double utilisation() const;  // busy / (devices * span)
};
// Compute boxes count as busy for the part inside [t0, t1]; the rest of each device's range is idle
// (split by the idle lane's causes where the side has them).
RangeBreakdown range_breakdown(const TimelineData& data, const std::vector<Gap>* gaps, double t0, double t1);

}  // namespace adaptis::explorer
