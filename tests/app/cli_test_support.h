#pragma once
// Running the real `adaptis` binary from end-to-end tests: one helper for every CLI test file.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace adaptis::test {

// Under AddressSanitizer (scripts/sanitize.sh) every instruction is slower, so wall-clock allowances
// that cover process start-up and input parsing scale with it; the budgets the product keeps do not.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr double kSanitizerSlowdown = 6.0;
#else
inline constexpr double kSanitizerSlowdown = 1.0;
#endif

// A prefix for run_cli's `env` that bounds the memory the binary may take to `mb` MiB. `ulimit -v`
// cannot be used under AddressSanitizer (it reserves terabytes of shadow address space at start), so
// there the sanitizer's own limits do the same job: one allocation over the limit, or a resident size
// far over it, aborts the process, which fails the test just as the address-space limit would.
inline std::string memory_limit_prefix(long mb) {
#if defined(__SANITIZE_ADDRESS__)
  const char* base = getenv("ASAN_OPTIONS");
  return "ASAN_OPTIONS='" + std::string(base ? base : "") + ":malloc_limit_mb=" + std::to_string(mb) +
         ":hard_rss_limit_mb=" + std::to_string(mb + 1024) + ":allocator_may_return_null=0'";
#else
  return "ulimit -v " + std::to_string(mb * 1024) + " &&";
#endif
}

struct CliResult {
  int code = -1;    // exit status; -1 when the process did not exit normally
  std::string out;  // stdout (with stderr too when merged)
  std::string err;  // stderr when not merged
};

inline std::string slurp_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `adaptis <args>` through the shell. `env` (e.g. "XDG_DATA_HOME=/tmp/x") is put in front of
// the command. stdout and stderr go to temporary files so neither pipe can fill up and block.
inline CliResult run_cli(const std::string& args, bool merge_stderr = false, const std::string& env = "") {
  char out_path[] = "/tmp/adaptis-cli-out-XXXXXX";
  char err_path[] = "/tmp/adaptis-cli-err-XXXXXX";
  int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
  if (out_fd >= 0) close(out_fd);
  if (err_fd >= 0) close(err_fd);
  std::string cmd = (env.empty() ? "" : env + " ") + std::string(ADAPTIS_BINARY) + " " + args + " >" + out_path +
                    (merge_stderr ? " 2>&1" : std::string(" 2>") + err_path) + " </dev/null";
  CliResult r;
  const int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp_file(out_path);
  r.err = slurp_file(err_path);
  std::remove(out_path);
  std::remove(err_path);
  return r;
}

}  // namespace adaptis::test
