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

using namespace adaptis;
using namespace adaptis::gui;
namespace fs = std::filesystem;

namespace {

CostTable synthetic_costs(int layers) {
  CostTable t;
  t.model = "synthetic";
  t.source = "test";
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.f_ms = 1.0 + (i % 4 == 0 ? 1.0 : 0.0);
    l.b_ms = 2.0 * l.f_ms;
    l.state_bytes = 1e9;
    l.act_b_bytes = 2e8;
    l.out_bytes = 1e7;
    t.layers.push_back(l);
  }
  return t;
}

// An ImGui context with a built font atlas and nothing else: frames are built and inspected, never drawn.
class Harness {
 public:
  Harness() {
    ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.IniFilename = nullptr;
    io.DisplaySize = ImVec2(1400, 860);
    theme_ = make_theme(1.0f);
    apply_style(theme_);
    load_fonts(theme_);
    unsigned char* px = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&px, &w, &h);
    io.Fonts->SetTexID(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(1)));
  }
  ~Harness() { ImGui::DestroyContext(); }

  const Theme& theme() const { return theme_; }

  void frame(GuiApp& app, ImVec2 mouse = ImVec2(-1, -1), bool down = false, float wheel = 0) {
    ImGuiIO& io = ImGui::GetIO();
    io.DeltaTime = 1.0f / 60.0f;
    io.MousePos = mouse;
    io.MouseDown[0] = down;
    io.MouseWheel = wheel;
    ImGui::NewFrame();
    app.frame();
    ImGui::Render();
  }

  // Press at `from`, move to `to` in steps while held, release there.
  void drag(GuiApp& app, ImVec2 from, ImVec2 to, int steps = 8) {
    frame(app, from, false);
    frame(app, from, true);
    for (int i = 1; i <= steps; ++i) {
      const float f = static_cast<float>(i) / steps;
      frame(app, ImVec2(from.x + (to.x - from.x) * f, from.y + (to.y - from.y) * f), true);
    }
    frame(app, to, false);
    frame(app, to, false);
  }

 private:
  Theme theme_;
};

std::unique_ptr<GuiApp> make_app(const Harness& h, const std::string& schedule, int devices = 4, int mbs = 8,
                                 int layers = 16) {
  GuiConfig cfg;
  cfg.inputs_label = "synthetic";
  cfg.runs_db = (std::filesystem::temp_directory_path() / "adaptis-gui-frames-test.db").string();
  cfg.optimize_seconds = 0.5;
  auto app = std::make_unique<GuiApp>(synthetic_costs(layers), make_uniform_cluster(devices), SimOptions{}, cfg,
                                      h.theme());
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = mbs;
  EditResult r = app->start_with_request(req);
  EXPECT_TRUE(r.applied) << r.message;
  return app;
}

// Screen x of a compute box's point at `frac` of its width.
float box_x(GuiApp& app, int device, int index, float frac) {
  const TimelineBox& b = app.side(0).data.devices[device].compute.boxes[index];
  return app.axis().x_of(b.start + (b.end - b.start) * frac);
}

}  // namespace

TEST(GuiFrames, DraggingAPartitionBoundaryMovesItLiveAsOneUndoStep) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  h.frame(*app);
  const std::vector<int> before = app->editor().plan().partition.bounds;
  ASSERT_EQ(before[1], 4);
  const float x = app->boundary_handle_x(1), y = app->boundary_handle_y();
  ASSERT_GT(x, 0);
  // One layer is (sidebar width - padding) / 16 pixels wide: drag two layers to the right.
  const float layer_px = (app->boundary_handle_x(2) - app->boundary_handle_x(1)) / 4;
  h.drag(*app, ImVec2(x, y), ImVec2(x + 2 * layer_px, y));
  const Plan& p = app->editor().plan();
  EXPECT_EQ(p.partition.bounds[1], 6);
  EXPECT_EQ(p.partition.stage_size(0), 6);
  EXPECT_EQ(app->editor().undo_stack().size(), 1u);  // many live edits, one gesture
  // The timeline already shows the new partition.
  EXPECT_DOUBLE_EQ(app->side(0).summary.iteration_ms, app->editor().sim().iteration_ms);
  ASSERT_TRUE(app->editor().undo());
  EXPECT_EQ(app->editor().plan().partition.bounds, before);
}

