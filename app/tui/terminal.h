#pragma once
// The TUI's front ends over one TuiSession:
//  - run_terminal: interactive ncurses (colour when the terminal has it and NO_COLOR is unset;
//    redraws on resize; SIGINT/SIGTERM/SIGHUP and exceptions restore the terminal first);
//  - run_line_mode: for terminals that cannot address the cursor (TERM=dumb) or when stdin/stdout
//    are not terminals: prints the screen as text, reads a line of keys, repeats;
//  - print_screen: the plain, deterministic text of a screen (the --plain output).
#include <iosfwd>

#include "tui/screen.h"
#include "tui/session.h"

namespace adaptis::tui {

// True when stdin and stdout are terminals and $TERM is known to terminfo and can move the cursor
// (not TERM=dumb). Picks between run_terminal and run_line_mode.
bool terminal_supports_fullscreen();

// Runs until `q` or a terminating signal. Returns 0 on `q`, 128 + the signal number on a signal.
// `want_color` false forces monochrome; colour is also off when the terminal has none. The
// terminal is restored before it returns (or while an exception leaves it); background work is
// left for the caller's session.shutdown().
int run_terminal(TuiSession& session, bool want_color);

// Line-oriented loop: screen (one line shorter than `height`, for the prompt), prompt, keys (a key
// script: "3", "++", "<left>"), until q or EOF. Returns 0.
int run_line_mode(TuiSession& session, std::istream& in, std::ostream& out, int width, int height);

// The screen as plain text with a trailing newline.
void print_screen(const Screen& screen, std::ostream& out);

}  // namespace adaptis::tui
