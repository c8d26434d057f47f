#pragma once
// What the GUI frame tests share: an ImGui context with a font atlas that builds frames without a
// window (never drawn), synthetic costs, an app over a built-in schedule, and small accessors.
#include <imgui.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "adaptis/planner.h"
#include "explorer_test_support.h"
#include "gui/gui_app.h"

namespace adaptis::gui::frames_test {

inline CostTable synthetic_costs(int layers) {
  adaptis::explorer::test_support::SyntheticLayers shape;
  shape.source = "test";
  return adaptis::explorer::test_support::synthetic_layers(
      layers, [](int i) { return 1.0 + (i % 4 == 0 ? 1.0 : 0.0); }, [](int) { return ""; }, shape);
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

inline std::unique_ptr<GuiApp> make_app(const Harness& h, const std::string& schedule, int devices = 4, int mbs = 8,
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
  explorer::EditResult r = app->start_with_request(req);
  EXPECT_TRUE(r.applied) << r.message;
  return app;
}

// Screen x of a compute box's point at `frac` of its width.
inline float box_x(GuiApp& app, int device, int index, float frac) {
  const TimelineBox& b = app.core().side(0).timeline().devices[device].compute.boxes[index];
  return app.gantt().axis().x_of(b.start + (b.end - b.start) * frac);
}

inline const explorer::PlanEditor& editor(GuiApp& app) { return app.core().editor(); }
inline const std::string& status(GuiApp& app) { return app.core().message().text; }
inline bool status_is_error(GuiApp& app) { return app.core().message().error; }


}  // namespace adaptis::gui::frames_test
