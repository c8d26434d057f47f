// The Compare tab: A against B (a pinned plan, a built-in schedule or a recorded run, like with
// like), and every built-in schedule on the current devices and micro-batches.
#include <imgui.h>

#include <cmath>

#include "adaptis/planner/schedules.h"
#include "common/schedule_compare.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

using app::format_bytes;
using app::format_ms;

void draw_ab_table(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const explorer::AbComparison ab = core.ab();
  const explorer::Side a = core.side(0), b = core.side(1);
  if (ab.b_is_run && core.comparison().run) {
    // A recorded run: its measurement against its own prediction (the machine it ran on).
    const explorer::LoadedRun& r = *core.comparison().run;
    ImGui::Text("B: run %lld (%s, %d x %d), cost input %s", static_cast<long long>(r.summary.id), r.summary.schedule.c_str(),
                r.summary.num_devices, r.summary.num_microbatches, r.cost_source.empty() ? "?" : r.cost_source.c_str());
    if (ImGui::BeginTable("##runab", 2, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit)) {
      auto row = [&](const char* k, const std::string& v) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextDisabled("%s", k);
        ImGui::TableNextColumn();
        mono_text(t, "%s", v.c_str());
      };
      row("measured iteration", r.has_measurement() ? format_ms(r.measured_ms) + strf("  (median of steps 1..%d)", r.steps_recorded - 1)
                                                    : std::string("—"));
      row("predicted on its machine", format_ms(r.predicted_ms));
      row("error (measured - predicted) / predicted", app::format_percent(r.error()));
      row("iteration drawn", r.step >= 0 ? strf("step %d (%s)", r.step, format_ms(r.step_ms).c_str()) : std::string("—"));
      ImGui::EndTable();
    }
    if (!ab.comparable) {
      ImGui::PushTextWrapPos(0);
      ImGui::TextColored(ImColor(t.warn), "%s", ab.why_not.c_str());
      ImGui::PopTextWrapPos();
      return;
    }
  }
  if (!ab.comparable) {
    ImGui::TextColored(ImColor(t.bad), "%s", ab.why_not.c_str());
    return;
  }
  const explorer::SummaryDiff& d = ab.d;
  if (!ImGui::BeginTable("##cmp", 4, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_SizingFixedFit))
    return;
  ImGui::TableSetupColumn("metric");
  ImGui::TableSetupColumn(("A: " + a.label).c_str());
  ImGui::TableSetupColumn(("B: " + b.label).c_str());
  ImGui::TableSetupColumn("A - B", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  comparison_row(t, "iteration", format_ms(ab.a.iteration_ms), format_ms(ab.b.iteration_ms),
                 app::format_signed(d.iteration_ms, 2) + strf(" ms (%+.1f%%)", d.iteration_pct), d.iteration_ms <= 0);
  comparison_row(t, "speed-up of A", "", "", strf("%.3fx", d.speedup), d.speedup >= 1);
  comparison_row(t, "bubble", strf("%.2f%%", ab.a.bubble_ratio * 100), strf("%.2f%%", ab.b.bubble_ratio * 100),
                 strf("%+.2f pp", d.bubble_ratio * 100), d.bubble_ratio <= 0);
  comparison_row(t, "bubble time (all GPUs)", format_ms(ab.a.bubble_ms), format_ms(ab.b.bubble_ms),
                 app::format_signed(d.bubble_ms, 1) + " ms", d.bubble_ms <= 0);
  if (ab.a.peak_memory_bytes > 0 && ab.b.peak_memory_bytes > 0) {
    // Appended piece by piece: GCC 12 misreports "sign" + std::string&& as an overlapping copy.
    std::string delta = d.peak_memory_bytes >= 0 ? "+" : "-";
    delta += format_bytes(std::fabs(d.peak_memory_bytes));
    delta += strf(" (%+.1f%%)", d.peak_memory_pct);
    comparison_row(t, "peak memory", format_bytes(ab.a.peak_memory_bytes) + strf(" (GPU %d)", ab.a.peak_device),
                   format_bytes(ab.b.peak_memory_bytes) + strf(" (GPU %d)", ab.b.peak_device), delta,
                   d.peak_memory_bytes <= 0);
  }
  comparison_row(t, "out of memory", ab.a.oom ? "yes" : "no", ab.b.oom ? "yes" : "no", "", !ab.a.oom);
  comparison_row(t, "GPUs / actions", strf("%d / %zu", ab.a.devices, ab.a.actions), strf("%d / %zu", ab.b.devices, ab.b.actions),
                 "", true);
  ImGui::EndTable();
}

