#pragma once
// Text that came from the user (plan, model, layer, cluster and file names, commands and error excerpts)
// made safe to print on a terminal: a name holding ESC]0;...BEL or ESC[2J must show as text, not retitle
// the window or clear the screen. Every CLI printer and the TUI pass such strings through here; JSON output
// needs nothing (nlohmann escapes control characters itself).
#include <string>
#include <string_view>

namespace adaptis::app {

// `text` with every terminal control character replaced by a visible escape: C0 controls (other than
// newline and tab, which stay when `keep_newlines_and_tabs`), DEL, C1 controls (U+0080..U+009F) and bytes
// that are not valid UTF-8 (an 8-bit terminal reads 0x9B as CSI) become "\xHH" (or "\u00HH" for an
// encoded C1). Valid UTF-8 otherwise passes unchanged.
std::string terminal_safe(std::string_view text, bool keep_newlines_and_tabs = false);

// For whole messages (error text, multi-line reports): newlines and tabs kept.
inline std::string terminal_safe_text(std::string_view text) { return terminal_safe(text, true); }

}  // namespace adaptis::app
