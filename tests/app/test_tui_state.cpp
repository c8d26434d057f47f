// The TUI's key transitions over TuiState (the explorer core plus the terminal's view state),
// without a terminal. The screen model is covered by test_tui_render.cpp, the real terminal by
// test_tui_tmux.cpp, the core itself by test_explorer_*.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adaptis/model/error.h"
#include "explorer/run_records.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui_test_support.h"

using namespace adaptis;
using namespace adaptis::tui;
using namespace adaptis::tui::test_support;

TEST(TuiState, StartsWithTheRequestSimulated) {
  TuiState s = start();
  ASSERT_TRUE(valid(s)) << message(s);
  EXPECT_EQ(s.view, View::Plan);
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  EXPECT_GT(sim(s).iteration_ms, 0);
  EXPECT_FALSE(message_is_error(s));
  EXPECT_NE(message(s).find("loaded test-model"), std::string::npos) << message(s);
}

TEST(TuiState, ViewKeysAndTabCycle) {
  TuiState s = start();
  for (int v = 0; v < kNumViews; ++v) {
    s = apply_key(std::move(s), '1' + v);
    EXPECT_EQ(static_cast<int>(s.view), v);
  }
  EXPECT_TRUE(effect(s, explorer::EffectKind::RefreshRuns));  // entering the runs view reads the store
  s = press(std::move(s), "<tab>");
  EXPECT_EQ(s.view, View::Layers);  // wraps
  s = press(std::move(s), "<btab>");
  EXPECT_EQ(s.view, View::Data);  // the last view
  s = press(std::move(s), "q");
  EXPECT_TRUE(s.quit);
}

TEST(TuiState, ScheduleKeysCycleEveryBuiltIn) {
  TuiState s = start();
  const auto& all = all_schedules();
  const double t_1f1b = sim(s).iteration_ms;
  std::vector<std::string> seen;
  for (size_t i = 0; i < all.size(); ++i) {
    s = press(std::move(s), "s");
    seen.push_back(request(s).schedule);
    // Each schedule is either simulated or says why it does not apply (the last valid plan stays).
    if (!valid(s)) {
      EXPECT_TRUE(message_is_error(s));
      EXPECT_FALSE(s.core.problem().empty());
      EXPECT_TRUE(render(s, 80, 24).contains("not a valid plan"));
    } else {
      EXPECT_EQ(plan(s).name, request(s).schedule);
      EXPECT_EQ(plan(s).num_microbatches, 8);
    }
  }
  EXPECT_EQ(request(s).schedule, "1f1b");  // full circle
  EXPECT_DOUBLE_EQ(sim(s).iteration_ms, t_1f1b);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
  size_t idx = 0;
  while (all[idx].name != std::string("1f1b")) ++idx;
  s = press(std::move(s), "S");
  EXPECT_EQ(request(s).schedule, all[(idx + all.size() - 1) % all.size()].name);
}

TEST(TuiState, MicrobatchAndDeviceKeysResimulate) {
  TuiState s = start();
  const double before = sim(s).iteration_ms;
  const uint64_t rev = s.core.revision();
  s = press(std::move(s), "m");
  EXPECT_EQ(plan(s).num_microbatches, 9);
  EXPECT_NE(s.core.revision(), rev);
  EXPECT_GT(sim(s).iteration_ms, before);
  s = press(std::move(s), "MMMMMMMMMMMM");
  EXPECT_EQ(plan(s).num_microbatches, 1);
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("at least 1"), std::string::npos) << message(s);

  s = press(std::move(s), "d");
  EXPECT_EQ(s.core.editor().cluster().num_devices(), 5);
  EXPECT_EQ(plan(s).num_devices(), 5);
  s = press(std::move(s), "DD");
  EXPECT_EQ(plan(s).num_devices(), 3);

  // A cluster file fixes the device count.
  explorer::ExplorerConfig fixed;
  fixed.cluster_path = "/clusters/four.json";
  TuiState f = start(test_inputs(), "1f1b", 8, fixed);
  f = press(std::move(f), "d");
  EXPECT_EQ(plan(f).num_devices(), 4);
  EXPECT_TRUE(message_is_error(f));
  EXPECT_NE(message(f).find("cluster file"), std::string::npos) << message(f);
}

