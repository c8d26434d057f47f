#pragma once
// Key codes the TUI logic understands. Printable keys are their ASCII code; special keys get codes
// above 0xff so the logic never sees terminal-specific values (the ncurses layer translates its
// KEY_* codes, the plain mode parses "<left>"-style names).
#include <string>
#include <vector>

namespace adaptis::tui::key {

constexpr int Tab = '\t';
constexpr int Enter = '\n';
constexpr int Escape = 27;
constexpr int Up = 0x101;
constexpr int Down = 0x102;
constexpr int Left = 0x103;
constexpr int Right = 0x104;
constexpr int PageUp = 0x105;
constexpr int PageDown = 0x106;
constexpr int Home = 0x107;
constexpr int End = 0x108;
constexpr int BackTab = 0x109;  // shift-tab
constexpr int Backspace = 0x10a;

// A key script: plain characters are keys; "<name>" is a special key (up, down, left, right, pgup,
// pgdn, home, end, enter, tab, btab, esc, bs, lt, gt). Throws InputError naming `flag` on an unknown name.
std::vector<int> parse_script(const std::string& script, const std::string& flag = "--keys");

// Printable name of a key for messages: "q", "<left>".
std::string name(int k);

}  // namespace adaptis::tui::key
