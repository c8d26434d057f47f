// Help > Mouse and keys, and the legend: what every colour, shading, hatching and arrow of the
// timeline means (the core's legend, the same text the TUI shows), drawn with the real marks.
#include <imgui.h>

#include "explorer/legend.h"
#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

namespace {

void draw_mark(const Theme& t, explorer::LegendMark m) {
  const float s = t.px(12);
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 a(p.x, p.y + t.px(2)), b(p.x + s * 1.6f, p.y + t.px(2) + s);
  auto hatch = [&](ImU32 col) {
    dl->AddRectFilled(a, b, with_alpha(col, 0.13f));
    dl->PushClipRect(a, b, true);
    for (float x = a.x - s; x < b.x; x += t.px(5)) dl->AddLine(ImVec2(x, b.y), ImVec2(x + s, a.y), with_alpha(col, 0.5f));
    dl->PopClipRect();
  };
  switch (m) {
    case explorer::LegendMark::Forward: dl->AddRectFilled(a, b, t.op[0], t.px(2)); break;
    case explorer::LegendMark::InputGrad: dl->AddRectFilled(a, b, t.op[1], t.px(2)); break;
    case explorer::LegendMark::WeightGrad: dl->AddRectFilled(a, b, t.op[2], t.px(2)); break;
    case explorer::LegendMark::FusedBackward: dl->AddRectFilled(a, b, t.op[3], t.px(2)); break;
    case explorer::LegendMark::LaterChunk: dl->AddRectFilled(a, b, t.box_colour(explorer::BoxKind::F, 1), t.px(2)); break;
    case explorer::LegendMark::Folded:
      dl->AddRectFilled(a, b, with_alpha(mix(t.op[0], t.background, 0.25f), 0.7f));
      dl->AddLine(ImVec2(a.x + 2, (a.y + b.y) / 2), ImVec2(b.x - 2, (a.y + b.y) / 2), IM_COL32(255, 255, 255, 90));
      break;
    case explorer::LegendMark::BubbleWait: hatch(t.idle_dependency); break;
    case explorer::LegendMark::BubbleTransfer: hatch(t.idle_transfer); break;
    case explorer::LegendMark::BubbleDrain: hatch(t.idle_drain); break;
    case explorer::LegendMark::CriticalPath: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(3)), b, t.critical); break;
    case explorer::LegendMark::Send: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(5)), b, t.send); break;
    case explorer::LegendMark::Recv: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(5)), b, t.recv); break;
    case explorer::LegendMark::Measured: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(6)), b, t.measured); break;
    case explorer::LegendMark::ArrowIn:
    case explorer::LegendMark::ArrowOut: {
      const ImU32 col = m == explorer::LegendMark::ArrowIn ? t.arrow_in : t.arrow_out;
      const float y = (a.y + b.y) / 2;
      dl->AddLine(ImVec2(a.x, y), ImVec2(b.x - t.px(4), y), col, t.px(1.8f));
      dl->AddTriangleFilled(ImVec2(b.x, y), ImVec2(b.x - t.px(6), y - t.px(4)), ImVec2(b.x - t.px(6), y + t.px(4)), col);
      break;
    }
    case explorer::LegendMark::FilterMatch: dl->AddRect(a, b, t.warn, t.px(2), 0, 1.5f); break;
    case explorer::LegendMark::Recompute: dl->AddRectFilled(a, b, t.op[static_cast<int>(Op::R)], t.px(2)); break;
    case explorer::LegendMark::Offload: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(5)), b, t.offload); break;
    case explorer::LegendMark::Reload: dl->AddRectFilled(ImVec2(a.x, b.y - t.px(5)), b, t.reload); break;
    case explorer::LegendMark::GradSync:
    case explorer::LegendMark::ParamGather:
    case explorer::LegendMark::TensorComm:
    case explorer::LegendMark::ContextComm:
    case explorer::LegendMark::ExpertComm:
    case explorer::LegendMark::OptimizerStep:
      dl->AddRectFilled(ImVec2(a.x, b.y - t.px(5)), b,
                        t.collective[static_cast<int>(m) - static_cast<int>(explorer::LegendMark::GradSync)]);
      break;
    case explorer::LegendMark::MemoryCap:
      dl->AddLine(ImVec2(a.x, (a.y + b.y) / 2), ImVec2(b.x, (a.y + b.y) / 2), t.memory_limit, t.px(1.5f));
      break;
  }
  ImGui::Dummy(ImVec2(s * 1.6f + t.px(6), s + t.px(4)));
}

}  // namespace

