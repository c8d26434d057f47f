// The explorer core's timeline, without a window: lanes built from a simulation, transfers, the
// critical path and dependency edges; the search filter, keyboard navigation and the busy/idle
// breakdown of a range; the time window (zoom, pan, refit when the plan's extent changes); the
// measured range and Esc; the legend and the axis' time units.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "common/format.h"
#include "explorer/explorer.h"
#include "explorer/legend.h"
#include "explorer/timeline_data.h"
#include "explorer/timeline_query.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

using test_support::BuiltTimeline;
using test_support::synthetic_costs;

// The timeline tests' shorthand for test_support::build_timeline_case.
BuiltTimeline build(const std::string& schedule, int devices, int mbs, int layers, double latency_ms, double bw) {
  return test_support::build_timeline_case(schedule, devices, mbs, layers, latency_ms, bw);
}

}  // namespace

TEST(Timeline, LanesMirrorTheSimulation) {
  BuiltTimeline b = build("1f1b", 4, 8, 16, 0.2, 0);
  ASSERT_TRUE(b.sim.ok);
  ASSERT_EQ(b.data.devices.size(), 4u);
  EXPECT_DOUBLE_EQ(b.data.t_end, b.sim.iteration_ms);
  size_t total = 0;
  for (int d = 0; d < 4; ++d) {
    const Lane& c = b.data.devices[d].compute;
    ASSERT_EQ(c.size(), b.sim.timeline[d].size());
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_EQ(c.boxes[i].start, b.sim.timeline[d][c.boxes[i].ref].start);
      if (i) {
        EXPECT_GE(c.boxes[i].start, c.boxes[i - 1].start);
      }
    }
    total += c.size();
    // Gaps become idle boxes; idle + busy covers the iteration.
    double busy = 0, idle = 0;
    for (const auto& x : c.boxes) busy += x.end - x.start;
    for (const auto& x : b.data.devices[d].idle.boxes) idle += x.end - x.start;
    EXPECT_NEAR(busy + idle, b.sim.iteration_ms, 1e-6);
  }
  EXPECT_EQ(total, b.plan.num_actions());
  EXPECT_EQ(b.data.num_actions, total);
}

TEST(Timeline, TransfersPairSendsWithReceivesAndRespectLatency) {
  BuiltTimeline b = build("1f1b", 4, 8, 16, 0.25, 0);
  // 1F1B on 4 devices: every F of stages 0..2 and every BW of stages 1..3 crosses a device.
  size_t sends = 0, recvs = 0;
  for (const auto& dev : b.data.devices) {
    sends += dev.send.size();
    recvs += dev.recv.size();
    for (const auto& s : dev.send.boxes) {
      EXPECT_NEAR(s.end - s.start, 0.25, 1e-9);  // latency only (bandwidth 0 = infinite)
      EXPECT_GE(s.peer, 0);
    }
  }
  EXPECT_EQ(sends, static_cast<size_t>(3 * 8 * 2));
  EXPECT_EQ(recvs, sends);
  // A receive never ends after its consumer starts (the simulator waited for it).
  for (int d = 0; d < 4; ++d)
    for (const auto& r : b.data.devices[d].recv.boxes) {
      int cs = r.op == Op::F ? r.stage + 1 : r.stage - 1;
      Op cop = r.op == Op::F ? Op::F : Op::BW;
      bool found = false;
      for (const auto& c : b.data.devices[d].compute.boxes)
        if (c.op == cop && c.stage == cs && c.mb == r.mb) {
          EXPECT_LE(r.end, c.start + 1e-9);
          found = true;
        }
      EXPECT_TRUE(found);
    }
}

TEST(Timeline, NoTransferBoxesWithoutLatencyOrBandwidthCost) {
  BuiltTimeline b = build("1f1b", 4, 4, 8, 0.0, 0);
  for (const auto& dev : b.data.devices) {
    EXPECT_TRUE(dev.send.empty());
    EXPECT_TRUE(dev.recv.empty());
  }
}

TEST(Timeline, CriticalPathIsAChainFromStartToIterationEnd) {
  for (std::string sched : {"1f1b", "gpipe"}) {
    BuiltTimeline b = build(sched, 4, 8, 16, 0.1, 0);
    const auto& path = b.data.critical_path;
    ASSERT_FALSE(path.empty()) << sched;
    auto box = [&](const PathStep& p) { return b.data.devices[p.device].compute.boxes[p.index]; };
    EXPECT_NEAR(box(path.front()).start, 0.0, 1e-9) << sched;
    EXPECT_NEAR(box(path.back()).end, b.sim.iteration_ms, 1e-9) << sched;
    double on_path = 0;
    for (size_t k = 0; k < path.size(); ++k) {
      EXPECT_TRUE(box(path[k]).critical);
      on_path += box(path[k]).end - box(path[k]).start;
      if (k) {
        EXPECT_LE(box(path[k - 1]).end, box(path[k]).start + 1e-9) << sched << " step " << k;
      }
    }
    // The path's compute plus its waits (transfers) make up the iteration: compute alone can't exceed it.
    EXPECT_LE(on_path, b.sim.iteration_ms + 1e-9);
    EXPECT_GT(on_path, 0.5 * b.sim.iteration_ms) << sched;
  }
}

