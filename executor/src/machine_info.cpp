#include "adaptis/executor/machine_info.h"

#include <signal.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace adaptis::exec {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

static std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "unknown";
}

nlohmann::json machine_info() {
  nlohmann::json j;
  j["host"] = host_name();
  struct utsname u {};
  if (uname(&u) == 0) j["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  j["cpu"] = cpu_model();
  j["logical_cores"] = std::thread::hardware_concurrency();
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) j["memory_bytes"] = static_cast<int64_t>(pages) * page;
#ifdef __VERSION__
  j["compiler"] = __VERSION__;
#endif
#ifdef NDEBUG
  j["build"] = "release";
#else
  j["build"] = "debug";
#endif
  return j;
}

// Fields 3 (state) and 22 (start time) of /proc/<pid>/stat; false when the process is not there.
static bool read_proc_stat(int64_t pid, char& state, int64_t& start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(rest >> field)) return false;
    if (i == 3) state = field.empty() ? '?' : field[0];
  }
  try {
    start_time = std::stoll(field);
  } catch (...) {
    return false;
  }
  return true;
}

int64_t process_start_time(int64_t pid) {
  char state = 0;
  int64_t start = -1;
  return read_proc_stat(pid, state, start) ? start : -1;
}

bool process_alive(int64_t pid, int64_t start_time) {
  if (pid <= 0) return false;
  if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  char state = 0;
  int64_t now = -1;
  if (read_proc_stat(pid, state, now)) {
    if (state == 'Z' || state == 'X') return false;                // exited, not yet reaped
    if (start_time >= 0 && now != start_time) return false;        // the pid was reused
  }
  return true;
}

}  // namespace adaptis::exec
