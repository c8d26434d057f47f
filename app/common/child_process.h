#pragma once
// A child process the TUI or GUI launched (an `adaptis run`), watched without blocking: its output
// goes to a log file (never to the terminal the TUI draws on), it runs in its own process group (so
// a Ctrl-C meant for the UI does not reach it), and the UI polls it each frame.
#include <string>
#include <sys/types.h>
#include <vector>

namespace adaptis::app {

class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // stops a child still running (see stop)
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with argv, stdin from /dev/null, stdout and stderr written to `log_path`, which must
  // not exist yet (it is created private, see private_work_dir.h). Throws InputError when the program
  // cannot be started or the log cannot be created.
  void start(const std::vector<std::string>& argv, const std::string& log_path);
  // Reaps the child when it has exited; returns true while it runs.
  bool poll();
  bool started() const { return pid_ > 0; }
  bool running() const { return running_; }
  pid_t pid() const { return pid_; }
  // Exit status (128 + signal when killed); valid once poll() returned false.
  int exit_status() const { return exit_status_; }
  // SIGTERM, then SIGKILL after `grace_ms`; waits for it. No-op when not running.
  void stop(int grace_ms = 2000);

 private:
  pid_t pid_ = 0;
  bool running_ = false;
  int exit_status_ = 0;
};

// The last `max_lines` lines of a text file (empty when unreadable), reading at most its tail.
std::vector<std::string> tail_lines(const std::string& path, int max_lines);
// The same lines joined with newlines ("" when unreadable).
std::string tail_text(const std::string& path, int max_lines);
// The path of the running executable (/proc/self/exe), to launch `adaptis run` as a sibling.
std::string self_executable();

}  // namespace adaptis::app