TEST(Timeline, ActionEdgesAreTheDependenciesThatExist) {
  BuiltTimeline b = build("1f1b", 4, 4, 8, 0.0, 0);
  // F of stage 1 needs F of stage 0 and feeds F of stage 2 and its own backward (fused: BW).
  const auto edges = action_edges(b.data, Op::F, 1, 2);
  int in = 0, out = 0;
  for (const ActionEdge& e : edges) {
    EXPECT_GE(e.where.device, 0);
    const TimelineBox& o = b.data.devices[e.where.device].compute.boxes[e.where.index];
    EXPECT_EQ(o.op, e.op);
    EXPECT_EQ(o.stage, e.stage);
    EXPECT_EQ(o.mb, 2);
    (e.incoming ? in : out)++;
  }
  EXPECT_EQ(in, 1);
  EXPECT_EQ(out, 2);
  EXPECT_TRUE(action_edges(b.data, Op::F, 0, 0).front().incoming == false);  // stage 0 needs nothing
}

TEST(TimelineFilter, ParsesFieldsAndOpsAndNamesWhatItCannotRead) {
  TimelineFilter f = parse_filter("mb 3 s2 B");
  EXPECT_EQ(f.mb, 3);
  EXPECT_EQ(f.stage, 2);
  EXPECT_EQ(f.op, static_cast<int>(Op::B));
  EXPECT_EQ(f.device, -1);
  f = parse_filter("stage=4, device: 1 op BW");
  EXPECT_EQ(f.stage, 4);
  EXPECT_EQ(f.device, 1);
  EXPECT_EQ(f.op, static_cast<int>(Op::BW));
  f = parse_filter("gpu 2 mb7 F");
  EXPECT_EQ(f.device, 2);
  EXPECT_EQ(f.mb, 7);
  EXPECT_FALSE(parse_filter("  ").active());
  EXPECT_EQ(describe(parse_filter("d1 W")), "W, device 1");
  for (const char* bad : {"mb", "mb x", "stage -1", "op Q", "colour red"}) {
    try {
      parse_filter(bad);
      ADD_FAILURE() << "expected an error for '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("search:"), std::string::npos) << e.what();
    }
  }
  // B and W find a fused backward too; BW only itself.
  TimelineBox bw;
  bw.op = Op::BW;
  EXPECT_TRUE(parse_filter("B").matches(bw, 0));
  EXPECT_TRUE(parse_filter("W").matches(bw, 0));
  TimelineBox b;
  b.op = Op::B;
  EXPECT_FALSE(parse_filter("BW").matches(b, 0));
}

TEST(TimelineNavigation, StepsAlongADeviceAcrossDevicesAndAlongDependencies) {
  BuiltTimeline b = build("1f1b", 4, 4, 8, 0.0, 0);
  Pick p = first_action_after(b.data, 0, 0);
  ASSERT_TRUE(p.valid());
  EXPECT_EQ(p.device, 0);
  Pick next = step_on_device(b.data, p, +1);
  ASSERT_TRUE(next.valid());
  EXPECT_EQ(next.index, p.index + 1);
  EXPECT_FALSE(step_on_device(b.data, p, -1).valid());  // nothing before the first action
  // F s0 mb0 -> its consumer F s1 mb0 on device 1 -> its producer is F s0 mb0 again.
  Pick c = consumer_of(b.data, p);
  ASSERT_TRUE(c.valid());
  const TimelineBox& cb = b.data.devices[c.device].compute.boxes[c.index];
  EXPECT_EQ(cb.op, Op::F);
  EXPECT_EQ(cb.stage, 1);
  EXPECT_EQ(producer_of(b.data, c), p);
  // The producer is the input that arrived last: for BW of stage 1 that is BW of stage 2, not F.
  const PathStep w = b.data.locate(Op::BW, 1, 0);
  const Pick prod = producer_of(b.data, pick_of(0, w));
  const TimelineBox& pb = b.data.devices[prod.device].compute.boxes[prod.index];
  EXPECT_EQ(pb.op, Op::BW);
  EXPECT_EQ(pb.stage, 2);
  // Up and down keep the time: the nearest action on the next device.
  Pick down = step_device(b.data, next, +1);
  ASSERT_TRUE(down.valid());
  EXPECT_EQ(down.device, 1);
  EXPECT_FALSE(step_device(b.data, p, -1).valid());
}

