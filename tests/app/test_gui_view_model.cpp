// The desktop explorer's window-free view logic: the time axis in pixels, Tracy-style culling and
// folding, hit-testing, where a dragged action drops, memory decimation, the overview's busy
// profile, the rows' lanes, the model panel's layer axis, what a click on a folded block does,
// key taps that a frame must not lose, and the file dialogs' browser.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <filesystem>
#include <fstream>

#include "adaptis/planner.h"
#include "gui/model/file_browser.h"
#include "gui/model/gantt_input.h"
#include "gui/model/gantt_layout.h"
#include "gui/model/key_input.h"
#include "gui/model/layer_axis.h"
#include "gui/model/timeline_view.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::gui;
using explorer::test_support::BuiltTimeline;

namespace {


// The timeline tests' shorthand for explorer::test_support::build_timeline_case.
BuiltTimeline build(const std::string& schedule, int devices, int mbs, int layers, double latency_ms, double bw) {
  return explorer::test_support::build_timeline_case(schedule, devices, mbs, layers, latency_ms, bw);
}

}  // namespace

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

TEST(GuiAxis, TickStepsAreRound) {
  TimeAxis ax{0, 1000, 0, 1000};
  EXPECT_DOUBLE_EQ(tick_step_ms(ax, 80), 100);
  TimeAxis z{0, 0.01, 0, 1000};
  EXPECT_NEAR(tick_step_ms(z, 80), 0.001, 1e-15);
}

TEST(GuiAxis, TheLastTickLabelMovesLeftOfItsTickInsteadOfBeingCut) {
  // Right of the tick when it fits.
  EXPECT_FLOAT_EQ(tick_label_x(100, 40, 0, 500, -1e9f, 4), 104);
  // At the right edge: left of the tick, whole.
  const float x = tick_label_x(490, 40, 0, 500, -1e9f, 4);
  EXPECT_FLOAT_EQ(x, 446);
  EXPECT_LE(x + 40, 500);
  // Not over the previous label, nor left of the axis.
  EXPECT_TRUE(std::isnan(tick_label_x(490, 40, 0, 500, 450, 4)));
  EXPECT_TRUE(std::isnan(tick_label_x(10, 40, 20, 30, -1e9f, 4)));
}

TEST(GuiRows, LabelsShrinkToThinRowsButStayReadable) {
  EXPECT_FLOAT_EQ(row_label_size(15, 30, 8), 15);  // room enough
  EXPECT_FLOAT_EQ(row_label_size(15, 12, 8), 11);  // a thin A/B row
  EXPECT_FLOAT_EQ(row_label_size(15, 5, 8), 8);    // never unreadable
}

TEST(GuiBusyProfile, FractionOfDevicesComputingPerSlice) {
  BuiltTimeline b = build("gpipe", 4, 8, 8, 0, 0);
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
  EXPECT_EQ(compact.slot(0, LaneKind::Host), nullptr);
  // A plan that offloads: a host-link lane under the compute lane of every row.
  o.host = true;
  o.host_h = 5;
  GanttLayout host = layout_rows(2, o);
  const LaneSlot* h = host.slot(1, LaneKind::Host);
  ASSERT_NE(h, nullptr);
  EXPECT_FLOAT_EQ(h->y1 - h->y0, 5);
  EXPECT_FLOAT_EQ(host.height, 2 * (2 + 20 + 1 + 5 + 2));
  EXPECT_EQ(host.lane_at(1, h->y0 + 1), h);
  // A whole-cluster plan: its tp then dp collective lanes right under the compute lane.
  o.tp = true;
  o.dp = true;
  o.collective_h = 4;
  GanttLayout cl = layout_rows(2, o);
  ASSERT_EQ(cl.rows[1].lanes.size(), 4u);
  EXPECT_EQ(cl.rows[1].lanes[0].kind, LaneKind::Compute);
  EXPECT_EQ(cl.rows[1].lanes[1].kind, LaneKind::Tp);
  EXPECT_EQ(cl.rows[1].lanes[2].kind, LaneKind::Dp);
  EXPECT_EQ(cl.rows[1].lanes[3].kind, LaneKind::Host);
  const LaneSlot* dp = cl.slot(1, LaneKind::Dp);
  ASSERT_NE(dp, nullptr);
  EXPECT_FLOAT_EQ(dp->y1 - dp->y0, 4);
  EXPECT_EQ(cl.lane_at(1, dp->y0 + 1), dp);
  EXPECT_FLOAT_EQ(cl.height, 2 * (2 + 20 + 1 + 4 + 1 + 4 + 1 + 5 + 2));
}

namespace {
// Seven light layers and a heavy last one (4x): what the layer axis scales to.
using explorer::test_support::heavy_last_layer_costs;
}  // namespace

TEST(GuiLayerAxis, MapsLayersToPixelsAndSnapsBoundariesBetweenNeighbours) {
  LayerAxis ax;
  ax.x0 = 100;
  ax.width = 320;
  ax.layers = 16;  // 20 px per layer
  EXPECT_FLOAT_EQ(ax.x_of(4), 180);
  EXPECT_EQ(ax.layer_at(185), 4);
  EXPECT_EQ(ax.layer_at(-50), 0);
  EXPECT_EQ(ax.layer_at(1e6f), 15);
  EXPECT_EQ(ax.snap_boundary(189, 1, 15), 4);  // nearest edge
  EXPECT_EQ(ax.snap_boundary(191, 1, 15), 5);
  EXPECT_EQ(ax.snap_boundary(0, 3, 7), 3);     // never past the previous boundary
  EXPECT_EQ(ax.snap_boundary(1e6f, 3, 7), 7);  // nor the next
}

