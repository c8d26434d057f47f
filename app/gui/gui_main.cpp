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
    explorer::EditResult r = launch.plan ? app.start_with_plan(std::move(*launch.plan), launch.plan_label)
                               : app.start_with_request(launch.request);
    if (!r.applied) throw InputError(r.message);
    if (launch.memory) {
      explorer::EditResult m = app.core().set_memory_policy(-1, *launch.memory);
      if (!m.applied && !m.message.empty()) throw InputError("--recompute/--offload: " + m.message);
    }
  }
  app.core().optimizer_options().recompute_choices = launch.recompute_choices;
  app.core().optimizer_options().offload_choices = launch.offload_choices;
  if (!launch.overlay_run.empty()) app.overlay_run_ref(launch.overlay_run);
  if (!launch.compare_run.empty()) app.compare_run_ref(launch.compare_run);
  if (!launch.compare_schedule.empty()) {
    explorer::EditResult r = app.core().compare_with_schedule(launch.compare_schedule);
    if (!r.applied) throw InputError("--compare " + launch.compare_schedule + ": " + r.message);
  }

  if (!launch.side_tab.empty()) {
    const std::string& v = launch.side_tab;
    if (v == "model") app.ui().side_tab_request = (SideTab::Model);
    else if (v == "cluster") app.ui().side_tab_request = (SideTab::Cluster);
    else if (v == "plan") app.ui().side_tab_request = (SideTab::Plan);
    else throw InputError("--side-tab " + v + ": expected model, cluster or plan");
  }
  if (!launch.bottom_tab.empty()) {
    const std::string& v = launch.bottom_tab;
    if (v == "details") app.ui().bottom_tab_request = (BottomTab::Details);
    else if (v == "devices") app.ui().bottom_tab_request = (BottomTab::Devices);
    else if (v == "optimizer") app.ui().bottom_tab_request = (BottomTab::Optimizer);
    else if (v == "runs") app.ui().bottom_tab_request = (BottomTab::Runs);
    else if (v == "compare") app.ui().bottom_tab_request = (BottomTab::Compare);
    else if (v == "history") app.ui().bottom_tab_request = (BottomTab::History);
    else if (v == "cluster") app.ui().bottom_tab_request = (BottomTab::ClusterPlans);
    else if (v == "data") app.ui().bottom_tab_request = (BottomTab::Data);
    else throw InputError("--tab " + v + ": expected details, devices, optimizer, runs, compare, history, cluster or data");
  }
  if (!launch.search.empty() && !app.core().set_filter(launch.search))
    throw InputError("--search " + launch.search + ": " + app.core().message().text);
  if (launch.cluster_search) {
    app.core().start_cluster_search(true);
    app.ui().bottom_tab_request = BottomTab::ClusterPlans;
    app.carry_out();
  }
  if (launch.optimize) {
    app.core().start_optimizer();
    app.ui().bottom_tab_request = BottomTab::Optimizer;
    app.carry_out();
  }

  // Every key press reaches the app, even one released before the next frame starts.
  window.set_key_sink(&app.key_taps());
  using Clock = std::chrono::steady_clock;
  // A screenshot of a start-up cluster search shows its outcome: frames do not count while it runs
  // (the search has its own time limit).
  auto waiting = [&] {
    return launch.cluster_search && app.core().cluster_plans().state == explorer::JobState::Running;
  };
  for (int frame = 0; !window.should_close() && !app.quit_requested(); frame += waiting() ? 0 : 1) {
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
    if (launch.frames > 0 && frame + 1 >= launch.frames && !waiting()) {
      if (shot) window.save_png(launch.screenshot);
      break;
    }
    window.swap();
  }
  return 0;
}

}  // namespace adaptis::gui
