// The Cluster panel: per-device speed and memory limit, the links, and the simulation options.
// Every change is an edit through the plan editor (validated, re-simulated, undoable); a drag on
// a slider is one undo step.
#include <imgui.h>

#include <algorithm>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}

void ClusterPanel::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  const Cluster& cl = core.editor().cluster();
  ImGui::PushFont(t.ui_bold);
  ImGui::TextUnformatted(cl.name.empty() ? "cluster" : cl.name.c_str());
  ImGui::PopFont();
  int nodes = 0;
  for (const Device& d : cl.devices) nodes = std::max(nodes, d.node + 1);
  ImGui::TextDisabled("%d devices on %d node%s%s%s", cl.num_devices(), nodes, nodes == 1 ? "" : "s",
                      c.config.cluster_path.empty() ? "" : "  ·  ", c.config.cluster_path.c_str());

  // Gestures: a slider drag is many live edits and one undo step.
  auto gesture = [&] {
    if (ImGui::IsItemActivated()) core.begin_gesture();
    if (ImGui::IsItemDeactivated()) core.end_gesture();
  };

  section(t, "LINKS");
  Link intra = cl.intra_node, inter = cl.inter_node;
  bool links_changed = false;
  auto link_row = [&](const char* name, Link& l) {
    ImGui::PushID(name);
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted(name);
    ImGui::SameLine(t.px(90));
    ImGui::SetNextItemWidth(t.px(110));
    float lat_us = static_cast<float>(l.latency_ms * 1000.0);
    if (ImGui::DragFloat("##lat", &lat_us, 0.5f, 0.0f, 1e6f, "%.1f us")) {
      l.latency_ms = std::max(0.0f, lat_us) / 1000.0;
      links_changed = true;
    }
    gesture();
    ImGui::SameLine();
    ImGui::SetNextItemWidth(t.px(110));
    float gbps = static_cast<float>(l.bandwidth / 1e9);
    if (ImGui::DragFloat("##bw", &gbps, 1.0f, 0.0f, 1e5f, gbps > 0 ? "%.0f GB/s" : "unlimited")) {
      l.bandwidth = std::max(0.0f, gbps) * 1e9;
      links_changed = true;
    }
    gesture();
    ImGui::PopID();
  };
  link_row("intra-node", intra);
  link_row("inter-node", inter);
  if (links_changed) core.set_links(intra, inter);

  section(t, "SIMULATION");
  SimOptions so = core.editor().sim_options();
  bool sim_changed = false;
  bool override_latency = so.comm_latency_ms.has_value();
  if (ImGui::Checkbox("Override link latency", &override_latency)) {
    so.comm_latency_ms = override_latency ? std::optional<double>(0.0) : std::nullopt;
    sim_changed = true;
  }
  if (override_latency) {
    ImGui::SameLine();
    ImGui::SetNextItemWidth(t.px(110));
    float v = static_cast<float>(so.comm_latency_ms.value_or(0.0));
    if (ImGui::DragFloat("##latency", &v, 0.001f, 0.0f, 100.0f, "%.3f ms")) {
      so.comm_latency_ms = std::max(0.0f, v);
      sim_changed = true;
    }
    gesture();
  }
  if (ImGui::Checkbox("Transfers overlap compute", &so.overlap_comm)) sim_changed = true;
  ImGui::SameLine();
  help_marker("On: P2P sends run on their own stream. Off: the sender's compute waits for each send.");
  ImGui::SetNextItemWidth(t.px(120));
  float ovh = static_cast<float>(so.action_overhead_ms);
  if (ImGui::DragFloat("Launch overhead", &ovh, 0.001f, 0.0f, 10.0f, "%.3f ms")) {
    so.action_overhead_ms = std::max(0.0f, ovh);
    sim_changed = true;
  }
  gesture();
  ImGui::SetNextItemWidth(t.px(120));
  float po = static_cast<float>(so.pair_overlap);
  if (ImGui::SliderFloat("F&B pair overlap", &po, 0.0f, 1.0f, "%.2f")) {
    so.pair_overlap = po;
    sim_changed = true;
  }
  gesture();
  if (sim_changed) core.set_sim_options(so);

  section(t, "DEVICES");
  const SimResult* sim = core.has_plan() ? &core.editor().sim() : nullptr;
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit;
  if (ImGui::BeginTable("##devices", 5, tf, ImVec2(0, std::max(t.px(160), ImGui::GetContentRegionAvail().y)))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("GPU");
    ImGui::TableSetupColumn("speed");
    ImGui::TableSetupColumn("limit GiB");
    ImGui::TableSetupColumn("peak", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("node");
    ImGui::TableHeadersRow();
    ImGuiListClipper clip;
    clip.Begin(cl.num_devices());
    while (clip.Step())
      for (int d = clip.DisplayStart; d < clip.DisplayEnd; ++d) {
        const Device& dev = core.editor().cluster().devices[d];
        ImGui::PushID(d);
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::AlignTextToFramePadding();
        swatch(t.device_colour(d, cl.num_devices()), t.px(8));
        ImGui::SameLine(0, t.px(4));
        ImGui::Text("%d", d);
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", dev.name.c_str());
        ImGui::TableNextColumn();
        ImGui::SetNextItemWidth(t.px(64));
        float speed = static_cast<float>(dev.speed);
        if (ImGui::DragFloat("##speed", &speed, 0.01f, 0.05f, 8.0f, "%.2fx")) core.set_device_speed(d, speed);
        gesture();
        ImGui::TableNextColumn();
        ImGui::SetNextItemWidth(t.px(72));
        float lim = static_cast<float>(dev.memory_limit() / kGiB);
        if (ImGui::DragFloat("##limit", &lim, 0.25f, 0.25f, 1024.0f, "%.1f"))
          core.set_memory_limit(d, std::max(0.25f, lim) * kGiB);
        gesture();
        ImGui::TableNextColumn();
        if (sim && d < static_cast<int>(sim->devices.size())) {
          const DeviceStats& ds = sim->devices[d];
          const float f = dev.memory_limit() > 0 ? static_cast<float>(ds.peak_memory_bytes / dev.memory_limit()) : 0;
          ImGui::PushStyleColor(ImGuiCol_PlotHistogram, ds.oom ? t.bad : f > 0.9f ? t.warn : IM_COL32(84, 140, 220, 255));
          ImGui::ProgressBar(std::min(1.0f, f), ImVec2(-1, 0), app::format_bytes(ds.peak_memory_bytes).c_str());
          ImGui::PopStyleColor();
        }
        ImGui::TableNextColumn();
        ImGui::Text("%d", dev.node);
        ImGui::PopID();
      }
    ImGui::EndTable();
  }
}

}  // namespace adaptis::gui
