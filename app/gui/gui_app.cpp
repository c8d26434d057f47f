#include "gui/gui_app.h"

#include <imgui_internal.h>

#include <algorithm>
#include <cmath>

#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "explorer/session_file.h"
#include "explorer/session_open.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

explorer::ExplorerConfig explorer_config(const GuiConfig& g, SimOptions sim) {
  explorer::ExplorerConfig c;
  c.costs_label = g.inputs_label;
  c.costs_path = g.costs_path;
  c.model_path = g.model_path;
  c.cluster_path = g.cluster_path;
  c.db_path = g.runs_db.empty() ? exec::default_run_db_path() : g.runs_db;
  c.plan_out = "adaptis-plan.json";
  c.run_steps = g.run_steps;
  c.live_optimizer = true;
  c.follow_launched_run = true;
  c.optimizer.time_limit_s = g.optimize_seconds > 0 ? g.optimize_seconds : 10;
  c.optimizer.sim = sim;
  c.cluster_plans = g.cluster_plans;
  c.lengths = g.lengths;
  return c;
}

explorer::DriverOptions driver_options(const GuiConfig& g) {
  explorer::DriverOptions o;
  o.binary = g.binary;
  o.work_dir = g.work_dir;
  return o;
}

}  // namespace

GuiApp::GuiApp(CostTable costs, Cluster cluster, SimOptions sim, GuiConfig config, Theme theme)
    : config_(std::move(config)),
      theme_(theme),
      core_(app::Inputs{std::move(costs), std::move(cluster), sim}, explorer_config(config_, sim)),
      driver_(driver_options(config_)) {
  runs_.db_input = core_.config().db_path;
}

GuiApp::~GuiApp() { driver_.shutdown(); }

UiContext GuiApp::context() { return UiContext{core_, theme_, ui_, config_}; }

explorer::EditResult GuiApp::start_with_request(PlanRequest req) {
  explorer::EditResult r = core_.start_with_request(std::move(req));
  carry_out();
  return r;
}

explorer::EditResult GuiApp::start_with_plan(Plan plan, const std::string& label) {
  explorer::EditResult r = core_.start_with_plan(std::move(plan), label);
  carry_out();
  return r;
}

namespace {

// Loads what the core asked for right away (start-up: the CLI reports errors before the window).
void load_now(explorer::Explorer& core) {
  for (const explorer::Effect& e : core.take_effects()) {
    if (e.kind != explorer::EffectKind::LoadRun) continue;
    try {
      core.on_run_loaded(e.use, e.run_id,
                         std::make_shared<const explorer::LoadedRun>(explorer::load_run(core.config().db_path, e.run_id)),
                         "");
    } catch (const std::exception& err) {
      core.on_run_loaded(e.use, e.run_id, nullptr, err.what());
    }
  }
}

int64_t resolve_run(const std::string& db, const std::string& ref) {
  if (db.empty()) throw InputError("no runs database");
  exec::RunStore store(db);
  return exec::parse_run_ref(ref, store);
}

}  // namespace

void GuiApp::overlay_run_ref(const std::string& ref) {
  const int64_t id = resolve_run(core_.config().db_path, ref);
  const explorer::LoadedRun run = explorer::load_run(core_.config().db_path, id);
  if (!run.has_measurement())
    throw InputError(core_.config().db_path + ": run " + std::to_string(id) + " recorded no iteration");
  core_.overlay_run(id);
  load_now(core_);
  load_now(core_);  // a run from another machine becomes B: its load
  core_.fit_view();
}

void GuiApp::compare_run_ref(const std::string& ref) {
  const int64_t id = resolve_run(core_.config().db_path, ref);
  core_.compare_with_run(id);
  load_now(core_);
  if (!core_.comparison().run) throw InputError(core_.comparison().error);
  core_.fit_view();
}

void GuiApp::open_session(const std::string& path) {
  const explorer::Session s = explorer::load_session(path);
  // What a session does not keep (budgets, the launch options) stays as this window has it.
  GuiConfig cfg = config_;
  if (!s.runs_db.empty()) cfg.runs_db = s.runs_db;
  explorer::ExplorerConfig base = explorer_config(cfg, s.sim);
  base.optimizer = core_.config().optimizer;
  explorer::Explorer fresh = explorer::open_session(s, path, std::move(base));
  cfg.costs_path = fresh.config().costs_path;
  cfg.model_path = fresh.config().model_path;
  cfg.cluster_path = fresh.config().cluster_path;
  cfg.inputs_label = fresh.config().costs_label;
  cfg.lengths = fresh.config().lengths;
  driver_.shutdown();
  core_ = std::move(fresh);
  config_ = cfg;
  runs_.db_input = core_.config().db_path;
  runs_.loaded = false;
  core_.note("opened session " + path);
}

void GuiApp::save_session_to(const std::string& path) {
  explorer::save_session(explorer::session_of(core_), path);
  core_.note("saved the session to " + path);
}

void GuiApp::set_theme(Theme theme) {
  const float old = theme_.scale;
  theme_ = theme;
  if (old > 0 && theme.scale > 0 && old != theme.scale) {
    const float k = theme.scale / old;
    sidebar_w_ *= k;
    bottom_h_ *= k;
  }
  ui_.requested_scale = 0;
}

