#include "common/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "adaptis/model/error.h"
#include "common/private_work_dir.h"

extern char** environ;

namespace adaptis::app {

ChildProcess::~ChildProcess() { stop(); }

void ChildProcess::start(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) throw InputError("no program to start");
  if (running_) throw InputError("run: a child is already running (pid " + std::to_string(pid_) + ")");
  // A new file only: never append to (or through a symlink into) something that already has the name.
  const int log_fd = open_new_file(log_path, /*append=*/true);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group: terminal signals (Ctrl-C) go to the TUI, which then stops the child itself.
  // Default signal dispositions: the TUI ignores or catches some that the child must not inherit.
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGWINCH, SIGTSTP}) sigaddset(&defaults, sig);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log_fd);
  if (rc != 0) throw InputError("run: cannot start " + argv[0] + ": " + std::strerror(rc));
  pid_ = pid;
  running_ = true;
  exit_status_ = 0;
}

bool ChildProcess::poll() {
  if (!running_) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == 0) return true;
  running_ = false;
  if (r < 0) exit_status_ = 127;
  else if (WIFEXITED(status)) exit_status_ = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) exit_status_ = 128 + WTERMSIG(status);
  return false;
}

void ChildProcess::stop(int grace_ms) {
  if (!poll()) return;
  // The whole process group the child leads: whatever it started (an mpirun's ranks) stops too.
  ::kill(-pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (poll()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      running_ = false;
      exit_status_ = 128 + SIGKILL;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<std::string> tail_lines(const std::string& path, int max_lines) {
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in || max_lines <= 0) return lines;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  const std::streamoff chunk = 16384;
  in.seekg(size > chunk ? size - chunk : 0);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    // Progress output often redraws one line with '\r': keep the last state of it.
    size_t cr = line.rfind('\r');
    if (cr != std::string::npos) line = line.substr(cr + 1);
    lines.push_back(line);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (size > chunk && !lines.empty()) lines.erase(lines.begin());  // first line is partial
  if (static_cast<int>(lines.size()) > max_lines) lines.erase(lines.begin(), lines.end() - max_lines);
  return lines;
}

std::string tail_text(const std::string& path, int max_lines) {
  std::string out;
  for (const auto& line : tail_lines(path, max_lines)) out += line + "\n";
  return out;
}

std::string self_executable() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "adaptis";
  buf[n] = 0;
  return buf;
}

}  // namespace adaptis::app
