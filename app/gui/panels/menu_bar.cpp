// The menu bar: File (plans, sessions, exports), Edit (undo, partition), View (what the timeline
// draws, scale), Compare, Run (optimizer, execution) and Help.
#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "adaptis/planner/schedules.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void MenuBar::draw(UiContext& c) {
  if (!ImGui::BeginMenuBar()) return;
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  const bool locked = core.editing_locked();
  const bool plan = core.has_plan();
  ImGui::PushFont(t.ui_bold);
  ImGui::TextUnformatted("adaptis");
  ImGui::PopFont();
  ImGui::Dummy(ImVec2(t.px(10), 0));
  if (ImGui::BeginMenu("File")) {
    if (ImGui::MenuItem("Open plan...", "Ctrl+O", false, !locked)) c.ui.open_dialog(PathDialog::OpenPlan, "");
    if (ImGui::MenuItem("Save plan as...", "Ctrl+S", false, plan))
      c.ui.open_dialog(PathDialog::SavePlan,
                       explorer::default_export_path(explorer::PlanExport::PlanJson, core.editor().plan()));
    ImGui::Separator();
    if (ImGui::MenuItem("Open session...", nullptr, false, !locked)) c.ui.open_dialog(PathDialog::OpenSession, "");
    if (ImGui::MenuItem("Save session as...")) c.ui.open_dialog(PathDialog::SaveSession, "adaptis-session.json");
    ImGui::Separator();
    if (ImGui::BeginMenu("Export", plan)) {
      for (explorer::PlanExport e : {explorer::PlanExport::ChromeTrace, explorer::PlanExport::PytorchCsv,
                                     explorer::PlanExport::PytorchCsvComms, explorer::PlanExport::Megatron,
                                     explorer::PlanExport::PlanJson})
        if (ImGui::MenuItem((std::string(explorer::plan_export_name(e)) + "...").c_str())) {
          c.ui.dialog_export = e;
          c.ui.open_dialog(PathDialog::Export, explorer::default_export_path(e, core.editor().plan()));
        }
      ImGui::EndMenu();
    }
    ImGui::Separator();
    if (ImGui::MenuItem("Quit", "Ctrl+Q")) c.ui.quit = true;
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Edit")) {
    const auto undo = core.editor().undo_labels();
    const auto redo = core.editor().redo_labels();
    const std::string u = plan && core.editor().can_undo() ? "Undo " + core.editor().state().label : std::string("Undo");
    if (ImGui::MenuItem(u.c_str(), "Ctrl+Z", false, (core.editor().can_undo() || !core.problem().empty()) && !locked))
      core.undo();
    const std::string r = redo.empty() ? std::string("Redo") : "Redo " + redo.front();
    if (ImGui::MenuItem(r.c_str(), "Ctrl+Y", false, !redo.empty() && !locked)) core.redo();
    ImGui::Separator();
    if (ImGui::MenuItem("Balance partition", nullptr, false, plan && !locked)) core.balance_partition();
    if (ImGui::MenuItem("Even partition", nullptr, false, !locked)) core.even_partition();
    if (ImGui::MenuItem("Regenerate from schedule", nullptr, false, !locked))
      core.choose_schedule(core.editor().request().schedule);
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("View")) {
    if (ImGui::MenuItem("Fit iteration", "F")) core.fit_view();
    if (ImGui::MenuItem("Search actions...", "Ctrl+F")) c.ui.focus_search = true;
    ImGui::MenuItem("Legend", "L", &c.ui.toggles.legend);
    if (ImGui::MenuItem("Sequence data and units")) c.ui.bottom_tab_request = BottomTab::Data;
    ImGui::Separator();
    GanttToggles& tg = c.ui.toggles;
    ImGui::MenuItem("Overview strip", nullptr, &tg.overview);
    ImGui::MenuItem("Send / receive lanes", nullptr, &tg.transfers);
    ImGui::MenuItem("Bubbles", nullptr, &tg.bubbles);
    ImGui::MenuItem("Critical path", nullptr, &tg.critical);
    ImGui::MenuItem("Labels", nullptr, &tg.labels);
    ImGui::MenuItem("Memory", nullptr, &tg.memory);
    ImGui::MenuItem("Measured lanes", nullptr, &tg.measured);
    ImGui::Separator();
    if (ImGui::BeginMenu("UI scale")) {
      for (float s : {1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.5f})
        if (ImGui::MenuItem(strf("%.0f%%", s * 100).c_str(), nullptr, std::fabs(t.scale - s) < 0.01f))
          c.ui.requested_scale = s;
      ImGui::EndMenu();
    }
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Compare")) {
    if (ImGui::MenuItem("Pin current plan as B", "P", false, plan)) core.pin_current();
    if (ImGui::BeginMenu("Compare with schedule", plan)) {
      for (const ScheduleInfo& si : all_schedules())
        if (ImGui::MenuItem(si.name)) core.compare_with_schedule(si.name);
      ImGui::EndMenu();
    }
    if (ImGui::MenuItem("All schedules (table)")) c.ui.bottom_tab_request = BottomTab::Compare;
    if (ImGui::MenuItem("Clear comparison", nullptr, false, core.comparing())) core.clear_compare();
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Run")) {
    const bool running = core.optimizer().state == explorer::JobState::Running;
    if (ImGui::MenuItem("Optimize", nullptr, false, !running && plan)) {
      core.start_optimizer();
      c.ui.bottom_tab_request = BottomTab::Optimizer;
    }
    if (ImGui::MenuItem("Cancel optimizer", nullptr, false, running)) core.cancel_optimizer();
    ImGui::Separator();
    // The whole-cluster search (needs a model spec; the tab says why otherwise).
    const bool searching = core.cluster_plans().state == explorer::JobState::Running;
    if (ImGui::MenuItem("Search cluster plans", nullptr, false, !searching)) {
      core.start_cluster_search();
      c.ui.bottom_tab_request = BottomTab::ClusterPlans;
    }
    if (ImGui::MenuItem("Cancel cluster search", nullptr, false, searching)) core.cancel_cluster_search();
    ImGui::Separator();
    if (ImGui::MenuItem("Execute current plan", nullptr, false, !core.launched().running)) {
      core.launch_run();
      c.ui.bottom_tab_request = BottomTab::Runs;
    }
    if (ImGui::MenuItem("Stop execution", nullptr, false, core.launched().running)) core.stop_run();
    if (ImGui::MenuItem("Clear measured overlay", nullptr, false, core.overlay() != nullptr)) core.clear_overlay();
    ImGui::EndMenu();
  }
  if (ImGui::BeginMenu("Help")) {
    ImGui::MenuItem("Mouse and keys", nullptr, &c.ui.show_keys);
    ImGui::MenuItem("Legend", "L", &c.ui.toggles.legend);
    ImGui::EndMenu();
  }
  // Right side: what is loaded, when it fits after the menus.
  const std::string info = c.config.inputs_label + strf("  ·  %d layers  ·  %s", core.editor().costs().num_layers(),
                                                        core.editor().cluster().name.empty()
                                                            ? "cluster"
                                                            : core.editor().cluster().name.c_str());
  const float w = ImGui::CalcTextSize(info.c_str()).x;
  const float x = ImGui::GetWindowWidth() - w - t.px(14);
  if (x > ImGui::GetCursorPosX() + t.px(20)) {
    ImGui::SameLine(x);
    ImGui::TextDisabled("%s", info.c_str());
  }
  ImGui::EndMenuBar();
}

}  // namespace adaptis::gui
