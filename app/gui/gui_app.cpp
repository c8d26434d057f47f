#include "gui/gui_app.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <imgui_stdlib.h>

#include "adaptis/executor/run_store.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/validator.h"
#include "common/private_work_dir.h"
#include "gui/widgets.h"

namespace adaptis::gui {

GuiApp::GuiApp(CostTable costs, Cluster cluster, SimOptions sim, GuiConfig config, Theme theme)
    : config_(std::move(config)), theme_(theme), editor_(std::move(costs), std::move(cluster), sim) {
  runs_db_input_ = config_.runs_db.empty() ? exec::default_run_db_path() : config_.runs_db;
  runs_.set_db(runs_db_input_);
  opt_options_.time_limit_s = config_.optimize_seconds > 0 ? config_.optimize_seconds : 10;
  opt_options_.sim = sim;
  opt_options_.sim.record_memory_timeline = false;
}

GuiApp::~GuiApp() {
  optimizer_.cancel();
  optimizer_.wait();
  child_.stop(1000);
}

// ---------------------------------------------------------------------------------------------
// Start-up and sessions

EditResult GuiApp::start_with_request(PlanRequest req) {
  EditResult r = editor_.load_request(std::move(req));
  fit_pending_ = true;
  after_edit(r);
  return r;
}

EditResult GuiApp::start_with_plan(Plan plan, const std::string& label) {
  EditResult r = editor_.load_plan(std::move(plan), label);
  fit_pending_ = true;
  after_edit(r);
  return r;
}

EditResult GuiApp::pin_schedule_for_compare(const std::string& schedule) {
  try {
    parse_schedule_kind(schedule);
  } catch (const InputError& e) {
    return {false, e.what()};
  }
  Compare c;
  c.kind = Compare::Schedule;
  c.schedule = schedule;
  c.label = schedule;
  std::optional<Compare> old = compare_;
  compare_ = c;
  compare_revision_ = ~0ull;
  sync_timelines();
  if (!sides_[1].data.devices.empty() || sides_[1].data.t_end > 0) {
    fit_pending_ = true;
    return {true, ""};
  }
  std::string why = sides_[1].label;
  compare_ = old;
  compare_revision_ = ~0ull;
  sync_timelines();
  return {false, why};
}

void GuiApp::pin_current_for_compare() {
  if (!editor_.has_plan()) return;
  Compare c;
  c.kind = Compare::Pinned;
  c.plan = editor_.plan();
  c.label = "pinned " + (c.plan.name.empty() ? std::string("plan") : c.plan.name) + " (" +
            format_ms(editor_.sim().iteration_ms) + ")";
  compare_ = c;
  compare_revision_ = ~0ull;
  note("pinned the current plan as B; edits now show against it");
}

void GuiApp::clear_compare() {
  compare_.reset();
  sides_[1] = TimelineSide{};
  if (selected_.side == 1) selected_ = {};
  hovered_ = {};
}

void GuiApp::open_session(const std::string& path) {
  Session s = load_session(path);
  CostTable costs;
  if (!s.inputs.costs.empty()) costs = load_cost_table(s.inputs.costs);
  else costs = load_model_costs(s.inputs.model, s.cluster);
  PlanEditor fresh(std::move(costs), s.cluster, s.sim);
  EditResult r = s.custom ? fresh.load_plan(s.plan, "session " + path) : fresh.load_request(s.request, "session " + path);
  if (!r.applied) throw InputError(path + ": plan: " + r.message);
  editor_ = std::move(fresh);
  config_.costs_path = s.inputs.costs;
  config_.model_path = s.inputs.model;
  config_.cluster_path = s.inputs.cluster;
  config_.inputs_label = s.inputs.costs.empty() ? "model " + s.inputs.model : s.inputs.costs;
  if (!s.runs_db.empty()) {
    runs_db_input_ = s.runs_db;
    runs_.set_db(s.runs_db);
    runs_loaded_ = false;
  }
  overlay_.reset();
  clear_compare();
  if (s.compare) {
    Compare c;
    c.kind = Compare::Pinned;
    c.plan = *s.compare;
    c.label = s.compare_label.empty() ? "pinned" : s.compare_label;
    compare_ = c;
  }
  side0_revision_ = ~0ull;
  compare_revision_ = ~0ull;
  selected_ = hovered_ = {};
  if (s.view_t1 > s.view_t0) {
    axis_.t0 = s.view_t0;
    axis_.t1 = s.view_t1;
    fit_pending_ = false;
  } else {
    fit_pending_ = true;
  }
  note("opened session " + path);
}

void GuiApp::save_session_to(const std::string& path) {
  Session s;
  s.inputs.costs = config_.costs_path;
  s.inputs.model = config_.model_path;
  s.inputs.cluster = config_.cluster_path;
  s.cluster = editor_.cluster();
  s.sim = editor_.sim_options();
  s.request = editor_.state().request;
  s.custom = editor_.state().custom;
  s.plan = editor_.plan();
  if (compare_ && compare_->kind != Compare::Run) {
    s.compare = compare_->kind == Compare::Pinned ? compare_->plan : sides_[1].plan;
    s.compare_label = compare_->label;
  }
  s.view_t0 = axis_.t0;
  s.view_t1 = axis_.t1;
  s.runs_db = runs_.db();
  save_session(s, path);
  note("saved the session to " + path);
}

// ---------------------------------------------------------------------------------------------
// Derived data

TimelineSide GuiApp::make_side(const Plan& plan, const SimResult& sim, const std::vector<StageCost>& stages,
                               const Cluster& cluster, const SimOptions& opt, const std::string& label) const {
  TimelineSide s;
  s.label = label;
  s.plan = plan;
  s.data = build_timeline(plan, sim, stages, cluster, opt);
  s.summary = summarize(sim, label);
  s.memory = sim.memory;
  s.stats = sim.devices;
  s.gaps = sim.gaps;
  for (size_t d = 0; d < sim.devices.size(); ++d) {
    double lim = sim.devices[d].memory_limit_bytes;
    if (!(lim > 0) && d < cluster.devices.size()) lim = cluster.devices[d].memory_limit();
    s.memory_limit.push_back(lim);
  }
  s.busy = busy_profile(s.data, 0, s.data.t_end, 400);
  return s;
}

void GuiApp::rebuild_side0() {
  const Plan& p = editor_.plan();
  const std::string label = (p.name.empty() ? std::string("plan") : p.name);
  sides_[0] = make_side(p, editor_.sim(), editor_.stage_costs(), editor_.cluster(), editor_.sim_options(), label);
  if (overlay_ && !overlay_->measured.empty()) set_measured(sides_[0].data, overlay_->measured);
  side0_revision_ = editor_.revision();
  // Selections index into the old lanes.
  if (selected_.side == 0) selected_ = {};
  hovered_ = {};
}

void GuiApp::rebuild_compare_from_plan() {
  const Compare& c = *compare_;
  TimelineSide s;
  if (c.kind == Compare::Run) {
    // A run on its own time scale: its recorded prediction (the costs it was run with, e.g. a CPU
    // profile) in the compute lanes, and what it measured in the lane under them.
    try {
      LoadedRun run = runs_.load(c.run_id);
      bool has_pred = false;
      for (const auto& d : run.predicted) has_pred = has_pred || !d.empty();
      s.plan = run.plan;
      s.data = build_measured_timeline(has_pred ? run.predicted : run.measured, run.plan.num_stages(),
                                       run.plan.num_microbatches);
      if (has_pred) set_measured(s.data, run.measured);
      s.data.t_end = std::max(s.data.t_end, s.data.measured_t_end);
      s.summary = run.measured.empty() ? run.predicted_summary : run.measured_summary;
      s.label = run.measured.empty()
                    ? strf("run %lld (no iteration recorded yet)", static_cast<long long>(c.run_id))
                    : strf("run %lld  measured %s, predicted %s", static_cast<long long>(c.run_id),
                           format_ms(run.measured_summary.iteration_ms).c_str(),
                           format_ms(run.predicted_summary.iteration_ms).c_str());
      s.summary.label = s.label;
      s.measured = true;
      s.busy = busy_profile(s.data, 0, s.data.t_end, 400);
      if (run.measured.empty()) s.summary.iteration_ms = 0;
    } catch (const std::exception& e) {
      s.label = std::string("run ") + std::to_string(c.run_id) + ": " + e.what();
    }
    sides_[1] = std::move(s);
    return;
  }
  Plan plan;
  std::string label = c.label;
  try {
    if (c.kind == Compare::Schedule) {
      PlanRequest req;
      req.schedule = c.schedule;
      req.devices = editor_.plan().num_devices();
      req.microbatches = editor_.plan().num_microbatches;
      plan = build_plan(req, editor_.costs().num_layers());
    } else {
      plan = c.plan;
    }
    require_valid_plan(plan, editor_.costs().num_layers(), label);
    if (plan.num_devices() > editor_.cluster().num_devices())
      throw InputError(label + ": uses " + std::to_string(plan.num_devices()) + " devices, the cluster has " +
                       std::to_string(editor_.cluster().num_devices()));
    std::vector<StageCost> stages = stage_costs(editor_.costs(), plan.partition);
    SimResult sim = simulate_stages(plan, stages, editor_.cluster(), editor_.sim_options());
    if (!sim.ok) throw InputError(label + ": " + sim.error);
    sides_[1] = make_side(plan, sim, stages, editor_.cluster(), editor_.sim_options(), label);
  } catch (const std::exception& e) {
    sides_[1] = TimelineSide{};
    sides_[1].label = e.what();
  }
}

void GuiApp::sync_timelines() {
  if (editor_.has_plan() && editor_.revision() != side0_revision_) {
    rebuild_side0();
    if (compare_ && compare_->kind != Compare::Run) compare_revision_ = ~0ull;
  }
  if (compare_ && compare_revision_ != editor_.revision()) {
    rebuild_compare_from_plan();
    compare_revision_ = editor_.revision();
    if (selected_.side == 1) selected_ = {};
  }
}

void GuiApp::after_edit(const EditResult& r) {
  if (r.applied) {
    note(editor_.state().label + strf("  (re-simulated in %.1f ms)", editor_.last_edit_seconds() * 1e3));
  } else if (!r.message.empty()) {
    note(r.message, true);
  }
}

void GuiApp::note(const std::string& msg, bool error) {
  status_ = msg;
  status_error_ = error;
  log_.emplace_back(msg, error);
  while (log_.size() > 200) log_.pop_front();
}

int GuiApp::chunk_of(int side, int device, int stage) const {
  const Placement& pl = sides_[side].plan.placement;
  if (device < 0 || device >= pl.num_devices()) return 0;
  const auto& st = pl.device_stages[device];
  for (size_t k = 0; k < st.size(); ++k)
    if (st[k] == stage) return static_cast<int>(k);
  return 0;
}

void GuiApp::set_theme(Theme theme) {
  const float old = theme_.scale;
  theme_ = theme;
  if (old > 0 && theme.scale > 0 && old != theme.scale) {
    const float k = theme.scale / old;
    sidebar_w_ *= k;
    bottom_h_ *= k;
    memory_h_ *= k;
  }
  requested_scale_ = 0;
}

std::string GuiApp::window_title() const {
  std::string t = "adaptis — ";
  t += editor_.costs().model.empty() ? config_.inputs_label : editor_.costs().model;
  if (editor_.has_plan()) t += " — " + editor_.plan().name;
  return t;
}

bool GuiApp::busy() const {
  return optimizer_.running() || child_.running() || dragging_action_ || dragging_boundary_ >= 0;
}

float GuiApp::gantt_row_y(int side, int device) const {
  if (side < 0 || side > 1 || device < 0 || device >= static_cast<int>(layouts_[side].rows.size())) return -1;
  const LaneSlot* s = layouts_[side].slot(device, LaneKind::Compute);
  return s ? side_top_[side] + (s->y0 + s->y1) * 0.5f : -1;
}

float GuiApp::boundary_handle_x(int boundary) const {
  if (boundary < 0 || boundary >= static_cast<int>(boundary_x_.size())) return -1;
  return boundary_x_[boundary];
}

// ---------------------------------------------------------------------------------------------
// Background work

void GuiApp::start_optimizer() {
  if (optimizer_.running()) return;
  if (!editor_.has_plan()) return;
  opt_options_.devices = editor_.plan().num_devices();
  opt_options_.microbatches = editor_.plan().num_microbatches;
  opt_options_.sim = editor_.sim_options();
  opt_options_.sim.record_memory_timeline = false;
  opt_history_.clear();
  opt_start_ms_ = editor_.sim().iteration_ms;
  // What no plan can beat, shown beside the best so the user sees how much is left to find.
  try {
    opt_bound_ms_ = iteration_lower_bound(editor_.costs(), editor_.cluster(), opt_options_.devices,
                                          opt_options_.microbatches, opt_options_.sim)
                        .ms;
  } catch (const InputError&) {
    opt_bound_ms_ = 0;  // the optimizer reports the same problem when it starts
  }
  opt_seen_version_ = 0;
  // The plan before the search stays visible as B, so the live best shows its gain.
  if (!compare_) {
    pin_current_for_compare();
    compare_->label = "before optimize (" + format_ms(opt_start_ms_) + ")";
  }
  if (!optimizer_.start(editor_.costs(), editor_.cluster(), opt_options_)) {
    note("the optimizer is already running", true);
    return;
  }
  if (opt_live_) {
    editor_.begin_gesture();
    opt_gesture_ = true;
  }
  note(strf("optimizing %d devices x %d micro-batches for %.0f s...", opt_options_.devices, opt_options_.microbatches,
            opt_options_.time_limit_s));
  bottom_tab_request_ = BottomTab::Optimizer;
}

void GuiApp::poll_background() {
  // Optimizer: progress every frame, the best plan whenever it improves.
  const OptimizerJob::Status st = optimizer_.status();
  if (st.running || st.finished) {
    if (st.progress.best_ms > 0 && (opt_history_.empty() || opt_history_.back() != static_cast<float>(st.progress.best_ms)))
      opt_history_.push_back(static_cast<float>(st.progress.best_ms));
    if (st.best_version != opt_seen_version_ && (opt_live_ || st.finished)) {
      if (std::optional<Plan> best = optimizer_.take_best()) {
        opt_seen_version_ = st.best_version;
        const bool in_gesture = editor_.in_gesture();
        if (!in_gesture) editor_.begin_gesture();
        EditResult r = editor_.load_plan(std::move(*best), strf("optimizer best %.2f ms", st.progress.best_ms));
        if (!in_gesture) editor_.end_gesture();
        if (!r.applied) note("optimizer plan refused: " + r.message, true);
      }
    }
    if (st.finished && !optimizer_.running()) {
      if (std::optional<OptimizeResult> res = optimizer_.take_result()) {
        if (opt_gesture_) {
          editor_.end_gesture();
          opt_gesture_ = false;
        }
        if (st.failed) note("optimizer failed: " + st.message, true);
        else
          note(strf("optimizer %s: best %.2f ms (%s), %lld plans evaluated in %.1f s%s%s",
                    st.cancelled ? "cancelled" : "finished", res->sim.iteration_ms,
                    format_signed(res->sim.iteration_ms - opt_start_ms_, 2).c_str(), st.progress.evaluated,
                    st.progress.elapsed_s, res->message.empty() ? "" : "; ", res->message.c_str()),
               !res->feasible);
        fit_pending_ = true;
      } else if (opt_gesture_ && !optimizer_.running()) {
        editor_.end_gesture();
        opt_gesture_ = false;
      }
    }
  }

  // A launched run: find its row, then re-read it twice a second while it runs.
  if (child_.started()) {
    const bool was_running = child_.running();
    const bool running = child_.poll();
    const double now = ImGui::GetTime();
    if (was_running && (!running || now - last_runs_poll_ > 0.5)) {
      last_runs_poll_ = now;
      if (child_run_id_ == 0) child_run_id_ = runs_.run_of_pid(child_.pid());
      else runs_.refresh();
      if (child_run_id_ != 0) {
        // Show the run as B as its iterations arrive (re-read on every refresh).
        if (!compare_ || compare_->kind != Compare::Run || compare_->run_id != child_run_id_) {
          Compare c;
          c.kind = Compare::Run;
          c.run_id = child_run_id_;
          compare_ = c;
          fit_pending_ = true;
        }
        compare_revision_ = ~0ull;
        selected_run_ = child_run_id_;
      }
      if (!running)
        note(strf("run pid %d finished with exit status %d%s", static_cast<int>(child_.pid()), child_.exit_status(),
                  child_.exit_status() ? " (see its log in the Runs tab)" : ""),
             child_.exit_status() != 0);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Frame

void GuiApp::frame() {
  poll_background();
  sync_timelines();
  handle_shortcuts();
  ImGuiIO& io = ImGui::GetIO();
  const Theme& t = theme_;
  if (sidebar_w_ <= 0) sidebar_w_ = t.px(390);
  if (bottom_h_ <= 0) bottom_h_ = std::max(t.px(190), io.DisplaySize.y * 0.27f);
  if (memory_h_ <= 0) memory_h_ = t.px(120);

  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  // The host lays its panes edge to edge (no spacing); each pane pushes the normal spacing back.
  const ImVec2 spacing = ImGui::GetStyle().ItemSpacing;
  spacing_ = spacing;
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(0, 0));
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(0, 0));
  ImGui::Begin("adaptis##host", nullptr,
               ImGuiWindowFlags_NoTitleBar | ImGuiWindowFlags_NoResize | ImGuiWindowFlags_NoMove |
                   ImGuiWindowFlags_NoCollapse | ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_MenuBar |
                   ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse |
                   ImGuiWindowFlags_NoSavedSettings);
  ImGui::PopStyleVar();  // window padding; the zero spacing stays for the layout below
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing);
  draw_menu_bar();
  ImGui::PopStyleVar();
  draw_toolbar();

  const float split = t.px(5);
  const float status_h = ImGui::GetFrameHeight() + t.px(2);
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float body_h = std::max(t.px(200), avail.y - status_h);
  sidebar_w_ = std::clamp(sidebar_w_, t.px(240), std::max(t.px(240), avail.x * 0.6f));
  bottom_h_ = std::clamp(bottom_h_, t.px(90), std::max(t.px(90), body_h * 0.75f));

  ImGui::BeginChild("##sidebar", ImVec2(sidebar_w_, body_h), false, ImGuiWindowFlags_NoScrollbar);
  draw_sidebar(sidebar_w_, body_h);
  ImGui::EndChild();
  ImGui::SameLine(0, 0);
  splitter("##split_side", true, split, body_h, &sidebar_w_, t.px(240), avail.x * 0.6f);
  ImGui::SameLine(0, 0);

  const float centre_w = std::max(t.px(200), avail.x - sidebar_w_ - split);
  const float top_h = std::max(t.px(80), body_h - bottom_h_ - split);
  ImGui::BeginGroup();
  ImGui::BeginChild("##timeline_area", ImVec2(centre_w, top_h), false,
                    ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_NoScrollWithMouse);
  draw_timeline_area(centre_w, top_h);
  ImGui::EndChild();
  splitter("##split_bottom", false, split, centre_w, &bottom_h_, t.px(90), body_h * 0.75f, true);
  ImGui::BeginChild("##bottom", ImVec2(centre_w, bottom_h_), false, ImGuiWindowFlags_NoScrollbar);
  draw_bottom_panel(centre_w, bottom_h_);
  ImGui::EndChild();
  ImGui::EndGroup();

  ImGui::SetCursorScreenPos(ImVec2(0, io.DisplaySize.y - status_h));
  draw_status_bar();
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, spacing);
  draw_dialogs();
  ImGui::PopStyleVar();
  ImGui::End();
  ImGui::PopStyleVar();  // item spacing
}