TEST(TuiState, BoundaryKeysMovePartitionAndResimulate) {
  TuiState s = start();
  EXPECT_EQ(s.boundary, 1);
  s = press(std::move(s), ">");  // boundary 1 moves right: stage 0 grows
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));
  EXPECT_EQ(request(s).partition, (std::vector<int>{5, 3, 4, 4}));
  s = press(std::move(s), "<");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  // The last stage holds the heavy layer: moving boundary 3 right relieves it.
  const double even_ms = sim(s).iteration_ms;
  s = press(std::move(s), "]]");
  EXPECT_EQ(s.boundary, 3);
  s = press(std::move(s), ">");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 5, 3}));
  EXPECT_LT(sim(s).iteration_ms, even_ms);
  s = press(std::move(s), ">>");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 7, 1}));
  s = press(std::move(s), ">");  // one layer left: refused, partition kept
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 7, 1}));
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("one layer left"), std::string::npos) << message(s);
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

TEST(TuiState, UndoAndRedoWalkThePlanHistory) {
  TuiState s = press(start(), ">m");
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));
  EXPECT_EQ(plan(s).num_microbatches, 9);
  s = press(std::move(s), "u");
  EXPECT_EQ(plan(s).num_microbatches, 8);
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));
  EXPECT_NE(message(s).find("undo micro-batches 9"), std::string::npos) << message(s);
  s = press(std::move(s), "u");
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 4, 4, 4}));
  s = press(std::move(s), "u");  // nothing left
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("nothing to undo"), std::string::npos) << message(s);
  s = press(std::move(s), "UU");
  EXPECT_EQ(plan(s).num_microbatches, 9);
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));
  // A request that gives no plan is dropped by undo, back to the plan on screen.
  s = press(std::move(s), "v");
  EXPECT_FALSE(valid(s));
  s = press(std::move(s), "u");
  EXPECT_TRUE(valid(s));
  EXPECT_EQ(plan(s).num_microbatches, 9);
}

TEST(TuiState, ScheduleChangeResetsAPartitionThatNoLongerFits) {
  TuiState s = press(start(), ">");
  ASSERT_EQ(request(s).partition.size(), 4u);
  // 1f1b has one chunk per device: asking for two is refused with the schedule's reason.
  s = press(std::move(s), "v");
  EXPECT_FALSE(valid(s));
  EXPECT_NE(message(s).find("1 stages per device"), std::string::npos) << message(s);
  s = press(std::move(s), "V");
  EXPECT_EQ(sizes(s), (std::vector<int>{5, 3, 4, 4}));  // kept: it still fits
  // Interleaved 1F1B: two chunks per device, 8 stages; the 4-stage partition cannot apply.
  for (int i = 0; i < 20 && request(s).schedule != "interleaved-1f1b"; ++i) s = press(std::move(s), "s");
  ASSERT_EQ(request(s).schedule, "interleaved-1f1b");
  ASSERT_TRUE(valid(s)) << message(s);
  EXPECT_EQ(plan(s).num_stages(), 8);
  EXPECT_EQ(sizes(s), even_partition(16, 8).sizes());
}

TEST(TuiState, ImpossibleRequestIsShownNotThrown) {
  PlanRequest r;
  r.partition = {1, 1, 1};  // three stages for four devices, and 3 of 16 layers
  TuiState s = make_state(test_inputs(), r, explorer::ExplorerConfig{});
  EXPECT_FALSE(s.core.has_plan());
  EXPECT_TRUE(message_is_error(s));
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("does not give a valid plan")) << scr.text();
  EXPECT_TRUE(scr.contains("not a valid plan")) << scr.text();
  // Editing out of it works: e resets the partition.
  s = press(std::move(s), "e");
  EXPECT_TRUE(valid(s)) << message(s);
}

