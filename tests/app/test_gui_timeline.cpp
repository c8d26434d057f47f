// Window-free timeline logic of the GUI: lanes built from a simulation, transfers, the critical
// path, zoom/pan transforms, Tracy-style culling and folding, hit-testing and memory decimation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaptis/planner.h"
#include "gui/model/gantt_layout.h"
#include "gui/model/timeline_data.h"
#include "gui/model/timeline_view.h"

using namespace adaptis;
using namespace adaptis::gui;

namespace {

CostTable synthetic_costs(int layers) {
  CostTable t;
  t.model = "synthetic";
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.kind = i % 3 == 0 ? "attention" : "mlp";
    l.f_ms = 1.0 + (i % 3) * 0.5;
    l.b_ms = 2.0 * l.f_ms;
    l.state_bytes = 1e9;
    l.act_b_bytes = 1e8;
    l.out_bytes = 4e7;
    t.layers.push_back(l);
  }
  return t;
}

struct Built {
  Plan plan;
  SimResult sim;
  std::vector<StageCost> stages;
  Cluster cluster;
  SimOptions opt;
  TimelineData data;
};

Built build(const std::string& schedule, int devices, int mbs, int layers, double latency_ms, double bw) {
  Built b;
  CostTable costs = synthetic_costs(layers);
  b.cluster = make_uniform_cluster(devices);
  b.cluster.intra_node.latency_ms = latency_ms;
  b.cluster.intra_node.bandwidth = bw;
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = mbs;
  b.plan = build_plan(req, layers);
  b.stages = stage_costs(costs, b.plan.partition);
  b.sim = simulate_stages(b.plan, b.stages, b.cluster, b.opt);
  b.data = build_timeline(b.plan, b.sim, b.stages, b.cluster, b.opt);
  return b;
}

}  // namespace

