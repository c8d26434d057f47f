// The ImGui layer driven by synthetic frames, without a window or OpenGL: mouse gestures on the
// real panels (drag a partition boundary, drag an action in the Gantt, zoom with the wheel, click
// to select) must reach the plan editor, re-simulate, and show in the same frame. Skipped when the
// GUI is not built.
#include <gtest/gtest.h>

#ifdef ADAPTIS_HAVE_GUI
#include <imgui.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/planner.h"
#include "gui/gui_app.h"
#include "gui/widgets.h"
#include "gui_frames_harness.h"

using namespace adaptis;
using namespace adaptis::gui;
using namespace adaptis::gui::frames_test;
namespace fs = std::filesystem;

TEST(GuiFrames, DraggingAPartitionBoundaryMovesItLiveAsOneUndoStep) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  h.frame(*app);
  const std::vector<int> before = editor(*app).plan().partition.bounds;
  ASSERT_EQ(before[1], 4);
  const float x = app->model_panel().boundary_x[1], y = app->model_panel().strip_y;
  ASSERT_GT(x, 0);
  // One layer is (sidebar width - padding) / 16 pixels wide: drag two layers to the right.
  const float layer_px = (app->model_panel().boundary_x[2] - app->model_panel().boundary_x[1]) / 4;
  h.drag(*app, ImVec2(x, y), ImVec2(x + 2 * layer_px, y));
  const Plan& p = editor(*app).plan();
  EXPECT_EQ(p.partition.bounds[1], 6);
  EXPECT_EQ(p.partition.stage_size(0), 6);
  EXPECT_EQ(editor(*app).undo_labels().size(), 1u);  // many live edits, one gesture
  // The timeline already shows the new partition.
  EXPECT_DOUBLE_EQ(app->core().side(0).summary.iteration_ms, editor(*app).sim().iteration_ms);
  ASSERT_TRUE(app->core().undo());
  EXPECT_EQ(editor(*app).plan().partition.bounds, before);
}

TEST(GuiFrames, DraggingAnActionReordersItAndTheGanttUpdatesInTheSameFrame) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  h.frame(*app);
  // Last stage under 1F1B runs F0 BW0 F1 BW1 ...; move F1 before BW0 (valid: F1 needs only F1 of stage 2).
  const int dev = 3;
  const auto& order = editor(*app).plan().schedule[dev];
  ASSERT_EQ(order[1].op, Op::BW);
  ASSERT_EQ(order[2].op, Op::F);
  const float y = app->gantt().row_y(0, dev);
  ASSERT_GT(y, 0);
  const float from = box_x(*app, dev, 2, 0.5f);
  const float to = box_x(*app, dev, 1, 0.0f);  // the ghost's centre lands left of BW0's centre
  h.drag(*app, ImVec2(from, y), ImVec2(to, y));
  const auto& now = editor(*app).plan().schedule[dev];
  EXPECT_EQ(now[1].op, Op::F);
  EXPECT_EQ(now[1].mb, 1);
  EXPECT_EQ(now[2].op, Op::BW);
  EXPECT_FALSE(status_is_error(*app)) << status(*app);
  // The lanes on screen follow the edit.
  const TimelineBox& shown = app->core().side(0).timeline().devices[dev].compute.boxes[1];
  EXPECT_EQ(shown.op, Op::F);
  EXPECT_EQ(shown.mb, 1);
}

TEST(GuiFrames, AnInvalidDragIsRefusedAndExplained) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  h.frame(*app);
  // BW0 before F0 on the same stage breaks a dependency.
  const int dev = 3;
  const auto before = editor(*app).plan().schedule[dev];
  const float y = app->gantt().row_y(0, dev);
  h.drag(*app, ImVec2(box_x(*app, dev, 1, 0.5f), y), ImVec2(box_x(*app, dev, 0, 0.0f) - 2, y));
  EXPECT_EQ(editor(*app).plan().schedule[dev], before);
  EXPECT_TRUE(status_is_error(*app));
  EXPECT_FALSE(editor(*app).last_error().empty());
  EXPECT_TRUE(editor(*app).undo_labels().empty());
}

