// The History tab: every edit (click one to go back or forward to it) and the messages.
#include <imgui.h>

#include "gui/panels/panels.h"
#include "gui/widgets.h"

namespace adaptis::gui {

void HistoryPanel::draw(UiContext& c) {
  const Theme& t = c.theme;
  explorer::Explorer& core = c.core;
  ImGui::BeginChild("##undo", ImVec2(ImGui::GetContentRegionAvail().x * 0.5f, 0), false);
  ImGui::TextDisabled("Edits (click one to go back to it)");
  const std::vector<std::string> undo = core.editor().undo_labels();
  const std::vector<std::string> redo = core.editor().redo_labels();
  int steps = 0;  // > 0: back that many steps; < 0: forward
  for (size_t i = 0; i < undo.size(); ++i)
    if (ImGui::Selectable(strf("%zu  %s##u%zu", i + 1, undo[i].c_str(), i).c_str()))
      steps = static_cast<int>(undo.size() - i);
  if (core.has_plan()) {
    ImGui::PushStyleColor(ImGuiCol_Text, t.good);
    ImGui::Selectable(strf("%zu  %s  (current)", undo.size() + 1, core.editor().state().label.c_str()).c_str(), true);
    ImGui::PopStyleColor();
  }
  for (size_t k = 0; k < redo.size(); ++k) {
    ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim);
    if (ImGui::Selectable(strf("%zu  %s##r%zu", undo.size() + 2 + k, redo[k].c_str(), k).c_str()))
      steps = -static_cast<int>(k + 1);
    ImGui::PopStyleColor();
  }
  ImGui::EndChild();
  if (steps != 0) core.go_to_history(steps);
  ImGui::SameLine();
  ImGui::BeginChild("##log", ImVec2(0, 0), false);
  ImGui::TextDisabled("Messages");
  for (auto it = core.log().rbegin(); it != core.log().rend(); ++it) {
    ImGui::PushStyleColor(ImGuiCol_Text, it->error ? t.bad : t.text);
    ImGui::PushTextWrapPos(0);
    ImGui::TextUnformatted(it->text.c_str());
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
  }
  ImGui::EndChild();
}

}  // namespace adaptis::gui
