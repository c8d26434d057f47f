#include "gui/model/key_input.h"

namespace adaptis::gui {

std::vector<Shortcut> shortcuts(const std::vector<KeyTap>& taps, bool text_input) {
  std::vector<Shortcut> out;
  for (const KeyTap& t : taps) {
    if (text_input) {
      if (t.key == keycode::Escape) out.push_back(Shortcut::Escape);
      continue;
    }
    auto once = [&](Shortcut s) {
      if (!t.repeat) out.push_back(s);
    };
    if (t.ctrl) {
      switch (t.key) {
        case 'Z': once(t.shift ? Shortcut::Redo : Shortcut::Undo); break;
        case 'Y': once(Shortcut::Redo); break;
        case 'S': once(Shortcut::SavePlan); break;
        case 'O': once(Shortcut::OpenPlan); break;
        case 'Q': once(Shortcut::Quit); break;
        case 'F': once(Shortcut::Search); break;
        default: break;
      }
      continue;
    }
    if (t.alt) continue;
    switch (t.key) {
      case 'F': once(Shortcut::Fit); break;
      case 'P': once(Shortcut::PinAsB); break;
      case 'L': once(Shortcut::Legend); break;
      case 'N': out.push_back(t.shift ? Shortcut::PreviousMatch : Shortcut::NextMatch); break;
      case keycode::F3: out.push_back(t.shift ? Shortcut::PreviousMatch : Shortcut::NextMatch); break;
      case keycode::Escape: once(Shortcut::Escape); break;
      case keycode::Right: out.push_back(Shortcut::NextAction); break;
      case keycode::Left: out.push_back(Shortcut::PreviousAction); break;
      case keycode::Up: out.push_back(Shortcut::DeviceAbove); break;
      case keycode::Down: out.push_back(Shortcut::DeviceBelow); break;
      case '[': out.push_back(Shortcut::Producer); break;
      case ']': out.push_back(Shortcut::Consumer); break;
      default: break;
    }
  }
  return out;
}

}  // namespace adaptis::gui
