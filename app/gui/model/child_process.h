#pragma once
// A process the GUI launched (an `adaptis run` of the current plan), watched without blocking:
// output goes to a log file, the child runs in its own process group, and the UI polls it each
// frame. The destructor stops a child that is still running.
#include <sys/types.h>

#include <string>
#include <vector>

namespace adaptis::gui {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] (a path) with argv; stdin from /dev/null, stdout and stderr to `log_path`.
  // Throws InputError when the log cannot be opened or the program cannot be started.
  void start(const std::vector<std::string>& argv, const std::string& log_path);
  // Reaps the child once it exited; true while it runs.
  bool poll();
  bool started() const { return pid_ > 0; }
  bool running() const { return running_; }
  pid_t pid() const { return pid_; }
  // Exit code, or 128 + signal; valid once poll() returned false.
  int exit_status() const { return exit_status_; }
  // SIGTERM to its group, SIGKILL after `grace_ms`; waits for it.
  void stop(int grace_ms = 2000);

 private:
  pid_t pid_ = 0;
  bool running_ = false;
  int exit_status_ = 0;
};

// The path of the running executable (/proc/self/exe), to launch `adaptis run` as a sibling.
std::string self_executable();

// The last `max_lines` lines of a text file ("" when unreadable).
std::string tail_text(const std::string& path, int max_lines);

}  // namespace adaptis::gui
