// Whether the full-screen UI can run here. Kept apart from terminal.cpp because <term.h> defines
// hundreds of capability-name macros (lines, columns, print_screen, ...) that collide with code.
#include "tui/terminal.h"

// After our header: <term.h> would turn its print_screen into a macro.
#include <curses.h>
#include <term.h>
#include <unistd.h>

#include <cstdlib>

namespace adaptis::tui {

bool terminal_supports_fullscreen() {
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return false;
  const char* t = std::getenv("TERM");
  if (!t || !*t) return false;
  int err = 0;
  TERMINAL* saved = cur_term;
  if (setupterm(t, STDOUT_FILENO, &err) != OK) return false;
  // Without cursor addressing (TERM=dumb, some serial consoles) curses cannot place the views.
  char* cup = tigetstr(const_cast<char*>("cup"));
  bool ok = cup != nullptr && cup != reinterpret_cast<char*>(-1);
  TERMINAL* probe = cur_term;
  set_curterm(saved);
  del_curterm(probe);
  return ok;
}

}  // namespace adaptis::tui
