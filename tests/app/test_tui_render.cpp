// The TUI's screen model without a terminal: key scripts, the screen's clipping, Gantt cells, and
// what render() draws at 80x24 and other sizes, in colour and without.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adaptis/model/error.h"
#include "explorer/run_records.h"
#include "tui/gantt_cells.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui_test_support.h"

using namespace adaptis;
using namespace adaptis::tui;
using namespace adaptis::tui::test_support;

// ---- keys and the screen model ----

TEST(TuiKeys, ParsesScriptsWithNamedKeys) {
  EXPECT_EQ(key::parse_script("3+<left><enter><lt>q"),
            (std::vector<int>{'3', '+', key::Left, key::Enter, '<', 'q'}));
  EXPECT_EQ(key::parse_script("<"), (std::vector<int>{'<'}));
  EXPECT_EQ(key::parse_script("<>"), (std::vector<int>{'<', '>'}));
  EXPECT_EQ(key::name(key::PageDown), "<pgdn>");
  EXPECT_EQ(key::name('s'), "s");
  try {
    key::parse_script("ab<bogus>", "--keys");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--keys: unknown key <bogus>"), std::string::npos) << e.what();
  }
}

TEST(TuiScreen, ClipsAndReplacesControlCharacters) {
  Screen scr(10, 3);
  EXPECT_EQ(scr.put(7, 1, "abcdef", Style::Bad), 10);
  EXPECT_EQ(scr.row(1), "       abc");
  EXPECT_EQ(scr.at(8, 1).style, Style::Bad);
  scr.put(-2, 0, "xy\tz");  // control characters show as their escape, as the CLI prints them
  EXPECT_EQ(scr.row(0), "\\x09z");
  scr.put(0, 5, "off screen");  // ignored
  EXPECT_TRUE(scr.contains("abc"));
  EXPECT_FALSE(scr.contains("off"));
}

TEST(TuiScreen, NamesCannotDriveTheTerminal) {
  Screen scr(40, 2);
  scr.put(0, 0, "plan\x1b]0;owned\x07\x1b[2J");
  EXPECT_EQ(scr.row(0), "plan\\x1b]0;owned\\x07\\x1b[2J");
  scr.put(0, 1, "Gr\xc3\xb6\xc3\x9f" "e\x9b");  // the screen holds ASCII: other bytes are '?'
  EXPECT_EQ(scr.row(1), "Gr????e?");
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 40; ++x) {
      const unsigned char c = static_cast<unsigned char>(scr.at(x, y).ch);
      EXPECT_TRUE(c >= 0x20 && c < 0x7f) << x << "," << y;
    }
}

TEST(TuiGanttCells, CellsShowTheActionCoveringMost) {
  std::vector<TimedAction> tl = {{{Op::F, 0, 0, false}, 0, 0.0, 1.0}, {{Op::B, 0, 1, false}, 0, 1.0, 1.4},
                                 {{Op::W, 0, 1, false}, 0, 3.0, 4.0}};
  auto cells = gantt_row(tl, 0, 4, 4);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_TRUE(cells[0].busy);
  EXPECT_EQ(cells[0].action.op, Op::F);
  EXPECT_FALSE(cells[1].busy);  // covered 40%: idle
  EXPECT_FALSE(cells[2].busy);
  EXPECT_EQ(cells[3].action.op, Op::W);
  // Zoomed in: two cells over the first action.
  cells = gantt_row(tl, 0, 1, 2);
  EXPECT_TRUE(cells[0].busy && cells[1].busy);
  EXPECT_EQ(tick_step_ms(2138, 75), 500);
  EXPECT_EQ(tick_step_ms(1.83, 75), 0.5);
}

// ---- rendering ----

TEST(TuiRender, EveryViewAt80x24) {
  TuiState s = set_viewport(start(), 80, 24);
  const char* expect[kNumViews][2] = {
      {"F ms", "layers.15"},         // layers with costs
      {"partition 4,4,4,4", "idle"},  // plan summary with stages and devices
      {"window ", "forward"},         // Gantt with axis and legend
      {"largest idle gaps", "GiB/"},  // bubbles and memory per device
      {"zb-h1", "fastest"},          // schedule comparison
      {"run store /nonexistent/runs.db", "no runs recorded yet"},
      {"Whole-cluster plans", "derives per-GPU costs from a model spec"},  // the cluster view needs one
      {"identical micro-batches", "--lengths"},  // the data view: how to plan over sequence lengths
  };
  for (int v = 0; v < kNumViews; ++v) {
    s = apply_key(std::move(s), '1' + v);
    if (v == static_cast<int>(View::Layers)) s = press(std::move(s), "<end>");
    if (v == static_cast<int>(View::Runs)) s.core.on_run_store(explorer::read_run_store(s.core.config().db_path));
    const Screen scr = render(s, 80, 24);
    SCOPED_TRACE(view_name(static_cast<View>(v)));
    expect_frame(scr, s);
    for (const char* want : expect[v]) EXPECT_TRUE(scr.contains(want)) << "missing '" << want << "'\n" << scr.text();
  }
}