void GuiApp::handle_shortcuts() {
  ImGuiIO& io = ImGui::GetIO();
  if (io.WantTextInput) return;
  const bool ctrl = io.KeyCtrl, shift = io.KeyShift;
  // The GLFW backend indexes io.KeysDown by GLFW key codes, which are ASCII for letters.
  auto pressed = [](char c) { return ImGui::IsKeyPressed(static_cast<int>(c), false); };
  const bool editing_locked = optimizer_.running() && opt_live_;
  if (ctrl && pressed('Z') && !shift && !editing_locked) {
    if (editor_.undo()) note("undo: back to " + editor_.state().label);
  } else if (ctrl && (pressed('Y') || (shift && pressed('Z'))) && !editing_locked) {
    if (editor_.redo()) note("redo: " + editor_.state().label);
  } else if (ctrl && pressed('S')) {
    open_path_dialog(PathDialog::SavePlan, default_export_path(PlanExport::PlanJson, editor_.plan()));
  } else if (ctrl && pressed('O')) {
    open_path_dialog(PathDialog::OpenPlan, "");
  } else if (ctrl && pressed('Q')) {
    quit_ = true;
  } else if (!ctrl && pressed('F')) {
    fit_pending_ = true;
  } else if (!ctrl && pressed('P')) {
    pin_current_for_compare();
  } else if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false)) {
    if (dragging_action_) dragging_action_ = false;
    else selected_ = {};
  }
  // W/S zoom and A/D pan around the view's centre, as in Perfetto (held keys repeat).
  if (!ctrl) {
    const float cx = axis_.x0 + axis_.width * 0.5f;
    if (ImGui::IsKeyDown('W')) axis_.zoom_at(cx, std::pow(0.985, 60.0 * io.DeltaTime));
    if (ImGui::IsKeyDown('S')) axis_.zoom_at(cx, std::pow(1.015, 60.0 * io.DeltaTime));
    if (ImGui::IsKeyDown('A')) axis_.pan_px(axis_.width * 0.9f * io.DeltaTime);
    if (ImGui::IsKeyDown('D')) axis_.pan_px(-axis_.width * 0.9f * io.DeltaTime);
  }
}

