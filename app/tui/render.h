#pragma once
// TuiState -> Screen: the whole frame (view tabs, plan summary line, the current view, the status
// line with the optimizer's progress or the last message, key hints, help overlay). Pure: the same
// state and size always give the same screen, so tests assert on it without a terminal.
#include "tui/screen.h"
#include "tui/tui_state.h"

namespace adaptis::tui {

// Smallest size the layout is designed for; below it the screen says so instead of drawing views.
constexpr int kMinWidth = 40;
constexpr int kMinHeight = 10;

Screen render(const TuiState& state, int width, int height);

// Layout facts the key logic needs to scroll without dead key presses: the largest useful
// "first device shown" of the Gantt and Devices views at this terminal size (0 for other views).
int max_first_device(const TuiState& state, View view, int width, int height);
// Rows of the status line: a long message wraps onto up to three (the views get the rest).
int status_rows(const TuiState& state, int width);
// Devices the Gantt shows at once at this size.
int gantt_devices_shown(const TuiState& state, int width, int height);

}  // namespace adaptis::tui
