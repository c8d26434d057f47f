// The TUI's logic without a terminal: key transitions over TuiState, and the screen model that
// render() draws at 80x24 and other sizes. The real terminal is covered by test_tui_tmux.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adaptis/model/error.h"
#include "tui/gantt_cells.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui/screen.h"
#include "tui/tui_state.h"

using namespace adaptis;
using namespace adaptis::tui;

namespace {

// A 16-layer model with split backward, memory sizes and a heavier last layer (so partitions
// matter), on `devices` uniform devices.
cli::Inputs test_inputs(int layers = 16, int devices = 4, double act_bytes = 64.0 * (1 << 20)) {
  cli::Inputs in;
  in.costs.model = "test-model";
  in.costs.source = "test";
  for (int l = 0; l < layers; ++l) {
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.kind = "block";
    c.f_ms = l + 1 == layers ? 3.0 : 1.0;
    c.b_ms = l + 1 == layers ? 3.0 : 1.0;
    c.w_ms = 0.5;
    c.param_bytes = 32.0 * (1 << 20);
    c.state_bytes = 4 * c.param_bytes;
    c.act_b_bytes = act_bytes;
    c.act_w_bytes = act_bytes / 2;
    c.out_bytes = 1 << 20;
    in.costs.layers.push_back(c);
  }
  in.cluster = make_uniform_cluster(devices);
  in.sim.comm_latency_ms = 0;
  return in;
}

TuiState start(cli::Inputs in = test_inputs(), const std::string& schedule = "1f1b", int mb = 8,
               TuiConfig config = {}) {
  PlanRequest r;
  r.schedule = schedule;
  r.microbatches = mb;
  if (config.db_path.empty()) config.db_path = "/nonexistent/runs.db";
  return make_state(std::move(in), r, config);
}

TuiState press(TuiState s, const std::string& script) { return apply_keys(std::move(s), key::parse_script(script)); }

std::vector<int> sizes(const TuiState& s) { return s.eval->plan.partition.sizes(); }

// Every row of the screen fits the width and the frame's fixed lines are where they belong.
void expect_frame(const Screen& scr, const TuiState& s) {
  ASSERT_GE(scr.height(), kMinHeight);
  for (int y = 0; y < scr.height(); ++y) EXPECT_LE(static_cast<int>(scr.row(y).size()), scr.width());
  EXPECT_NE(scr.row(0).find(std::string("Layers")), std::string::npos) << scr.text();
  EXPECT_EQ(scr.row(scr.height() - 1).rfind("q quit", 0), 0u) << scr.text();
  EXPECT_NE(scr.row(1).find(s.inputs->costs.model), std::string::npos) << scr.text();
}

}  // namespace

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
  TimeWindow w = gantt_window(100, 4, 90);  // clamped to the end
  EXPECT_DOUBLE_EQ(w.t0, 75);
  EXPECT_DOUBLE_EQ(w.t1, 100);
}

// ---- key transitions ----

TEST(TuiState, StartsWithTheRequestSimulated) {
  TuiState s = start();
  ASSERT_TRUE(s.eval && s.eval->ok()) << s.message;
  EXPECT_EQ(s.view, View::Plan);
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  EXPECT_GT(s.eval->sim.iteration_ms, 0);
  EXPECT_FALSE(s.message_is_error);
  EXPECT_NE(s.message.find("loaded test-model"), std::string::npos) << s.message;
}

TEST(TuiState, ViewKeysAndTabCycle) {
  TuiState s = start();
  for (int v = 0; v < kNumViews; ++v) {
    s = apply_key(std::move(s), '1' + v);
    EXPECT_EQ(static_cast<int>(s.view), v);
  }
  EXPECT_EQ(s.effect, Effect::RefreshRuns);  // entering the runs view reads the store
  s = press(std::move(s), "<tab>");
  EXPECT_EQ(s.view, View::Layers);  // wraps
  s = press(std::move(s), "<btab>");
  EXPECT_EQ(s.view, View::Runs);
  s = press(std::move(s), "q");
  EXPECT_EQ(s.effect, Effect::Quit);
}