// ---------------------------------------------------------------------------------------------
// Menu, toolbar, status bar

void GuiApp::draw_menu_bar() {
  if (!ImGui::BeginMenuBar()) return;
  const bool locked = optimizer_.running() && opt_live_;
  ImGui::PushFont(theme_.ui_bold);
  ImGui::TextUnformatted("adaptis");
  ImGui::PopFont();
  ImGui::Dummy(ImVec2(theme_.px(10), 0));
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open plan...", "Ctrl+O", false, !locked)) open_path_dialog(PathDialog::OpenPlan, "");
    if (ImGui::MenuItem("Save plan as...", "Ctrl+S"))
      open_path_dialog(PathDialog::SavePlan, default_export_path(PlanExport::PlanJson, editor_.plan()));
    ImGui::Separator();
    if (ImGui::MenuItem("Open session...", nullptr, false, !locked)) open_path_dialog(PathDialog::OpenSession, "");
    if (ImGui::MenuItem("Save session as...")) open_path_dialog(PathDialog::SaveSession, "adaptis-session.json");
    ImGui::Separator();
    if (ImGui::BeginMenu("Export")) {
      for (PlanExport e : {PlanExport::ChromeTrace, PlanExport::PytorchCsv, PlanExport::PytorchCsvComms,
                           PlanExport::Megatron, PlanExport::PlanJson})
        if (ImGui::MenuItem((std::string(plan_export_name(e)) + "...").c_str())) {
          dialog_export_ = e;
          open_path_dialog(PathDialog::Export, default_export_path(e, editor_.plan()));
        }
      ImGui::EndMenu();
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) quit_ = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Edit")) {
    const std::string undo = editor_.can_undo() ? "Undo " + editor_.state().label : std::string("Undo");
    if (ImGui::MenuItem(undo.c_str(), "Ctrl+Z", false, editor_.can_undo() && !locked)) editor_.undo();
    const std::string redo =
        editor_.can_redo() ? "Redo " + editor_.redo_stack().back().label : std::string("Redo");
    if (ImGui::MenuItem(redo.c_str(), "Ctrl+Y", false, editor_.can_redo() && !locked)) editor_.redo();
    ImGui::Separator();
    if (ImGui::MenuItem("Balance partition", nullptr, false, !locked)) after_edit(editor_.balance_partition());
    if (ImGui::MenuItem("Regenerate from schedule", nullptr, false, !locked))
      after_edit(editor_.set_schedule(editor_.state().request.schedule));
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Fit iteration", "F")) fit_pending_ = true;
    ImGui::Separator();
    ImGui::MenuItem("Overview strip", nullptr, &toggles_.overview);
    ImGui::MenuItem("Send / receive lanes", nullptr, &toggles_.transfers);
    ImGui::MenuItem("Bubbles", nullptr, &toggles_.bubbles);
    ImGui::MenuItem("Critical path", nullptr, &toggles_.critical);
    ImGui::MenuItem("Labels", nullptr, &toggles_.labels);
    ImGui::MenuItem("Memory", nullptr, &toggles_.memory);
    ImGui::MenuItem("Measured overlay", nullptr, &toggles_.measured, overlay_.has_value());
    ImGui::Separator();
    if (ImGui::BeginMenu("UI scale")) {
      for (float s : {1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.5f})
        if (ImGui::MenuItem(strf("%.0f%%", s * 100).c_str(), nullptr, std::fabs(theme_.scale - s) < 0.01f))
          requested_scale_ = s;
      ImGui::EndMenu();
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Compare")) {
    if (ImGui::MenuItem("Pin current plan as B", "P")) pin_current_for_compare();
    if (ImGui::BeginMenu("Compare with schedule")) {
      for (const ScheduleInfo& si : all_schedules())
        if (ImGui::MenuItem(si.name)) {
          EditResult r = pin_schedule_for_compare(si.name);
          if (!r.applied) note("compare with " + std::string(si.name) + ": " + r.message, true);
        }
      ImGui::EndMenu();
    }
    if (ImGui::MenuItem("Clear comparison", nullptr, false, compare_.has_value())) clear_compare();
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Run")) {
    if (ImGui::MenuItem("Optimize", nullptr, false, !optimizer_.running())) start_optimizer();
    if (ImGui::MenuItem("Cancel optimizer", nullptr, false, optimizer_.running())) optimizer_.cancel();
    ImGui::Separator();
    if (ImGui::MenuItem("Execute current plan", nullptr, false, !child_.running())) launch_run();
    if (ImGui::MenuItem("Stop execution", nullptr, false, child_.running())) child_.stop();
    if (ImGui::MenuItem("Clear measured overlay", nullptr, false, overlay_.has_value())) {
      overlay_.reset();
      side0_revision_ = ~0ull;
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    ImGui::MenuItem("Mouse and keys", nullptr, &show_about_);
    ImGui::EndMenu();
  }
  // Right side: what is loaded.
  const std::string info = config_.inputs_label + strf("  ·  %d layers  ·  %s", editor_.costs().num_layers(),
                                                       editor_.cluster().name.empty() ? "cluster"
                                                                                      : editor_.cluster().name.c_str());
  const float w = ImGui::CalcTextSize(info.c_str()).x;
  ImGui::SameLine(std::max(ImGui::GetCursorPosX() + theme_.px(20), ImGui::GetWindowWidth() - w - theme_.px(14)));
  ImGui::TextDisabled("%s", info.c_str());
  ImGui::EndMenuBar();
}

void GuiApp::draw_toolbar() {
  const Theme& t = theme_;
  const float h = t.px(50);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(6)));
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(t.px(8), t.px(4)));
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(30, 31, 36, 255));
  ImGui::BeginChild("##toolbar", ImVec2(0, h), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_AlwaysUseWindowPadding);
  const bool locked = optimizer_.running() && opt_live_;
  const PlanRequest& req = editor_.state().request;
  const float ctrl_y = (h - ImGui::GetFrameHeight()) * 0.5f;
  ImGui::SetCursorPosY(ctrl_y);

  ImGui::BeginDisabled(locked);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Schedule");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(t.px(170));
  const std::string current = editor_.state().custom ? editor_.plan().name + " (edited)" : req.schedule;
  if (ImGui::BeginCombo("##schedule", current.c_str())) {
    for (const ScheduleInfo& si : all_schedules()) {
      if (ImGui::Selectable(si.name, !editor_.state().custom && req.schedule == si.name))
        after_edit(editor_.set_schedule(si.name));
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s%s%s", si.description, *si.constraints ? "\n" : "", si.constraints);
    }
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::TextDisabled("Micro-batches");
  ImGui::SameLine();
  if (!ImGui::IsAnyItemActive()) input_microbatches_ = editor_.plan().num_microbatches;
  ImGui::SetNextItemWidth(t.px(96));
  ImGui::InputInt("##mb", &input_microbatches_, 1, 8);
  if (ImGui::IsItemDeactivatedAfterEdit() || (ImGui::IsItemEdited() && !ImGui::GetIO().WantTextInput))
    if (input_microbatches_ != editor_.plan().num_microbatches) after_edit(editor_.set_microbatches(input_microbatches_));
  ImGui::SameLine();
  ImGui::TextDisabled("Devices");
  ImGui::SameLine();
  if (!ImGui::IsAnyItemActive()) input_devices_ = editor_.plan().num_devices();
  ImGui::SetNextItemWidth(t.px(86));
  ImGui::InputInt("##dev", &input_devices_, 1, 4);
  if (ImGui::IsItemDeactivatedAfterEdit() || (ImGui::IsItemEdited() && !ImGui::GetIO().WantTextInput))
    if (input_devices_ != editor_.plan().num_devices()) after_edit(editor_.set_devices(input_devices_));
  ImGui::SameLine(0, t.px(14));
  if (ImGui::Button("Undo") && editor_.can_undo()) editor_.undo();
  if (ImGui::IsItemHovered() && editor_.can_undo()) ImGui::SetTooltip("Ctrl+Z: undo %s", editor_.state().label.c_str());
  ImGui::SameLine();
  if (ImGui::Button("Redo") && editor_.can_redo()) editor_.redo();
  ImGui::EndDisabled();
  ImGui::SameLine(0, t.px(14));
  if (!optimizer_.running()) {
    ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 92, 160, 255));
    ImGui::PushStyleColor(ImGuiCol_ButtonHovered, IM_COL32(60, 112, 190, 255));
    if (ImGui::Button("Optimize")) start_optimizer();
    ImGui::PopStyleColor(2);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Search partition, placement and schedule for %.0f s in the background;\nthe best plan shows live.",
                        opt_options_.time_limit_s);
  } else {
    const OptimizerJob::Status st = optimizer_.status();
    if (ImGui::Button("Cancel")) optimizer_.cancel();
    ImGui::SameLine();
    ImGui::SetNextItemWidth(t.px(120));
    ImGui::ProgressBar(static_cast<float>(st.progress.fraction), ImVec2(t.px(120), 0),
                       strf("%s %.0f%%", st.progress.phase.c_str(), st.progress.fraction * 100).c_str());
  }
  ImGui::SameLine();
  if (ImGui::Button(compare_ ? "Re-pin B" : "Pin as B")) pin_current_for_compare();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("P: keep the current plan as B and compare every edit against it");

  // Headline numbers on the right.
  if (editor_.has_plan()) {
    const PlanSummary& s = sides_[0].summary;
    const float metrics_w = t.px(compare_ ? 470 : 400);
    const float x = ImGui::GetWindowWidth() - metrics_w;
    ImGui::SameLine(std::max(ImGui::GetCursorPosX() + t.px(12), x));
    ImGui::SetCursorPosY(t.px(4));
    const bool has_b = compare_ && sides_[1].summary.iteration_ms > 0;
    std::string iter = format_ms(s.iteration_ms);
    metric(t, "ITERATION", iter);
    if (ImGui::IsItemHovered()) {
      // With the input's lower bound, computed only while hovered: how much any plan could still gain.
      std::string tip = "predicted time of one training iteration";
      try {
        const IterationLowerBound lb = iteration_lower_bound(editor_.costs(), editor_.cluster(),
                                                             editor_.plan().num_devices(),
                                                             editor_.plan().num_microbatches, editor_.sim_options());
        if (lb.ms > 0 && s.iteration_ms > 0)
          tip += strf("\nlower bound %s (%s): no plan of this input can be faster; this one is %.1f%% above it",
                      format_ms(lb.ms).c_str(), lb.binding.c_str(), 100.0 * (s.iteration_ms / lb.ms - 1));
      } catch (const InputError&) {
        // the plan does not fit the cluster: the status bar already says so
      }
      ImGui::SetTooltip("%s", tip.c_str());
    }
    if (has_b) {
      ImGui::SameLine();
      const SummaryDiff d = diff(sides_[1].summary, s);
      ImGui::SetCursorPosY(t.px(4));
      metric(t, "VS B", strf("%+.1f%%", d.iteration_pct), d.iteration_ms <= 0 ? t.good : t.bad,
             "current plan (A) against the pinned plan or run (B)");
    }
    ImGui::SameLine(0, t.px(18));
    ImGui::SetCursorPosY(t.px(4));
    metric(t, "BUBBLE", strf("%.1f%%", s.bubble_ratio * 100), s.bubble_ratio > 0.25 ? t.warn : 0,
           "idle time over devices x iteration");
    ImGui::SameLine(0, t.px(18));
    ImGui::SetCursorPosY(t.px(4));
    metric(t, "PEAK MEMORY", s.peak_memory_bytes > 0 ? format_bytes(s.peak_memory_bytes) : std::string("n/a"),
           s.oom ? t.bad : 0,
           s.oom ? "a device exceeds its memory limit"
                 : s.peak_memory_bytes > 0 ? "highest device peak (static + activations)"
                                           : "the cost input has no memory figures");
    ImGui::SameLine(0, t.px(18));
    ImGui::SetCursorPosY(t.px(4));
    metric(t, "ACTIONS", strf("%zu", s.actions));
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar(2);
}