TEST(GuiFrames, DraggingAnActionReordersItAndTheGanttUpdatesInTheSameFrame) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  h.frame(*app);
  // Last stage under 1F1B runs F0 BW0 F1 BW1 ...; move F1 before BW0 (valid: F1 needs only F1 of stage 2).
  const int dev = 3;
  const auto& order = app->editor().plan().schedule[dev];
  ASSERT_EQ(order[1].op, Op::BW);
  ASSERT_EQ(order[2].op, Op::F);
  const float y = app->gantt_row_y(0, dev);
  ASSERT_GT(y, 0);
  const float from = box_x(*app, dev, 2, 0.5f);
  const float to = box_x(*app, dev, 1, 0.0f);  // the ghost's centre lands left of BW0's centre
  h.drag(*app, ImVec2(from, y), ImVec2(to, y));
  const auto& now = app->editor().plan().schedule[dev];
  EXPECT_EQ(now[1].op, Op::F);
  EXPECT_EQ(now[1].mb, 1);
  EXPECT_EQ(now[2].op, Op::BW);
  EXPECT_FALSE(app->status_is_error()) << app->status();
  // The lanes on screen follow the edit.
  const TimelineBox& shown = app->side(0).data.devices[dev].compute.boxes[1];
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
  const auto before = app->editor().plan().schedule[dev];
  const float y = app->gantt_row_y(0, dev);
  h.drag(*app, ImVec2(box_x(*app, dev, 1, 0.5f), y), ImVec2(box_x(*app, dev, 0, 0.0f) - 2, y));
  EXPECT_EQ(app->editor().plan().schedule[dev], before);
  EXPECT_TRUE(app->status_is_error());
  EXPECT_FALSE(app->editor().last_error().empty());
  EXPECT_TRUE(app->editor().undo_stack().empty());
}

TEST(GuiFrames, WheelZoomsAroundTheMouseAndClickSelects) {
  Harness h;
  auto app = make_app(h, "zb-h1");
  h.frame(*app);
  h.frame(*app);
  const float y = app->gantt_row_y(0, 0);
  const float x = std::floor(box_x(*app, 0, 0, 0.5f));  // ImGui floors the mouse position
  const double t_at = app->axis().t_of(x);
  const double span = app->axis().span();
  h.frame(*app, ImVec2(x, y), false, 2.0f);
  EXPECT_LT(app->axis().span(), span * 0.7);
  EXPECT_NEAR(app->axis().t_of(x), t_at, span * 1e-6);
  h.frame(*app, ImVec2(x, y), false);
  h.frame(*app, ImVec2(x, y), true);
  h.frame(*app, ImVec2(x, y), false);
  ASSERT_TRUE(app->selection().valid());
  EXPECT_EQ(app->selection().device, 0);
  EXPECT_EQ(app->selection().index, 0);
}

TEST(GuiFrames, ComparingWithAScheduleShowsBothPlans) {
  Harness h;
  auto app = make_app(h, "1f1b");
  ASSERT_TRUE(app->pin_schedule_for_compare("gpipe").applied);
  h.frame(*app);
  ASSERT_TRUE(app->comparing());
  EXPECT_EQ(app->side(1).plan.name, "gpipe");
  EXPECT_GT(app->side(1).summary.iteration_ms, 0);
  // GPipe keeps every micro-batch's activations until the backward phase.
  EXPECT_GT(app->side(1).summary.peak_memory_bytes, app->side(0).summary.peak_memory_bytes);
  EXPECT_GT(app->gantt_row_y(1, 0), app->gantt_row_y(0, 3));  // B is drawn below A
  EXPECT_FALSE(app->pin_schedule_for_compare("no-such-schedule").applied);
  EXPECT_TRUE(app->comparing());  // the previous comparison stays
}

