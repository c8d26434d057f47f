#include "gui/gui_main.h"

#include <chrono>

#include "adaptis/model/error.h"
#include "gui/gui_app.h"
#include "gui/gui_window.h"

namespace adaptis::gui {

int run_gui(GuiLaunch launch) {
  const bool shot = !launch.screenshot.empty();
  if (shot && launch.frames < 1) launch.frames = 3;
  int w = launch.width, h = launch.height;
  if (shot && (w <= 0 || h <= 0)) w = 1600, h = 900;
  GuiWindow window(w, h, launch.scale, "adaptis", !shot && launch.frames == 0);

  GuiApp app(std::move(launch.costs), std::move(launch.cluster), launch.sim, launch.config, window.theme());
  if (!launch.session.empty()) {
    app.open_session(launch.session);
  } else {
    EditResult r = launch.plan ? app.start_with_plan(std::move(*launch.plan), launch.plan_label)
                               : app.start_with_request(launch.request);
    if (!r.applied) throw InputError(r.message);
  }
  if (!launch.overlay_run.empty()) app.overlay_run_ref(launch.overlay_run);
  if (!launch.compare_run.empty()) app.compare_run_ref(launch.compare_run);
  if (!launch.compare_schedule.empty()) {
    EditResult r = app.pin_schedule_for_compare(launch.compare_schedule);
    if (!r.applied) throw InputError("--compare " + launch.compare_schedule + ": " + r.message);
  }

  if (!launch.side_tab.empty()) {
    const std::string& v = launch.side_tab;
    if (v == "model") app.select_side_tab(SideTab::Model);
    else if (v == "cluster") app.select_side_tab(SideTab::Cluster);
    else if (v == "plan") app.select_side_tab(SideTab::Plan);
    else throw InputError("--side-tab " + v + ": expected model, cluster or plan");
  }
  if (!launch.bottom_tab.empty()) {
    const std::string& v = launch.bottom_tab;
    if (v == "details") app.select_bottom_tab(BottomTab::Details);
    else if (v == "devices") app.select_bottom_tab(BottomTab::Devices);
    else if (v == "optimizer") app.select_bottom_tab(BottomTab::Optimizer);
    else if (v == "runs") app.select_bottom_tab(BottomTab::Runs);
    else if (v == "compare") app.select_bottom_tab(BottomTab::Compare);
    else if (v == "history") app.select_bottom_tab(BottomTab::History);
    else throw InputError("--tab " + v + ": expected details, devices, optimizer, runs, compare or history");
  }
  if (launch.optimize) app.start_optimizer();

  using Clock = std::chrono::steady_clock;
  for (int frame = 0; !window.should_close() && !app.quit_requested(); ++frame) {
    // Idle: sleep until input; animate while the optimizer, a run or a drag is in progress.
    const bool animate = shot || launch.frames > 0 || app.busy() || frame < 3;
    window.poll(!animate, 0.25);
    if (app.requested_scale() > 0) {
      window.set_scale(app.requested_scale());
      app.set_theme(window.theme());
    }
    const auto t0 = Clock::now();
    window.begin_frame(shot);
    app.frame();
    window.render();
    app.set_frame_ms(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    window.set_title(app.window_title());
    if (launch.frames > 0 && frame + 1 >= launch.frames) {
      if (shot) window.save_png(launch.screenshot);
      break;
    }
    window.swap();
  }
  return 0;
}

}  // namespace adaptis::gui