TEST(TimelineNavigation, NextMatchWalksMatchesInTimeOrderAndWraps) {
  BuiltTimeline b = build("1f1b", 4, 4, 8, 0.0, 0);
  const TimelineFilter f = parse_filter("mb 1");
  const size_t n = count_matches(b.data, f);
  EXPECT_EQ(n, 8u);  // F and BW of micro-batch 1 on 4 stages
  Pick p;
  double last = -1;
  for (size_t i = 0; i < n; ++i) {
    p = next_match(b.data, 0, f, p, +1);
    ASSERT_TRUE(p.valid());
    const TimelineBox& x = b.data.devices[p.device].compute.boxes[p.index];
    EXPECT_EQ(x.mb, 1);
    EXPECT_GE(x.start, last);
    last = x.start;
  }
  const Pick wrapped = next_match(b.data, 0, f, p, +1);
  EXPECT_EQ(wrapped, next_match(b.data, 0, f, Pick{}, +1));
  EXPECT_FALSE(next_match(b.data, 0, parse_filter("mb 99"), Pick{}, +1).valid());
}

TEST(RangeBreakdown, BusyAndIdleAddUpAndIdleKeepsItsCause) {
  BuiltTimeline b = build("gpipe", 4, 8, 8, 0.5, 0);
  const RangeBreakdown all = range_breakdown(b.data, &b.sim.gaps, 0, b.sim.iteration_ms);
  EXPECT_NEAR(all.utilisation(), 1.0 - b.sim.bubble_ratio, 1e-9);
  EXPECT_NEAR(all.busy_ms + all.idle_ms, 4 * b.sim.iteration_ms, 1e-6);
  EXPECT_NEAR(all.idle_by_cause[0] + all.idle_by_cause[1] + all.idle_by_cause[2], all.idle_ms, 1e-6);
  EXPECT_GT(all.idle_by_cause[1], 0);  // transfers are in flight at 0.5 ms latency
  // The first 10% of GPipe: device 0 works, the last device mostly waits.
  const RangeBreakdown head = range_breakdown(b.data, &b.sim.gaps, 0, 0.1 * b.sim.iteration_ms);
  EXPECT_GT(head.devices[0].busy_ms, head.devices[3].busy_ms);
  EXPECT_NEAR(head.devices[0].busy_ms + head.devices[0].idle_ms, head.span(), 1e-9);
  // Reversed bounds are the same range.
  EXPECT_NEAR(range_breakdown(b.data, nullptr, 0.1 * b.sim.iteration_ms, 0).busy_ms, head.busy_ms, 1e-9);
}

TEST(TimeWindow, ZoomKeepsTheTimeAtItsPlaceAndClampKeepsDataInView) {
  TimeWindow w{0, 1000};
  w.zoom_at(250, 0.5);
  EXPECT_NEAR(w.t0, 125, 1e-9);
  EXPECT_NEAR(w.span(), 500, 1e-9);
  w.pan(-5000);
  w.clamp(0, 1000, 1e-3);
  EXPECT_GE(w.t0, -50 - 1e-9);
  EXPECT_NEAR(w.span(), 500, 1e-9);
  w.zoom_at(500, 1e-12);
  w.clamp(0, 1000, 1e-3);
  EXPECT_NEAR(w.span(), 1e-3, 1e-9);
  w.zoom_at(500, 1e9);
  w.clamp(0, 1000, 1e-3);
  EXPECT_NEAR(w.span(), 1100, 1e-6);
}

namespace {

Explorer explorer_for(int devices = 4, int mbs = 8) {
  Explorer ex(app::Inputs{synthetic_costs(16), make_uniform_cluster(devices), SimOptions{}}, ExplorerConfig{});
  PlanRequest req;
  req.schedule = "1f1b";
  req.microbatches = mbs;
  EXPECT_TRUE(ex.start_with_request(req).applied);
  return ex;
}

}  // namespace

TEST(ExplorerView, TheWindowRefitsWhenThePlansExtentChanges) {
  Explorer ex = explorer_for();
  const double t = ex.editor().sim().iteration_ms;
  EXPECT_TRUE(ex.view().fitted);
  EXPECT_NEAR(ex.view().window.t1, t * (1 + kFitMargin), 1e-9);
  // More micro-batches: a longer iteration, and the whole of it is shown (no F needed).
  ex.set_microbatches(16);
  const double t16 = ex.editor().sim().iteration_ms;
  ASSERT_GT(t16, t);
  EXPECT_NEAR(ex.view().window.t1, t16 * (1 + kFitMargin), 1e-9);
  // Fewer devices changes the shape: refit even when zoomed in.
  ex.zoom(t16 / 2, 0.1);
  EXPECT_FALSE(ex.view().fitted);
  ex.set_devices(2);
  EXPECT_TRUE(ex.view().fitted);
  EXPECT_NEAR(ex.view().window.t1, ex.editor().sim().iteration_ms * (1 + kFitMargin), 1e-9);
  // A small edit while zoomed in keeps the zoom (the user is looking at something).
  ex.zoom(1.0, 0.2);
  const TimeWindow zoomed = ex.view().window;
  ASSERT_TRUE(ex.move_boundary(1, 9).applied || ex.move_boundary(1, 7).applied);
  EXPECT_FALSE(ex.view().fitted);
  EXPECT_NEAR(ex.view().window.span(), zoomed.span(), 1e-9);
}