TEST(TuiState, ScheduleKeysCycleEveryBuiltIn) {
  TuiState s = start();
  const auto& all = all_schedules();
  const double t_1f1b = s.eval->sim.iteration_ms;
  std::vector<std::string> seen;
  for (size_t i = 0; i < all.size(); ++i) {
    s = press(std::move(s), "s");
    seen.push_back(s.request.schedule);
    // Each schedule is either simulated or says why it does not apply.
    if (!s.eval->ok()) {
      EXPECT_TRUE(s.message_is_error);
      EXPECT_FALSE(s.eval->error.empty());
    } else {
      EXPECT_EQ(s.eval->plan.num_microbatches, 8);
    }
  }
  EXPECT_EQ(s.request.schedule, "1f1b");  // full circle
  EXPECT_DOUBLE_EQ(s.eval->sim.iteration_ms, t_1f1b);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  size_t idx = 0;
  while (all[idx].name != std::string("1f1b")) ++idx;
  s = press(std::move(s), "S");
  EXPECT_EQ(s.request.schedule, all[(idx + all.size() - 1) % all.size()].name);
}

TEST(TuiState, MicrobatchAndDeviceKeysResimulate) {
  TuiState s = start();
  const auto before = s.eval;
  s = press(std::move(s), "m");
  EXPECT_EQ(s.request.microbatches, 9);
  EXPECT_EQ(s.eval->plan.num_microbatches, 9);
  EXPECT_NE(s.eval, before);
  EXPECT_GT(s.eval->sim.iteration_ms, before->sim.iteration_ms);
  s = press(std::move(s), "MMMMMMMMMMMM");
  EXPECT_EQ(s.request.microbatches, 1);
  EXPECT_TRUE(s.message_is_error);
  EXPECT_NE(s.message.find("at least 1"), std::string::npos);

  s = press(std::move(s), "d");
  EXPECT_EQ(s.request.devices, 5);
  EXPECT_EQ(s.inputs->cluster.num_devices(), 5);
  EXPECT_EQ(s.eval->plan.num_devices(), 5);
  s = press(std::move(s), "DD");
  EXPECT_EQ(s.eval->plan.num_devices(), 3);

  // A cluster file fixes the device count.
  TuiConfig fixed;
  fixed.cluster_from_file = true;
  TuiState f = start(test_inputs(), "1f1b", 8, fixed);
  f = press(std::move(f), "d");
  EXPECT_EQ(f.eval->plan.num_devices(), 4);
  EXPECT_TRUE(f.message_is_error);
  EXPECT_NE(f.message.find("--cluster"), std::string::npos) << f.message;
}

TEST(TuiState, BoundaryKeysMovePartitionAndResimulate) {
  TuiState s = start();
  EXPECT_EQ(s.boundary, 1);
  s = press(std::move(s), ">");  // boundary 1 moves right: stage 0 grows
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));
  EXPECT_EQ(s.request.partition, (std::vector<int>{5, 3, 4, 4}));
  s = press(std::move(s), "<");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  // The last stage holds the heavy layer: moving boundary 3 right relieves it.
  const double even_ms = s.eval->sim.iteration_ms;
  s = press(std::move(s), "]]");
  EXPECT_EQ(s.boundary, 3);
  s = press(std::move(s), ">");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 5, 3}));
  EXPECT_LT(s.eval->sim.iteration_ms, even_ms);
  s = press(std::move(s), ">>");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 7, 1}));
  s = press(std::move(s), ">");  // one layer left: refused, partition kept
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 7, 1}));
  EXPECT_TRUE(s.message_is_error);
  EXPECT_NE(s.message.find("one layer left"), std::string::npos) << s.message;
  s = press(std::move(s), "]");  // wraps to boundary 1
  EXPECT_EQ(s.boundary, 1);
  s = press(std::move(s), "e");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  // In the plan view j/k select boundaries too (without wrapping).
  s = press(std::move(s), "2jjjj");
  EXPECT_EQ(s.boundary, 3);
  s = press(std::move(s), "k");
  EXPECT_EQ(s.boundary, 2);
}

TEST(TuiState, ScheduleChangeResetsAPartitionThatNoLongerFits) {
  TuiState s = press(start(), ">");
  ASSERT_EQ(s.request.partition.size(), 4u);
  // 1f1b has one chunk per device: asking for two is refused with the schedule's reason.
  s = press(std::move(s), "v");
  EXPECT_FALSE(s.eval->built);
  EXPECT_NE(s.message.find("1 stages per device"), std::string::npos) << s.message;
  s = press(std::move(s), "V");
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));  // kept: it still fits
  // Interleaved 1F1B: two chunks per device, 8 stages; the 4-stage partition cannot apply.
  for (int i = 0; i < 20 && s.request.schedule != "interleaved-1f1b"; ++i) s = press(std::move(s), "s");
  ASSERT_EQ(s.request.schedule, "interleaved-1f1b");
  ASSERT_TRUE(s.eval->built) << s.message;
  EXPECT_EQ(s.eval->plan.num_stages(), 8);
  EXPECT_TRUE(s.request.partition.empty());
  EXPECT_NE(s.message.find("partition reset to even"), std::string::npos) << s.message;
}