TEST(TuiState, GanttZoomAndPanStayInsideTheIteration) {
  TuiState s = press(start(), "3");
  const double total = sim(s).iteration_ms;
  auto span = [&] { return s.core.view().window.span(); };
  const double whole = span();
  EXPECT_NEAR(whole, total * (1 + 2 * explorer::kFitMargin), 1e-9);
  s = press(std::move(s), "-");  // already whole: stays
  EXPECT_NEAR(span(), whole, 1e-9);
  s = press(std::move(s), "+");
  EXPECT_NEAR(span(), whole / 2, 1e-9);
  EXPECT_NEAR(s.core.view().window.t0 + span() / 2, total / 2, 1e-9);  // zoomed around the centre
  s = press(std::move(s), "llllllll");
  EXPECT_LE(s.core.view().window.t1, total * 1.05 + 1e-9);  // clamped at the end
  EXPECT_GT(s.core.view().window.t1, total);
  s = press(std::move(s), "hhhhhhhhhhh");
  EXPECT_GE(s.core.view().window.t0, -total * 0.05 - 1e-9);
  EXPECT_LT(s.core.view().window.t0, 0);
  s = press(std::move(s), "0");
  EXPECT_TRUE(s.core.view().fitted);
  EXPECT_NEAR(span(), whole, 1e-9);
}

TEST(TuiState, GanttRefitsWhenThePlanGrows) {
  TuiState s = press(start(), "3");
  const double before = s.core.view().window.t1;
  s = press(std::move(s), "mmmm");
  EXPECT_GT(sim(s).iteration_ms * (1 + explorer::kFitMargin), before);
  EXPECT_NEAR(s.core.view().window.t1, sim(s).iteration_ms * (1 + explorer::kFitMargin), 1e-9)
      << "the window must follow the longer iteration";
}

TEST(TuiState, GanttSelectionNavigatesActionsAndDependencies) {
  TuiState s = press(start(), "3<enter>");
  ASSERT_NE(s.core.selected_box(), nullptr) << message(s);
  const explorer::TimelineBox first = *s.core.selected_box();
  EXPECT_EQ(first.op, Op::F);
  EXPECT_EQ(first.start, 0);
  EXPECT_EQ(s.core.view().selected.device, 0);
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("F s0 mb0 on d0")) << scr.text();
  s = press(std::move(s), "<right>");
  EXPECT_EQ(s.core.selected_box()->mb, 1);  // the next action on device 0
  s = press(std::move(s), "<left>c");       // back to F s0 mb0, then its consumer: F s1 mb0
  ASSERT_NE(s.core.selected_box(), nullptr);
  EXPECT_EQ(s.core.selected_box()->stage, 1);
  EXPECT_EQ(s.core.view().selected.device, 1);
  s = press(std::move(s), "p");  // and its producer again
  EXPECT_EQ(s.core.selected_box()->stage, 0);
  s = press(std::move(s), "<down>");
  EXPECT_EQ(s.core.view().selected.device, 1);
  s = press(std::move(s), "<esc>");
  EXPECT_EQ(s.core.selected_box(), nullptr);
}

TEST(TuiState, SearchMatchesAndSteps) {
  TuiState s = press(start(), "3/mb 3 B<enter>");
  EXPECT_FALSE(s.searching);
  ASSERT_TRUE(s.core.view().filter.active()) << message(s);
  EXPECT_EQ(s.core.view().filter.mb, 3);
  ASSERT_NE(s.core.selected_box(), nullptr);
  EXPECT_EQ(s.core.selected_box()->mb, 3);
  EXPECT_EQ(s.core.selected_box()->op, Op::BW);  // 1F1B fuses the backward: B finds BW
  const int first_device = s.core.view().selected.device;
  s = press(std::move(s), "n");
  ASSERT_NE(s.core.selected_box(), nullptr);
  EXPECT_EQ(s.core.selected_box()->mb, 3);
  EXPECT_NE(s.core.view().selected.device, first_device);  // another stage's backward of mb 3
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("search: B, mb 3")) << scr.text();
  // A malformed search is refused and explained; the old one stays.
  s = press(std::move(s), "/<bs><bs><bs><bs><bs><bs>mb x<enter>");
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("expected a number"), std::string::npos) << message(s);
  EXPECT_EQ(s.core.view().filter.mb, 3);
  s = press(std::move(s), "<esc>");  // clears the selection
  s = press(std::move(s), "<esc>");  // then the search
  EXPECT_FALSE(s.core.view().filter.active());
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
  auto rows = s.core.schedule_table();
  EXPECT_EQ(rows->size(), all_schedules().size());
  int target = -1;
  for (size_t i = 0; i < rows->size(); ++i)
    if ((*rows)[i].name == "zb-h1") target = static_cast<int>(i);
  ASSERT_GE(target, 0);
  s = press(std::move(s), "<home>");
  for (int i = 0; i < target; ++i) s = press(std::move(s), "j");
  s = press(std::move(s), "<enter>");
  EXPECT_EQ(request(s).schedule, "zb-h1");
  EXPECT_EQ(plan(s).name, "zb-h1");
  // An edited partition joins the table as its own row.
  s = press(std::move(s), ">");
  rows = s.core.schedule_table();
  EXPECT_EQ(rows->size(), all_schedules().size() + 1);
  EXPECT_EQ(rows->back().name, "zb-h1 (edited)");
}