// Every built-in schedule on this input, the edited plan and the optimizer's: the same table as
// the TUI's compare view and `adaptis compare`.
void draw_schedule_table(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const auto rows = core.schedule_table();
  const app::CompareRow* best = app::fastest(*rows);
  const std::string on_screen = core.on_screen_label();
  const double now = core.has_plan() && core.problem().empty() ? core.editor().sim().iteration_ms : 0;
  if (!ImGui::BeginTable("##schedules", 6, ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_ScrollY))
    return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("schedule");
  ImGui::TableSetupColumn("iteration");
  ImGui::TableSetupColumn("bubble");
  ImGui::TableSetupColumn("peak memory");
  ImGui::TableSetupColumn("vs on screen");
  ImGui::TableSetupColumn("note", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableHeadersRow();
  std::string use;
  for (const app::CompareRow& r : *rows) {
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    if (ImGui::Selectable(strf("%s%s##row", r.name == on_screen ? "* " : "", r.name.c_str()).c_str(), r.name == on_screen,
                          ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick) &&
        ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left))
      use = r.name;
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("double-click shows this plan");
    if (!r.ok) {
      ImGui::TableNextColumn();
      ImGui::TextDisabled("—");
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      ImGui::TableNextColumn();
      ImGui::PushTextWrapPos(0);
      ImGui::TextDisabled("%s", r.error.c_str());
      ImGui::PopTextWrapPos();
      continue;
    }
    ImGui::PushFont(t.mono);
    ImGui::TableNextColumn();
    ImGui::TextColored(ImColor(&r == best ? t.good : t.text), "%s", format_ms(r.sim.iteration_ms).c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%.1f%%", 100 * r.sim.bubble_ratio);
    ImGui::TableNextColumn();
    const double peak = app::peak_memory(r.sim);
    ImGui::TextUnformatted(peak > 0 ? format_bytes(peak).c_str() : "—");
    ImGui::TableNextColumn();
    ImGui::Text("%s", now > 0 ? strf("%.3fx", now / r.sim.iteration_ms).c_str() : "—");
    ImGui::PopFont();
    ImGui::TableNextColumn();
    if (r.sim.oom) ImGui::TextColored(ImColor(t.bad), "OOM");
    else if (&r == best) ImGui::TextColored(ImColor(t.good), "fastest");
  }
  ImGui::EndTable();
  if (!use.empty()) core.use_schedule_row(use);
}

}  // namespace

void ComparePanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  if (ImGui::Button("Pin current plan as B")) core.pin_current();
  ImGui::SameLine();
  ImGui::SetNextItemWidth(t.px(200));
  if (ImGui::BeginCombo("##cmp_sched", "Compare with a schedule...")) {
    for (const ScheduleInfo& si : all_schedules())
      if (ImGui::Selectable(si.name)) core.compare_with_schedule(si.name);
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(!core.comparing());
  if (ImGui::Button("Clear")) core.clear_compare();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::Checkbox("all schedules", &show_schedules);
  ImGui::SameLine();
  ImGui::TextDisabled("Runs can be compared from the Runs tab.");
  if (show_schedules) return draw_schedule_table(c);
  if (!core.comparing()) {
    ImGui::TextWrapped("Pin the current plan (P) and keep editing, or pick a schedule: both plans then share the "
                       "timeline and this table shows what changed. Tick \"all schedules\" to rank every built-in "
                       "schedule on this input.");
    return;
  }
  draw_ab_table(c);
}

}  // namespace adaptis::gui