TEST(GuiTimeline, LanesMirrorTheSimulation) {
  Built b = build("1f1b", 4, 8, 16, 0.2, 0);
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

TEST(GuiTimeline, TransfersPairSendsWithReceivesAndRespectLatency) {
  Built b = build("1f1b", 4, 8, 16, 0.25, 0);
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

TEST(GuiTimeline, NoTransferBoxesWithoutLatencyOrBandwidthCost) {
  Built b = build("1f1b", 4, 4, 8, 0.0, 0);
  for (const auto& dev : b.data.devices) {
    EXPECT_TRUE(dev.send.empty());
    EXPECT_TRUE(dev.recv.empty());
  }
}

TEST(GuiTimeline, CriticalPathIsAChainFromStartToIterationEnd) {
  for (std::string sched : {"1f1b", "gpipe"}) {
    Built b = build(sched, 4, 8, 16, 0.1, 0);
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

TEST(GuiTimeAxis, ZoomKeepsTheTimeUnderTheCursor) {
  TimeAxis ax{0, 1000, 100, 800};
  const float x = 300;
  const double t = ax.t_of(x);
  ax.zoom_at(x, 0.5);
  EXPECT_NEAR(ax.t_of(x), t, 1e-9);
  EXPECT_NEAR(ax.span(), 500, 1e-9);
  ax.zoom_at(x, 4);
  EXPECT_NEAR(ax.t_of(x), t, 1e-9);
  EXPECT_NEAR(ax.span(), 2000, 1e-9);
  EXPECT_NEAR(ax.x_of(ax.t_of(123.5f)), 123.5f, 1e-3);
}

TEST(GuiTimeAxis, PanMovesContentWithTheMouseAndClampKeepsDataInView) {
  TimeAxis ax{0, 1000, 0, 1000};
  ax.pan_px(100);  // drag right: earlier times come into view
  EXPECT_NEAR(ax.t0, -100, 1e-9);
  EXPECT_NEAR(ax.t1, 900, 1e-9);
  ax.pan_px(-5000);
  ax.clamp(0, 1000, 1e-3);
  EXPECT_LE(ax.t1, 1000 * 1.05 + 1e-9);
  EXPECT_NEAR(ax.span(), 1000, 1e-9);
  ax.zoom_at(500, 1e-12);
  ax.clamp(0, 1000, 1e-3);
  EXPECT_NEAR(ax.span(), 1e-3, 1e-9);
  ax.zoom_at(500, 1e9);
  ax.clamp(0, 1000, 1e-3);
  EXPECT_NEAR(ax.span(), 1100, 1e-6);
}

namespace {
Lane regular_lane(int n, double len, double gap) {
  Lane l;
  for (int i = 0; i < n; ++i) {
    TimelineBox b;
    b.start = i * (len + gap);
    b.end = b.start + len;
    b.kind = i % 2 ? BoxKind::B : BoxKind::F;
    b.mb = i;
    l.boxes.push_back(b);
  }
  l.finish();
  return l;
}
}  // namespace

TEST(GuiCulling, OnlyVisibleBoxesAreEmitted) {
  Lane l = regular_lane(1000, 1.0, 1.0);  // box i spans [2i, 2i+1]
  TimeAxis ax{100, 200, 0, 1000};           // 10 px per ms: nothing folds
  std::vector<DrawItem> items;
  cull_and_fold(l, ax, 3.0f, items);
  ASSERT_FALSE(items.empty());
  for (const auto& it : items) {
    EXPECT_EQ(it.count, 1u);
    EXPECT_GE(it.end, 100 - 1.0);
    EXPECT_LE(it.start, 200);
  }
  EXPECT_GE(items.size(), 50u);
  EXPECT_LE(items.size(), 53u);
}

TEST(GuiCulling, SubPixelBoxesFoldAndKeepTheirCount) {
  Lane l = regular_lane(100000, 1.0, 0.5);  // 100k actions
  TimeAxis ax{0, 150000, 0, 1000};            // 150 ms per px: every box is sub-pixel
  std::vector<DrawItem> items;
  cull_and_fold(l, ax, 3.0f, items);
  ASSERT_FALSE(items.empty());
  EXPECT_LE(items.size(), 400u);  // at most ~ one item per min_px column
  uint64_t covered = 0;
  for (const auto& it : items) {
    covered += it.count;
    EXPECT_TRUE(it.mixed || it.count == 1);
    EXPECT_GE(it.x1 - it.x0, 3.0f - 1e-3f);
  }
  EXPECT_EQ(covered, 100000u);
  // A folded block still knows what it is made of: half F, half B here.
  double f = 0, b = 0, busy = 0;
  for (const auto& it : items) {
    f += it.kind_ms[static_cast<int>(Op::F)];
    b += it.kind_ms[static_cast<int>(Op::B)];
    busy += it.busy_ms;
  }
  EXPECT_NEAR(f + b, busy, busy * 1e-5);
  EXPECT_NEAR(f, b, busy * 1e-4);
}

TEST(GuiCulling, WideBoxesInterruptAFold) {
  Lane l;
  for (int i = 0; i < 10; ++i) l.boxes.push_back({i * 0.1, i * 0.1 + 0.05, BoxKind::W});
  l.boxes.push_back({1.0, 50.0, BoxKind::F});
  for (int i = 0; i < 10; ++i) l.boxes.push_back({50.0 + i * 0.1, 50.05 + i * 0.1, BoxKind::W});
  l.finish();
  TimeAxis ax{0, 100, 0, 100};  // 1 ms per px
  std::vector<DrawItem> items;
  cull_and_fold(l, ax, 3.0f, items);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].count, 10u);
  EXPECT_FALSE(items[0].mixed);
  EXPECT_EQ(items[0].kind, BoxKind::W);
  EXPECT_EQ(items[1].count, 1u);
  EXPECT_EQ(items[1].kind, BoxKind::F);
  EXPECT_EQ(items[2].count, 10u);
  EXPECT_NEAR(items[0].busy_ms, 0.5, 1e-9);
}

TEST(GuiCulling, OverlappingBoxesAreFoundThroughPrefixMaxEnd) {
  Lane l;
  l.boxes.push_back({0, 100, BoxKind::Send});  // long send that overlaps the next ones
  l.boxes.push_back({10, 11, BoxKind::Send});
  l.boxes.push_back({20, 21, BoxKind::Send});
  l.finish();
  TimeAxis ax{50, 60, 0, 100};
  std::vector<DrawItem> items;
  cull_and_fold(l, ax, 1.0f, items);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].first, 0u);
}

TEST(GuiHitTest, FindsTheBoxUnderTheMouseAndTheNearestWithinSlack) {
  Lane l = regular_lane(10, 1.0, 1.0);
  TimeAxis ax{0, 20, 0, 200};  // 10 px per ms
  EXPECT_EQ(hit_test(l, ax, ax.x_of(4.5), 0), 2);
  EXPECT_EQ(hit_test(l, ax, ax.x_of(5.5), 0), -1);    // in the gap
  EXPECT_EQ(hit_test(l, ax, ax.x_of(5.05), 2), 2);    // 0.5 px right of box 2
  EXPECT_EQ(hit_test(l, ax, ax.x_of(5.9), 2), 3);     // 1 px left of box 3
  EXPECT_EQ(hit_test(l, ax, ax.x_of(100), 2), -1);
  Lane empty;
  EXPECT_EQ(hit_test(empty, ax, 10, 5), -1);
}

TEST(GuiHitTest, DropIndexFollowsBoxCentres) {
  Lane l = regular_lane(5, 1.0, 1.0);  // centres 0.5, 2.5, 4.5, ...
  EXPECT_EQ(drop_index(l, -1), 0);
  EXPECT_EQ(drop_index(l, 0.6), 1);
  EXPECT_EQ(drop_index(l, 2.4), 1);
  EXPECT_EQ(drop_index(l, 100), 5);
}