TEST(TuiState, ImpossibleRequestIsShownNotThrown) {
  cli::Inputs in = test_inputs();
  PlanRequest r;
  r.partition = {1, 1, 1};  // three stages for four devices, and 3 of 16 layers
  TuiState s = make_state(std::move(in), r, TuiConfig{});
  ASSERT_TRUE(s.eval);
  EXPECT_FALSE(s.eval->built);
  EXPECT_TRUE(s.message_is_error);
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("does not give a valid plan")) << scr.text();
  EXPECT_TRUE(scr.contains("not a valid plan")) << scr.text();
  // Editing out of it works: e resets the partition.
  s = press(std::move(s), "e");
  EXPECT_TRUE(s.eval->ok()) << s.message;
}

TEST(TuiState, GanttZoomAndPanStayInsideTheIteration) {
  TuiState s = press(start(), "3");
  const double total = s.eval->sim.iteration_ms;
  s = press(std::move(s), "-");  // already whole: stays
  EXPECT_EQ(s.gantt_zoom, 1);
  s = press(std::move(s), "+");
  EXPECT_EQ(s.gantt_zoom, 2);
  EXPECT_NEAR(s.gantt_left_ms, total / 4, 1e-9);  // zoomed around the centre
  s = press(std::move(s), "llllllll");
  EXPECT_NEAR(s.gantt_left_ms, total / 2, 1e-9);  // clamped at the end
  s = press(std::move(s), "hhhhhhhhhhh");
  EXPECT_NEAR(s.gantt_left_ms, 0, 1e-9);
  s = press(std::move(s), "++<end>");
  EXPECT_EQ(s.gantt_zoom, 8);
  EXPECT_NEAR(s.gantt_left_ms, total * 7 / 8, 1e-9);
  s = press(std::move(s), "0");
  EXPECT_EQ(s.gantt_zoom, 1);
  EXPECT_EQ(s.gantt_left_ms, 0);
}

TEST(TuiState, DeviceViewsScrollOnlyAsFarAsUseful) {
  TuiState s = start(test_inputs(48, 24));
  s = set_viewport(std::move(s), 80, 24);
  s = press(std::move(s), "3<pgdn>");
  const int last = max_first_device(s, View::Gantt, 80, 24);
  EXPECT_GT(last, 0);
  EXPECT_EQ(s.cursor[static_cast<int>(View::Gantt)], last);
  s = press(std::move(s), "j");
  EXPECT_EQ(s.cursor[static_cast<int>(View::Gantt)], last);
  s = press(std::move(s), "k");
  EXPECT_EQ(s.cursor[static_cast<int>(View::Gantt)], last - 1);
  // A taller terminal shows more: the cursor is clamped to the new limit.
  s = set_viewport(std::move(s), 120, 60);
  EXPECT_LE(s.cursor[static_cast<int>(View::Gantt)], max_first_device(s, View::Gantt, 120, 60));
  const Screen scr = render(press(std::move(s), "<home>"), 80, 24);
  EXPECT_TRUE(scr.contains("devices 0-")) << scr.text();
}

TEST(TuiState, CompareViewListsSchedulesAndEnterSwitches) {
  TuiState s = press(start(), "5");
  ASSERT_TRUE(s.compare);
  EXPECT_EQ(s.compare->size(), all_schedules().size());
  int target = -1;
  for (size_t i = 0; i < s.compare->size(); ++i)
    if ((*s.compare)[i].name == "zb-h1") target = static_cast<int>(i);
  ASSERT_GE(target, 0);
  s = press(std::move(s), "<home>");
  for (int i = 0; i < target; ++i) s = press(std::move(s), "j");
  s = press(std::move(s), "<enter>");
  EXPECT_EQ(s.request.schedule, "zb-h1");
  EXPECT_EQ(s.eval->plan.name, "zb-h1");
  // An edited partition joins the table as its own row.
  s = press(std::move(s), ">");
  ASSERT_TRUE(s.compare);
  EXPECT_EQ(s.compare->size(), all_schedules().size() + 1);
  EXPECT_EQ(s.compare->back().name, "zb-h1 (edited)");
}

