#pragma once
// A TUI session: the pure state plus the side effects it asks for (the optimizer thread, a launched
// run, reading the run store, saving a plan). Both front ends (the ncurses terminal and the line
// mode) drive one of these: feed keys, poll each frame, draw render(state()).
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "tui/child_process.h"
#include "tui/optimizer_job.h"
#include "tui/tui_state.h"

namespace adaptis::tui {

struct SessionOptions {
  std::string binary;                 // the adaptis executable that `r` launches runs with
  std::string model_path;             // --model: `adaptis run` needs the model spec for the real math
  std::vector<std::string> run_args;  // extra arguments for `adaptis run`
  double optimize_seconds = 5;        // optimizer budget per `o`
  int optimize_threads = 0;           // 0 = all hardware threads
  std::string work_dir;               // plans and logs of launched runs; "" = a new temp directory
};

class TuiSession {
 public:
  TuiSession(TuiState initial, SessionOptions options);
  ~TuiSession();  // cancels the optimizer and stops a launched run
  TuiSession(const TuiSession&) = delete;
  TuiSession& operator=(const TuiSession&) = delete;

  const TuiState& state() const { return state_; }
  void key(int k);
  void resize(int width, int height);
  // The front end's final say on colour (the terminal may have none).
  void set_color(bool color) { state_.config.color = color; }
  // Picks up background progress (optimizer, run store, launched run); true when the screen
  // should redraw.
  bool poll();
  bool quit_requested() const { return quit_; }
  bool busy() const;  // background work in flight (the front end polls more often)
  // Cancels the optimizer (joined) and stops a launched run; returns what it stopped, for the
  // goodbye line ("" when nothing was running).
  std::string shutdown();

 private:
  void carry_out(Effect e);
  void start_optimizer();
  void save_plan();
  void launch_run();
  void refresh_runs();
  void watch_launched();
  std::string work_dir();

  TuiState state_;
  SessionOptions opt_;
  OptimizerJob optimizer_;
  ChildProcess child_;
  // The run store is read on a worker thread: a writer holding its lock must not freeze the UI.
  std::future<RunStoreView> store_read_;
  bool store_read_again_ = false;
  bool quit_ = false;
  double last_watch_s_ = -1;
  int run_counter_ = 0;
};

}  // namespace adaptis::tui