void KeysWindow::draw(UiContext& c) {
  const Theme& t = c.theme;
  const ImVec2 centre(ImGui::GetIO().DisplaySize.x * 0.5f, ImGui::GetIO().DisplaySize.y * 0.4f);
  if (c.ui.show_keys) {
    ImGui::SetNextWindowPos(centre, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
    if (ImGui::Begin("Mouse and keys", &c.ui.show_keys, ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoSavedSettings)) {
      static const char* const kRows[][2] = {
          {"Wheel", "zoom the timeline around the mouse"},
          {"Shift+wheel, right-drag, A / D", "pan in time"},
          {"Ctrl+wheel", "scroll the device rows"},
          {"W / S", "zoom in / out"},
          {"F", "fit the whole iteration"},
          {"Click", "select an action or a bubble (details and dependencies)"},
          {"Left / Right", "previous / next action on the selected device"},
          {"Up / Down", "the action at the same time on the device above / below"},
          {"[ / ]", "the selected action's producer / consumer"},
          {"Ctrl+F, then N / Shift+N (F3)", "search (mb 3, s 2, d 1, F/B/W) and step through matches"},
          {"Left-drag an action", "move it in its device's order (re-validated, re-simulated)"},
          {"Left-drag on empty space", "measure a time range (busy / idle in Details); Esc clears it"},
          {"Double-click a folded block", "zoom to it"},
          {"Drag a partition handle (Model)", "move a stage boundary"},
          {"P", "pin the current plan as B for comparison"},
          {"Double-click a row (Cluster plans)", "explore that configuration's pipeline, collectives as dp/tp lanes"},
          {"L", "the legend"},
          {"Ctrl+Z / Ctrl+Y", "undo / redo"},
          {"Ctrl+O / Ctrl+S", "open / save a plan"},
          {"Esc", "clear the measured range, then the selection, then the search"},
      };
      if (ImGui::BeginTable("##keys", 2, ImGuiTableFlags_RowBg)) {
        for (const auto& r : kRows) {
          ImGui::TableNextRow();
          ImGui::TableNextColumn();
          ImGui::PushFont(t.mono);
          ImGui::TextUnformatted(r[0]);
          ImGui::PopFont();
          ImGui::TableNextColumn();
          ImGui::TextUnformatted(r[1]);
        }
        ImGui::EndTable();
      }
    }
    ImGui::End();
  }
  if (c.ui.toggles.legend) {
    ImGui::SetNextWindowPos(ImVec2(centre.x * 1.5f, centre.y), ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
    if (ImGui::Begin("Legend", &c.ui.toggles.legend, ImGuiWindowFlags_AlwaysAutoResize | ImGuiWindowFlags_NoSavedSettings)) {
      explorer::LegendContext lc;
      const explorer::Explorer& core = c.core;
      if (core.has_plan()) {
        const Plan& p = core.editor().plan();
        lc.split_backward = core.editor().costs().split_backward();
        for (const auto& list : p.schedule)
          for (const Action& a : list) lc.fused_backward = lc.fused_backward || a.op == Op::BW;
        for (const auto& st : p.placement.device_stages) lc.chunks = lc.chunks || st.size() > 1;
        for (const auto& d : core.editor().eval().timeline.devices) lc.transfers = lc.transfers || !d.send.empty();
        lc.recompute = core.memory().recompute_actions > 0;
        lc.host_copies = core.memory().host_copies > 0;
        lc.memory = core.memory().has_sizes;
        for (const auto& d : core.editor().eval().timeline.devices)
          for (const explorer::Lane* lane : {&d.dp, &d.tp})
            for (const explorer::TimelineBox& b : lane->boxes)
              lc.collective[static_cast<int>(explorer::collective_kind_of(b.kind))] = true;
      }
      lc.measured = core.overlay() != nullptr || core.comparison().kind == explorer::CompareKind::Run;
      lc.selection = core.selected_box() != nullptr;
      lc.filter = core.view().filter.active();
      for (const explorer::LegendEntry& e : explorer::legend(lc)) {
        draw_mark(t, e.mark);
        ImGui::SameLine();
        ImGui::TextUnformatted(e.label.c_str());
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", e.description.c_str());
      }
    }
    ImGui::End();
  }
}

}  // namespace adaptis::gui
