// The explorer core: the timeline's window (fit, zoom, pan, refit when the plan's extent changes),
// the selection and keyboard navigation, the search and the measured range.
#include <algorithm>
#include <cmath>

#include "adaptis/model/error.h"
#include "common/format.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

using app::strf;

double Explorer::extent() const {
  double t = side(0).t_end();
  if (comparing()) t = std::max(t, side(1).t_end());
  return t > 0 ? t : 1.0;
}

void Explorer::fit_view() {
  view_.window.fit(0, extent(), kFitMargin);
  view_.fitted = true;
}

void Explorer::set_window(double t0, double t1) {
  if (!(t1 > t0)) return;
  const double e = extent();
  TimeWindow fit;
  fit.fit(0, e, kFitMargin);
  // Zooming out past the whole iteration shows the whole iteration.
  if (t1 - t0 >= fit.span() * (1 - 1e-9)) return fit_view();
  view_.window = {t0, t1};
  view_.window.clamp(0, e, std::max(1e-6, e * 1e-7));
  view_.fitted = false;
}

void Explorer::zoom(double at, double factor) {
  TimeWindow w = view_.window;
  w.zoom_at(at, factor);
  set_window(w.t0, w.t1);
}

void Explorer::pan(double dt) { set_window(view_.window.t0 + dt, view_.window.t1 + dt); }

// Called after anything that may change what the sides show: B follows the plan, picks into old
// lanes are dropped, a measured range of another plan goes, and the window refits when it showed
// the whole plan before or the plan's shape changed (devices, micro-batches, stages).
void Explorer::plan_changed() {
  const uint64_t rev = editor_.revision();
  const bool plan_rev_changed = rev != view_revision_;
  if (plan_rev_changed && compare_revision_ != rev) rebuild_compare();
  if (plan_rev_changed) {
    view_revision_ = rev;
    if (view_.selected.side == 0 ||
        (view_.selected.side == 1 && compare_.kind != CompareKind::Run))
      view_.selected = {};
    view_.measuring = false;
  }
  bool shape_changed = false;
  if (has_plan()) {
    const Plan& p = editor_.plan();
    shape_changed = p.num_devices() != view_devices_ || p.num_microbatches != view_microbatches_ ||
                    p.num_stages() != view_stages_;
    view_devices_ = p.num_devices();
    view_microbatches_ = p.num_microbatches;
    view_stages_ = p.num_stages();
  }
  refit_if_needed(view_extent_, shape_changed);
}

void Explorer::refit_if_needed(double old_extent, bool shape_changed) {
  const double e = extent();
  view_extent_ = e;
  if (view_.fitted || shape_changed || !(old_extent > 0)) fit_view();
  else view_.window.clamp(0, e, std::max(1e-6, e * 1e-7));
}

// ---------------------------------------------------------------------------------------------
// Selection and navigation

const TimelineBox* Explorer::box(const Pick& p) const {
  if (!p.valid() || p.side > 1) return nullptr;
  const Side s = side(p.side);
  if (s.empty()) return nullptr;
  // The side's data outlives this call: it is shared with the editor or the comparison.
  const TimelineData& data = p.side == 0 ? editor_.eval().timeline
                             : compare_.eval ? compare_.eval->timeline
                                             : compare_.run->predicted_timeline;
  const MeasuredLanes* m = p.side == 0 ? (overlay_ && overlay_->has_measurement() ? &overlay_->measured_lanes : nullptr)
                                       : (compare_.run && compare_.run->has_measurement() ? &compare_.run->measured_lanes
                                                                                          : nullptr);
  return pick_box(data, m, p);
}

const TimelineBox* Explorer::selected_box() const { return box(view_.selected); }

void Explorer::select(const Pick& p) { view_.selected = box(p) ? p : Pick{}; }

void Explorer::clear_selection() { view_.selected = {}; }

void Explorer::reveal_selection() {
  const TimelineBox* b = selected_box();
  if (!b) return;
  TimeWindow& w = view_.window;
  if (b->start >= w.t0 && b->end <= w.t1) return;
  const double span = std::max(w.span(), (b->end - b->start) * 1.2);
  const double c = (b->start + b->end) / 2;
  set_window(c - span / 2, c + span / 2);
}

namespace {

std::string pick_text(const TimelineBox& b, int device) {
  return strf("%s s%d mb%d on device %d at %s", op_name(b.op), b.stage, b.mb, device, app::format_ms(b.start).c_str());
}

}  // namespace

