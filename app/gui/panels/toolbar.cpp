// The top bar (schedule, micro-batches, devices, undo/redo, optimize, pin as B, headline numbers)
// and the status line at the bottom.
#include <imgui.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adaptis/model/error.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/unit_schedules.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void Toolbar::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  const float h = t.px(50);
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(6)));
  ImGui::PushStyleVar(ImGuiStyleVar_ItemSpacing, ImVec2(t.px(8), t.px(4)));
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(30, 31, 36, 255));
  ImGui::BeginChild("##toolbar", ImVec2(0, h), false, ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_AlwaysUseWindowPadding);
  const bool locked = core.editing_locked();
  const PlanRequest& req = core.editor().request();
  const bool custom = core.has_plan() && core.editor().state().custom && core.problem().empty();
  ImGui::SetCursorPosY((h - ImGui::GetFrameHeight()) * 0.5f);

  ImGui::BeginDisabled(locked);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Schedule");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(t.px(170));
  const std::string current = custom ? core.editor().plan().name + " (edited)" : req.schedule;
  if (ImGui::BeginCombo("##schedule", current.c_str())) {
    for (const ScheduleInfo& si : all_schedules()) {
      if (ImGui::Selectable(si.name, !custom && req.schedule == si.name)) core.choose_schedule(si.name);
      if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s%s%s", si.description, *si.constraints ? "\n" : "", si.constraints);
    }
    // Over variable-length units: the schedules that exist only there.
    if (!req.units.empty())
      for (const UnitScheduleInfo& si : unit_only_schedules()) {
        if (ImGui::Selectable(si.name, !custom && req.schedule == si.name)) core.choose_schedule(si.name);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", si.description);
      }
    ImGui::EndCombo();
  }
  // The fields show the request (a setting that gives no plan stays, so + steps on from it).
  ImGui::SameLine();
  ImGui::TextDisabled("Micro-batches");
  ImGui::SameLine();
  if (!ImGui::IsAnyItemActive()) input_microbatches = custom ? core.editor().plan().num_microbatches : req.microbatches;
  ImGui::SetNextItemWidth(t.px(96));
  // Variable-length units fix the count (one micro-batch per unit).
  if (!req.units.empty()) input_microbatches = static_cast<int>(req.units.size());
  ImGui::BeginDisabled(!req.units.empty());
  ImGui::InputInt("##mb", &input_microbatches, 1, 8);
  if (ImGui::IsItemDeactivatedAfterEdit() || (ImGui::IsItemEdited() && !ImGui::GetIO().WantTextInput))
    if (input_microbatches != (custom ? core.editor().plan().num_microbatches : req.microbatches))
      core.set_microbatches(input_microbatches);
  ImGui::EndDisabled();
  if (!req.units.empty() && ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
    ImGui::SetTooltip("One micro-batch per variable-length unit (%zu units from --lengths; the Data tab lists them)",
                      req.units.size());
  ImGui::SameLine();
  ImGui::TextDisabled("Devices");
  ImGui::SameLine();
  const int devices = custom ? core.editor().plan().num_devices()
                             : (req.devices > 0 ? req.devices : core.editor().cluster().num_devices());
  if (!ImGui::IsAnyItemActive()) input_devices = devices;
  ImGui::SetNextItemWidth(t.px(86));
  ImGui::InputInt("##dev", &input_devices, 1, 4);
  if (ImGui::IsItemDeactivatedAfterEdit() || (ImGui::IsItemEdited() && !ImGui::GetIO().WantTextInput))
    if (input_devices != devices) core.set_devices(input_devices);
  ImGui::SameLine(0, t.px(14));
  if (ImGui::Button("Undo")) core.undo();
  if (ImGui::IsItemHovered() && core.has_plan() && core.editor().can_undo())
    ImGui::SetTooltip("Ctrl+Z: undo %s", core.editor().state().label.c_str());
  ImGui::SameLine();
  if (ImGui::Button("Redo")) core.redo();
  ImGui::EndDisabled();
  ImGui::SameLine(0, t.px(14));
  const explorer::OptimizerState& o = core.optimizer();
  if (o.state != explorer::JobState::Running) {
    ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 92, 160, 255));
    ImGui::PushStyleColor(ImGuiCol_ButtonHovered, IM_COL32(60, 112, 190, 255));
    if (ImGui::Button("Optimize")) {
      core.start_optimizer();
      c.ui.bottom_tab_request = BottomTab::Optimizer;
    }
    ImGui::PopStyleColor(2);
    if (ImGui::IsItemHovered())
      ImGui::SetTooltip("Search partition, placement and schedule for %.0f s in the background;\nthe best plan shows live.",
                        core.config().optimizer.time_limit_s);
  } else {
    if (ImGui::Button("Cancel")) core.cancel_optimizer();
    ImGui::SameLine();
    ImGui::ProgressBar(static_cast<float>(o.progress.fraction), ImVec2(t.px(120), 0),
                       strf("%s %.0f%%", o.progress.phase.c_str(), o.progress.fraction * 100).c_str());
  }
  ImGui::SameLine();
  if (ImGui::Button(core.comparing() ? "Re-pin B" : "Pin as B")) core.pin_current();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("P: keep the current plan as B and compare every edit against it");

  // Headline numbers on the right, after the controls: those that do not fit are dropped from the
  // least telling (actions) on, so none is ever drawn over a button.
  const float controls_end = ImGui::GetItemRectMax().x - ImGui::GetWindowPos().x;
  if (core.has_plan()) {
    const explorer::PlanSummary& s = core.editor().eval().summary;
    const explorer::AbComparison ab = core.comparing() ? core.ab() : explorer::AbComparison{};
    struct Metric {
      const char* caption;
      std::string value;
      ImU32 colour;
      const char* tooltip;
      float gap;  // space before it
    };
    std::vector<Metric> metrics;
    metrics.push_back({"ITERATION", app::format_ms(s.iteration_ms), 0, nullptr, 0});
    if (ab.comparable)
      metrics.push_back({"VS B", strf("%+.1f%%", ab.d.iteration_pct), ab.d.iteration_ms <= 0 ? t.good : t.bad,
                         "current plan (A) against the pinned plan or run (B)", t.px(8)});
    // A whole-cluster plan: throughput over all of its GPUs, MFU and the communication it cannot hide
    // (before the bubble, so they are the last to be dropped on a narrow window after the iteration).
    if (s.parallel) {
      metrics.push_back({"TOKENS/S", strf("%.0f", s.tokens_per_s), t.good, "tokens per second over every GPU of the configuration", t.px(18)});
      metrics.push_back({"MFU", strf("%.1f%%", 100 * s.mfu), 0, "model FLOPs utilisation (F + B + W, no recomputation)", t.px(18)});
      metrics.push_back({"EXPOSED COMM", app::format_ms(s.exposed_comm_ms), s.exposed_comm_ms > 0.1 * s.iteration_ms ? t.warn : 0,
                         "gradient sync beyond the pipeline + the slowest GPU's blocking tp/cp/ep time", t.px(18)});
    }
    metrics.push_back({"BUBBLE", strf("%.1f%%", s.bubble_ratio * 100), s.bubble_ratio > 0.25 ? t.warn : 0,
                       "idle time over devices x iteration", t.px(18)});
    metrics.push_back({"PEAK MEMORY", s.peak_memory_bytes > 0 ? app::format_bytes(s.peak_memory_bytes) : std::string("n/a"),
                       s.oom ? t.bad : 0,
                       s.oom                        ? "a device exceeds its memory limit"
                       : s.peak_memory_bytes > 0 ? "highest device peak (static + activations)"
                                                    : "the cost input has no memory figures",
                       t.px(18)});
    metrics.push_back({"ACTIONS", strf("%zu", s.actions), 0, nullptr, t.px(18)});
    std::vector<float> widths;
    for (const Metric& m : metrics) {
      ImGui::PushFont(t.ui_bold);
      const float value_w = ImGui::CalcTextSize(m.value.c_str()).x;
      ImGui::PopFont();
      widths.push_back(m.gap + std::max(ImGui::CalcTextSize(m.caption).x, value_w));
    }
    const float room = ImGui::GetWindowWidth() - t.px(10) - (controls_end + t.px(24));
    float total = 0;
    for (float w : widths) total += w;
    while (!metrics.empty() && total > room) {
      total -= widths.back();
      metrics.pop_back();
      widths.pop_back();
    }
    float x = ImGui::GetWindowWidth() - t.px(10) - total;
    for (size_t i = 0; i < metrics.size(); ++i) {
      const Metric& m = metrics[i];
      x += m.gap;
      ImGui::SameLine(x);
      ImGui::SetCursorPosY(t.px(4));
      metric(t, m.caption, m.value, m.colour, m.tooltip);
      x += widths[i] - m.gap;
      if (i == 0 && ImGui::IsItemHovered()) {
        // With the input's lower bound, computed only while hovered: how much any plan could still gain.
        std::string tip = "predicted time of one training iteration";
        try {
          const Plan& p = core.editor().plan();
          const IterationLowerBound lb =
              p.units.empty() ? iteration_lower_bound(core.editor().costs(), core.editor().cluster(), p.num_devices(),
                                                      p.num_microbatches, core.editor().sim_options())
                              : iteration_lower_bound(core.editor().costs(), core.editor().cluster(), p.num_devices(),
                                                      p.units, core.editor().sim_options());
          if (lb.ms > 0 && s.iteration_ms > 0)
            tip += strf("\nlower bound %s (%s): no plan of this input can be faster; this one is %.1f%% above it",
                        app::format_ms(lb.ms).c_str(), lb.binding.c_str(), 100.0 * (s.iteration_ms / lb.ms - 1));
        } catch (const InputError&) {
          // the plan does not fit the cluster: the status line already says so
        }
        ImGui::SetTooltip("%s", tip.c_str());
      }
    }
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar(2);
}