TEST(TuiState, CompareViewShowsTheSelectedRowsWholeReason) {
  // Five micro-batches on four devices: the interleaved schedules refuse (they need a multiple).
  TuiState s = press(start(test_inputs(), "1f1b", 5), "5<home>");
  auto rows = s.core.schedule_table();
  int refused = -1;
  for (size_t i = 0; i < rows->size() && refused < 0; ++i)
    if (!(*rows)[i].ok && (*rows)[i].error.size() > 50) refused = static_cast<int>(i);
  ASSERT_GE(refused, 0) << "expected a schedule that does not apply to 4 devices x 5 micro-batches";
  for (int i = 0; i < refused; ++i) s = press(std::move(s), "j");
  const Screen scr = render(s, 80, 24);
  // The reason's last words are on screen (wrapped under the table), not cut at the table's edge.
  const std::string& why = (*rows)[static_cast<size_t>(refused)].error;
  const std::string tail = why.substr(why.rfind(' ', why.size() - 2) + 1, 12);
  EXPECT_TRUE(scr.contains(tail)) << "missing '" << tail << "' of: " << why << "\n" << scr.text();
}

TEST(TuiState, LongMessagesWrapInsteadOfBeingCut) {
  TuiState s = start();
  s.core.note("the optimizer could not place the model's 16 layers on 4 devices because every plan exceeds the "
              "memory limit of device 2 by 3.1 GiB; lower the micro-batch count or raise the limit",
              true);
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("raise the limit")) << scr.text();
  EXPECT_EQ(scr.row(23).rfind("q quit", 0), 0u) << scr.text();
  expect_frame(scr, s);
}

TEST(TuiState, OptimizerKeysAndResults) {
  TuiState s = start();
  s = press(std::move(s), "o");
  EXPECT_TRUE(effect(s, explorer::EffectKind::StartOptimizer));
  EXPECT_EQ(s.core.optimizer().state, explorer::JobState::Running);
  s.core.take_effects();
  s = press(std::move(s), "o");
  EXPECT_FALSE(effect(s, explorer::EffectKind::StartOptimizer));
  EXPECT_TRUE(message_is_error(s));
  OptimizeProgress p;
  p.fraction = 0.5;
  p.best_ms = 12.5;
  p.evaluated = 1234;
  p.phase = "local search";
  s.core.on_optimizer_progress(p, std::nullopt);
  const Screen scr = render(s, 80, 24);
  EXPECT_TRUE(scr.contains("optimizing [")) << scr.text();
  EXPECT_TRUE(scr.contains(" 50% ")) << scr.text();
  EXPECT_TRUE(scr.contains("best 12.50 ms")) << scr.text();
  EXPECT_NE(scr.row(0).find("optimize 50%"), std::string::npos) << scr.text();  // the badge on the tab line
  s = press(std::move(s), "x");
  EXPECT_TRUE(effect(s, explorer::EffectKind::CancelOptimizer));

  // The optimizer's plan: a custom plan on screen, editable by boundary keys.
  Plan best = plan(s);
  best.name = "adaptis-opt";
  best.partition = Partition::from_sizes({3, 4, 4, 5});
  explorer::OptimizerJob::Outcome out;
  out.how = explorer::JobState::Done;
  out.result = OptimizeResult{};
  out.result->best = best;
  out.result->feasible = true;
  out.result->sim = simulate(best, s.core.editor().costs(), s.core.editor().cluster(), s.core.editor().sim_options());
  s.core.on_optimizer_finished(out);
  EXPECT_EQ(s.core.optimizer().state, explorer::JobState::Done);
  ASSERT_TRUE(s.core.editor().state().custom);
  EXPECT_EQ(s.core.on_screen_label(), "optimized");
  EXPECT_NE(message(s).find("optimizer done"), std::string::npos) << message(s);
  s = press(std::move(s), ">");
  EXPECT_TRUE(s.core.editor().state().custom);
  EXPECT_EQ(sizes(s), (std::vector<int>{4, 3, 4, 5}));
  // A hand-edited or optimized plan does not silently regenerate for another micro-batch count.
  s = press(std::move(s), "m");
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("choose a schedule first"), std::string::npos) << message(s);
  s = press(std::move(s), "5");
  auto rows = s.core.schedule_table();
  EXPECT_EQ(rows->back().name, "optimized");
  // s goes back to the built-in schedule the request names.
  s = press(std::move(s), "s");
  EXPECT_FALSE(s.core.editor().state().custom);
  EXPECT_EQ(plan(s).name, "1f1b");
  // Failure and an empty cancel are messages, not crashes.
  s = press(std::move(s), "o");
  explorer::OptimizerJob::Outcome failed;
  failed.how = explorer::JobState::Failed;
  failed.error = "boom\nmore";
  s.core.on_optimizer_finished(failed);
  EXPECT_TRUE(message_is_error(s));
  EXPECT_EQ(message(s), "optimizer failed: boom");
}