TEST(TuiRender, AdaptsToSizes) {
  TuiState s = start();
  for (auto [w, h] : std::vector<std::pair<int, int>>{{40, 10}, {80, 24}, {100, 30}, {120, 40}, {250, 70}}) {
    s = set_viewport(std::move(s), w, h);
    for (int v = 0; v < kNumViews; ++v) {
      s = apply_key(std::move(s), '1' + v);
      const Screen scr = render(s, w, h);
      SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h) + " " + view_name(static_cast<View>(v)));
      EXPECT_EQ(scr.width(), w);
      EXPECT_EQ(scr.height(), h);
      expect_frame(scr, s);
    }
  }
  // Wider shows more: the layer kind joins its name, the devices view spells the bubble phases out.
  s = set_viewport(std::move(s), 120, 40);
  EXPECT_TRUE(render(press(s, "1"), 120, 40).contains("layers.0 block"));
  EXPECT_FALSE(render(press(s, "1"), 80, 24).contains("layers.0 block"));
  EXPECT_TRUE(render(press(s, "4"), 120, 40).contains("in-between"));
  // A taller Gantt gives each device more rows.
  const Screen tall = render(press(s, "3"), 120, 40);
  EXPECT_TRUE(tall.contains("d3 m")) << tall.text();
  const Screen too_small = render(s, kMinWidth - 1, 8);
  EXPECT_TRUE(too_small.contains("terminal too small: 39x8")) << too_small.text();
}

TEST(TuiRender, GanttKeepsItsOpRowAtEverySizeWithTwoRowsOrMore) {
  // After a resize that leaves two rows per device, the op letters (F/B/W) must still be there.
  TuiState s = press(start(), "3");
  s.color = true;
  for (int h : {40, 30, 24, 20}) {
    const Screen scr = render(s, 100, h);
    bool op_row = false, mb_row = false;
    for (int y = 0; y < h; ++y) {
      op_row = op_row || scr.row(y).rfind("   o ", 0) == 0 || scr.row(y).rfind("d0 o ", 0) == 0;
      mb_row = mb_row || scr.row(y).rfind("d0 m ", 0) == 0;
    }
    if (mb_row) {
      EXPECT_TRUE(op_row) << "height " << h << "\n" << scr.text();
    }
  }
}

TEST(TuiRender, GanttColourAndMonochrome) {
  TuiState s = press(start(), "3");
  s.color = true;
  const Screen colour = render(s, 80, 24);
  // The first device row: micro-batch digits, coloured by op.
  int y = -1;
  for (int r = 0; r < colour.height(); ++r)
    if (colour.row(r).rfind("d0", 0) == 0) y = r;
  ASSERT_GE(y, 0) << colour.text();
  EXPECT_EQ(colour.row(y).substr(0, 5), "d0 m ");
  // Micro-batch 0 starts at time 0 on device 0: the first cell at or after time 0.
  int x0 = 5;
  while (x0 < colour.width() && colour.at(x0, y).ch == '.') ++x0;
  EXPECT_EQ(colour.at(x0, y).ch, '0');
  EXPECT_EQ(colour.at(x0, y).style, Style::OpF);
  s.color = false;
  const Screen mono = render(s, 80, 24);
  EXPECT_EQ(mono.row(y).substr(0, 5), "d0 o ");  // letters carry the op without colour
  EXPECT_TRUE(mono.contains("F forward")) << mono.text();
  EXPECT_TRUE(mono.contains("X backward")) << mono.text();  // 1F1B's fused backward
  EXPECT_FALSE(mono.contains("weight-grad")) << mono.text();  // only the ops the plan uses
}

TEST(TuiRender, OutOfMemoryIsFlagged) {
  TuiState s = start(test_inputs(16, 4, 40.0 * (1 << 30)));
  ASSERT_TRUE(valid(s));
  ASSERT_TRUE(sim(s).oom);
  EXPECT_TRUE(render(s, 80, 24).row(1).find("OOM") != std::string::npos) << render(s, 80, 24).text();
  const Screen dev = render(press(s, "4"), 80, 24);
  EXPECT_TRUE(dev.contains("OOM")) << dev.text();
}
