// The Runs tab: recorded runs from the SQLite run store (measured iteration, the run's own
// prediction and its error, one definition each, as everywhere), launching `adaptis run` on the
// current plan (its timeline arrives live as B), a run under the plan or as B, two runs side by
// side, and exporting a run's trace.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

using app::format_ms;

void RunsPanel::draw_pair_table(UiContext& c) {
  const Theme& t = c.theme;
  const explorer::Explorer& core = c.core;
  const auto& a = core.ticked(0);
  const auto& b = core.ticked(1);
  if (!a || !b) {
    ImGui::TextDisabled("Tick two runs to compare them; double-click a run to show it as B on the timeline.");
    return;
  }
  const explorer::SummaryDiff d = explorer::diff(a->measured_summary, b->measured_summary);
  if (!ImGui::BeginTable("##runpair", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit))
    return;
  ImGui::TableSetupColumn("");
  ImGui::TableSetupColumn(strf("run %lld (%s)", static_cast<long long>(a->summary.id), a->summary.schedule.c_str()).c_str());
  ImGui::TableSetupColumn(strf("run %lld (%s)", static_cast<long long>(b->summary.id), b->summary.schedule.c_str()).c_str());
  ImGui::TableSetupColumn("second - first", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  comparison_row(t, "measured iteration", format_ms(a->measured_ms), format_ms(b->measured_ms),
                 app::format_signed(d.iteration_ms, 2) + strf(" ms (%+.1f%%)", d.iteration_pct), d.iteration_ms <= 0);
  comparison_row(t, "predicted (own machine)", format_ms(a->predicted_ms), format_ms(b->predicted_ms),
                 app::format_signed(b->predicted_ms - a->predicted_ms, 2) + " ms", b->predicted_ms <= a->predicted_ms);
  comparison_row(t, "prediction error", app::format_percent(a->error()), app::format_percent(b->error()), "", true);
  comparison_row(t, "measured bubble", strf("%.1f%%", a->measured_summary.bubble_ratio * 100),
                 strf("%.1f%%", b->measured_summary.bubble_ratio * 100), strf("%+.1f pp", d.bubble_ratio * 100),
                 d.bubble_ratio <= 0);
  comparison_row(t, "GPUs x micro-batches", strf("%d x %d", a->summary.num_devices, a->summary.num_microbatches),
                 strf("%d x %d", b->summary.num_devices, b->summary.num_microbatches), "", true);
  comparison_row(t, "final loss", std::isfinite(a->summary.final_loss) ? strf("%.5f", a->summary.final_loss) : "—",
                 std::isfinite(b->summary.final_loss) ? strf("%.5f", b->summary.final_loss) : "—", "", true);
  const bool same = a->summary.grad_checksum == b->summary.grad_checksum;
  comparison_row(t, "gradient checksum", a->summary.grad_checksum, b->summary.grad_checksum, same ? "identical" : "differs",
                 same);
  ImGui::EndTable();
}

void RunsPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  if (!loaded) {
    core.refresh_runs();
    loaded = true;
  }
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Database");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(std::max(t.px(200), ImGui::GetContentRegionAvail().x * 0.45f));
  if (ImGui::InputText("##db", &db_input, ImGuiInputTextFlags_EnterReturnsTrue)) core.set_runs_db(db_input);
  ImGui::SameLine();
  if (ImGui::Button("Refresh")) core.set_runs_db(db_input);
  ImGui::SameLine(0, t.px(16));
  const explorer::LaunchedRun& run = core.launched();
  ImGui::BeginDisabled(run.running);
  ImGui::SetNextItemWidth(t.px(90));
  ImGui::InputInt("steps", &core.config().run_steps);
  core.config().run_steps = std::max(1, core.config().run_steps);
  ImGui::SameLine();
  ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 120, 84, 255));
  if (ImGui::Button("Execute current plan")) core.launch_run();
  ImGui::PopStyleColor();
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Runs `adaptis run` on the plan on screen in a separate process (CPU executor, real math);\n"
                      "its measured timeline appears as B as iterations are recorded.");
  if (run.running) {
    ImGui::SameLine();
    if (ImGui::Button("Stop")) core.stop_run();
  }
  const explorer::RunStoreView& store = core.runs();
  if (!store.note.empty())
    ImGui::TextColored(ImColor(store.note_is_error ? t.bad : t.text_dim), "%s", store.note.c_str());

  if (run.pid > 0) {
    ImGui::TextColored(ImColor(run.running ? t.warn : run.exit_status ? t.bad : t.good), "%s",
                       run.running ? strf("running (pid %d)%s", run.pid,
                                          run.run_id ? strf(", run %lld", static_cast<long long>(run.run_id)).c_str() : "")
                                         .c_str()
                                   : strf("finished, exit status %d", run.exit_status).c_str());
    ImGui::SameLine();
    clipped_text(run.command, std::max(t.px(80), ImGui::GetContentRegionAvail().x), t.text_dim);
    if (!run.log_tail.empty() && (!run.running || ImGui::IsItemHovered())) {
      std::string tail;
      for (size_t i = run.log_tail.size() > 4 ? run.log_tail.size() - 4 : 0; i < run.log_tail.size(); ++i)
        tail += run.log_tail[i] + "\n";
      ImGui::PushFont(t.mono);
      ImGui::PushTextWrapPos(0);
      ImGui::TextDisabled("%s", tail.c_str());
      ImGui::PopTextWrapPos();
      ImGui::PopFont();
    }
  }

  const int64_t sel = core.selected_run();
  ImGui::BeginDisabled(sel == 0);
  if (ImGui::Button("Show as B")) core.compare_with_run(sel);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("the run's own prediction with its measured actions under it, next to the plan");
  ImGui::SameLine();
  if (ImGui::Button("Overlay on the plan")) core.overlay_run(sel);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("its measured actions under this plan's prediction (only when it ran with this session's costs)");
  ImGui::SameLine();
  if (ImGui::Button("Open its plan")) core.open_run_plan(sel);
  ImGui::SameLine();
  if (ImGui::Button("Export trace..."))
    c.ui.open_dialog(PathDialog::ExportRunTrace, strf("adaptis-run-%lld.trace.json", static_cast<long long>(sel)));
  ImGui::EndDisabled();
  if (const auto& o = core.overlay()) {
    ImGui::SameLine(0, t.px(16));
    ImGui::TextDisabled("overlay: run %lld, iteration %d: measured %s vs predicted %s",
                        static_cast<long long>(o->summary.id), o->step, format_ms(o->measured_ms).c_str(),
                        format_ms(o->predicted_ms).c_str());
    ImGui::SameLine();
    if (ImGui::SmallButton("clear")) core.clear_overlay();
  }

  if (store.runs.empty()) {
    if (store.read)
      ImGui::TextDisabled("No recorded runs in %s. `adaptis run --plan FILE --model FILE --db DB` records one; so does "
                          "Execute above.",
                          store.db_path.c_str());
    return;
  }
  draw_pair_table(c);
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("##runs", 11, tf, ImVec2(0, 0))) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("cmp");
  ImGui::TableSetupColumn("run");
  ImGui::TableSetupColumn("status");
  ImGui::TableSetupColumn("started");
  ImGui::TableSetupColumn("schedule");
  ImGui::TableSetupColumn("GPUs x mbs");
  ImGui::TableSetupColumn("steps");
  ImGui::TableSetupColumn("predicted");
  ImGui::TableSetupColumn("measured");
  ImGui::TableSetupColumn("error");
  ImGui::TableSetupColumn("loss", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  int64_t tick = 0, open_b = 0;
  for (const exec::RunSummary& r : store.runs) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    bool ticked = r.id == core.ticked_id(0) || r.id == core.ticked_id(1);
    if (ImGui::Checkbox(strf("##tick%lld", static_cast<long long>(r.id)).c_str(), &ticked)) tick = r.id;
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("%lld", static_cast<long long>(r.id)).c_str(), sel == r.id,
                          ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick)) {
      core.select_run(r.id);
      if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) open_b = r.id;
    }
    ImGui::TableNextColumn();
    const ImU32 sc = r.status == "complete" ? t.good : r.status == "running" ? t.warn : t.bad;
    ImGui::TextColored(ImColor(sc), "%s", r.status.c_str());
    if (!r.error.empty() && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.error.c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(explorer::local_time(r.started_utc_ns).c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.schedule.c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%d x %d", r.num_devices, r.num_microbatches);
    ImGui::TableNextColumn();
    ImGui::Text("%d/%d", r.steps_done, r.steps);
    ImGui::PushFont(t.mono);
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.predicted_iteration_ms > 0 ? format_ms(r.predicted_iteration_ms).c_str() : "—");
    ImGui::TableNextColumn();
    const double measured = explorer::measured_iteration_ms(r);
    ImGui::TextUnformatted(measured > 0 ? format_ms(measured).c_str() : "—");
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("median iteration of the steps after the first");
    ImGui::TableNextColumn();
    const double err = explorer::prediction_error(r);
    if (std::isfinite(err)) {
      ImGui::TextColored(ImColor(std::fabs(err) <= 0.1 ? t.good : t.warn), "%s", app::format_percent(err).c_str());
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("(measured - predicted) / predicted, predicted with the run's own costs");
    } else {
      ImGui::TextUnformatted("—");
    }
    ImGui::TableNextColumn();
    if (std::isfinite(r.final_loss)) ImGui::Text("%.5f", r.final_loss);
    ImGui::PopFont();
  }
  ImGui::EndTable();
  if (tick) core.tick_run(tick);
  if (open_b) core.compare_with_run(open_b);
}

}  // namespace adaptis::gui