TEST(TuiState, OptimizerKeysAndResults) {
  TuiState s = start();
  s = press(std::move(s), "o");
  EXPECT_EQ(s.effect, Effect::StartOptimizer);
  EXPECT_EQ(s.optimizer.state, JobState::Running);
  s = press(std::move(s), "o");
  EXPECT_EQ(s.effect, Effect::None);
  EXPECT_TRUE(s.message_is_error);
  OptimizerView p;
  p.fraction = 0.5;
  p.best_ms = 12.5;
  p.evaluated = 1234;
  p.phase = "local search";
  s = on_optimizer_progress(std::move(s), p);
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("optimizing [")) << scr.text();
  EXPECT_TRUE(scr.contains(" 50% ")) << scr.text();
  EXPECT_TRUE(scr.contains("best 12.50 ms")) << scr.text();
  EXPECT_NE(scr.row(0).find("optimize 50%"), std::string::npos) << scr.text();  // the badge on the tab line
  s = press(std::move(s), "x");
  EXPECT_EQ(s.effect, Effect::CancelOptimizer);

  // The optimizer's plan: a custom plan on screen, editable by boundary keys.
  Plan best = s.eval->plan;
  best.name = "adaptis-opt";
  best.partition = Partition::from_sizes({3, 4, 4, 5});
  s = on_optimizer_finished(std::move(s), best, JobState::Done, "");
  EXPECT_EQ(s.optimizer.state, JobState::Done);
  ASSERT_TRUE(s.eval->custom);
  EXPECT_EQ(s.eval->label, "optimized");
  EXPECT_EQ(s.custom, s.eval);
  EXPECT_NE(s.message.find("optimizer done"), std::string::npos) << s.message;
  s = press(std::move(s), ">");
  EXPECT_TRUE(s.eval->custom);
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 3, 4, 5}));
  s = press(std::move(s), "5");
  ASSERT_TRUE(s.compare);
  EXPECT_EQ(s.compare->back().name, "optimized");
  // s goes back to the built-in schedule the request names.
  s = press(std::move(s), "s");
  EXPECT_FALSE(s.eval->custom);
  EXPECT_EQ(s.eval->plan.name, "1f1b");
  // Failure and an empty cancel are messages, not crashes.
  s = on_optimizer_finished(std::move(s), std::nullopt, JobState::Failed, "boom\nmore");
  EXPECT_TRUE(s.message_is_error);
  EXPECT_EQ(s.message, "optimizer failed: boom");
}

TEST(TuiState, RunKeyNeedsALauncherAndOneRunAtATime) {
  TuiConfig blocked;
  blocked.run_blocker = "no run command";
  TuiState s = press(start(test_inputs(), "1f1b", 8, blocked), "r");
  EXPECT_EQ(s.view, View::Runs);
  EXPECT_NE(s.effect, Effect::LaunchRun);
  EXPECT_NE(s.message.find("cannot launch a run: no run command"), std::string::npos) << s.message;

  TuiState r = press(start(), "r");
  EXPECT_EQ(r.effect, Effect::LaunchRun);
  LaunchedRun run;
  run.pid = 4242;
  run.running = true;
  run.command = "adaptis run --plan p.json";
  r = on_launched_run(std::move(r), run);
  r = press(std::move(r), "r");
  EXPECT_EQ(r.effect, Effect::None);
  EXPECT_NE(r.message.find("already in progress"), std::string::npos);

  RunStoreView store;
  store.db_path = "/tmp/x.db";
  store.read = true;
  RunRow mine;
  mine.id = 7;
  mine.pid = 4242;
  mine.status = "running";
  mine.schedule = "1f1b";
  mine.steps = 5;
  mine.steps_done = 2;
  mine.final_loss = 5.5;
  mine.measured_ms = 10;
  mine.predicted_ms = 11;
  RunRow old = mine;
  old.id = 6;
  old.pid = 1;
  old.status = "complete";
  old.steps_done = 5;
  store.rows = {mine, old};
  r = on_run_store(std::move(r), store);
  ASSERT_NE(launched_run_row(r), nullptr);
  EXPECT_EQ(launched_run_row(r)->id, 7);
  const Screen scr = render(r, 80, 24);
  EXPECT_TRUE(scr.contains("launched pid 4242: running")) << scr.text();
  EXPECT_TRUE(scr.contains("run #7 running  step 2/5  loss 5.5000  10.00 ms (predicted 11.00)")) << scr.text();
  EXPECT_TRUE(scr.contains("+10.0%")) << scr.text();  // prediction error of the run
  EXPECT_NE(scr.row(0).find("run 2/5"), std::string::npos) << scr.text();  // the badge
  r = press(std::move(r), "j");
  EXPECT_EQ(r.cursor[static_cast<int>(View::Runs)], 1);
  r = press(std::move(r), "j");
  EXPECT_EQ(r.cursor[static_cast<int>(View::Runs)], 1);
}

