#pragma once
// Keyboard shortcuts of the desktop explorer, free of any window. ImGui 1.86 only sees the keys
// held when a frame starts, so a key pressed and released between two frames (a quick tap of
// Ctrl+Z or F) would be lost; the window's key callback therefore queues every press here, and
// each frame maps the queue to shortcuts. Key codes are GLFW's (letters are their ASCII capital).
#include <vector>

namespace adaptis::gui {

namespace keycode {
constexpr int Escape = 256, Enter = 257, Tab = 258, Backspace = 259, Right = 262, Left = 263, Down = 264, Up = 265,
              F3 = 292;
}

struct KeyTap {
  int key = 0;
  bool ctrl = false, shift = false, alt = false;
  bool repeat = false;  // auto-repeat of a held key
};

// The presses since the last frame, in order.
class KeyTaps {
 public:
  void push(const KeyTap& t) { taps_.push_back(t); }
  std::vector<KeyTap> take() {
    std::vector<KeyTap> out;
    out.swap(taps_);
    return out;
  }

 private:
  std::vector<KeyTap> taps_;
};

enum class Shortcut {
  Undo, Redo, SavePlan, OpenPlan, Quit, Fit, PinAsB, Escape, Search, NextMatch, PreviousMatch,
  NextAction, PreviousAction, DeviceAbove, DeviceBelow, Producer, Consumer, Legend,
};

// What the frame's presses ask for. While a text field has the keyboard only Escape passes (it
// leaves the field); auto-repeat repeats navigation but never undo, save or quit.
std::vector<Shortcut> shortcuts(const std::vector<KeyTap>& taps, bool text_input);

}  // namespace adaptis::gui
