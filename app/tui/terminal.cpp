#include "tui/terminal.h"

#include <curses.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "adaptis/model/error.h"
#include "common/terminal_text.h"
#include "tui/keys.h"
#include "tui/render.h"

namespace adaptis::tui {

namespace {

// The terminating signal that arrived (0 = none). A signal handler can only set a flag; the
// main loop sees it within one frame (getch times out every 100 ms, and returns early when a
// signal interrupts it) and leaves through the normal path that restores the terminal.
volatile sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// A crash must not leave the user's shell in raw mode without echo: restore the terminal, then die
// of the same signal with the default action (so a core dump or the shell's message still happens).
extern "C" void on_crash_signal(int sig) {
  endwin();
  signal(sig, SIG_DFL);
  raise(sig);
}

int to_key(int ch) {
  switch (ch) {
    case KEY_UP: return key::Up;
    case KEY_DOWN: return key::Down;
    case KEY_LEFT: return key::Left;
    case KEY_RIGHT: return key::Right;
    case KEY_PPAGE: return key::PageUp;
    case KEY_NPAGE: return key::PageDown;
    case KEY_HOME: return key::Home;
    case KEY_END: return key::End;
    case KEY_BTAB: return key::BackTab;
    case KEY_BACKSPACE:
    case 127:
    case 8: return key::Backspace;
    case KEY_ENTER:
    case '\r': return key::Enter;
    default: return ch;
  }
}

// Style -> curses attribute (colour pair + attributes, or attributes alone without colour).
struct Palette {
  attr_t attr[kNumStyles] = {};
};

Palette make_palette(bool color) {
  Palette p;
  auto set = [&p](Style s, attr_t a) { p.attr[static_cast<int>(s)] = a; };
  if (!color) {
    set(Style::Dim, A_DIM);
    set(Style::Title, A_BOLD);
    set(Style::Tab, A_REVERSE);
    set(Style::TabActive, A_BOLD);
    set(Style::Header, A_BOLD | A_UNDERLINE);
    set(Style::Selected, A_REVERSE);
    set(Style::Good, A_BOLD);
    set(Style::Warn, A_BOLD);
    set(Style::Bad, A_BOLD);
    set(Style::Idle, A_DIM);
    set(Style::OpR, A_UNDERLINE);
    set(Style::Progress, A_BOLD);
    set(Style::Key, A_BOLD);
    return p;
  }
  start_color();
  use_default_colors();  // -1 = the terminal's own foreground/background
  // One pair per style that needs colour.
  struct PairDef {
    Style style;
    short fg, bg;
    attr_t extra;
  };
  const PairDef defs[] = {
      {Style::Dim, COLOR_WHITE, -1, A_DIM},
      {Style::Title, COLOR_CYAN, COLOR_BLUE, A_BOLD},
      {Style::Tab, COLOR_WHITE, COLOR_BLUE, 0},
      {Style::TabActive, COLOR_BLACK, COLOR_CYAN, A_BOLD},
      {Style::Header, COLOR_CYAN, -1, A_BOLD},
      {Style::Selected, COLOR_BLACK, COLOR_WHITE, 0},
      {Style::Good, COLOR_GREEN, -1, A_BOLD},
      {Style::Warn, COLOR_YELLOW, -1, A_BOLD},
      {Style::Bad, COLOR_RED, -1, A_BOLD},
      {Style::OpF, COLOR_WHITE, COLOR_BLUE, A_BOLD},
      {Style::OpB, COLOR_BLACK, COLOR_GREEN, 0},
      {Style::OpW, COLOR_BLACK, COLOR_YELLOW, 0},
      {Style::OpBW, COLOR_BLACK, COLOR_CYAN, 0},
      {Style::OpR, COLOR_WHITE, COLOR_MAGENTA, A_BOLD},
      {Style::HostCopy, COLOR_CYAN, -1, A_BOLD},
      {Style::Collective, COLOR_MAGENTA, -1, A_BOLD},
      {Style::Idle, COLOR_WHITE, -1, A_DIM},
      {Style::BarBusy, COLOR_BLUE, -1, A_BOLD},
      {Style::BarWarmUp, COLOR_YELLOW, -1, A_BOLD},
      {Style::BarBetween, COLOR_MAGENTA, -1, A_BOLD},
      {Style::BarCoolDown, COLOR_RED, -1, A_BOLD},
      {Style::BarMemory, COLOR_GREEN, -1, A_BOLD},
      {Style::BarRecomputed, COLOR_MAGENTA, -1, A_BOLD},
      {Style::BarEmpty, COLOR_WHITE, -1, A_DIM},
      {Style::Progress, COLOR_GREEN, -1, A_BOLD},
      {Style::Key, COLOR_YELLOW, -1, A_BOLD},
  };
  short pair = 1;
  for (const PairDef& d : defs) {
    if (pair >= COLOR_PAIRS) break;
    init_pair(pair, d.fg, d.bg);
    set(d.style, COLOR_PAIR(pair) | d.extra);
    ++pair;
  }
  return p;
}

void draw(const Screen& scr, const Palette& pal) {
  erase();
  for (int y = 0; y < scr.height(); ++y)
    for (int x = 0; x < scr.width(); ++x) {
      const Cell& c = scr.at(x, y);
      // The bottom-right cell would scroll some terminals; ncurses handles it, and an ERR there
      // is harmless.
      mvaddch(y, x, static_cast<chtype>(static_cast<unsigned char>(c.ch)) | pal.attr[static_cast<int>(c.style)]);
    }
  refresh();
}

// Owns curses mode: entering it installs the signal handlers; leaving it (normally or while an
// exception unwinds) restores the terminal and the previous handlers.
class CursesMode {
 public:
  CursesMode() {
    screen_ = newterm(nullptr, stdout, stdin);
    if (!screen_) throw InputError("tui: cannot initialise the terminal (TERM=" + term_name() + ")");
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    timeout(100);
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a signal interrupts getch so the loop sees it at once
    for (int i = 0; i < kStop; ++i) sigaction(kStopSignals[i], &sa, &old_stop_[i]);
    struct sigaction crash {};
    crash.sa_handler = on_crash_signal;
    sigemptyset(&crash.sa_mask);
    crash.sa_flags = SA_RESETHAND;
    for (int i = 0; i < kCrash; ++i) sigaction(kCrashSignals[i], &crash, &old_crash_[i]);
  }
  ~CursesMode() {
    endwin();
    delscreen(screen_);
    for (int i = 0; i < kStop; ++i) sigaction(kStopSignals[i], &old_stop_[i], nullptr);
    for (int i = 0; i < kCrash; ++i) sigaction(kCrashSignals[i], &old_crash_[i], nullptr);
  }
  CursesMode(const CursesMode&) = delete;
  CursesMode& operator=(const CursesMode&) = delete;

