// The Plan panel: schedule options, the memory policies (recompute and offload on every stage or
// per stage, auto), the partition as text, the stage table (move a stage to another GPU with its
// combo, or drag its chip onto a Gantt row), and one GPU's action order as chips that can be
// dragged to reorder. Every edit goes through the plan editor and is refused with the
// validator's reason when it would break the plan.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>

#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_builder.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

const char* const kRecomputeNames[] = {"none", "selective", "full"};

// One stage's policy as a combo: the recompute choices, then the offload steps.
void stage_memory_combo(explorer::Explorer& core, int stage, float width) {
  const StageMemoryPolicy p = core.memory_policy(stage);
  ImGui::SetNextItemWidth(width);
  if (!ImGui::BeginCombo("##mem", describe(p).c_str())) return;
  for (int k = 0; k < 3; ++k)
    if (ImGui::Selectable(kRecomputeNames[k], static_cast<int>(p.recompute) == k) && static_cast<int>(p.recompute) != k)
      core.set_recompute(stage, static_cast<Recompute>(k));
  ImGui::Separator();
  for (int q = 0; q <= 4; ++q) {
    const double f = q / 4.0;
    if (ImGui::Selectable(strf("offload %d%%", q * 25).c_str(), p.offload_fraction == f) && p.offload_fraction != f)
      core.set_offload(stage, f);
  }
  ImGui::EndCombo();
}

}  // namespace

void PlanPanel::draw_memory(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  const Plan& plan = core.editor().plan();
  section(t, "MEMORY (recompute before B, offload over the host link)");
  const StageMemoryPolicy first = core.memory_policy(0);
  bool uniform = true;
  for (int s = 1; s < plan.num_stages(); ++s) uniform = uniform && core.memory_policy(s) == first;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Every stage");
  ImGui::SameLine(t.px(130));
  const int rc = uniform ? static_cast<int>(first.recompute) : -1;
  ImGui::SetNextItemWidth(t.px(110));
  if (ImGui::BeginCombo("##recompute_all", rc >= 0 ? kRecomputeNames[rc] : "mixed")) {
    for (int k = 0; k < 3; ++k)
      if (ImGui::Selectable(kRecomputeNames[k], k == rc) && k != rc) core.set_recompute(-1, static_cast<Recompute>(k));
    ImGui::EndCombo();
  }
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("none keeps every activation F saves; selective drops the attention core's and re-creates it with\n"
                      "R; full keeps only each stage's input and re-runs its forward in R, just before B");
  // The offload slider and Auto on their own line, so a narrow sidebar keeps every control visible.
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Offload");
  ImGui::SameLine(t.px(130));
  if (!ImGui::IsAnyItemActive()) offload_pct = static_cast<int>(first.offload_fraction * 100 + 0.5);
  ImGui::SetNextItemWidth(t.px(110));
  ImGui::SliderInt("##offload_all", &offload_pct, 0, 100, uniform ? "%d%%" : "mixed");
  if (ImGui::IsItemDeactivatedAfterEdit()) core.set_offload(-1, std::clamp(offload_pct, 0, 100) / 100.0);
  if (ImGui::IsItemHovered())
    ImGui::SetTooltip("the share of each stage's kept activations copied to host memory after F and back before R/B");
  ImGui::SameLine();
  if (ImGui::Button("Auto")) core.auto_memory_policy();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("the weakest recompute on every stage whose plan fits every GPU's cap");
  const explorer::MemoryOverview& m = core.memory();
  if (!m.has_sizes) {
    ImGui::TextDisabled("the costs carry no memory sizes");
    return;
  }
  if (m.worst >= 0) {
    const explorer::DeviceMemoryRow& w = m.devices[static_cast<size_t>(m.worst)];
    const std::string line = strf("worst GPU %d: %s of %s%s", m.worst, app::format_bytes(w.peak_bytes).c_str(),
                                  app::format_bytes(w.cap_bytes).c_str(), m.oom ? "  OOM" : "");
    if (m.oom) ImGui::TextColored(ImColor(t.bad), "%s", line.c_str());
    else ImGui::TextDisabled("%s", line.c_str());
    ImGui::TextDisabled("activations at its peak: kept %s  ·  recomputed %s  ·  on host %s",
                        app::format_bytes(w.kept_bytes).c_str(), app::format_bytes(w.recomputed_bytes).c_str(),
                        app::format_bytes(w.on_host_bytes).c_str());
    if (w.carried_bytes > 0)
      ImGui::TextDisabled("  ·  key/value gradient carries of slices %s", app::format_bytes(w.carried_bytes).c_str());
    if (w.w_grad_bytes > 0)
      ImGui::TextDisabled("  ·  output gradients held for W %s", app::format_bytes(w.w_grad_bytes).c_str());
  }
  if (m.recompute_actions > 0 || m.host_copies > 0)
    ImGui::TextDisabled("%zu R actions  ·  %zu host copies", m.recompute_actions, m.host_copies);
}