std::string GuiApp::window_title() const {
  std::string t = "adaptis — ";
  t += core_.editor().costs().model.empty() ? config_.inputs_label : core_.editor().costs().model;
  if (core_.has_plan()) t += " — " + core_.editor().plan().name;
  return t;
}

bool GuiApp::busy() const {
  return driver_.busy() || core_.launched().running || gantt_.dragging() || model_.dragging_boundary >= 0;
}

void GuiApp::poll_background() { driver_.poll(core_); }

// ---------------------------------------------------------------------------------------------
// Frame

void GuiApp::frame() {
  poll_background();
  UiContext c = context();
  handle_shortcuts();
  ImGuiIO& io = ImGui::GetIO();
  const Theme& t = theme_;
  if (sidebar_w_ <= 0) sidebar_w_ = t.px(390);
  if (bottom_h_ <= 0) bottom_h_ = std::max(t.px(190), io.DisplaySize.y * 0.27f);

  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  // The host lays its panes edge to edge (no spacing); each pane pushes the normal spacing back.
  const ImVec2 spacing = ImGui::GetStyle().ItemSpacing;
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(0, 0));
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(0, 0));
  ImGui::Begin("adaptis##host", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_MenuBar |
                   ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse |
                   ImGuiWindowFlags_NoSavedSettings);
  ImGui::PopStyleVar();  // window padding; the zero spacing stays for the layout below
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing);
  menu_.draw(c);
  ImGui::PopStyleVar();
  toolbar_.draw(c);

  const float split = t.px(5);
  const float status_h = ImGui::GetFrameHeight() + t.px(2);
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float body_h = std::max(t.px(200), avail.y - status_h);
  sidebar_w_ = std::clamp(sidebar_w_, t.px(240), std::max(t.px(240), avail.x * 0.6f));
  bottom_h_ = std::clamp(bottom_h_, t.px(90), std::max(t.px(90), body_h * 0.75f));

  ImGui::BeginChild("##sidebar", ImVec2(sidebar_w_, body_h), false, ImGuiWindowFlags_NoScrollbar);
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(t.px(8), t.px(5)));
  ImGui::SetCursorPos(ImVec2(t.px(8), t.px(6)));
  if (ImGui::BeginTabBar("##side_tabs")) {
    auto tab = [&](const char* name, SideTab which, auto& panel) {
      ImGuiTabItemFlags f = 0;
      if (ui_.side_tab_request && *ui_.side_tab_request == which) f |= ImGuiTabItemFlags_SetSelected;
      if (!ImGui::BeginTabItem(name, nullptr, f)) return;
      ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(8)));
      ImGui::BeginChild("##side_body", ImVec2(0, 0), false, ImGuiWindowFlags_AlwaysUseWindowPadding);
      const bool locked = core_.editing_locked();
      if (locked) {
        ImGui::TextColored(ImColor(t.warn), "The optimizer is driving the plan; cancel it to edit.");
        ImGui::BeginDisabled();
      }
      panel.draw(c);
      if (locked) ImGui::EndDisabled();
      ImGui::EndChild();
      ImGui::PopStyleVar();
      ImGui::EndTabItem();
    };
    tab("Model", SideTab::Model, model_);
    tab("Cluster", SideTab::Cluster, cluster_);
    tab("Plan", SideTab::Plan, plan_);
    ui_.side_tab_request.reset();
    ImGui::EndTabBar();
  }
  ImGui::PopStyleVar();
  ImGui::EndChild();
  ImGui::SameLine(0, 0);
  splitter("##split_side", true, split, body_h, &sidebar_w_, t.px(240), avail.x * 0.6f);
  ImGui::SameLine(0, 0);

  const float centre_w = std::max(t.px(200), avail.x - sidebar_w_ - split);
  const float top_h = std::max(t.px(80), body_h - bottom_h_ - split);
  ImGui::BeginGroup();
  ImGui::BeginChild("##timeline_area", ImVec2(centre_w, top_h), false,
                    ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing);  // for tooltips; the layout here is explicit
  gantt_.draw(c, centre_w, top_h);
  ImGui::PopStyleVar();
  ImGui::EndChild();
  splitter("##split_bottom", false, split, centre_w, &bottom_h_, t.px(90), body_h * 0.75f, true);
  ImGui::BeginChild("##bottom", ImVec2(centre_w, bottom_h_), false, ImGuiWindowFlags_NoScrollbar);
  draw_panes();
  ImGui::EndChild();
  ImGui::EndGroup();

  ImGui::SetCursorScreenPos(ImVec2(0, io.DisplaySize.y - status_h));
  status_.draw(c);
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing);
  dialog_.draw(c);
  keys_.draw(c);
  ImGui::PopStyleVar();
  ImGui::End();
  ImGui::PopStyleVar();  // item spacing
  // Sessions replace the explorer: done between frames, a failure leaves the one on screen.
  for (std::string* request : {&ui_.session_open, &ui_.session_save}) {
    if (request->empty()) continue;
    const std::string path = *request;
    request->clear();
    try {
      if (request == &ui_.session_open) open_session(path);
      else save_session_to(path);
    } catch (const std::exception& e) {
      core_.note(e.what(), true);
    }
  }
  carry_out();
}