  static std::string term_name() {
    const char* t = std::getenv("TERM");
    return t ? t : "(unset)";
  }

 private:
  static constexpr int kStop = 3;
  static constexpr int kStopSignals[kStop] = {SIGINT, SIGTERM, SIGHUP};
  static constexpr int kCrash = 5;
  static constexpr int kCrashSignals[kCrash] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
  SCREEN* screen_ = nullptr;
  struct sigaction old_stop_[kStop] {};
  struct sigaction old_crash_[kCrash] {};
};

}  // namespace

int run_terminal(TuiSession& session, bool want_color) {
  CursesMode mode;
  const bool color = want_color && has_colors();
  session.set_color(color);
  const Palette palette = make_palette(color);
  bool dirty = true;
  int w = COLS, h = LINES;
  session.resize(w, h);
  while (!session.quit_requested()) {
    if (g_stop_signal) break;
    if (session.poll()) dirty = true;
    if (dirty) {
      draw(render(session.state(), w, h), palette);
      dirty = false;
    }
    int ch = getch();
    if (g_stop_signal) break;
    if (ch == ERR) continue;
    if (ch == KEY_RESIZE) {
      w = COLS;
      h = LINES;
      session.resize(w, h);
      dirty = true;
      continue;
    }
    if (ch == 12) {  // Ctrl-L: repaint everything
      clearok(curscr, TRUE);
      dirty = true;
      continue;
    }
    session.key(to_key(ch));
    dirty = true;
  }
  return g_stop_signal ? 128 + g_stop_signal : 0;
}

void print_screen(const Screen& screen, std::ostream& out) { out << screen.text() << "\n"; }

int run_line_mode(TuiSession& session, std::istream& in, std::ostream& out, int width, int height) {
  // One line less than the terminal: the prompt goes below the screen without scrolling its top off.
  height = std::max(kMinHeight, height - 1);
  session.resize(width, height);
  std::string line;
  while (!session.quit_requested()) {
    session.poll();
    print_screen(render(session.state(), width, height), out);
    out << "keys (? help, q quit)> " << std::flush;
    if (!std::getline(in, line)) break;
    if (line.empty()) continue;  // just redraw (picks up background progress)
    try {
      for (int k : key::parse_script(line, "keys")) {
        session.key(k);
        if (session.quit_requested()) break;
      }
    } catch (const InputError& e) {
      out << "error: " << app::terminal_safe_text(e.what()) << "\n";
    }
  }
  out << "\n";
  return 0;
}

}  // namespace adaptis::tui
