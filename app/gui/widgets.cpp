#include "gui/widgets.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace adaptis::gui {

bool splitter(const char* id, bool vertical, float thickness, float length, float* size, float min_size,
              float max_size, bool invert) {
  const ImVec2 sz = vertical ? ImVec2(thickness, length) : ImVec2(length, thickness);
  ImGui::InvisibleButton(id, sz);
  const bool hovered = ImGui::IsItemHovered(), active = ImGui::IsItemActive();
  if (hovered || active) ImGui::SetMouseCursor(vertical ? ImGuiMouseCursor_ResizeEW : ImGuiMouseCursor_ResizeNS);
  const ImVec2 a = ImGui::GetItemRectMin(), b = ImGui::GetItemRectMax();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImU32 col = ImGui::GetColorU32(active ? ImGuiCol_SeparatorActive
                                              : hovered ? ImGuiCol_SeparatorHovered : ImGuiCol_Separator);
  if (vertical) {
    const float x = (a.x + b.x) * 0.5f;
    dl->AddLine(ImVec2(x, a.y), ImVec2(x, b.y), col, hovered || active ? 2.0f : 1.0f);
  } else {
    const float y = (a.y + b.y) * 0.5f;
    dl->AddLine(ImVec2(a.x, y), ImVec2(b.x, y), col, hovered || active ? 2.0f : 1.0f);
  }
  if (active) {
    const ImVec2 d = ImGui::GetIO().MouseDelta;
    const float delta = vertical ? d.x : d.y;
    *size = std::clamp(*size + (invert ? -delta : delta), min_size, std::max(min_size, max_size));
  }
  return active;
}

void metric(const Theme& t, const char* caption, const std::string& value, ImU32 colour, const char* tooltip) {
  ImGui::BeginGroup();
  ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim);
  ImGui::TextUnformatted(caption);
  ImGui::PopStyleColor();
  ImGui::PushFont(t.ui_bold);
  if (colour) ImGui::PushStyleColor(ImGuiCol_Text, colour);
  ImGui::TextUnformatted(value.c_str());
  if (colour) ImGui::PopStyleColor();
  ImGui::PopFont();
  ImGui::EndGroup();
  if (tooltip && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", tooltip);
}

void section(const Theme& t, const char* title) {
  ImGui::Spacing();
  ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim);
  ImGui::TextUnformatted(title);
  ImGui::PopStyleColor();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::GetWindowDrawList()->AddLine(ImVec2(p.x, p.y - 2), ImVec2(p.x + ImGui::GetContentRegionAvail().x, p.y - 2),
                                      t.grid_strong);
  ImGui::Dummy(ImVec2(0, 2));
}

void help_marker(const char* text) {
  ImGui::TextDisabled("(?)");
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
    ImGui::TextUnformatted(text);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

void swatch(ImU32 colour, float size) {
  const ImVec2 p = ImGui::GetCursorScreenPos();
  const float h = ImGui::GetTextLineHeight();
  const float y = p.y + (h - size) * 0.5f;
  ImGui::GetWindowDrawList()->AddRectFilled(ImVec2(p.x, y), ImVec2(p.x + size, y + size), colour, 2.0f);
  ImGui::Dummy(ImVec2(size, h));
}

void mono_text(const Theme& t, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ImGui::PushFont(t.mono);
  ImGui::TextUnformatted(buf);
  ImGui::PopFont();
}

void comparison_row(const Theme& t, const char* name, const std::string& first, const std::string& second,
                    const std::string& difference, bool better) {
  ImGui::TableNextRow();
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(name);
  ImGui::PushFont(t.mono);
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(first.c_str());
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(second.c_str());
  ImGui::TableNextColumn();
  if (!difference.empty()) ImGui::TextColored(ImColor(better ? t.good : t.bad), "%s", difference.c_str());
  ImGui::PopFont();
}

namespace {
// Width of `text` with every digit drawn as '0' (about the widest digit): boxes of one width then
// all get the same form of label, whatever their numbers ("F0 F1 F2", not "0 F1 2").
float uniform_width(const char* text) {
  char buf[64];
  size_t n = 0;
  for (; text[n] && n + 1 < sizeof buf; ++n) buf[n] = (text[n] >= '0' && text[n] <= '9') ? '0' : text[n];
  buf[n] = 0;
  return ImGui::CalcTextSize(buf).x;
}
}  // namespace

const char* fitting_label(float width, float pad, const char* long_text, const char* short_text) {
  if (long_text && uniform_width(long_text) + pad <= width) return long_text;
  if (short_text && uniform_width(short_text) + pad <= width) return short_text;
  return nullptr;
}

void clipped_text(const std::string& text, float width, ImU32 colour) {
  ImGui::PushStyleColor(ImGuiCol_Text, colour);
  if (ImGui::CalcTextSize(text.c_str()).x <= width) {
    ImGui::TextUnformatted(text.c_str());
    ImGui::PopStyleColor();
    return;
  }
  // The longest prefix that fits with the ellipsis (binary search over the length).
  const float ell = ImGui::CalcTextSize("...").x;
  size_t lo = 0, hi = text.size();
  while (lo < hi) {
    const size_t mid = (lo + hi + 1) / 2;
    if (ImGui::CalcTextSize(text.c_str(), text.c_str() + mid).x + ell <= width) lo = mid;
    else hi = mid - 1;
  }
  const std::string shown = text.substr(0, lo) + "...";
  ImGui::TextUnformatted(shown.c_str());
  ImGui::PopStyleColor();
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40);
    ImGui::TextUnformatted(text.c_str());
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
}

}  // namespace adaptis::gui