TEST(ExplorerView, AMeasuredRangeEndsWithThePlanItMeasuredOrEsc) {
  Explorer ex = explorer_for();
  const double t = ex.editor().sim().iteration_ms;
  ex.measure(0.2 * t, 0.6 * t);
  ASSERT_TRUE(ex.measured_range());
  EXPECT_NEAR(ex.measured_range()->span(), 0.4 * t, 1e-9);
  EXPECT_GT(ex.measured_range()->utilisation(), 0);
  ex.set_microbatches(9);
  EXPECT_FALSE(ex.measured_range()) << "the band measured the previous plan";
  ex.measure(0, 0.5 * t);
  ASSERT_TRUE(ex.select_next_on_device(+1));
  ex.escape();  // the band first
  EXPECT_FALSE(ex.view().measuring);
  EXPECT_TRUE(ex.view().selected.valid());
  ex.escape();  // then the selection
  EXPECT_FALSE(ex.view().selected.valid());
}

TEST(ExplorerView, SelectionFollowsKeysAndTheWindowFollowsTheSelection) {
  Explorer ex = explorer_for();
  ex.zoom(0, 0.05);  // a narrow window at the start
  ASSERT_TRUE(ex.select_next_on_device(+1));
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(ex.select_next_on_device(+1)) << ex.message().text;
  const TimelineBox* b = ex.selected_box();
  ASSERT_NE(b, nullptr);
  EXPECT_GE(b->start, ex.view().window.t0);
  EXPECT_LE(b->end, ex.view().window.t1);
  ASSERT_TRUE(ex.select_consumer() || ex.select_producer());
  EXPECT_TRUE(ex.set_filter("mb 2 F"));
  ASSERT_NE(ex.selected_box(), nullptr);
  EXPECT_EQ(ex.selected_box()->mb, 2);
  EXPECT_EQ(ex.selected_box()->op, Op::F);
  EXPECT_FALSE(ex.set_filter("mb two"));
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(ex.view().filter.mb, 2);  // the old search stays
}

TEST(Legend, ExplainsWhatIsOnScreenOnly) {
  LegendContext c;
  auto has = [](const std::vector<LegendEntry>& l, LegendMark m) {
    return std::any_of(l.begin(), l.end(), [&](const LegendEntry& e) { return e.mark == m; });
  };
  auto plain = legend(c);
  EXPECT_TRUE(has(plain, LegendMark::Forward));
  EXPECT_TRUE(has(plain, LegendMark::BubbleTransfer));
  EXPECT_FALSE(has(plain, LegendMark::Send));
  EXPECT_FALSE(has(plain, LegendMark::Measured));
  c.transfers = c.measured = c.selection = c.filter = c.chunks = true;
  auto all = legend(c);
  for (LegendMark m : {LegendMark::Send, LegendMark::Recv, LegendMark::Measured, LegendMark::ArrowIn,
                       LegendMark::ArrowOut, LegendMark::FilterMatch, LegendMark::LaterChunk})
    EXPECT_TRUE(has(all, m));
  for (const auto& e : all) EXPECT_FALSE(e.description.empty());
}

TEST(TimeUnits, TicksAndTheCursorShareTheTicksUnit) {
  EXPECT_EQ(app::format_in_unit(200, app::axis_unit(100)), "200 ms");
  EXPECT_EQ(app::format_in_unit(1500, app::axis_unit(500)), "1500 ms");
  EXPECT_EQ(app::format_in_unit(3000, app::axis_unit(1000)), "3 s");
  EXPECT_EQ(app::format_in_unit(0.25, app::axis_unit(0.05)), "250 us");
  // A cursor between ticks: the ticks' unit with one more decimal.
  EXPECT_EQ(app::format_in_unit(1234.5, app::axis_unit(1000), 1), "1.2 s");
  EXPECT_EQ(app::format_in_unit(0.2531, app::axis_unit(0.05), 1), "253.1 us");
  EXPECT_DOUBLE_EQ(app::round_tick_step(0.7), 1);
  EXPECT_DOUBLE_EQ(app::round_tick_step(130), 200);
  EXPECT_EQ(app::format_ms(1058.1), "1058.1 ms");
}
