// The Runs tab: recorded runs from the SQLite run store, launching `adaptis run` on the current
// plan as a separate process (its timeline arrives live as the store commits iterations), the
// predicted-vs-measured overlay, comparing a run with the plan, and exporting a run's trace.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <cmath>
#include <ctime>
#include <stdexcept>

#include "adaptis/model/error.h"
#include "adaptis/planner/plan_file.h"
#include "common/private_work_dir.h"
#include "gui/gui_app.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void GuiApp::launch_run() {
  if (child_.running()) {
    note("a run is already in progress (pid " + std::to_string(child_.pid()) + ")", true);
    return;
  }
  if (config_.model_path.empty()) {
    note("a run executes the real model: start `adaptis gui` with --model FILE (cost files alone cannot run)", true);
    return;
  }
  try {
    const std::string dir = work_dir();
    ++run_counter_;
    const std::string plan_path = dir + "/run" + std::to_string(run_counter_) + "-plan.json";
    child_log_ = dir + "/run" + std::to_string(run_counter_) + ".log";
    app::write_new_file(plan_path, plan_to_json(editor_.plan(), {{"source", "adaptis gui"}}).dump(1) + "\n");
    const std::string exe = config_.binary.empty() ? self_executable() : config_.binary;
    std::vector<std::string> argv = run_command(exe, plan_path, config_.model_path, runs_.db(), config_.run_steps);
    child_.start(argv, child_log_);
    child_run_id_ = 0;
    last_runs_poll_ = -1;
    child_command_.clear();
    for (const auto& a : argv) child_command_ += (child_command_.empty() ? "" : " ") + a;
    note("launched " + child_command_);
    bottom_tab_request_ = BottomTab::Runs;
  } catch (const std::exception& e) {
    note(std::string("cannot launch the run: ") + e.what(), true);
  }
}

void GuiApp::overlay_run(int64_t run_id) {
  try {
    LoadedRun run = runs_.load(run_id);
    if (run.measured.empty()) throw InputError("run " + std::to_string(run_id) + " recorded no iteration yet");
    const bool same_shape = run.plan.num_devices() == editor_.plan().num_devices() &&
                            run.plan.num_stages() == editor_.plan().num_stages() &&
                            run.plan.num_microbatches == editor_.plan().num_microbatches;
    // Under the prediction on screen only when both are on one time scale: a run predicted with
    // other costs (a CPU profile against analytical H100 costs) is shown as B, with its own prediction.
    const double here = editor_.sim().iteration_ms, there = run.predicted_summary.iteration_ms;
    if (!(there > 0) || !(here > 0) || there / here > 1.25 || here / there > 1.25) {
      compare_with_run(run_id);
      note(strf("run %lld was predicted at %s with its own costs, this session predicts %s: showing it as B on its "
                "own time scale (start the GUI with --costs of that profile to overlay it here)",
                static_cast<long long>(run_id), format_ms(there).c_str(), format_ms(here).c_str()));
      return;
    }
    overlay_ = std::move(run);
    overlay_error_.clear();
    toggles_.measured = true;
    side0_revision_ = ~0ull;
    note(strf("overlaying run %lld (iteration %d)%s", static_cast<long long>(run_id), overlay_->step,
              same_shape ? "" : "; note: the run executed a plan of another shape than the one on screen"),
         !same_shape);
  } catch (const std::exception& e) {
    note(std::string("cannot overlay the run: ") + e.what(), true);
  }
}

void GuiApp::compare_with_run(int64_t run_id) {
  Compare c;
  c.kind = Compare::Run;
  c.run_id = run_id;
  c.label = "run " + std::to_string(run_id) + " (measured)";
  compare_ = c;
  compare_revision_ = ~0ull;
  sync_timelines();
  fit_pending_ = true;
  if (!(sides_[1].summary.iteration_ms > 0)) note(sides_[1].label, true);
}