TEST(GuiFrames, WheelZoomsAroundTheMouseAndClickSelects) {
  Harness h;
  auto app = make_app(h, "zb-h1");
  h.frame(*app);
  h.frame(*app);
  const float y = app->gantt().row_y(0, 0);
  const float x = std::floor(box_x(*app, 0, 0, 0.5f));  // ImGui floors the mouse position
  const double t_at = app->gantt().axis().t_of(x);
  const double span = app->gantt().axis().span();
  h.frame(*app, ImVec2(x, y), false, 2.0f);
  EXPECT_LT(app->gantt().axis().span(), span * 0.7);
  EXPECT_NEAR(app->gantt().axis().t_of(x), t_at, span * 1e-6);
  h.frame(*app, ImVec2(x, y), false);
  h.frame(*app, ImVec2(x, y), true);
  h.frame(*app, ImVec2(x, y), false);
  ASSERT_TRUE(app->core().view().selected.valid());
  EXPECT_EQ(app->core().view().selected.device, 0);
  EXPECT_EQ(app->core().view().selected.index, 0);
}

TEST(GuiFrames, ComparingWithAScheduleShowsBothPlans) {
  Harness h;
  auto app = make_app(h, "1f1b");
  ASSERT_TRUE(app->core().compare_with_schedule("gpipe").applied);
  h.frame(*app);
  ASSERT_TRUE(app->core().comparing());
  EXPECT_EQ(app->core().side(1).plan()->name, "gpipe");
  EXPECT_GT(app->core().side(1).summary.iteration_ms, 0);
  // GPipe keeps every micro-batch's activations until the backward phase.
  EXPECT_GT(app->core().side(1).summary.peak_memory_bytes, app->core().side(0).summary.peak_memory_bytes);
  EXPECT_GT(app->gantt().row_y(1, 0), app->gantt().row_y(0, 3));  // B is drawn below A
  EXPECT_FALSE(app->core().compare_with_schedule("no-such-schedule").applied);
  EXPECT_TRUE(app->core().comparing());  // the previous comparison stays
}

