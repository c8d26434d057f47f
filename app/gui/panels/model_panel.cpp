// The Model panel: every layer's F/B/W time and memory as bars (heterogeneity at a glance), the
// partition drawn under them with draggable stage boundaries, per-stage balance, and the layer table.
#include <imgui.h>

#include <algorithm>
#include <cmath>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void ModelPanel::draw(UiContext& c) {
  explorer::Explorer& core = c.core;
  const Theme& t = c.theme;
  const CostTable& costs = core.editor().costs();
  const int L = costs.num_layers();
  ImGui::PushFont(t.ui_bold);
  ImGui::TextUnformatted(costs.model.empty() ? "model" : costs.model.c_str());
  ImGui::PopFont();
  ImGui::TextDisabled("%d layers  ·  %s", L, costs.source.c_str());
  const double het = heterogeneity(costs);
  ImGui::TextDisabled("heterogeneity");
  ImGui::SameLine();
  ImGui::TextColored(ImColor(het > 1.5 ? t.warn : t.text), "%.2fx", het);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("slowest layer (F+B+W) over the mean layer; 1.00x = homogeneous");
  if (L == 0 || !core.has_plan()) return;

  const LayerScale scale = layer_scale(costs);
  const float width = ImGui::GetContentRegionAvail().x;
  const float gutter = t.px(4);
  LayerAxis ax;
  ax.x0 = ImGui::GetCursorScreenPos().x + gutter;
  ax.width = width - 2 * gutter;
  ax.layers = L;
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const Plan& plan = core.editor().plan();
  const std::vector<int> owner = plan.placement.stage_device();
  const int D = plan.num_devices();

  // Time bars: F, B, W stacked per layer.
  section(t, "TIME PER LAYER (F / B / W)");
  const float chart_h = t.px(120);
  ImVec2 p = ImGui::GetCursorScreenPos();
  dl->AddRectFilled(p, ImVec2(p.x + width, p.y + chart_h), IM_COL32(24, 25, 29, 255), t.px(3));
  for (int k = 1; k <= 3; ++k) {
    const float y = p.y + chart_h * k / 4;
    dl->AddLine(ImVec2(p.x, y), ImVec2(p.x + width, y), t.grid);
  }
  const float bar_gap = ax.layer_px() > 4 ? 1.0f : 0.0f;
  int hover_layer = -1;
  const ImVec2 m = ImGui::GetIO().MousePos;
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    const float xa = ax.x_of(l), xb = std::max(xa + 1, ax.x_of(l + 1) - bar_gap);
    float y = p.y + chart_h - t.px(2);
    const double k = (chart_h - t.px(6)) / std::max(1e-12, scale.time_ms);
    const double parts[3] = {c.f_ms, c.b_ms, c.w_ms};
    for (int o = 0; o < 3; ++o) {
      const float h = static_cast<float>(parts[o] * k);
      if (h <= 0) continue;
      dl->AddRectFilled(ImVec2(xa, y - h), ImVec2(xb, y), l == selected_layer ? mix(t.op[o], t.selection, 0.4f) : t.op[o]);
      y -= h;
    }
    if (m.x >= xa && m.x < xb + bar_gap && m.y >= p.y && m.y < p.y + chart_h) hover_layer = l;
  }
  ImGui::Dummy(ImVec2(width, chart_h));

  // Memory bars: static state and activations per micro-batch.
  const float mem_h = t.px(40);
  p = ImGui::GetCursorScreenPos();
  dl->AddRectFilled(p, ImVec2(p.x + width, p.y + mem_h), IM_COL32(24, 25, 29, 255), t.px(3));
  const ImU32 state_col = IM_COL32(150, 120, 220, 255), act_col = IM_COL32(80, 190, 200, 255);
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    const float xa = ax.x_of(l), xb = std::max(xa + 1, ax.x_of(l + 1) - bar_gap);
    const double k = (mem_h - t.px(4)) / std::max(1.0, scale.memory_bytes);
    const float hs = static_cast<float>(c.state_bytes * k), ha = static_cast<float>((c.act_b_bytes + c.act_w_bytes) * k);
    float y = p.y + mem_h - t.px(2);
    dl->AddRectFilled(ImVec2(xa, y - hs), ImVec2(xb, y), state_col);
    dl->AddRectFilled(ImVec2(xa, y - hs - ha), ImVec2(xb, y - hs), act_col);
    if (m.x >= xa && m.x < xb + bar_gap && m.y >= p.y && m.y < p.y + mem_h) hover_layer = l;
  }
  ImGui::Dummy(ImVec2(width, mem_h));
  swatch(t.op[0], t.px(9));
  ImGui::SameLine(0, t.px(3));
  ImGui::TextDisabled("F");
  ImGui::SameLine();
  swatch(t.op[1], t.px(9));
  ImGui::SameLine(0, t.px(3));
  ImGui::TextDisabled("B");
  ImGui::SameLine();
  swatch(t.op[2], t.px(9));
  ImGui::SameLine(0, t.px(3));
  ImGui::TextDisabled("W");
  ImGui::SameLine(0, t.px(14));
  swatch(state_col, t.px(9));
  ImGui::SameLine(0, t.px(3));
  ImGui::TextDisabled("state");
  ImGui::SameLine();
  swatch(act_col, t.px(9));
  ImGui::SameLine(0, t.px(3));
  ImGui::TextDisabled("activations / mb");

  // Partition strip: stage blocks coloured by their device, with a handle on every boundary.
  section(t, "PARTITION (drag a boundary)");
  const float strip_h = t.px(30);
  p = ImGui::GetCursorScreenPos();
  strip_y = p.y + strip_h * 0.5f;
  const Partition& part = plan.partition;
  const int S = part.num_stages();
  for (int s = 0; s < S; ++s) {
    const float xa = ax.x_of(part.bounds[s]), xb = ax.x_of(part.bounds[s + 1]);
    const int d = s < static_cast<int>(owner.size()) ? owner[s] : 0;
    const ImU32 c = mix(t.device_colour(d, D), t.background, 0.45f);
    dl->AddRectFilled(ImVec2(xa + 1, p.y), ImVec2(xb - 1, p.y + strip_h), c, t.px(3));
    char label[32], shortl[16];
    std::snprintf(label, sizeof label, "s%d · GPU %d", s, d);
    std::snprintf(shortl, sizeof shortl, "%d", s);
    if (const char* text = fitting_label(xb - xa, t.px(6), label, shortl)) {
      const ImVec2 ts = ImGui::CalcTextSize(text);
      dl->AddText(ImVec2((xa + xb - ts.x) * 0.5f, p.y + (strip_h - ts.y) * 0.5f), t.text, text);
    }
  }
  boundary_x.assign(S + 1, -1);
  for (int b = 1; b < S; ++b) {
    const float x = ax.x_of(part.bounds[b]);
    boundary_x[b] = x;
    ImGui::SetCursorScreenPos(ImVec2(x - t.px(5), p.y - t.px(2)));
    ImGui::PushID(b);
    ImGui::InvisibleButton("##boundary", ImVec2(t.px(10), strip_h + t.px(4)));
    const bool hov = ImGui::IsItemHovered(), act = ImGui::IsItemActive();
    if (hov || act) ImGui::SetMouseCursor(ImGuiMouseCursor_ResizeEW);
    if (ImGui::IsItemActivated()) {
      core.begin_gesture();
      dragging_boundary = b;
    }
    if (act && dragging_boundary == b) {
      const int lo = part.bounds[b - 1] + 1, hi = part.bounds[b + 1] - 1;
      const int layer = ax.snap_boundary(ImGui::GetIO().MousePos.x, lo, hi);
      if (layer != part.bounds[b]) core.move_boundary(b, layer);
      ImGui::SetTooltip("boundary %d before layer %d: stage %d has %d layers, stage %d has %d", b,
                        core.editor().plan().partition.bounds[b], b - 1, core.editor().plan().partition.stage_size(b - 1), b,
                        core.editor().plan().partition.stage_size(b));
    }
    if (ImGui::IsItemDeactivated() && dragging_boundary == b) {
      core.end_gesture();
      dragging_boundary = -1;
    }
    const float hx = boundary_x[b];
    dl->AddRectFilled(ImVec2(hx - t.px(2), p.y - t.px(2)), ImVec2(hx + t.px(2), p.y + strip_h + t.px(2)),
                      act ? t.warn : hov ? t.selection : IM_COL32(220, 224, 235, 200), t.px(1));
    ImGui::PopID();
  }
  ImGui::SetCursorScreenPos(ImVec2(p.x, p.y + strip_h + t.px(4)));
  ImGui::Dummy(ImVec2(width, 0));

  if (hover_layer >= 0) {
    const LayerCost& c = costs.layers[hover_layer];
    ImGui::BeginTooltip();
    ImGui::PushFont(t.ui_bold);
    ImGui::Text("layer %d  %s", hover_layer, c.name.c_str());
    ImGui::PopFont();
    if (!c.kind.empty()) ImGui::TextDisabled("%s", c.kind.c_str());
    mono_text(t, "F %.3f  B %.3f  W %.3f ms", c.f_ms, c.b_ms, c.w_ms);
    mono_text(t, "params %s  state %s", app::format_bytes(c.param_bytes).c_str(), app::format_bytes(c.state_bytes).c_str());
    mono_text(t, "act %s  out %s", app::format_bytes(c.act_b_bytes + c.act_w_bytes).c_str(), app::format_bytes(c.out_bytes).c_str());
    int st = 0;
    while (st + 1 < S && part.bounds[st + 1] <= hover_layer) ++st;
    ImGui::TextDisabled("stage %d on GPU %d", st, st < static_cast<int>(owner.size()) ? owner[st] : -1);
    ImGui::EndTooltip();
    if (ImGui::IsMouseClicked(ImGuiMouseButton_Left)) selected_layer = hover_layer;
  }

  // Stage balance: each stage's F+B+W on its device, against the slowest.
  section(t, "STAGE BALANCE (F+B+W on its GPU)");
  const std::vector<StageCost>& sc = core.editor().stage_costs();
  double worst = 0;
  std::vector<double> stage_ms(S, 0);
  for (int s = 0; s < S && s < static_cast<int>(sc.size()); ++s) {
    const int d = owner[s];
    const double speed = d >= 0 && d < core.editor().cluster().num_devices() ? core.editor().cluster().devices[d].speed : 1.0;
    stage_ms[s] = (sc[s].f_ms + sc[s].b_ms + sc[s].w_ms) / speed;
    worst = std::max(worst, stage_ms[s]);
  }
  const float row_h = ImGui::GetTextLineHeight();
  for (int s = 0; s < S; ++s) {
    p = ImGui::GetCursorScreenPos();
    const std::string label = strf("s%-2d", s);
    dl->AddText(t.mono, t.mono->FontSize, p, t.text_dim, label.c_str());
    const float bx = p.x + t.px(34), bw = width - t.px(34) - t.px(70);
    const float f = worst > 0 ? static_cast<float>(stage_ms[s] / worst) : 0;
    dl->AddRectFilled(ImVec2(bx, p.y + 2), ImVec2(bx + bw, p.y + row_h - 2), IM_COL32(40, 42, 48, 255), t.px(2));
    dl->AddRectFilled(ImVec2(bx, p.y + 2), ImVec2(bx + bw * f, p.y + row_h - 2),
                      f > 0.999f ? t.warn : t.device_colour(owner[s], D), t.px(2));
    const std::string v = app::format_ms(stage_ms[s]);
    dl->AddText(t.mono, t.mono->FontSize, ImVec2(bx + bw + t.px(6), p.y), t.text, v.c_str());
    ImGui::Dummy(ImVec2(width, row_h));
    if (S > 24 && s == 23) {
      ImGui::TextDisabled("... %d more stages", S - 24);
      break;
    }
  }
  if (ImGui::Button("Balance partition")) core.balance_partition();
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("re-split the layers so every stage takes about the same time on its GPU");

  // Layer table.
  section(t, "LAYERS");
  const ImGuiTableFlags tf = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY |
                             ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_Resizable;
  if (ImGui::BeginTable("##layers", 7, tf, ImVec2(0, std::max(t.px(160), ImGui::GetContentRegionAvail().y)))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("#");
    ImGui::TableSetupColumn("layer", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("F ms");
    ImGui::TableSetupColumn("B ms");
    ImGui::TableSetupColumn("W ms");
    ImGui::TableSetupColumn("state");
    ImGui::TableSetupColumn("act");
    ImGui::TableHeadersRow();
    ImGui::PushFont(t.mono);
    ImGuiListClipper clip;
    clip.Begin(L);
    while (clip.Step())
      for (int l = clip.DisplayStart; l < clip.DisplayEnd; ++l) {
        const LayerCost& c = costs.layers[l];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        if (ImGui::Selectable(strf("%d", l).c_str(), selected_layer == l, ImGuiSelectableFlags_SpanAllColumns))
          selected_layer = l;
        ImGui::TableNextColumn();
        ImGui::TextUnformatted((c.name.empty() ? c.kind : c.name).c_str());
        ImGui::TableNextColumn();
        ImGui::Text("%.3f", c.f_ms);
        ImGui::TableNextColumn();
        ImGui::Text("%.3f", c.b_ms);
        ImGui::TableNextColumn();
        ImGui::Text("%.3f", c.w_ms);
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(app::format_bytes(c.state_bytes).c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(app::format_bytes(c.act_b_bytes + c.act_w_bytes).c_str());
      }
    ImGui::PopFont();
    ImGui::EndTable();
  }
}

}  // namespace adaptis::gui