void StatusBar::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  ImGui::PushStyleVar(ImGuiStyleVar_WindowPadding, ImVec2(t.px(10), t.px(2)));
  ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(20, 21, 24, 255));
  ImGui::BeginChild("##status", ImVec2(0, ImGui::GetFrameHeight() + t.px(2)), false,
                    ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_AlwaysUseWindowPadding);
  std::string right;
  if (core.has_plan())
    right = strf("sim %.1f ms  ·  frame %.1f ms  ·  %d devices  ·  %d stages  ·  %d micro-batches",
                 core.editor().last_edit_ms(), c.ui.frame_ms, core.editor().plan().num_devices(),
                 core.editor().plan().num_stages(), core.editor().plan().num_microbatches);
  const float right_w = ImGui::CalcTextSize(right.c_str()).x;
  const float win_w = ImGui::GetWindowWidth();
  // The message gets the room left of the fields; a longer one ends in "..." and shows whole on hover.
  const float room = std::max(t.px(60), win_w - right_w - t.px(40));
  const explorer::Message& m = core.message();
  ImGui::AlignTextToFramePadding();
  clipped_text(m.text.empty() ? "ready" : m.text, room, m.error ? t.bad : t.text_dim);
  if (!right.empty()) {
    ImGui::SameLine(std::max(room + t.px(20), win_w - right_w - t.px(12)));
    ImGui::TextDisabled("%s", right.c_str());
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
  ImGui::PopStyleVar();
}

}  // namespace adaptis::gui