void GuiApp::draw_panes() {
  const Theme& t = theme_;
  UiContext c = context();
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(t.px(8), t.px(5)));
  ImGui::SetCursorPos(ImVec2(t.px(8), t.px(4)));
  if (ImGui::BeginTabBar("##bottom_tabs")) {
    auto tab = [&](const std::string& name, BottomTab which, auto& panel) {
      ImGuiTabItemFlags f = 0;
      if (ui_.bottom_tab_request && *ui_.bottom_tab_request == which) f |= ImGuiTabItemFlags_SetSelected;
      if (!ImGui::BeginTabItem(name.c_str(), nullptr, f)) return;
      ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(6)));
      ImGui::BeginChild("##bottom_body", ImVec2(0, 0), false, ImGuiWindowFlags_AlwaysUseWindowPadding);
      panel.draw(c);
      ImGui::EndChild();
      ImGui::PopStyleVar();
      ImGui::EndTabItem();
    };
    const explorer::OptimizerState& o = core_.optimizer();
    tab("Details", BottomTab::Details, details_);
    tab("Devices", BottomTab::Devices, devices_);
    tab(o.state == explorer::JobState::Running ? strf("Optimizer (%.0f%%)###opt", o.progress.fraction * 100)
                                               : std::string("Optimizer###opt"),
        BottomTab::Optimizer, optimizer_);
    const explorer::ClusterPlansState& cp = core_.cluster_plans();
    tab(cp.state == explorer::JobState::Running ? strf("Cluster plans (%.0f%%)###cluster", cp.progress.fraction * 100)
                                                : std::string("Cluster plans###cluster"),
        BottomTab::ClusterPlans, cluster_plans_);
    tab(core_.varlen().has_units ? strf("Data (%zu units)###data", core_.varlen().units.size()) : std::string("Data###data"),
        BottomTab::Data, data_);
    tab(core_.launched().running ? "Runs (running)###runs" : "Runs###runs", BottomTab::Runs, runs_);
    tab(core_.comparing() ? "Compare (A vs B)###cmp" : "Compare###cmp", BottomTab::Compare, compare_);
    tab("History", BottomTab::History, history_);
    ui_.bottom_tab_request.reset();
    ImGui::EndTabBar();
  }
  ImGui::PopStyleVar();
}

void GuiApp::handle_shortcuts() {
  ImGuiIO& io = ImGui::GetIO();
  for (Shortcut s : shortcuts(taps_.take(), io.WantTextInput)) {
    switch (s) {
      case Shortcut::Undo: core_.undo(); break;
      case Shortcut::Redo: core_.redo(); break;
      case Shortcut::SavePlan:
        if (core_.has_plan())
          ui_.open_dialog(PathDialog::SavePlan,
                          explorer::default_export_path(explorer::PlanExport::PlanJson, core_.editor().plan()));
        break;
      case Shortcut::OpenPlan: ui_.open_dialog(PathDialog::OpenPlan, ""); break;
      case Shortcut::Quit: ui_.quit = true; break;
      case Shortcut::Fit: core_.fit_view(); break;
      case Shortcut::PinAsB: core_.pin_current(); break;
      case Shortcut::Escape:
        if (io.WantTextInput) ImGui::ClearActiveID();
        else core_.escape();
        break;
      case Shortcut::Search: ui_.focus_search = true; break;
      case Shortcut::NextMatch: core_.select_next_match(+1); break;
      case Shortcut::PreviousMatch: core_.select_next_match(-1); break;
      case Shortcut::NextAction: core_.select_next_on_device(+1); break;
      case Shortcut::PreviousAction: core_.select_next_on_device(-1); break;
      case Shortcut::DeviceAbove: core_.select_device(-1); break;
      case Shortcut::DeviceBelow: core_.select_device(+1); break;
      case Shortcut::Producer: core_.select_producer(); break;
      case Shortcut::Consumer: core_.select_consumer(); break;
      case Shortcut::Legend: ui_.toggles.legend = !ui_.toggles.legend; break;
    }
  }
  if (io.WantTextInput) return;
  // W/S zoom and A/D pan around the view's centre, as in Perfetto (held keys repeat smoothly).
  if (!io.KeyCtrl) {
    const explorer::TimeWindow w = core_.view().window;
    const double centre = (w.t0 + w.t1) / 2;
    if (ImGui::IsKeyDown('W')) core_.zoom(centre, std::pow(0.985, 60.0 * io.DeltaTime));
    if (ImGui::IsKeyDown('S')) core_.zoom(centre, std::pow(1.015, 60.0 * io.DeltaTime));
    if (ImGui::IsKeyDown('A')) core_.pan(-w.span() * 0.9 * io.DeltaTime);
    if (ImGui::IsKeyDown('D')) core_.pan(w.span() * 0.9 * io.DeltaTime);
  }
}

}  // namespace adaptis::gui
