// The Optimizer tab: budget and options, start / cancel, live progress with the best iteration time
// over the search, and what the search found against the plan it started from.
#include <imgui.h>

#include <algorithm>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void OptimizerPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  const explorer::OptimizerState& st = core.optimizer();
  const bool running = st.state == explorer::JobState::Running;
  OptimizeOptions& opt = core.optimizer_options();

  ImGui::BeginGroup();
  ImGui::BeginDisabled(running);
  ImGui::SetNextItemWidth(t.px(140));
  float budget = static_cast<float>(opt.time_limit_s);
  if (ImGui::DragFloat("budget", &budget, 0.5f, 0.5f, 3600.0f, "%.1f s")) opt.time_limit_s = std::max(0.5f, budget);
  ImGui::SetNextItemWidth(t.px(140));
  ImGui::InputInt("threads", &opt.threads);
  opt.threads = std::max(0, opt.threads);
  ImGui::SameLine();
  help_marker("0 = every hardware thread. The result does not depend on the thread count.");
  ImGui::SetNextItemWidth(t.px(140));
  int seed = static_cast<int>(opt.seed);
  if (ImGui::InputInt("seed", &seed)) opt.seed = static_cast<uint64_t>(std::max(0, seed));
  ImGui::SetNextItemWidth(t.px(140));
  int max_evals = static_cast<int>(std::min<long long>(opt.max_evaluations, 1 << 30));
  if (ImGui::InputInt("max evaluations", &max_evals, 1000, 10000)) opt.max_evaluations = std::max(0, max_evals);
  ImGui::SameLine();
  help_marker("0 = none. A work budget: unlike the clock, it gives the same plan on any machine. A search "
              "cut by the clock tells the count that repeats it.");
  ImGui::SetNextItemWidth(t.px(140));
  ImGui::InputInt("max stages / GPU", &opt.max_stages_per_device);
  opt.max_stages_per_device = std::max(0, opt.max_stages_per_device);
  bool live = core.config().live_optimizer;
  if (ImGui::Checkbox("show the best plan live", &live)) core.set_live_optimizer(live);
  ImGui::SameLine();
  help_marker("On: every improvement replaces the plan on screen (one undo step for the whole search), and "
              "editing waits until the search ends. Off: the result is applied when it finishes.");
  ImGui::EndDisabled();
  if (core.has_plan())
    ImGui::TextDisabled("%d GPUs  ·  %d micro-batches (from the current plan)", core.editor().plan().num_devices(),
                        core.editor().plan().num_microbatches);
  if (!running) {
    ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 92, 160, 255));
    if (ImGui::Button("Start optimizer", ImVec2(t.px(160), 0))) core.start_optimizer();
    ImGui::PopStyleColor();
  } else if (ImGui::Button("Cancel (keep best so far)", ImVec2(t.px(200), 0))) {
    core.cancel_optimizer();
  }
  ImGui::EndGroup();

  ImGui::SameLine(0, t.px(24));
  ImGui::BeginGroup();
  const float w = std::max(t.px(200), ImGui::GetContentRegionAvail().x);
  if (st.state == explorer::JobState::Idle) {
    ImGui::TextWrapped("The optimizer searches partition (uneven stages), placement (sequential, interleaved, V, "
                       "wave, irregular) and per-GPU schedules jointly, under each GPU's memory limit. It runs in "
                       "the background; the plan before the search stays pinned as B.");
  } else {
    ImGui::ProgressBar(static_cast<float>(st.progress.fraction), ImVec2(w, 0),
                       strf("%s  %.0f%%", st.progress.phase.c_str(), st.progress.fraction * 100).c_str());
    metric(t, "BEST", st.progress.best_ms > 0 ? app::format_ms(st.progress.best_ms) : std::string("—"), t.good);
    ImGui::SameLine(0, t.px(24));
    metric(t, "START", app::format_ms(st.start_ms));
    ImGui::SameLine(0, t.px(24));
    if (st.progress.best_ms > 0 && st.start_ms > 0)
      metric(t, "GAIN", strf("%.1f%%", 100.0 * (st.start_ms - st.progress.best_ms) / st.start_ms),
             st.progress.best_ms <= st.start_ms ? t.good : t.bad);
    ImGui::SameLine(0, t.px(24));
    metric(t, "LOWER BOUND", st.bound_ms > 0 ? app::format_ms(st.bound_ms) : std::string("—"), 0,
           "No plan of this input can be faster (work + ramps, heavy-layer chain, layer granularity).");
    ImGui::SameLine(0, t.px(24));
    metric(t, "EVALUATED", strf("%lld", st.progress.evaluated));
    ImGui::SameLine(0, t.px(24));
    metric(t, "ELAPSED", strf("%.1f s", st.progress.elapsed_s));
    if (st.history.size() >= 2) {
      const auto [lo, hi] = std::minmax_element(st.history.begin(), st.history.end());
      ImGui::PushStyleColor(ImGuiCol_PlotLines, t.good);
      ImGui::PlotLines("##best", st.history.data(), static_cast<int>(st.history.size()), 0,
                       "best iteration time per improvement", *lo * 0.995f, *hi * 1.005f, ImVec2(w, t.px(60)));
      ImGui::PopStyleColor();
    }
    if (!running) {
      ImGui::PushTextWrapPos(0);
      ImGui::TextColored(ImColor(st.state == explorer::JobState::Failed ? t.bad : t.text_dim), "%s%s",
                         st.state == explorer::JobState::Cancelled ? "cancelled: " : "", st.message.c_str());
      ImGui::PopTextWrapPos();
    }
  }
  ImGui::EndGroup();
}

}  // namespace adaptis::gui