void GuiApp::draw_status_bar() {
  const Theme& t = theme_;
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(2)));
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(20, 21, 24, 255));
  ImGui::BeginChild("##status", ImVec2(0, ImGui::GetFrameHeight() + t.px(2)), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_AlwaysUseWindowPadding);
  ImGui::AlignTextToFramePadding();
  ImGui::PushStyleColor(ImGuiCol_Text, status_error_ ? t.bad : t.text_dim);
  ImGui::TextUnformatted(status_.empty() ? "ready" : status_.c_str());
  ImGui::PopStyleColor();
  std::string right;
  if (editor_.has_plan())
    right = strf("sim %.1f ms  ·  frame %.1f ms  ·  %d devices  ·  %d stages  ·  %d micro-batches",
                 editor_.last_edit_seconds() * 1e3, frame_ms_, editor_.plan().num_devices(), editor_.plan().num_stages(),
                 editor_.plan().num_microbatches);
  const float w = ImGui::CalcTextSize(right.c_str()).x;
  ImGui::SameLine(std::max(ImGui::GetCursorPosX() + t.px(20), ImGui::GetWindowWidth() - w - t.px(12)));
  ImGui::TextDisabled("%s", right.c_str());
  ImGui::EndChild();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar();
}

// ---------------------------------------------------------------------------------------------
// Dialogs: a path prompt for open / save / export (ImGui has no file dialog; paths are typed,
// relative to the working directory).