void PlanPanel::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  if (!core.has_plan()) return;
  const Plan& plan = core.editor().plan();
  const explorer::PlanState& st = core.editor().state();
  ImGui::PushFont(t.ui_bold);
  ImGui::TextUnformatted(plan.name.c_str());
  ImGui::PopFont();
  ImGui::SameLine();
  ImGui::TextDisabled(st.custom ? "(orders are data: edited, loaded or optimized)" : "(generated from the schedule)");
  ImGui::TextDisabled("%d GPUs  ·  %d stages  ·  %d micro-batches  ·  %zu actions", plan.num_devices(), plan.num_stages(),
                      plan.num_microbatches, plan.num_actions());
  // A whole-cluster plan (a Cluster plans row): the configuration its GPUs are one pipeline replica of.
  if (plan.parallel) {
    ImGui::TextColored(ImColor(t.good), "parallel %s", describe(*plan.parallel).c_str());
    ImGui::SameLine();
    help_marker("This pipeline is one replica of a whole-cluster configuration: its costs are per GPU (work split by "
                "tp/cp/ep, ZeRO state) and the Gantt draws its collectives under each GPU (tp lane: blocking "
                "tensor/context/expert shares; dp lane: gradient sync, ZeRO gathers, optimizer step).");
  }

  section(t, "SCHEDULE OPTIONS");
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Stages per GPU");
  ImGui::SameLine(t.px(130));
  if (!ImGui::IsAnyItemActive()) input_v = st.request.stages_per_device;
  ImGui::SetNextItemWidth(t.px(100));
  ImGui::InputInt("##v", &input_v);
  if (ImGui::IsItemDeactivatedAfterEdit() || (ImGui::IsItemEdited() && !ImGui::GetIO().WantTextInput))
    if (input_v != st.request.stages_per_device) core.set_stages_per_device(input_v);
  ImGui::SameLine();
  help_marker("Chunks per GPU for looped schedules (interleaved-1f1b, looped-bfs, ...); 0 = the schedule's default.");

  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Partition");
  ImGui::SameLine(t.px(130));
  if (partition_text_rev != core.revision() && !ImGui::IsAnyItemActive()) {
    partition_text = format_partition(plan.partition);
    partition_text_rev = core.revision();
  }
  ImGui::SetNextItemWidth(-t.px(60));
  const bool enter = ImGui::InputText("##partition", &partition_text, ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::SameLine();
  if (ImGui::Button("Apply") || enter) {
    try {
      core.set_partition(parse_partition(partition_text, "partition"));
    } catch (const std::exception& e) {
      core.note(e.what(), true);
    }
    partition_text_rev = ~0ull;
  }
  if (ImGui::Button("Balance")) core.balance_partition();
  ImGui::SameLine();
  if (ImGui::Button("Regenerate orders")) core.choose_schedule(st.request.schedule);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("rebuild every GPU's order from the schedule '%s'", st.request.schedule.c_str());

  draw_memory(c);

  // Stages: where each lives; drag a chip onto a Gantt row or pick a GPU to move it.
  section(t, "STAGES (drag a chip onto a GPU row to move it)");
  const std::vector<int> owner = plan.placement.stage_device();
  const std::vector<StageCost>& sc = core.editor().stage_costs();
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  const float table_h = std::min(t.px(220), (ImGui::GetTextLineHeightWithSpacing() + t.px(6)) * (plan.num_stages() + 1.5f));
  if (ImGui::BeginTable("##stages", 7, tf, ImVec2(0, table_h))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("stage");
    ImGui::TableSetupColumn("layers");
    ImGui::TableSetupColumn("GPU");
    ImGui::TableSetupColumn("F ms");
    ImGui::TableSetupColumn("B+W ms");
    ImGui::TableSetupColumn("act/mb");
    ImGui::TableSetupColumn("memory", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableHeadersRow();
    ImGuiListClipper clip;
    clip.Begin(plan.num_stages());
    while (clip.Step())
      for (int s = clip.DisplayStart; s < clip.DisplayEnd; ++s) {
        ImGui::PushID(s);
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        const int d = owner[s];
        ImGui::PushStyleColor(ImGuiCol_Button, mix(t.device_colour(d, plan.num_devices()), t.background, 0.45f));
        ImGui::SmallButton(strf("s%d", s).c_str());
        ImGui::PopStyleColor();
        if (ImGui::BeginDragDropSource()) {
          ImGui::SetDragDropPayload("ADAPTIS_STAGE", &s, sizeof s);
          ImGui::Text("move stage %d (now on GPU %d)", s, d);
          ImGui::EndDragDropSource();
        }
        ImGui::TableNextColumn();
        ImGui::Text("%d–%d", plan.partition.bounds[s], plan.partition.bounds[s + 1] - 1);
        ImGui::TableNextColumn();
        ImGui::SetNextItemWidth(t.px(70));
        if (ImGui::BeginCombo("##dev", strf("GPU %d", d).c_str())) {
          for (int k = 0; k < plan.num_devices(); ++k)
            if (ImGui::Selectable(strf("GPU %d", k).c_str(), k == d) && k != d) core.move_stage(s, k);
          ImGui::EndCombo();
        }
        if (s < static_cast<int>(sc.size())) {
          ImGui::PushFont(t.mono);
          ImGui::TableNextColumn();
          ImGui::Text("%.2f", sc[s].f_ms);
          ImGui::TableNextColumn();
          ImGui::Text("%.2f", sc[s].b_ms + sc[s].w_ms);
          ImGui::TableNextColumn();
          ImGui::TextUnformatted(app::format_bytes(sc[s].act_b_bytes + sc[s].act_w_bytes).c_str());
          ImGui::PopFont();
        } else {
          ImGui::TableNextColumn();
          ImGui::TableNextColumn();
          ImGui::TableNextColumn();
        }
        ImGui::TableNextColumn();
        stage_memory_combo(core, s, t.px(150));
        ImGui::PopID();
      }
    ImGui::EndTable();
  }

  // One GPU's order as chips; drag a chip onto another to move it before that one.
  section(t, "ORDER (drag an action to reorder)");
  device = std::clamp(device, 0, plan.num_devices() - 1);
  ImGui::SetNextItemWidth(t.px(110));
  if (ImGui::BeginCombo("##order_dev", strf("GPU %d", device).c_str())) {
    for (int k = 0; k < plan.num_devices(); ++k)
      if (ImGui::Selectable(strf("GPU %d", k).c_str(), k == device)) device = k;
    ImGui::EndCombo();
  }
  ImGui::SameLine();
  ImGui::TextDisabled("%zu actions", plan.schedule[device].size());
  const auto& list = plan.schedule[device];
  const float chip_w = ImGui::CalcTextSize("BW88 s88").x + t.px(8);
  const float avail_w = ImGui::GetContentRegionAvail().x;
  const int per_row = std::max(1, static_cast<int>(avail_w / (chip_w + t.px(3))));
  const int rows = (static_cast<int>(list.size()) + per_row) / per_row;  // +1 slot: "end"
  const float chip_h = ImGui::GetFrameHeight();
  ImGui::BeginChild("##order", ImVec2(0, std::max(t.px(120), ImGui::GetContentRegionAvail().y)), false);
  ImGuiListClipper clip;
  clip.Begin(rows, chip_h + t.px(3));
  int move_from = -1, move_to = -1;
  const bool many_stages = plan.placement.device_stages[device].size() > 1;
  while (clip.Step())
    for (int r = clip.DisplayStart; r < clip.DisplayEnd; ++r) {
      for (int c = 0; c < per_row; ++c) {
        const int i = r * per_row + c;
        if (i > static_cast<int>(list.size())) break;
        if (c) ImGui::SameLine(0, t.px(3));
        ImGui::PushID(i);
        if (i == static_cast<int>(list.size())) {
          ImGui::PushStyleColor(ImGuiCol_Button, IM_COL32(40, 42, 48, 255));
          ImGui::Button("end", ImVec2(chip_w, chip_h));
          ImGui::PopStyleColor();
        } else {
          const Action& a = list[i];
          const auto& local = plan.placement.device_stages[device];
          const int chunk = static_cast<int>(std::find(local.begin(), local.end(), a.stage) - local.begin());
          const ImU32 col = t.box_colour(explorer::box_kind_of(a.op), chunk);
          ImGui::PushStyleColor(ImGuiCol_Button, col);
          ImGui::PushStyleColor(ImGuiCol_ButtonHovered, mix(col, IM_COL32(255, 255, 255, 255), 0.25f));
          ImGui::PushStyleColor(ImGuiCol_Text, t.text_on_box);
          const std::string label = many_stages ? strf("%s%s%d s%d", a.overlap_prev ? "&" : "", op_name(a.op), a.mb, a.stage)
                                                : strf("%s%s%d", a.overlap_prev ? "&" : "", op_name(a.op), a.mb);
          if (ImGui::Button(label.c_str(), ImVec2(chip_w, chip_h))) {
            // Select it on the timeline (the window follows).
            core.select(explorer::pick_of(0, core.editor().eval().timeline.locate(a.op, a.stage, a.mb)));
            core.reveal_selection();
          }
          ImGui::PopStyleColor(3);
          if (ImGui::BeginDragDropSource()) {
            ImGui::SetDragDropPayload("ADAPTIS_ACTION", &i, sizeof i);
            ImGui::Text("move %s", to_string(a).c_str());
            ImGui::EndDragDropSource();
          }
        }
        if (ImGui::BeginDragDropTarget()) {
          if (const ImGuiPayload* pl = ImGui::AcceptDragDropPayload("ADAPTIS_ACTION")) {
            move_from = *static_cast<const int*>(pl->Data);
            move_to = i;
          }
          ImGui::EndDragDropTarget();
        }
        ImGui::PopID();
      }
    }
  ImGui::EndChild();
  if (move_from >= 0) core.move_action(device, move_from, move_to);
}

}  // namespace adaptis::gui