namespace {
int64_t resolve_run(RunBrowser& runs, const std::string& ref) {
  if (!runs.refresh()) throw InputError(runs.db() + ": " + runs.note());
  if (runs.runs().empty()) throw InputError(runs.db() + ": no recorded runs");
  if (ref == "latest" || ref == "last") return runs.runs().front().id;  // newest first
  int64_t id = 0;
  try {
    size_t used = 0;
    id = std::stoll(ref, &used);
    if (used != ref.size()) throw std::invalid_argument(ref);
  } catch (const std::exception&) {
    throw InputError("run '" + ref + "': expected 'latest' or a run id");
  }
  for (const auto& r : runs.runs())
    if (r.id == id) return id;
  throw InputError(runs.db() + ": no run " + ref);
}
}  // namespace

void GuiApp::overlay_run_ref(const std::string& ref) {
  const int64_t id = resolve_run(runs_, ref);
  LoadedRun run = runs_.load(id);
  if (run.measured.empty()) throw InputError(runs_.db() + ": run " + std::to_string(id) + " recorded no iteration");
  selected_run_ = id;
  runs_loaded_ = true;
  overlay_run(id);
  fit_pending_ = true;
}

void GuiApp::compare_run_ref(const std::string& ref) {
  const int64_t id = resolve_run(runs_, ref);
  selected_run_ = id;
  runs_loaded_ = true;
  compare_with_run(id);
  if (!(sides_[1].summary.iteration_ms > 0)) throw InputError(sides_[1].label);
}

void GuiApp::toggle_run_tick(int64_t run_id) {
  // Ticking a third run drops the older tick.
  if (tick_runs_[0] == run_id) {
    tick_runs_[0] = tick_runs_[1];
    ticked_[0] = std::move(ticked_[1]);
    tick_runs_[1] = 0;
    ticked_[1].reset();
    return;
  }
  if (tick_runs_[1] == run_id) {
    tick_runs_[1] = 0;
    ticked_[1].reset();
    return;
  }
  if (tick_runs_[0] && tick_runs_[1]) {
    tick_runs_[0] = tick_runs_[1];
    ticked_[0] = std::move(ticked_[1]);
    tick_runs_[1] = 0;
  }
  const int slot = tick_runs_[0] ? 1 : 0;
  tick_runs_[slot] = run_id;
  ticked_[slot].reset();
  ticked_error_.clear();
  try {
    ticked_[slot] = runs_.load(run_id);
  } catch (const std::exception& e) {
    ticked_error_ = e.what();
    tick_runs_[slot] = 0;
  }
}

