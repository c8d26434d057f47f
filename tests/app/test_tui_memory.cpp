// The memory dimension in the TUI: the keys change recompute and offload through the core (undo
// restores), and the screens show R actions, the host-link row and the memory line.
#include <gtest/gtest.h>

#include <string>

#include "adaptis/planner/memory_policy.h"
#include "tui/gantt_cells.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui_test_support.h"

using namespace adaptis;
using namespace adaptis::tui;
using namespace adaptis::tui::test_support;

namespace {

size_t count_r(const Plan& p) {
  size_t n = 0;
  for (const auto& list : p.schedule)
    for (const Action& a : list) n += a.op == Op::R;
  return n;
}

double max_peak(const SimResult& r) {
  double m = 0;
  for (const auto& d : r.devices) m = std::max(m, d.peak_memory_bytes);
  return m;
}

}  // namespace

TEST(TuiMemory, KeysChangeRecomputeAndOffloadAndUndoRestores) {
  TuiState s = set_viewport(start(), 100, 30);
  const double base_ms = sim(s).iteration_ms, base_peak = max_peak(sim(s));
  s = press(std::move(s), "aa");  // none -> selective -> full on every stage
  ASSERT_FALSE(message_is_error(s)) << message(s);
  for (int st = 0; st < plan(s).num_stages(); ++st) EXPECT_EQ(stage_memory(plan(s), st).recompute, Recompute::Full);
  EXPECT_EQ(count_r(plan(s)), static_cast<size_t>(plan(s).num_stages() * plan(s).num_microbatches));
  // What the simulator says for the same plan.
  EXPECT_NEAR(sim(s).iteration_ms,
              simulate(plan(s), s.core.editor().costs(), s.core.editor().cluster(), s.core.editor().sim_options()).iteration_ms,
              1e-9);
  EXPECT_GT(sim(s).iteration_ms, base_ms);
  EXPECT_LT(max_peak(sim(s)), base_peak);
  // A, backwards, to selective; then one stage: t selects stage 1, z cycles its recompute.
  s = press(std::move(s), "A");
  EXPECT_EQ(stage_memory(plan(s), 0).recompute, Recompute::Selective);
  s = press(std::move(s), "tz");
  EXPECT_EQ(s.stage, 1);
  EXPECT_EQ(stage_memory(plan(s), 1).recompute, Recompute::Full);
  EXPECT_EQ(stage_memory(plan(s), 2).recompute, Recompute::Selective);
  // f offloads a quarter of every stage's kept bytes (the uniform cluster has host links).
  s = press(std::move(s), "f");
  ASSERT_FALSE(message_is_error(s)) << message(s);
  EXPECT_DOUBLE_EQ(stage_memory(plan(s), 3).offload_fraction, 0.25);
  EXPECT_FALSE(sim(s).host_transfers.empty());
  // Undo walks back one memory edit per key.
  s = press(std::move(s), "uuuuu");
  EXPECT_FALSE(has_memory_policy(plan(s)));
  EXPECT_EQ(count_r(plan(s)), 0u);
  EXPECT_DOUBLE_EQ(sim(s).iteration_ms, base_ms);
}

TEST(TuiMemory, AutoFitsTheCapAndTheScreensShowIt) {
  TuiState s = set_viewport(start(), 120, 40);
  // A cap just below the plan's peak: y picks the weakest recompute that fits.
  const double peak = max_peak(sim(s));
  for (int d = 0; d < plan(s).num_devices(); ++d) ASSERT_TRUE(s.core.set_memory_limit(d, peak * 0.97).applied);
  ASSERT_TRUE(sim(s).oom);
  Screen scr = render(press(s, "3"), 120, 40);
  EXPECT_TRUE(scr.contains("memory worst d")) << scr.text();
  EXPECT_TRUE(scr.contains("OOM")) << scr.text();
  s = press(std::move(s), "y");
  ASSERT_FALSE(message_is_error(s)) << message(s);
  EXPECT_FALSE(sim(s).oom);
  EXPECT_NE(message(s).find("the weakest that fits"), std::string::npos) << message(s);

  // Gantt: R cells, the host row after f, the legend and the memory line.
  s = press(std::move(s), "f3");
  scr = render(s, 120, 40);
  EXPECT_TRUE(scr.contains("recompute")) << scr.text();  // the legend's R entry
  EXPECT_TRUE(scr.contains("offload")) << scr.text();
  EXPECT_TRUE(scr.contains("memory worst d")) << scr.text();
  bool r_cell = false, host_cell = false;
  for (int y = 0; y < scr.height(); ++y) {
    const std::string row = scr.row(y);
    if (row.rfind("d", 0) == 0 && row.find('R') != std::string::npos) r_cell = true;
    if (row.size() > 4 && row[3] == 'h' && (row.find('>') != std::string::npos || row.find('<') != std::string::npos))
      host_cell = true;
  }
  EXPECT_TRUE(r_cell || scr.contains("R")) << scr.text();
  EXPECT_TRUE(host_cell) << scr.text();
  // Plan view: the memory column and line; Devices view: the recomputed part of the bar.
  scr = render(press(s, "2"), 120, 40);
  EXPECT_TRUE(scr.contains("memory")) << scr.text();
  EXPECT_TRUE(scr.contains("+off25%")) << scr.text();
  scr = render(press(s, "4"), 120, 40);
  EXPECT_TRUE(scr.contains("r recomputed")) << scr.text();
  EXPECT_TRUE(scr.contains("host")) << scr.text();
  // The help screen documents the keys.
  scr = render(press(s, "?"), 120, 40);
  EXPECT_TRUE(scr.contains("a/A recompute of every stage")) << scr.text();
  EXPECT_TRUE(scr.contains("z/Z its recompute")) << scr.text();
}

TEST(TuiMemory, HostRowCellsShowTheCopyCoveringMost) {
  explorer::Lane lane;
  explorer::TimelineBox off;
  off.start = 0;
  off.end = 1;
  off.kind = explorer::BoxKind::Offload;
  explorer::TimelineBox rel = off;
  rel.start = 2.2;
  rel.end = 4;
  rel.kind = explorer::BoxKind::Reload;
  lane.boxes = {off, rel};
  lane.finish();
  const std::vector<char> cells = host_row(lane, 0, 4, 4);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[0], '>');
  EXPECT_EQ(cells[1], 0);    // idle link
  EXPECT_EQ(cells[2], '<');  // 80% covered
  EXPECT_EQ(cells[3], '<');
  EXPECT_EQ(host_row(lane, 0, 4, 0).size(), 0u);
}