TEST(GuiLayerAxis, ScaleAndHeterogeneityFollowTheCosts) {
  CostTable c = heavy_last_layer_costs(8);  // seven layers of 3 ms and one of 12 ms (F+B)
  const LayerScale s = layer_scale(c);
  EXPECT_DOUBLE_EQ(s.time_ms, 12.0);
  EXPECT_DOUBLE_EQ(s.memory_bytes, 1.2e9);
  EXPECT_NEAR(heterogeneity(c), 12.0 / ((7 * 3.0 + 12.0) / 8), 1e-12);
  for (auto& l : c.layers) l.f_ms = l.b_ms = 1;
  EXPECT_DOUBLE_EQ(heterogeneity(c), 1.0);
}


TEST(GuiClicks, AFoldedBlockZoomsOnDoubleClickAndSelectsNothingHidden) {
  FoldUnderMouse fold;
  fold.valid = true;
  fold.item.start = 10;
  fold.item.end = 20;
  fold.item.count = 40;
  explorer::Pick hidden;  // the hit-test found a box inside the fold
  hidden.side = 0;
  hidden.device = 1;
  hidden.index = 7;
  TimelineBox b;
  b.start = 12;
  b.end = 12.1;
  EXPECT_EQ(resolve_click(fold, hidden, &b, false).kind, ClickKind::None);
  const ClickResult dbl = resolve_click(fold, hidden, &b, true);
  EXPECT_EQ(dbl.kind, ClickKind::Zoom);
  EXPECT_DOUBLE_EQ(dbl.t0, 10);
  EXPECT_DOUBLE_EQ(dbl.t1, 20);
  // Without a fold: a click selects the box, a double-click zooms to it, empty space deselects.
  const FoldUnderMouse none;
  const ClickResult sel = resolve_click(none, hidden, &b, false);
  EXPECT_EQ(sel.kind, ClickKind::Select);
  EXPECT_EQ(sel.pick, hidden);
  EXPECT_EQ(resolve_click(none, hidden, &b, true).kind, ClickKind::Zoom);
  EXPECT_EQ(resolve_click(none, explorer::Pick{}, nullptr, false).kind, ClickKind::Deselect);
  // A fold covering most of the view (a long run of tiny actions): 4x around the mouse, inside it.
  fold.item.start = 0;
  fold.item.end = 900;
  const ClickResult drill = resolve_click(fold, hidden, &b, true, 450, 1000);
  EXPECT_EQ(drill.kind, ClickKind::Zoom);
  EXPECT_NEAR(drill.t1 - drill.t0, 250, 1e-9);
  EXPECT_LE(drill.t0, 450);
  EXPECT_GE(drill.t1, 450);
  const ClickResult edge = resolve_click(fold, hidden, &b, true, 5, 1000);
  EXPECT_GE(edge.t0, 0);  // kept inside the fold
}

TEST(GuiKeys, ATapInsideOneFrameIsNotLost) {
  // Ctrl+Z pressed and released between two frames: the callback queued the press.
  KeyTaps taps;
  taps.push({'Z', true, false, false, false});
  taps.push({'F', false, false, false, false});
  const auto s = shortcuts(taps.take(), false);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], Shortcut::Undo);
  EXPECT_EQ(s[1], Shortcut::Fit);
  EXPECT_TRUE(taps.take().empty());  // taken once
  // Ctrl+Shift+Z redoes; auto-repeat repeats navigation but not undo; a text field keeps the keys.
  EXPECT_EQ(shortcuts({{'Z', true, true, false, false}}, false), std::vector<Shortcut>{Shortcut::Redo});
  EXPECT_TRUE(shortcuts({{'Z', true, false, false, true}}, false).empty());
  EXPECT_EQ(shortcuts({{keycode::Right, false, false, false, true}}, false), std::vector<Shortcut>{Shortcut::NextAction});
  EXPECT_TRUE(shortcuts({{'F', false, false, false, false}}, true).empty());
  EXPECT_EQ(shortcuts({{keycode::Escape, false, false, false, false}}, true), std::vector<Shortcut>{Shortcut::Escape});
  EXPECT_EQ(shortcuts({{'F', true, false, false, false}}, false), std::vector<Shortcut>{Shortcut::Search});
  EXPECT_EQ(shortcuts({{'N', false, true, false, false}}, false), std::vector<Shortcut>{Shortcut::PreviousMatch});
}

TEST(GuiFileBrowser, ListsFoldersFirstFiltersFilesAndWalksUp) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("adaptis-browser-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "plans");
  fs::create_directories(root / ".hidden");
  std::ofstream(root / "b.json") << "{}";
  std::ofstream(root / "a.csv") << "x";
  std::ofstream(root / "notes.txt") << "x";
  const DirListing l = list_directory(root.string(), {".json", ".csv"});
  EXPECT_TRUE(l.error.empty()) << l.error;
  ASSERT_EQ(l.entries.size(), 4u);
  EXPECT_EQ(l.entries[0].name, "..");
  EXPECT_EQ(l.entries[1].name, "plans");
  EXPECT_TRUE(l.entries[1].is_dir);
  EXPECT_EQ(l.entries[2].name, "a.csv");
  EXPECT_EQ(l.entries[3].name, "b.json");
  EXPECT_EQ(l.entries[3].size, 2u);
  EXPECT_EQ(entry_path(l, l.entries[0]), root.parent_path().string());
  EXPECT_EQ(entry_path(l, l.entries[1]), (root / "plans").string());
  EXPECT_EQ(browse_dir_of((root / "b.json").string(), "/"), root.string());
  EXPECT_EQ(browse_dir_of("plans", root.string()), (root / "plans").string());
  const DirListing missing = list_directory((root / "nope").string(), {});
  EXPECT_FALSE(missing.error.empty());
  EXPECT_NE(missing.error.find("nope"), std::string::npos);
  fs::remove_all(root);
}