TEST(GuiMemory, DecimationBoundsPointsAndKeepsExtremes) {
  std::vector<MemorySample> s;
  for (int i = 0; i < 100000; ++i) s.push_back({i * 0.01, (i % 100 == 50) ? 1000.0 : 10.0 + i * 1e-4});
  TimeAxis ax{0, 1000, 0, 500};
  std::vector<ColumnRange> cols;
  decimate_steps(s, ax, cols);
  EXPECT_LE(cols.size(), 502u);
  EXPECT_GE(cols.size(), 490u);
  double hi = 0;
  for (const auto& c : cols) {
    EXPECT_LE(c.lo, c.hi);
    hi = std::max(hi, c.hi);
  }
  EXPECT_EQ(hi, 1000.0);  // the spikes survive decimation
  // Zoomed in: one column per pixel, values follow the steps.
  TimeAxis z{10, 10.05, 0, 50};
  cols.clear();
  decimate_steps(s, z, cols);
  ASSERT_FALSE(cols.empty());
  EXPECT_NEAR(cols.front().lo, 10.0 + 1000 * 1e-4, 1e-9);
}

TEST(GuiAxis, TickStepsAreRoundAndLabelsReadable) {
  TimeAxis ax{0, 1000, 0, 1000};
  double s = tick_step_ms(ax, 80);
  EXPECT_DOUBLE_EQ(s, 100);
  TimeAxis z{0, 0.01, 0, 1000};
  EXPECT_NEAR(tick_step_ms(z, 80), 0.001, 1e-15);
  EXPECT_EQ(format_tick(200, 100), "200 ms");
  EXPECT_EQ(format_tick(1500, 500), "1500 ms");  // the unit follows the step, so one axis has one unit
  EXPECT_EQ(format_tick(3000, 1000), "3 s");
  EXPECT_EQ(format_tick(0.25, 0.05), "250 us");
  EXPECT_EQ(format_ms(1058.1), "1058.1 ms");
}

TEST(GuiBusyProfile, FractionOfDevicesComputingPerSlice) {
  Built b = build("gpipe", 4, 8, 8, 0, 0);
  const std::vector<float> busy = busy_profile(b.data, 0, b.data.t_end, 100);
  ASSERT_EQ(busy.size(), 100u);
  // GPipe: only device 0 works at first (1 of 4), everyone in the middle of the forward phase.
  EXPECT_NEAR(busy.front(), 0.25f, 1e-6);
  EXPECT_NEAR(*std::max_element(busy.begin(), busy.end()), 1.0f, 1e-6);
  // The mean over slices is the busy fraction: 1 - bubble ratio.
  double mean = 0;
  for (float v : busy) mean += v;
  mean /= busy.size();
  EXPECT_NEAR(mean, 1.0 - b.sim.bubble_ratio, 1e-6);
  EXPECT_TRUE(busy_profile(b.data, 5, 5, 10).empty());
}

TEST(GuiGanttLayout, RowsStackTheirLanesAndHitTestingFindsThem) {
  GanttLayoutOptions o;
  o.compute_h = 20;
  o.measured_h = 6;
  o.transfer_h = 4;
  o.lane_gap = 1;
  o.row_pad = 2;
  o.measured = true;
  o.transfers = true;
  GanttLayout g = layout_rows(3, o);
  ASSERT_EQ(g.rows.size(), 3u);
  const float row_h = 2 + 20 + 1 + 6 + 1 + 4 + 1 + 4 + 2;
  EXPECT_FLOAT_EQ(g.height, 3 * row_h);
  EXPECT_EQ(g.rows[1].lanes.size(), 4u);
  EXPECT_FLOAT_EQ(g.rows[1].y0, row_h);
  EXPECT_EQ(g.row_at(row_h + 1), 1);
  EXPECT_EQ(g.row_at(-1), -1);
  EXPECT_EQ(g.row_at(3 * row_h), -1);
  const LaneSlot* c = g.lane_at(1, row_h + 2 + 10);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->kind, LaneKind::Compute);
  const LaneSlot* m = g.lane_at(1, row_h + 2 + 20 + 1 + 3);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->kind, LaneKind::Measured);
  EXPECT_EQ(g.lane_at(1, row_h + 2 + 20 + 0.5f), nullptr);  // between lanes
  const LaneSlot* r = g.slot(2, LaneKind::Recv);
  ASSERT_NE(r, nullptr);
  EXPECT_FLOAT_EQ(r->y1, 3 * row_h - 2);
  auto [first, last] = g.visible(row_h - 1, row_h + 1);
  EXPECT_EQ(first, 0);
  EXPECT_EQ(last, 2);
  o.measured = false;
  o.transfers = false;
  GanttLayout compact = layout_rows(2, o);
  EXPECT_EQ(compact.rows[0].lanes.size(), 1u);
  EXPECT_EQ(compact.slot(0, LaneKind::Send), nullptr);
}