bool Explorer::go_to(const Pick& p, const char* nowhere, const std::string& what) {
  if (!p.valid()) {
    note(nowhere, true);
    return false;
  }
  view_.selected = p;
  reveal_selection();
  if (const TimelineBox* b = selected_box()) note(what + " " + pick_text(*b, p.device));
  return true;
}

bool Explorer::select_next_on_device(int dir) {
  const Pick& cur = view_.selected;
  const int s = cur.valid() ? cur.side : 0;
  const Side sd = side(s);
  if (sd.empty()) return false;
  Pick p = cur.valid() && cur.lane == LaneKind::Compute && !cur.idle
               ? step_on_device(sd.timeline(), cur, dir)
               : first_action_after(sd.timeline(), s, view_.window.t0);
  return go_to(p, dir > 0 ? "no later action on this device" : "no earlier action on this device", "selected");
}

bool Explorer::select_device(int dir) {
  const Pick& cur = view_.selected;
  if (!cur.valid()) return select_next_on_device(+1);
  return go_to(step_device(side(cur.side).timeline(), cur, dir), dir > 0 ? "no device below" : "no device above",
               "selected");
}

// Producer (the input that arrived last) or consumer (the earliest action that needs it).
bool Explorer::select_edge(bool producer) {
  const Pick& cur = view_.selected;
  const std::string what = producer ? "producer:" : "consumer:";
  if (!selected_box() || cur.lane != LaneKind::Compute || cur.idle) {
    note(std::string("select an action first (its ") + (producer ? "producer" : "consumer") + " is " +
             (producer ? "what it waited for)" : "what waits for it)"),
         true);
    return false;
  }
  const TimelineData& data = side(cur.side).timeline();
  return go_to(producer ? producer_of(data, cur) : consumer_of(data, cur),
               producer ? "this action needs no other action: it starts the pipeline" : "no action needs this one",
               what);
}

bool Explorer::select_producer() { return select_edge(true); }
bool Explorer::select_consumer() { return select_edge(false); }

bool Explorer::select_next_match(int dir) {
  if (!view_.filter.active()) {
    note("no search: Ctrl+F (GUI) or / (TUI) searches by micro-batch, stage, op or device", true);
    return false;
  }
  const int s = view_.selected.valid() ? view_.selected.side : 0;
  const TimelineData& data = side(s).timeline();
  Pick from = view_.selected;
  if (!from.valid()) {  // start from the window's left edge
    from = first_action_after(data, s, view_.window.t0);
    if (from.valid() && view_.filter.matches(*box(from), from.device)) {
      view_.selected = from;
      reveal_selection();
      return true;
    }
  }
  const std::string none = "search " + describe(view_.filter) + ": no match";
  return go_to(next_match(data, s, view_.filter, from, dir), none.c_str(), "match:");
}

bool Explorer::set_filter(const std::string& text) {
  TimelineFilter f;
  try {
    f = parse_filter(text);
  } catch (const InputError& e) {
    note(e.what(), true);
    return false;
  }
  view_.filter_text = text;
  view_.filter = f;
  if (!f.active()) {
    note("search cleared");
    return true;
  }
  const size_t n = has_plan() ? count_matches(editor_.eval().timeline, f) : 0;
  note(strf("search %s: %zu matching action%s", describe(f).c_str(), n, n == 1 ? "" : "s"), n == 0);
  if (n > 0) {
    view_.selected = {};
    select_next_match(+1);
    note(strf("search %s: %zu matching action%s (next/previous match: n/N)", describe(f).c_str(), n,
              n == 1 ? "" : "s"));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Measured range

void Explorer::measure(double t0, double t1) {
  view_.measuring = t1 != t0;
  view_.measure_t0 = std::min(t0, t1);
  view_.measure_t1 = std::max(t0, t1);
}

void Explorer::clear_measure() { view_.measuring = false; }

std::optional<RangeBreakdown> Explorer::measured_range(int s) const {
  if (!view_.measuring) return std::nullopt;
  const Side sd = side(s);
  if (sd.empty()) return std::nullopt;
  return range_breakdown(sd.timeline(), sd.gaps(), view_.measure_t0, view_.measure_t1);
}

void Explorer::escape() {
  if (view_.measuring) {
    view_.measuring = false;
    return;
  }
  if (view_.selected.valid()) {
    view_.selected = {};
    return;
  }
  if (view_.filter.active()) set_filter("");
}

}  // namespace adaptis::explorer