void GuiApp::open_path_dialog(PathDialog kind, const std::string& initial) {
  dialog_ = kind;
  dialog_path_ = initial;
  dialog_error_.clear();
  dialog_open_request_ = true;
}

void GuiApp::run_path_dialog(const std::string& path) {
  switch (dialog_) {
    case PathDialog::OpenPlan: {
      std::string ext = std::filesystem::path(path).extension().string();
      Plan plan;
      if (ext == ".csv") {
        PytorchCsvImport ci;
        ci.num_layers = editor_.costs().num_layers();
        ci.name = std::filesystem::path(path).stem().string();
        plan = load_pytorch_csv(path, ci);
      } else {
        plan = load_plan_file(path);
      }
      require_valid_plan(plan, editor_.costs().num_layers(), path);
      EditResult r = editor_.load_plan(std::move(plan), "open " + path);
      if (!r.applied) throw InputError(r.message);
      fit_pending_ = true;
      note("opened " + path);
      break;
    }
    case PathDialog::SavePlan:
      save_plan_file(editor_.plan(), path, {{"source", "adaptis gui"}});
      note("saved the plan to " + path);
      break;
    case PathDialog::OpenSession: open_session(path); break;
    case PathDialog::SaveSession: save_session_to(path); break;
    case PathDialog::Export:
      note(export_plan(dialog_export_, path, editor_.plan(), editor_.sim(), editor_.costs(), editor_.cluster(),
                       editor_.sim_options()));
      break;
    case PathDialog::ExportRunTrace: {
      const size_t n = exec::export_run_chrome_trace(runs_.db(), selected_run_, path);
      note(strf("wrote %zu trace events of run %lld to %s", n, static_cast<long long>(selected_run_), path.c_str()));
      break;
    }
    case PathDialog::None: break;
  }
}

