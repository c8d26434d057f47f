#pragma once
// The TUI launches runs with the child-process helper it shares with the GUI.
#include "common/child_process.h"

namespace adaptis::tui {
using app::ChildProcess;
using app::tail_lines;
}  // namespace adaptis::tui