TEST(GuiFrames, OptimizerRunsInTheBackgroundAndItsSearchIsOneUndoStep) {
  Harness h;
  auto app = make_app(h, "gpipe", 4, 8, 16);
  h.frame(*app);
  const double start = app->editor().sim().iteration_ms;
  app->start_optimizer();
  ASSERT_TRUE(app->optimizer().running());
  for (int i = 0; i < 600 && app->busy(); ++i) {
    h.frame(*app);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  h.frame(*app);
  EXPECT_FALSE(app->optimizer().running());
  EXPECT_LT(app->editor().sim().iteration_ms, start);
  EXPECT_TRUE(app->comparing());  // the plan it started from is pinned as B
  EXPECT_EQ(app->editor().undo_stack().size(), 1u);
  ASSERT_TRUE(app->editor().undo());
  EXPECT_DOUBLE_EQ(app->editor().sim().iteration_ms, start);
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
  app.pin_current_for_compare();
  ASSERT_TRUE(app.editor().move_boundary(1, 6).applied);
  h.frame(app);
  app.axis().t0 = 3;
  app.axis().t1 = 9;
  app.save_session_to(session);

  GuiApp other(synthetic_costs(16), make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  ASSERT_TRUE(other.start_with_request(req).applied);
  other.open_session(session);
  h.frame(other);
  EXPECT_EQ(other.editor().plan().partition.bounds, app.editor().plan().partition.bounds);
  EXPECT_TRUE(other.comparing());
  EXPECT_EQ(other.side(1).plan.partition.bounds[1], 4);  // B is the plan before the edit
  EXPECT_NEAR(other.axis().t0, 3, 1e-9);
  EXPECT_NEAR(other.axis().t1, 9, 1e-9);
  // A broken session leaves the app as it was and names the file.
  std::ofstream(dir / "bad.json") << "{\"format\": \"adaptis-gui-session/1\"}";
  try {
    other.open_session((dir / "bad.json").string());
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  EXPECT_EQ(other.editor().plan().partition.bounds, app.editor().plan().partition.bounds);
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
  app.launch_run();
  ASSERT_TRUE(app.run_in_progress()) << app.status();
  for (int i = 0; i < 3000 && app.run_in_progress(); ++i) {
    h.frame(app);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  h.frame(app);
  ASSERT_FALSE(app.run_in_progress());
  EXPECT_FALSE(app.status_is_error()) << app.status();
  // The run is B: its recorded prediction in the compute lanes, what it measured under them.
  ASSERT_TRUE(app.comparing());
  EXPECT_TRUE(app.side(1).measured);
  EXPECT_GT(app.side(1).summary.iteration_ms, 0);
  size_t measured = 0;
  for (const DeviceLanes& d : app.side(1).data.devices) measured += d.measured.size();
  EXPECT_EQ(measured, app.editor().plan().num_actions());
  // Its plan file and log are in the work directory.
  EXPECT_TRUE(fs::exists(dir / "run1-plan.json"));
  EXPECT_TRUE(fs::exists(dir / "run1.log"));
}

TEST(GuiFrames, ExecutingWithoutAModelSpecIsExplained) {
  Harness h;
  auto app = make_app(h, "1f1b");
  h.frame(*app);
  app->launch_run();
  EXPECT_FALSE(app->run_in_progress());
  EXPECT_TRUE(app->status_is_error());
  EXPECT_NE(app->status().find("--model"), std::string::npos) << app->status();
}

#else
TEST(GuiFrames, SkippedWithoutTheGui) { GTEST_SKIP() << "built without the desktop GUI"; }
#endif