void GuiApp::draw_dialogs() {
  const char* title = "##path";
  switch (dialog_) {
    case PathDialog::OpenPlan: title = "Open plan"; break;
    case PathDialog::SavePlan: title = "Save plan"; break;
    case PathDialog::OpenSession: title = "Open session"; break;
    case PathDialog::SaveSession: title = "Save session"; break;
    case PathDialog::Export: title = "Export plan"; break;
    case PathDialog::ExportRunTrace: title = "Export run trace"; break;
    case PathDialog::None: break;
  }
  if (dialog_open_request_) {
    ImGui::OpenPopup(title);
    dialog_open_request_ = false;
  }
  const ImVec2 centre(ImGui::GetIO().DisplaySize.x * 0.5f, ImGui::GetIO().DisplaySize.y * 0.4f);
  ImGui::SetNextWindowPos(centre, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  ImGui::SetNextWindowSize(ImVec2(theme_.px(560), 0));
  if (dialog_ != PathDialog::None && ImGui::BeginPopupModal(title, nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
    if (dialog_ == PathDialog::Export) {
      ImGui::SetNextItemWidth(-1);
      if (ImGui::BeginCombo("##format", plan_export_name(dialog_export_))) {
        for (PlanExport e : {PlanExport::ChromeTrace, PlanExport::PytorchCsv, PlanExport::PytorchCsvComms,
                             PlanExport::Megatron, PlanExport::PlanJson})
          if (ImGui::Selectable(plan_export_name(e), e == dialog_export_)) {
            dialog_export_ = e;
            dialog_path_ = default_export_path(e, editor_.plan());
          }
        ImGui::EndCombo();
      }
      if (dialog_export_ == PlanExport::Megatron) {
        ImGui::PushFont(theme_.mono);
        ImGui::TextWrapped("%s", megatron_text(editor_.plan(), editor_.costs()).c_str());
        ImGui::PopFont();
      }
    }
    ImGui::TextDisabled("Path (relative to %s)", std::filesystem::current_path().string().c_str());
    ImGui::SetNextItemWidth(-1);
    if (ImGui::IsWindowAppearing()) ImGui::SetKeyboardFocusHere();
    const bool enter = ImGui::InputText("##path", &dialog_path_, ImGuiInputTextFlags_EnterReturnsTrue);
    if (!dialog_error_.empty()) {
      ImGui::PushStyleColor(ImGuiCol_Text, theme_.bad);
      ImGui::PushTextWrapPos(theme_.px(540));
      ImGui::TextUnformatted(dialog_error_.c_str());
      ImGui::PopTextWrapPos();
      ImGui::PopStyleColor();
    }
    ImGui::Spacing();
    if (ImGui::Button("OK", ImVec2(theme_.px(90), 0)) || enter) {
      try {
        if (dialog_path_.empty()) throw InputError("give a file name");
        run_path_dialog(dialog_path_);
        dialog_ = PathDialog::None;
        ImGui::CloseCurrentPopup();
      } catch (const std::exception& e) {
        dialog_error_ = e.what();
      }
    }
    ImGui::SameLine();
    if (ImGui::Button("Cancel", ImVec2(theme_.px(90), 0)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Escape), false)) {
      dialog_ = PathDialog::None;
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }

  if (show_about_) {
    ImGui::SetNextWindowPos(centre, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
    if (ImGui::Begin("Mouse and keys", &show_about_, ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoSavedSettings)) {
      static const char* const kRows[][2] = {
          {"Wheel", "zoom the timeline around the mouse"},
          {"Shift+wheel, right-drag, A / D", "pan in time"},
          {"Ctrl+wheel", "scroll the device rows"},
          {"W / S", "zoom in / out"},
          {"F", "fit the whole iteration"},
          {"Left-drag an action", "move it in its device's order (re-validated, re-simulated)"},
          {"Left-drag on empty space", "measure a time range"},
          {"Double-click a folded block", "zoom to it"},
          {"Click", "select an action or a bubble (details and dependencies)"},
          {"Drag a partition handle (Model)", "move a stage boundary"},
          {"P", "pin the current plan as B for comparison"},
          {"Ctrl+Z / Ctrl+Y", "undo / redo"},
          {"Ctrl+O / Ctrl+S", "open / save a plan"},
      };
      if (ImGui::BeginTable("##keys", 2, ImGuiTableFlags_RowBg)) {
        for (const auto& r : kRows) {
          ImGui::TableNextRow();
          ImGui::TableNextColumn();
          ImGui::PushFont(theme_.mono);
          ImGui::TextUnformatted(r[0]);
          ImGui::PopFont();
          ImGui::TableNextColumn();
          ImGui::TextUnformatted(r[1]);
        }
        ImGui::EndTable();
      }
    }
    ImGui::End();
  }
}

std::string GuiApp::work_dir() {
  if (!config_.work_dir.empty()) return config_.work_dir;
  config_.work_dir = app::make_private_dir("adaptis-gui-");
  return config_.work_dir;
}

}  // namespace adaptis::gui