TEST(TuiState, RunKeyNeedsALauncherAndOneRunAtATime) {
  explorer::ExplorerConfig blocked;
  blocked.run_blocker = "no run command";
  TuiState s = press(start(test_inputs(), "1f1b", 8, blocked), "r");
  EXPECT_EQ(s.view, View::Runs);
  EXPECT_FALSE(effect(s, explorer::EffectKind::LaunchRun));
  EXPECT_NE(message(s).find("cannot launch a run: no run command"), std::string::npos) << message(s);

  TuiState r = press(start(), "r");
  EXPECT_TRUE(effect(r, explorer::EffectKind::LaunchRun));
  r.core.take_effects();
  explorer::LaunchedRun run;
  run.pid = 4242;
  run.running = true;
  run.command = "adaptis run --plan p.json";
  r.core.on_launched(run);
  r = press(std::move(r), "r");
  EXPECT_FALSE(effect(r, explorer::EffectKind::LaunchRun));
  EXPECT_NE(message(r).find("already in progress"), std::string::npos) << message(r);

  explorer::RunStoreView store;
  store.db_path = "/tmp/x.db";
  store.read = true;
  exec::RunSummary mine;
  mine.id = 7;
  mine.pid = 4242;
  mine.status = "running";
  mine.schedule = "1f1b";
  mine.steps = 5;
  mine.steps_done = 2;
  mine.final_loss = 5.5;
  mine.measured_iteration_ms = 12;
  mine.predicted_iteration_ms = 10;
  exec::RunSummary old = mine;
  old.id = 6;
  old.pid = 1;
  old.status = "complete";
  old.steps_done = 5;
  store.runs = {mine, old};
  r.core.on_run_store(store);
  ASSERT_NE(r.core.launched_row(), nullptr);
  EXPECT_EQ(r.core.launched_row()->id, 7);
  const Screen scr = render(r, 80, 24);
  EXPECT_TRUE(scr.contains("launched pid 4242: running")) << scr.text();
  EXPECT_TRUE(scr.contains("run #7 running  step 2/5  loss 5.5000  12.00 ms (predicted 10.00)")) << scr.text();
  // The prediction error, (measured - predicted) / predicted: the run took 20% longer.
  EXPECT_TRUE(scr.contains("+20.0%")) << scr.text();
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
  EXPECT_EQ(request(s).schedule, "1f1b");
  s = press(std::move(s), "?q");
  EXPECT_TRUE(s.quit);
}

TEST(TuiState, SaveAndUnknownKeys) {
  TuiState s = press(start(), "w");
  EXPECT_TRUE(effect(s, explorer::EffectKind::SavePlan));
  s.core.take_effects();
  s = press(std::move(s), "J");
  EXPECT_FALSE(s.core.has_effects());
  EXPECT_NE(message(s).find("key J does nothing"), std::string::npos) << message(s);
}