TEST(GuiFrames, OptimizerRunsInTheBackgroundAndItsSearchIsOneUndoStep) {
  Harness h;
  auto app = make_app(h, "gpipe", 4, 8, 16);
  h.frame(*app);
  const double start = editor(*app).sim().iteration_ms;
  app->core().start_optimizer();
  app->carry_out();
  ASSERT_EQ(app->core().optimizer().state, explorer::JobState::Running);
  for (int i = 0; i < 600 && app->busy(); ++i) {
    h.frame(*app);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  h.frame(*app);
  EXPECT_EQ(app->core().optimizer().state, explorer::JobState::Done);
  EXPECT_LT(editor(*app).sim().iteration_ms, start);
  EXPECT_TRUE(app->core().comparing());  // the plan it started from is pinned as B
  EXPECT_EQ(editor(*app).undo_labels().size(), 1u);
  ASSERT_TRUE(app->core().undo());
  EXPECT_DOUBLE_EQ(editor(*app).sim().iteration_ms, start);
}

TEST(GuiFrames, ASavedSessionReopensWithItsPlanComparisonAndView) {
  Harness h;
  const fs::path dir = fs::temp_directory_path() / ("adaptis-gui-session-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string costs_path = (dir / "costs.json").string(), session = (dir / "session.json").string();
  save_cost_table(synthetic_costs(16), costs_path);
  GuiConfig cfg;
  cfg.costs_path = costs_path;
  cfg.runs_db = (dir / "runs.db").string();
  GuiApp app(synthetic_costs(16), make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  ASSERT_TRUE(app.start_with_request(req).applied);
  h.frame(app);
  app.core().pin_current();
  ASSERT_TRUE(app.core().move_boundary(1, 6).applied);
  h.frame(app);
  app.core().set_window(3, 9);
  app.save_session_to(session);

  GuiApp other(synthetic_costs(16), make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  ASSERT_TRUE(other.start_with_request(req).applied);
  other.open_session(session);
  h.frame(other);
  EXPECT_EQ(editor(other).plan().partition.bounds, editor(app).plan().partition.bounds);
  EXPECT_TRUE(other.core().comparing());
  EXPECT_EQ(other.core().side(1).plan()->partition.bounds[1], 4);  // B is the plan before the edit
  EXPECT_NEAR(other.core().view().window.t0, 3, 1e-9);
  EXPECT_NEAR(other.core().view().window.t1, 9, 1e-9);
  // A broken session leaves the app as it was and names the file.
  std::ofstream(dir / "bad.json") << "{\"format\": \"adaptis-gui-session/1\"}";
  try {
    other.open_session((dir / "bad.json").string());
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  EXPECT_EQ(editor(other).plan().partition.bounds, editor(app).plan().partition.bounds);
}

TEST(GuiFrames, ExecutingThePlanLaunchesAdaptisRunAndShowsTheRunAsItArrives) {
  Harness h;
  const fs::path dir = fs::temp_directory_path() / ("adaptis-gui-run-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  GuiConfig cfg;
  cfg.model_path = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";
  cfg.binary = ADAPTIS_BINARY;
  cfg.runs_db = (dir / "runs.db").string();
  cfg.work_dir = dir.string();
  cfg.run_steps = 2;
  Cluster cl = make_uniform_cluster(2);
  GuiApp app(load_model_costs(cfg.model_path, cl), cl, SimOptions{}, cfg, h.theme());
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 2;
  req.microbatches = 4;
  ASSERT_TRUE(app.start_with_request(req).applied);
  h.frame(app);
  app.core().launch_run();
  app.carry_out();
  ASSERT_TRUE(app.core().launched().running) << status(app);
  for (int i = 0; i < 3000 && (app.core().launched().running || app.busy()); ++i) {
    h.frame(app);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  h.frame(app);
  std::string log_tail;
  for (const std::string& line : app.core().launched().log_tail) log_tail += line + "\n";
  ASSERT_FALSE(app.core().launched().running) << status(app) << "\n" << log_tail;
  EXPECT_FALSE(status_is_error(app)) << status(app) << "\n" << log_tail;
  // The run is B: its recorded prediction in the compute lanes, what it measured under them.
  ASSERT_TRUE(app.core().comparing()) << status(app) << "\n" << log_tail;
  const explorer::Side b = app.core().side(1);
  ASSERT_TRUE(b.is_run);
  ASSERT_NE(b.measured(), nullptr);
  EXPECT_GT(b.summary.iteration_ms, 0);
  // B's headline is the run's measured iteration (the median), what the runs table shows.
  ASSERT_FALSE(app.core().runs().runs.empty());
  EXPECT_NEAR(b.summary.iteration_ms, explorer::measured_iteration_ms(app.core().runs().runs.front()), 1e-9);
  size_t measured = 0;
  for (const auto& lane : b.measured()->devices) measured += lane.size();
  EXPECT_EQ(measured, editor(app).plan().num_actions());
  // The run ran on the CPU with its own costs: A (this session's model costs) is not compared with it.
  EXPECT_FALSE(app.core().ab().comparable);
  // Its plan file and log are in the work directory.
  EXPECT_TRUE(fs::exists(dir / "run1-plan.json"));
  EXPECT_TRUE(fs::exists(dir / "run1.log"));
}

TEST(GuiFrames, ExecutingWithoutAModelSpecIsExplained) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  app->core().launch_run();
  app->carry_out();
  EXPECT_FALSE(app->core().launched().running);
  EXPECT_TRUE(status_is_error(*app));
  EXPECT_NE(status(*app).find("--model"), std::string::npos) << status(*app);
}

TEST(GuiFrames, DoubleClickOnAFoldedBlockZoomsAndSelectsNothing) {
  Harness h;
  // Many small actions: at full width most of them fold.
  auto app = make_app(h, "1f1b", 4, 256, 16);
  h.frame(*app);
  h.frame(*app);
  const float y = app->gantt().row_y(0, 0);
  const TimeAxis ax = app->gantt().axis();
  // Somewhere in the steady state of device 0, where boxes are narrower than a few pixels.
  const float x = std::floor(ax.x_of(app->core().editor().sim().iteration_ms * 0.5));
  h.frame(*app, ImVec2(x, y));
  h.frame(*app, ImVec2(x, y));
  const double span = app->gantt().axis().span();
  ImGuiIO& io = ImGui::GetIO();
  // Click, release, click again within the double-click time.
  h.frame(*app, ImVec2(x, y), true);
  h.frame(*app, ImVec2(x, y), false);
  EXPECT_FALSE(app->core().view().selected.valid()) << "a click on a fold selected an action hidden in it";
  io.MouseDoubleClickTime = 10.0f;
  h.frame(*app, ImVec2(x, y), true);
  h.frame(*app, ImVec2(x, y), false);
  h.frame(*app, ImVec2(x, y), false);
  EXPECT_LT(app->gantt().axis().span(), span * 0.5) << "the double-click did not zoom into the fold";
  const double t_mouse = ax.t_of(x);
  EXPECT_LE(app->gantt().axis().t0, t_mouse);  // around the mouse
  EXPECT_GE(app->gantt().axis().t1, t_mouse);
  EXPECT_FALSE(app->core().view().selected.valid());
}

TEST(GuiFrames, KeyTapsWithinOneFrameAreNotLost) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  ASSERT_TRUE(app->core().move_boundary(1, 6).applied);
  h.frame(*app);
  // Ctrl+Z pressed and released between two frames: ImGui never sees it held, the queue does.
  app->key_taps().push({'Z', true, false, false, false});
  h.frame(*app);
  EXPECT_EQ(editor(*app).plan().partition.bounds[1], 4);
  // F after zooming in fits the whole iteration again.
  app->core().zoom(1.0, 0.01);
  EXPECT_FALSE(app->core().view().fitted);
  app->key_taps().push({'F', false, false, false, false});
  h.frame(*app);
  EXPECT_TRUE(app->core().view().fitted);
}

TEST(GuiFrames, AMeasuredRangeShowsItsBreakdownAndEscOrAnEditClearsIt) {
  Harness h;
  auto app = make_app(h, "gpipe");
  h.frame(*app);
  h.frame(*app);
  // Drag across the bubble at the start of the last device (GPipe's warm-up): a drag that does
  // not start on an action measures.
  const float y = app->gantt().row_y(0, 3);
  const TimeAxis ax = app->gantt().axis();
  const double t = editor(*app).sim().iteration_ms;
  h.drag(*app, ImVec2(std::floor(ax.x_of(0.01 * t)), y), ImVec2(std::floor(ax.x_of(0.08 * t)), y));
  const auto range = app->core().measured_range();
  ASSERT_TRUE(range.has_value()) << status(*app);
  EXPECT_NEAR(range->span(), 0.07 * t, 0.01 * t);
  EXPECT_GT(range->utilisation(), 0);
  app->key_taps().push({256, false, false, false, false});  // Esc
  h.frame(*app);
  EXPECT_FALSE(app->core().measured_range().has_value());
  app->core().measure(0, t / 2);
  ASSERT_TRUE(app->core().set_microbatches(9).applied);
  h.frame(*app);
  EXPECT_FALSE(app->core().measured_range().has_value()) << "the band measured the previous plan";
}

TEST(GuiFrames, ChangingDevicesOrMicrobatchesRefitsTheView) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  const double before = app->gantt().axis().t1;
  ASSERT_TRUE(app->core().set_microbatches(32).applied);
  h.frame(*app);
  EXPECT_GT(app->gantt().axis().t1, 2 * before) << "the longer iteration is cut off until F";
  EXPECT_NEAR(app->gantt().axis().t1, editor(*app).sim().iteration_ms * (1 + explorer::kFitMargin), 1e-6);
}

TEST(GuiFrames, LongStatusMessagesAreClippedBeforeTheFieldsBesideThem) {
  Harness h;
  auto app = make_app(h, "1f1b");
  std::string longest(600, 'x');
  h.frame(*app);
  ImGuiIO& io = ImGui::GetIO();
  io.DeltaTime = 1.0f / 60.0f;
  ImGui::NewFrame();
  ImGui::Begin("probe");
  clipped_text(longest, 200.0f, h.theme().text);
  const float w = ImGui::GetItemRectSize().x;
  ImGui::End();
  ImGui::Render();
  EXPECT_LE(w, 200.0f);
  EXPECT_GT(w, 100.0f);
}

#else
TEST(GuiFrames, SkippedWithoutTheGui) { GTEST_SKIP() << "built without the desktop GUI"; }
#endif
