#include "gui/theme.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

namespace adaptis::gui {

ImU32 with_alpha(ImU32 c, float alpha) {
  const ImU32 a = static_cast<ImU32>(std::clamp(alpha, 0.0f, 1.0f) * 255.0f + 0.5f);
  return (c & ~IM_COL32_A_MASK) | (a << IM_COL32_A_SHIFT);
}

ImU32 mix(ImU32 a, ImU32 b, float t) {
  auto ch = [&](int shift) {
    const float x = static_cast<float>((a >> shift) & 0xFF), y = static_cast<float>((b >> shift) & 0xFF);
    return static_cast<ImU32>(x + (y - x) * t + 0.5f) << shift;
  };
  return ch(IM_COL32_R_SHIFT) | ch(IM_COL32_G_SHIFT) | ch(IM_COL32_B_SHIFT) | ch(IM_COL32_A_SHIFT);
}

ImU32 Theme::box_colour(explorer::BoxKind kind, int chunk) const {
  using explorer::BoxKind;
  ImU32 base = 0;
  switch (kind) {
    case BoxKind::F:
    case BoxKind::B:
    case BoxKind::W:
    case BoxKind::BW: base = op[static_cast<int>(kind)]; break;
    case BoxKind::R: base = op[static_cast<int>(Op::R)]; break;
    case BoxKind::Offload: return offload;
    case BoxKind::Reload: return reload;
    case BoxKind::Send: return send;
    case BoxKind::Recv: return recv;
    case BoxKind::Idle: return idle_dependency;
    case BoxKind::Measured: return measured;
    case BoxKind::GradSync:
    case BoxKind::ParamGather:
    case BoxKind::TensorComm:
    case BoxKind::ContextComm:
    case BoxKind::ExpertComm:
    case BoxKind::OptimizerStep: return collective[static_cast<int>(explorer::collective_kind_of(kind))];
  }
  if (chunk <= 0) return base;
  // Alternate lighter and darker shades per chunk.
  const float t = 0.22f * static_cast<float>((chunk + 1) / 2);
  return chunk % 2 ? mix(base, IM_COL32(255, 255, 255, 255), std::min(t, 0.5f))
                   : mix(base, IM_COL32(0, 0, 0, 255), std::min(t, 0.5f));
}

ImU32 Theme::device_colour(int device, int num_devices) const {
  // Evenly spaced hues; saturation and value fixed for a dark background.
  const float h = num_devices > 0 ? std::fmod(static_cast<float>(device) * 0.61803398875f, 1.0f) : 0.0f;
  float r, g, b;
  ImGui::ColorConvertHSVtoRGB(h, 0.55f, 0.95f, r, g, b);
  return IM_COL32(static_cast<int>(r * 255), static_cast<int>(g * 255), static_cast<int>(b * 255), 255);
}

Theme make_theme(float scale) {
  Theme t;
  t.scale = scale;
  t.op[static_cast<int>(Op::F)] = IM_COL32(66, 135, 222, 255);   // forward: blue
  t.op[static_cast<int>(Op::B)] = IM_COL32(54, 181, 132, 255);   // input-gradient backward: green
  t.op[static_cast<int>(Op::W)] = IM_COL32(232, 164, 56, 255);   // weight-gradient backward: amber
  t.op[static_cast<int>(Op::BW)] = IM_COL32(142, 104, 214, 255); // fused backward: violet
  t.op[static_cast<int>(Op::R)] = IM_COL32(214, 92, 176, 255);   // recompute: magenta
  t.offload = IM_COL32(120, 206, 176, 255);                       // to host: sea green
  t.reload = IM_COL32(226, 150, 110, 255);                        // back from host: salmon
  t.collective[static_cast<int>(CollectiveKind::GradSync)] = IM_COL32(64, 210, 230, 255);         // dp sync: cyan
  t.collective[static_cast<int>(CollectiveKind::ParamGather)] = IM_COL32(180, 220, 110, 255);      // ZeRO gather: lime
  t.collective[static_cast<int>(CollectiveKind::TensorParallel)] = IM_COL32(250, 230, 120, 255);   // tp: pale yellow
  t.collective[static_cast<int>(CollectiveKind::ContextParallel)] = IM_COL32(200, 160, 255, 255);  // cp: lavender
  t.collective[static_cast<int>(CollectiveKind::ExpertParallel)] = IM_COL32(235, 100, 100, 255);   // ep: coral
  t.collective[static_cast<int>(CollectiveKind::OptimizerStep)] = IM_COL32(170, 170, 170, 255);    // optimizer: grey
  t.send = IM_COL32(86, 196, 222, 255);
  t.recv = IM_COL32(222, 104, 168, 255);
  t.idle_dependency = IM_COL32(214, 76, 76, 255);
  t.idle_transfer = IM_COL32(226, 190, 64, 255);
  t.idle_drain = IM_COL32(120, 124, 136, 255);
  t.critical = IM_COL32(255, 92, 56, 255);
  t.selection = IM_COL32(255, 255, 255, 255);
  t.arrow_in = IM_COL32(255, 255, 255, 220);
  t.arrow_out = IM_COL32(255, 214, 102, 230);
  t.measured = IM_COL32(200, 200, 210, 255);
  t.background = IM_COL32(24, 25, 28, 255);
  t.lane_background = IM_COL32(32, 33, 38, 255);
  t.lane_background_alt = IM_COL32(36, 38, 44, 255);
  t.grid = IM_COL32(255, 255, 255, 18);
  t.grid_strong = IM_COL32(255, 255, 255, 40);
  t.text = IM_COL32(222, 224, 230, 255);
  t.text_dim = IM_COL32(140, 144, 156, 255);
  t.text_on_box = IM_COL32(12, 14, 20, 230);
  t.good = IM_COL32(92, 204, 120, 255);
  t.bad = IM_COL32(240, 96, 86, 255);
  t.warn = IM_COL32(236, 190, 70, 255);
  t.memory_limit = IM_COL32(240, 96, 86, 200);
  return t;
}

void apply_style(const Theme& theme) {
  ImGuiStyle style;
  ImGui::StyleColorsDark(&style);
  style.WindowRounding = 0;
  style.ChildRounding = 3;
  style.FrameRounding = 3;
  style.PopupRounding = 3;
  style.GrabRounding = 3;
  style.TabRounding = 3;
  style.ScrollbarRounding = 3;
  style.WindowBorderSize = 0;
  style.FrameBorderSize = 0;
  style.WindowPadding = ImVec2(8, 8);
  style.FramePadding = ImVec2(7, 4);
  style.ItemSpacing = ImVec2(8, 5);
  style.ItemInnerSpacing = ImVec2(5, 4);
  style.CellPadding = ImVec2(5, 3);
  style.IndentSpacing = 14;
  style.ScrollbarSize = 12;
  style.GrabMinSize = 9;
  ImVec4* c = style.Colors;
  auto rgb = [](int r, int g, int b, float a = 1.0f) { return ImVec4(r / 255.f, g / 255.f, b / 255.f, a); };
  c[ImGuiCol_Text] = rgb(222, 224, 230);
  c[ImGuiCol_TextDisabled] = rgb(128, 132, 144);
  c[ImGuiCol_WindowBg] = rgb(24, 25, 28);
  c[ImGuiCol_ChildBg] = rgb(28, 29, 33);
  c[ImGuiCol_PopupBg] = rgb(34, 36, 41, 0.98f);
  c[ImGuiCol_Border] = rgb(60, 63, 72);
  c[ImGuiCol_FrameBg] = rgb(40, 42, 48);
  c[ImGuiCol_FrameBgHovered] = rgb(52, 55, 63);
  c[ImGuiCol_FrameBgActive] = rgb(60, 64, 74);
  c[ImGuiCol_TitleBg] = rgb(24, 25, 28);
  c[ImGuiCol_TitleBgActive] = rgb(30, 32, 36);
  c[ImGuiCol_MenuBarBg] = rgb(30, 31, 35);
  c[ImGuiCol_ScrollbarBg] = rgb(24, 25, 28);
  c[ImGuiCol_ScrollbarGrab] = rgb(62, 65, 74);
  c[ImGuiCol_CheckMark] = rgb(100, 160, 240);
  c[ImGuiCol_SliderGrab] = rgb(84, 140, 220);
  c[ImGuiCol_SliderGrabActive] = rgb(110, 166, 246);
  c[ImGuiCol_Button] = rgb(46, 49, 57);
  c[ImGuiCol_ButtonHovered] = rgb(60, 66, 80);
  c[ImGuiCol_ButtonActive] = rgb(70, 100, 150);
  c[ImGuiCol_Header] = rgb(48, 54, 68);
  c[ImGuiCol_HeaderHovered] = rgb(58, 66, 84);
  c[ImGuiCol_HeaderActive] = rgb(66, 86, 124);
  c[ImGuiCol_Separator] = rgb(52, 55, 63);
  c[ImGuiCol_Tab] = rgb(34, 36, 41);
  c[ImGuiCol_TabHovered] = rgb(60, 78, 112);
  c[ImGuiCol_TabActive] = rgb(50, 66, 98);
  c[ImGuiCol_TabUnfocused] = rgb(34, 36, 41);
  c[ImGuiCol_TabUnfocusedActive] = rgb(44, 54, 76);
  c[ImGuiCol_TableHeaderBg] = rgb(36, 38, 44);
  c[ImGuiCol_TableBorderStrong] = rgb(52, 55, 63);
  c[ImGuiCol_TableBorderLight] = rgb(42, 44, 50);
  c[ImGuiCol_TableRowBg] = rgb(0, 0, 0, 0);
  c[ImGuiCol_TableRowBgAlt] = rgb(255, 255, 255, 0.025f);
  c[ImGuiCol_PlotHistogram] = rgb(84, 140, 220);
  c[ImGuiCol_TextSelectedBg] = rgb(66, 110, 180, 0.5f);
  style.ScaleAllSizes(theme.scale);
  ImGui::GetStyle() = style;
}

std::string find_font(const char* const* candidates) {
  for (const char* const* p = candidates; *p; ++p) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(*p, ec)) return *p;
  }
  return "";
}