// Two recorded runs next to each other: what each measured and predicted, and the difference.
void GuiApp::draw_run_pair_table() {
  const Theme& t = theme_;
  if (!ticked_error_.empty()) ImGui::TextColored(ImColor(t.bad), "%s", ticked_error_.c_str());
  if (!ticked_[0] || !ticked_[1]) {
    ImGui::TextDisabled("Tick two runs to compare them; double-click a run to show it as B on the timeline.");
    return;
  }
  const LoadedRun& a = *ticked_[0];
  const LoadedRun& b = *ticked_[1];
  const SummaryDiff d = diff(a.measured_summary, b.measured_summary);
  if (!ImGui::BeginTable("##runpair", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit))
    return;
  ImGui::TableSetupColumn("");
  ImGui::TableSetupColumn(strf("run %lld (%s)", static_cast<long long>(a.summary.id), a.summary.schedule.c_str()).c_str());
  ImGui::TableSetupColumn(strf("run %lld (%s)", static_cast<long long>(b.summary.id), b.summary.schedule.c_str()).c_str());
  ImGui::TableSetupColumn("second - first", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  comparison_row(t, "measured iteration", format_ms(a.measured_summary.iteration_ms), format_ms(b.measured_summary.iteration_ms),
      format_signed(d.iteration_ms, 2) + strf(" ms (%+.1f%%)", d.iteration_pct), d.iteration_ms <= 0);
  comparison_row(t, "predicted iteration", format_ms(a.predicted_summary.iteration_ms), format_ms(b.predicted_summary.iteration_ms),
      format_signed(b.predicted_summary.iteration_ms - a.predicted_summary.iteration_ms, 2) + " ms",
      b.predicted_summary.iteration_ms <= a.predicted_summary.iteration_ms);
  comparison_row(t, "measured bubble", strf("%.1f%%", a.measured_summary.bubble_ratio * 100),
      strf("%.1f%%", b.measured_summary.bubble_ratio * 100), strf("%+.1f pp", d.bubble_ratio * 100), d.bubble_ratio <= 0);
  comparison_row(t, "GPUs x micro-batches", strf("%d x %d", a.summary.num_devices, a.summary.num_microbatches),
      strf("%d x %d", b.summary.num_devices, b.summary.num_microbatches), "", true);
  comparison_row(t, "final loss", std::isfinite(a.summary.final_loss) ? strf("%.5f", a.summary.final_loss) : "—",
      std::isfinite(b.summary.final_loss) ? strf("%.5f", b.summary.final_loss) : "—", "", true);
  comparison_row(t, "gradient checksum", a.summary.grad_checksum, b.summary.grad_checksum,
      a.summary.grad_checksum == b.summary.grad_checksum ? "identical" : "differs",
      a.summary.grad_checksum == b.summary.grad_checksum);
  ImGui::EndTable();
}

void GuiApp::draw_runs_tab() {
  const Theme& t = theme_;
  if (!runs_loaded_) {
    runs_.refresh();
    runs_loaded_ = true;
  }
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Database");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(std::max(t.px(200), ImGui::GetContentRegionAvail().x * 0.45f));
  if (ImGui::InputText("##db", &runs_db_input_, ImGuiInputTextFlags_EnterReturnsTrue)) {
    runs_.set_db(runs_db_input_);
    runs_.refresh();
  }
  ImGui::SameLine();
  if (ImGui::Button("Refresh")) {
    runs_.set_db(runs_db_input_);
    runs_.refresh();
  }
  ImGui::SameLine(0, t.px(16));
  ImGui::BeginDisabled(child_.running());
  ImGui::SetNextItemWidth(t.px(90));
  ImGui::InputInt("steps", &config_.run_steps);
  config_.run_steps = std::max(1, config_.run_steps);
  ImGui::SameLine();
  ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 120, 84, 255));
  if (ImGui::Button("Execute current plan")) launch_run();
  ImGui::PopStyleColor();
  ImGui::EndDisabled();
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("Runs `adaptis run` on the plan on screen in a separate process (CPU executor, real math);\n"
                      "its measured timeline appears under the prediction as iterations are recorded.");
  if (child_.running()) {
    ImGui::SameLine();
    if (ImGui::Button("Stop")) child_.stop();
  }
  if (!runs_.note().empty()) ImGui::TextColored(ImColor(t.bad), "%s", runs_.note().c_str());

  if (child_.started()) {
    ImGui::TextColored(ImColor(child_.running() ? t.warn : child_.exit_status() ? t.bad : t.good), "%s",
                       child_.running() ? strf("running (pid %d)%s", static_cast<int>(child_.pid()),
                                               child_run_id_ ? strf(", run %lld", static_cast<long long>(child_run_id_)).c_str() : "")
                                              .c_str()
                                        : strf("finished, exit status %d", child_.exit_status()).c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%s", child_command_.c_str());
    if (!child_.running() || ImGui::IsItemHovered()) {
      const std::string tail = tail_text(child_log_, 4);
      if (!tail.empty()) {
        ImGui::PushFont(t.mono);
        ImGui::PushTextWrapPos(0);
        ImGui::TextDisabled("%s", tail.c_str());
        ImGui::PopTextWrapPos();
        ImGui::PopFont();
      }
    }
  }
  if (!overlay_error_.empty()) ImGui::TextColored(ImColor(t.bad), "%s", overlay_error_.c_str());

  const auto& runs = runs_.runs();
  ImGui::BeginDisabled(selected_run_ == 0);
  if (ImGui::Button("Show as B")) compare_with_run(selected_run_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("the run's recorded prediction with its measured actions under it, next to the plan");
  ImGui::SameLine();
  if (ImGui::Button("Overlay on the plan")) overlay_run(selected_run_);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("its measured actions under this plan's prediction (same costs only)");
  ImGui::SameLine();
  if (ImGui::Button("Open its plan")) {
    try {
      LoadedRun run = runs_.load(selected_run_);
      EditResult r = editor_.load_plan(run.plan, "plan of run " + std::to_string(selected_run_));
      after_edit(r);
      if (r.applied && !run.measured.empty()) {
        overlay_ = std::move(run);
        side0_revision_ = ~0ull;
      }
      fit_pending_ = true;
    } catch (const std::exception& e) {
      note(e.what(), true);
    }
  }
  ImGui::SameLine();
  if (ImGui::Button("Export trace...")) open_path_dialog(PathDialog::ExportRunTrace, strf("adaptis-run-%lld.trace.json", static_cast<long long>(selected_run_)));
  ImGui::EndDisabled();
  if (overlay_) {
    ImGui::SameLine(0, t.px(16));
    ImGui::TextDisabled("overlay: run %lld, iteration %d: measured %s vs predicted %s", static_cast<long long>(overlay_->summary.id),
                        overlay_->step, format_ms(overlay_->measured_summary.iteration_ms).c_str(),
                        format_ms(overlay_->predicted_summary.iteration_ms).c_str());
    ImGui::SameLine();
    if (ImGui::SmallButton("clear")) {
      overlay_.reset();
      side0_revision_ = ~0ull;
    }
  }

  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  if (runs.empty()) {
    ImGui::TextDisabled("No recorded runs in %s. `adaptis run --plan FILE --model FILE --db DB` records one; so does "
                        "Execute above.", runs_.db().c_str());
    return;
  }
  draw_run_pair_table();
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
  int64_t tick = 0;
  for (const exec::RunSummary& r : runs) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    bool ticked = r.id == tick_runs_[0] || r.id == tick_runs_[1];
    if (ImGui::Checkbox(strf("##tick%lld", static_cast<long long>(r.id)).c_str(), &ticked)) tick = r.id;
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("%lld", static_cast<long long>(r.id)).c_str(), selected_run_ == r.id,
                          ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick)) {
      selected_run_ = r.id;
      if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) compare_with_run(r.id);
    }
    ImGui::TableNextColumn();
    const ImU32 sc = r.status == "complete" ? t.good : r.status == "running" ? t.warn : t.bad;
    ImGui::TextColored(ImColor(sc), "%s", r.status.c_str());
    if (!r.error.empty() && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", r.error.c_str());
    ImGui::TableNextColumn();
    char when[32] = "";
    const std::time_t secs = static_cast<std::time_t>(r.started_utc_ns / 1000000000LL);
    std::tm tm{};
    if (localtime_r(&secs, &tm)) std::strftime(when, sizeof when, "%m-%d %H:%M:%S", &tm);
    ImGui::TextUnformatted(when);
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.schedule.c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%d x %d", r.num_devices, r.num_microbatches);
    ImGui::TableNextColumn();
    ImGui::Text("%d/%d", r.steps_done, r.steps);
    ImGui::PushFont(t.mono);
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(format_ms(r.predicted_iteration_ms).c_str());
    ImGui::TableNextColumn();
    const bool has_meas = std::isfinite(r.measured_iteration_ms) && r.measured_iteration_ms > 0;
    ImGui::TextUnformatted(has_meas ? format_ms(r.measured_iteration_ms).c_str() : "—");
    ImGui::TableNextColumn();
    if (has_meas && r.predicted_iteration_ms > 0) {
      const double err = 100.0 * (r.measured_iteration_ms - r.predicted_iteration_ms) / r.predicted_iteration_ms;
      ImGui::TextColored(ImColor(std::fabs(err) <= 10 ? t.good : t.warn), "%+.1f%%", err);
    } else {
      ImGui::TextUnformatted("—");
    }
    ImGui::TableNextColumn();
    if (std::isfinite(r.final_loss)) ImGui::Text("%.5f", r.final_loss);
    ImGui::PopFont();
  }
  ImGui::EndTable();
  if (tick) toggle_run_tick(tick);
}

}  // namespace adaptis::gui
