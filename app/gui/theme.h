#pragma once
// Colours, fonts and sizes of the GUI, scaled for the display (1080p .. 4k). One Theme value is
// built at start-up (and again when the scale changes) and passed to every panel; no globals.
#include <imgui.h>

#include <string>

#include "explorer/timeline_data.h"

namespace adaptis::gui {

struct Theme {
  float scale = 1.0f;  // DPI scale: 1 at 1080p, 2 at 4k
  ImFont* ui = nullptr;       // Inter (or ImGui's default font)
  ImFont* ui_bold = nullptr;  // headline numbers
  ImFont* mono = nullptr;     // JetBrains Mono: numbers in tables and tooltips
  bool fonts_from_system = false;

  ImU32 op[kNumOps] = {};  // F, B, W, BW, R
  ImU32 send = 0, recv = 0;
  ImU32 offload = 0, reload = 0;  // host-link copies of a memory policy
  // A whole-cluster plan's collectives, by CollectiveKind: dp sync, ZeRO gather, tp, cp, ep, optimizer.
  ImU32 collective[kNumCollectiveKinds] = {};
  ImU32 idle_dependency = 0, idle_transfer = 0, idle_drain = 0;
  ImU32 critical = 0;
  ImU32 selection = 0;
  ImU32 arrow_in = 0, arrow_out = 0;  // the selection's inputs and outputs
  ImU32 measured = 0;
  ImU32 background = 0, lane_background = 0, lane_background_alt = 0, grid = 0, grid_strong = 0;
  ImU32 text = 0, text_dim = 0, text_on_box = 0;
  ImU32 good = 0, bad = 0, warn = 0;
  ImU32 memory_limit = 0;

  float px(float v) const { return v * scale; }
  // Colour of an action box: the op's colour, lighter for later local chunks so the chunks of a
  // looped or V placement can be told apart.
  ImU32 box_colour(explorer::BoxKind kind, int chunk) const;
  // A distinct colour per device for the memory curves.
  ImU32 device_colour(int device, int num_devices) const;
};

// Colours and ImGui style (dark, Tracy-like), scaled by `scale`.
Theme make_theme(float scale);
void apply_style(const Theme& theme);

// Loads Inter and JetBrains Mono from the Debian font packages into the current ImGui atlas at
// `scale` (falls back to ImGui's default font when they are missing). Call before the atlas is
// built / uploaded.
void load_fonts(Theme& theme);

// The first existing file among the usual Debian locations of a font, or "".
std::string find_font(const char* const* candidates);

ImU32 with_alpha(ImU32 c, float alpha);
ImU32 mix(ImU32 a, ImU32 b, float t);

}  // namespace adaptis::gui
