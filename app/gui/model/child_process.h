#pragma once
// The GUI launches runs with the child-process helper it shares with the TUI.
#include "common/child_process.h"

namespace adaptis::gui {
using app::ChildProcess;
using app::self_executable;
using app::tail_text;
}  // namespace adaptis::gui
