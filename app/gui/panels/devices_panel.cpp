// The Devices tab: per-device statistics of the plan on screen (busy, bubbles by phase, peak
// memory against the limit, bytes sent).
#include <imgui.h>

#include <algorithm>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void DevicesPanel::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  if (!core.has_plan()) return;
  const explorer::Evaluation& E = core.editor().eval();
  const Theme& t = c.theme;
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  if (!ImGui::BeginTable("##devstats", 9, tf, ImVec2(0, 0))) return;
  ImGui::TableSetupScrollFreeze(1, 1);
  ImGui::TableSetupColumn("GPU");
  ImGui::TableSetupColumn("stages");
  ImGui::TableSetupColumn("busy");
  ImGui::TableSetupColumn("bubble");
  ImGui::TableSetupColumn("warm-up");
  ImGui::TableSetupColumn("in-between");
  ImGui::TableSetupColumn("cool-down");
  ImGui::TableSetupColumn("peak memory", ImGuiTableColumnFlags_WidthStretch);
  ImGui::TableSetupColumn("sent");
  ImGui::TableHeadersRow();
  ImGuiListClipper clip;
  clip.Begin(static_cast<int>(E.sim.devices.size()));
  while (clip.Step())
    for (int d = clip.DisplayStart; d < clip.DisplayEnd; ++d) {
      const DeviceStats& ds = E.sim.devices[d];
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      const explorer::Pick& sel = core.view().selected;
      if (ImGui::Selectable(strf("GPU %d", d).c_str(), sel.device == d && sel.side == 0,
                            ImGuiSelectableFlags_SpanAllColumns)) {
        // Select the device's first action in the window.
        explorer::Pick p = explorer::first_action_after(E.timeline, 0, core.view().window.t0);
        if (p.valid()) {
          p.device = d;
          p.index = 0;
          core.select(p);
          core.reveal_selection();
        }
      }
      ImGui::TableNextColumn();
      std::string st;
      if (d < E.plan.placement.num_devices())
        for (int s : E.plan.placement.device_stages[d]) {
          if (!st.empty()) st += ',';
          st += std::to_string(s);
        }
      ImGui::TextUnformatted(st.c_str());
      ImGui::PushFont(t.mono);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(app::format_ms(ds.busy_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%s %4.1f%%", app::format_ms(ds.bubble_ms).c_str(),
                  E.summary.iteration_ms > 0 ? 100 * ds.bubble_ms / E.summary.iteration_ms : 0.0);
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(app::format_ms(ds.warmup_bubble_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(app::format_ms(ds.inbetween_bubble_ms).c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(app::format_ms(ds.cooldown_bubble_ms).c_str());
      ImGui::PopFont();
      ImGui::TableNextColumn();
      const double lim = d < static_cast<int>(E.memory_limit.size()) ? E.memory_limit[d] : 0;
      const float f = lim > 0 ? static_cast<float>(ds.peak_memory_bytes / lim) : 0;
      ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ds.oom ? t.bad : f > 0.9f ? t.warn : IM_COL32(84, 140, 220, 255));
      ImGui::ProgressBar(std::min(1.0f, f), ImVec2(-1, 0),
                         strf("%s / %s%s", app::format_bytes(ds.peak_memory_bytes).c_str(), app::format_bytes(lim).c_str(),
                              ds.oom ? "  OOM" : "").c_str());
      ImGui::PopStyleColor();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(app::format_bytes(ds.send_bytes).c_str());
    }
  ImGui::EndTable();
}

}  // namespace adaptis::gui