TEST(TuiState, HelpClosesOnAnyKeyWithoutActing) {
  TuiState s = press(start(), "?");
  EXPECT_TRUE(s.show_help);
  EXPECT_TRUE(render(s, 80, 24).contains("any key closes this"));
  s = press(std::move(s), "s");
  EXPECT_FALSE(s.show_help);
  EXPECT_EQ(s.request.schedule, "1f1b");
  s = press(std::move(s), "?q");
  EXPECT_EQ(s.effect, Effect::Quit);
}

TEST(TuiState, SaveAndUnknownKeys) {
  TuiState s = press(start(), "w");
  EXPECT_EQ(s.effect, Effect::SavePlan);
  s = press(std::move(s), "Z");
  EXPECT_EQ(s.effect, Effect::None);
  EXPECT_NE(s.message.find("key Z does nothing"), std::string::npos) << s.message;
}

// ---- rendering ----

TEST(TuiRender, EveryViewAt80x24) {
  TuiState s = set_viewport(start(), 80, 24);
  const char* expect[kNumViews][2] = {
      {"F ms", "layers.15"},         // layers with costs
      {"partition 4,4,4,4", "idle"},  // plan summary with stages and devices
      {"window 0.00-", "forward"},   // Gantt with axis and legend
      {"largest idle gaps", "GiB/"},  // bubbles and memory per device
      {"zb-h1", "fastest"},          // schedule comparison
      {"run store /nonexistent/runs.db", "no runs recorded yet"},
  };
  for (int v = 0; v < kNumViews; ++v) {
    s = apply_key(std::move(s), '1' + v);
    if (v == static_cast<int>(View::Layers)) s = press(std::move(s), "<end>");
    if (v == static_cast<int>(View::Runs)) {
      RunStoreView none;
      none.db_path = s.config.db_path;
      none.read = true;
      none.note = "no runs recorded yet: " + none.db_path + " does not exist";
      s = on_run_store(std::move(s), none);
    }
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

TEST(TuiRender, GanttColourAndMonochrome) {
  TuiState s = press(start(), "3");
  s.config.color = true;
  const Screen colour = render(s, 80, 24);
  // The first device row: micro-batch digits, coloured by op.
  int y = -1;
  for (int r = 0; r < colour.height(); ++r)
    if (colour.row(r).rfind("d0", 0) == 0) y = r;
  ASSERT_GE(y, 0) << colour.text();
  EXPECT_EQ(colour.row(y).substr(0, 5), "d0 m ");
  EXPECT_EQ(colour.at(5, y).ch, '0');  // micro-batch 0 starts at time 0 on device 0
  EXPECT_EQ(colour.at(5, y).style, Style::OpF);
  s.config.color = false;
  const Screen mono = render(s, 80, 24);
  EXPECT_EQ(mono.row(y).substr(0, 6), "d0 o F");  // letters carry the op without colour
  EXPECT_TRUE(mono.contains("F forward")) << mono.text();
  EXPECT_TRUE(mono.contains("X backward")) << mono.text();  // 1F1B's fused backward
  EXPECT_FALSE(mono.contains("weight-grad")) << mono.text();  // only the ops the plan uses
}

TEST(TuiRender, OutOfMemoryIsFlagged) {
  TuiState s = start(test_inputs(16, 4, 40.0 * (1 << 30)));
  ASSERT_TRUE(s.eval->ok());
  ASSERT_TRUE(s.eval->sim.oom);
  EXPECT_TRUE(render(s, 80, 24).row(1).find("OOM") != std::string::npos) << render(s, 80, 24).text();
  const Screen dev = render(press(s, "4"), 80, 24);
  EXPECT_TRUE(dev.contains("OOM")) << dev.text();
}
