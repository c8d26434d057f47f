#pragma once
// A TUI session: the pure state plus the driver that carries out what the explorer core asks for
// (the optimizer thread, a launched run, reading the run store, saving a plan or the session). Both front ends
// (the ncurses terminal and the line mode) drive one of these: feed keys, poll each frame, draw
// render(state()).
#include <string>

#include "explorer/explorer_driver.h"
#include "tui/tui_state.h"

namespace adaptis::tui {

class TuiSession {
 public:
  TuiSession(TuiState initial, explorer::DriverOptions options = {});
  ~TuiSession();  // cancels the optimizer and stops a launched run
  TuiSession(const TuiSession&) = delete;
  TuiSession& operator=(const TuiSession&) = delete;

  const TuiState& state() const { return state_; }
  void key(int k);
  void resize(int width, int height);
  // The front end's final say on colour (the terminal may have none).
  void set_color(bool color) { state_.color = color; }
  // Picks up background progress (optimizer, run store, launched run); true when the screen
  // should redraw.
  bool poll();
  bool quit_requested() const { return state_.quit; }
  bool busy() const { return driver_.busy(); }
  // Cancels the optimizer (joined) and stops a launched run; returns what it stopped, for the
  // goodbye line ("" when nothing was running).
  std::string shutdown() { return driver_.shutdown(); }

 private:
  TuiState state_;
  explorer::ExplorerDriver driver_;
};

}  // namespace adaptis::tui
