// The Cluster plans tab: the whole-cluster search for the session's model on its whole cluster (GPUs
// and global batch as inputs), run in the background with progress and cancel, and its ranked
// table; "Show" (or a double-click on a row) puts that configuration's pipeline plan in the explorer.
#include <imgui.h>

#include <algorithm>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

const char* recompute_short(Recompute r) {
  switch (r) {
    case Recompute::None: return "-";
    case Recompute::Selective: return "selective";
    case Recompute::Full: return "full";
  }
  return "?";
}

}  // namespace

void ClusterPlansPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  if (const std::string why = core.cluster_search_blocker(); !why.empty()) {
    ImGui::TextWrapped("Whole-cluster plans: the fastest parallel configuration (pipeline, tensor, data, context and "
                       "expert degrees, ZeRO, micro-batching, recomputation) and its pipeline for this model on this "
                       "cluster.");
    ImGui::TextColored(ImColor(t.warn), "%s", why.c_str());
    return;
  }
  const explorer::ClusterPlansState& st = core.cluster_plans();
  const bool running = st.state == explorer::JobState::Running;
  const ModelSpec& model = *core.config().cluster_plans.model;
  if (input_gpus <= 0) input_gpus = core.cluster_gpus();
  if (input_tokens <= 0) input_tokens = core.cluster_batch_tokens();

  ImGui::BeginGroup();
  ImGui::TextDisabled("%s on %s", model.name.c_str(), core.config().cluster_plans.cluster.name.c_str());
  ImGui::BeginDisabled(running);
  ImGui::SetNextItemWidth(t.px(140));
  if (ImGui::InputInt("GPUs", &input_gpus, 1, 8, ImGuiInputTextFlags_EnterReturnsTrue) ||
      ImGui::IsItemDeactivatedAfterEdit()) {
    if (!core.set_cluster_gpus(input_gpus)) input_gpus = core.cluster_gpus();
  }
  ImGui::SameLine();
  ImGui::TextDisabled("of %d", core.cluster_max_gpus());
  ImGui::SetNextItemWidth(t.px(140));
  const long long step = std::max<long long>(1, model.seq_len);
  const long long step_fast = step * 8;
  if (ImGui::InputScalar("global batch tokens", ImGuiDataType_S64, &input_tokens, &step, &step_fast, "%lld",
                         ImGuiInputTextFlags_EnterReturnsTrue) ||
      ImGui::IsItemDeactivatedAfterEdit()) {
    if (!core.set_cluster_batch_tokens(input_tokens)) input_tokens = core.cluster_batch_tokens();
  }
  ImGui::SameLine();
  help_marker("Tokens per iteration over the whole cluster, in whole sequences of the model's seq_len. The search "
              "splits it into data-parallel replicas, micro-batch size and micro-batches.");
  ImGui::TextDisabled("= %lld sequences of %lld tokens", core.cluster_batch_tokens() / step, model.seq_len);
  ImGui::EndDisabled();
  if (!running) {
    ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(46, 92, 160, 255));
    if (ImGui::Button("Search cluster plans", ImVec2(t.px(180), 0))) core.start_cluster_search();
    ImGui::PopStyleColor();
  } else if (ImGui::Button("Cancel (keep best so far)", ImVec2(t.px(200), 0))) {
    core.cancel_cluster_search();
  }
  const bool have_rows = st.rows && !st.rows->empty();
  ImGui::SameLine();
  ImGui::BeginDisabled(!have_rows || core.editing_locked());
  if (ImGui::Button(have_rows ? strf("Show #%d", st.selected + 1).c_str() : "Show")) core.use_cluster_row(st.selected);
  ImGui::EndDisabled();
  ImGui::EndGroup();

  ImGui::SameLine(0, t.px(24));
  ImGui::BeginGroup();
  const float w = std::max(t.px(300), ImGui::GetContentRegionAvail().x);
  if (running) {
    ImGui::ProgressBar(static_cast<float>(st.progress.fraction), ImVec2(w, 0),
                       strf("%s %lld/%lld  %.0f%%", st.progress.phase.c_str(), st.progress.done, st.progress.total,
                            st.progress.fraction * 100)
                           .c_str());
    ImGui::TextDisabled("best so far: %s  ·  %.1f s", st.progress.best.empty() ? "—" : st.progress.best.c_str(),
                        st.progress.elapsed_s);
  } else if (st.state == explorer::JobState::Idle) {
    ImGui::TextWrapped("The search enumerates every parallel configuration the model and the cluster allow, drops "
                       "those that cannot fit memory, simulates built-in schedules in lower-bound order and runs the "
                       "pipeline optimizer on the most promising. Choose a row to explore its pipeline, with its "
                       "data-, tensor-, context- and expert-parallel collectives as lanes under each GPU.");
  } else {
    ImGui::PushTextWrapPos(0);
    ImGui::TextColored(ImColor(st.state == explorer::JobState::Failed || !st.rows_fit ? t.bad : t.text_dim), "%s%s",
                       st.state == explorer::JobState::Cancelled ? "cancelled, best so far: " : "", st.message.c_str());
    ImGui::PopTextWrapPos();
  }
  ImGui::EndGroup();

  if (!st.rows || st.rows->empty()) return;
  const int on_screen = core.cluster_row_on_screen();
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_ScrollY | ImGuiTableFlags_BordersInnerV |
                                ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
  if (!ImGui::BeginTable("##cluster_plans", 17, flags, ImVec2(0, ImGui::GetContentRegionAvail().y))) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  for (const char* h : {"#", "pp", "tp", "dp", "cp", "ep", "ZeRO", "SP", "mbs", "micro-batches", "recompute",
                        "iteration", "tokens/s", "MFU", "mem/GPU", "exposed comm", "pipeline"})
    ImGui::TableSetupColumn(h);
  ImGui::TableHeadersRow();
  ImGuiListClipper clip;
  clip.Begin(static_cast<int>(st.rows->size()));
  int use = -1;
  while (clip.Step()) {
    for (int i = clip.DisplayStart; i < clip.DisplayEnd; ++i) {
      const ClusterCandidate& row = (*st.rows)[static_cast<size_t>(i)];
      const ParallelConfig& p = row.config;
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      const std::string label = strf("%s%d##row%d", i == on_screen ? "* " : "", i + 1, i);
      if (ImGui::Selectable(label.c_str(), i == st.selected,
                            ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowDoubleClick)) {
        core.select_cluster_row(i);
        if (ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left)) use = i;
      }
      if (ImGui::IsItemHovered())
        ImGui::SetTooltip("%s\n%s pipeline  ·  bubble %.1f%%  ·  lower bound %s\n%s\ndouble-click to explore its pipeline",
                          describe(p).c_str(), row.schedule.c_str(), 100 * row.bubble_ratio,
                          app::format_ms(row.lower_bound_ms).c_str(),
                          row.fits ? "fits every GPU's memory" : "OVER MEMORY (the closest configuration)");
      const ImU32 col = !row.fits ? t.bad : i == on_screen ? t.good : t.text;
      auto cell = [&](const std::string& text) {
        ImGui::TableNextColumn();
        ImGui::TextColored(ImColor(col), "%s", text.c_str());
      };
      cell(std::to_string(p.pp));
      cell(std::to_string(p.tp));
      cell(std::to_string(p.dp));
      cell(std::to_string(p.cp));
      cell(std::to_string(p.ep));
      cell(p.distributed_optimizer ? "distopt" : std::to_string(p.zero));
      cell(p.sequence_parallel ? "on" : "-");
      cell(std::to_string(p.micro_batch_size));
      cell(std::to_string(p.microbatches));
      cell(recompute_short(p.recompute));
      cell(app::format_ms(row.iteration_ms));
      cell(strf("%.0f", row.tokens_per_s));
      cell(strf("%.1f%%", 100 * row.mfu));
      cell(app::format_bytes(row.peak_memory_bytes));
      cell(app::format_ms(row.exposed_comm_ms));
      cell(row.schedule);
    }
  }
  ImGui::EndTable();
  if (use >= 0) core.use_cluster_row(use);
}

}  // namespace adaptis::gui