void load_fonts(Theme& theme) {
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  static const char* const kInter[] = {"/usr/share/fonts/opentype/inter/Inter-Regular.otf",
                                       "/usr/share/fonts/truetype/inter/Inter-Regular.ttf", nullptr};
  static const char* const kInterBold[] = {"/usr/share/fonts/opentype/inter/Inter-SemiBold.otf",
                                           "/usr/share/fonts/truetype/inter/Inter-SemiBold.ttf", nullptr};
  static const char* const kMono[] = {"/usr/share/fonts/truetype/jetbrains-mono/JetBrainsMono-Regular.ttf",
                                      "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", nullptr};
  const std::string ui = find_font(kInter), bold = find_font(kInterBold), mono = find_font(kMono);
  ImFontConfig cfg;
  cfg.OversampleH = 2;
  cfg.OversampleV = 1;
  // Latin-1 plus the punctuation, arrows, Greek and maths the labels use (– … → Δ − ·).
  static const ImWchar kRanges[] = {0x0020, 0x00FF, 0x0370, 0x03FF, 0x2000, 0x206F, 0x2190, 0x21FF,
                                    0x2200, 0x22FF, 0x25A0, 0x25FF, 0};
  const float s = theme.scale;
  theme.ui = ui.empty() ? nullptr : io.Fonts->AddFontFromFileTTF(ui.c_str(), 15.0f * s, &cfg, kRanges);
  if (!theme.ui) {
    ImFontConfig def;
    def.SizePixels = 13.0f * s;
    theme.ui = io.Fonts->AddFontDefault(&def);
    theme.fonts_from_system = false;
  } else {
    theme.fonts_from_system = true;
  }
  theme.ui_bold = bold.empty() ? nullptr : io.Fonts->AddFontFromFileTTF(bold.c_str(), 19.0f * s, &cfg, kRanges);
  if (!theme.ui_bold) theme.ui_bold = theme.ui;
  theme.mono = mono.empty() ? nullptr : io.Fonts->AddFontFromFileTTF(mono.c_str(), 13.5f * s, &cfg, kRanges);
  if (!theme.mono) theme.mono = theme.ui;
  io.FontDefault = theme.ui;
}

}  // namespace adaptis::gui
