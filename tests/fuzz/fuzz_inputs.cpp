// Deterministic mutation fuzzing of every input parser (targets.h): each mutated input must end in
// success or InputError. Anything else fails the run and leaves the input as a reproducer file:
//   - another exception (nlohmann type errors, std::bad_alloc under the memory cap, ...),
//   - a result that is silently wrong (targets.h: non-finite times, an invalid plan accepted),
//   - a crash (SIGSEGV from a stack overflow, SIGABRT, ...),
//   - more than --timeout-ms of CPU time on one input.
//
//   fuzz_inputs --samples DIR [--inputs N | --seconds S] [--seed N] [--target NAME] [--out DIR]
//               [--timeout-ms MS] [--memory-mb MB]
//   fuzz_inputs --samples DIR --target NAME --replay FILE     (run one saved input)
//
// With --inputs the run is fully deterministic (same seed, same inputs); --seconds spreads the time
// over the targets and stops each when its share is spent (scripts/fuzz.sh).
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "adaptis/model/error.h"
#include "mutator.h"
#include "targets.h"

#if defined(__SANITIZE_ADDRESS__)
#define ADAPTIS_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADAPTIS_FUZZ_ASAN 1
#endif
#endif

namespace fs = std::filesystem;
using namespace adaptis::fuzz;

namespace {

struct Options {
  std::string samples = ADAPTIS_SOURCE_DIR "/samples";
  std::string out = "fuzz-findings";
  std::string target;
  std::string replay;
  uint64_t seed = 1;
  long inputs = 500;      // per target
  double seconds = 0;     // total; > 0 replaces --inputs
  long timeout_ms = 1000;
  long memory_mb = 2048;  // address-space cap (not with ASan, which reserves terabytes)
};

// What the signal handlers print: prepared before each input, since they may only write(2).
char g_crash_note[1024] = "fuzz_inputs: crashed outside any input\n";

void on_fatal_signal(int sig) {
  const char* what = sig == SIGVTALRM ? "TIMEOUT (CPU time limit per input)" : strsignal(sig);
  (void)!write(STDERR_FILENO, "fuzz_inputs: FAILURE: ", 22);
  (void)!write(STDERR_FILENO, what, strlen(what));
  (void)!write(STDERR_FILENO, g_crash_note, strlen(g_crash_note));
  _exit(1);
}

void install_handlers() {
  // Stack overflows are the failures we look for: handle them on a stack of their own.
  static char alt[1 << 16];
  stack_t ss{};
  ss.ss_sp = alt;
  ss.ss_size = sizeof alt;
  sigaltstack(&ss, nullptr);
  struct sigaction sa{};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  for (int s : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGVTALRM}) sigaction(s, &sa, nullptr);
}

// CPU time (not wall time: the machine may be busy with other work) allowed for one input.
void arm_timer(long ms) {
  itimerval t{};
  t.it_value.tv_sec = ms / 1000;
  t.it_value.tv_usec = (ms % 1000) * 1000;
  setitimer(ITIMER_VIRTUAL, &t, nullptr);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

struct Outcome {
  bool ok = true;        // success or InputError
  bool accepted = false;  // success
  std::string why;
};

Outcome run_one(const Target& t, const std::string& input, long timeout_ms) {
  Outcome o;
  arm_timer(timeout_ms);
  try {
    t.run(input);
    o.accepted = true;
  } catch (const adaptis::InputError&) {
  } catch (const SilentlyWrong& e) {
    o = {false, false, std::string("silently wrong: ") + e.what()};
  } catch (const std::exception& e) {
    o = {false, false, std::string("exception other than InputError: ") + e.what()};
  } catch (...) {
    o = {false, false, "unknown exception"};
  }
  arm_timer(0);
  if (o.why.size() > 400) o.why = o.why.substr(0, 400) + "...";
  return o;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--samples") o.samples = value();
    else if (a == "--out") o.out = value();
    else if (a == "--target") o.target = value();
    else if (a == "--replay") o.replay = value();
    else if (a == "--seed") o.seed = std::stoull(value());
    else if (a == "--inputs") o.inputs = std::stol(value());
    else if (a == "--seconds") o.seconds = std::stod(value());
    else if (a == "--timeout-ms") o.timeout_ms = std::stol(value());
    else if (a == "--memory-mb") o.memory_mb = std::stol(value());
    else {
      std::cerr << "fuzz_inputs: unknown argument " << a << "\n";
      return false;
    }
  }
  return o.inputs > 0 && o.timeout_ms > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  try {
    if (!parse_args(argc, argv, opt)) return 2;
  } catch (const std::exception& e) {
    std::cerr << "fuzz_inputs: " << e.what() << "\n";
    return 2;
  }
#ifndef ADAPTIS_FUZZ_ASAN
  if (opt.memory_mb > 0) {
    rlimit lim{static_cast<rlim_t>(opt.memory_mb) << 20, static_cast<rlim_t>(opt.memory_mb) << 20};
    setrlimit(RLIMIT_AS, &lim);
  }
#endif
  std::error_code ec;
  fs::create_directories(opt.out, ec);
  const std::string out = fs::absolute(opt.out).string();
  std::string scratch = (fs::temp_directory_path() / "adaptis-fuzz-XXXXXX").string();
  if (!mkdtemp(scratch.data())) {
    std::cerr << "fuzz_inputs: cannot create a scratch directory\n";
    return 2;
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{scratch};

  std::vector<Target> targets = make_targets(opt.samples, scratch);
  if (!opt.target.empty()) {
    std::erase_if(targets, [&](const Target& t) { return t.name != opt.target; });
    if (targets.empty()) {
      std::cerr << "fuzz_inputs: no target named '" << opt.target << "'\n";
      return 2;
    }
  }
  install_handlers();

  if (!opt.replay.empty()) {
    std::ifstream in(opt.replay, std::ios::binary);
    std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::snprintf(g_crash_note, sizeof g_crash_note, " on %s (target %s)\n", opt.replay.c_str(),
                  targets[0].name.c_str());
    Outcome o = run_one(targets[0], input, opt.timeout_ms);
    std::cout << (o.ok ? "ok (success or InputError)" : "FAILURE: " + o.why) << "\n";
    return o.ok ? 0 : 1;
  }

  long total = 0, failures = 0;
  const auto started = std::chrono::steady_clock::now();
  for (size_t ti = 0; ti < targets.size(); ++ti) {
    const Target& t = targets[ti];
    Rng rng(opt.seed * 0x100000001B3ull + ti);
    MutationSource src{&t.seeds, &t.dictionary, t.open, t.close};
    const std::string current = out + "/current-" + t.name;
    const auto t0 = std::chrono::steady_clock::now();
    const double share = opt.seconds / static_cast<double>(targets.size());
    long n = 0, target_failures = 0, accepted = 0;
    for (;; ++n) {
      if (opt.seconds > 0) {
        if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >= share) break;
      } else if (n >= opt.inputs) {
        break;
      }
      // Every seed once as it is, then mutations of them.
      const std::string& seed = t.seeds[rng.below(t.seeds.size())];
      const std::string input = n < static_cast<long>(t.seeds.size()) ? t.seeds[n] : mutate(seed, rng, src);
      write_file(current, input);
      std::snprintf(g_crash_note, sizeof g_crash_note, " on target %s input %ld; reproduce with: --target %s --replay %s\n",
                    t.name.c_str(), n, t.name.c_str(), current.c_str());
      Outcome o = run_one(t, input, opt.timeout_ms);
      accepted += o.accepted;
      if (!o.ok) {
        const std::string saved = out + "/failure-" + t.name + "-" + std::to_string(n);
        write_file(saved, input);
        std::cerr << "fuzz_inputs: FAILURE: target " << t.name << " input " << n << ": " << o.why
                  << "\n  reproduce: fuzz_inputs --target " << t.name << " --replay " << saved << "\n";
        ++target_failures;
      }
    }
    std::error_code e;
    fs::remove(current, e);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "fuzz_inputs: " << t.name << ": " << n << " inputs (" << accepted << " accepted, " << n - accepted
              << " rejected), " << target_failures << " failures, " << static_cast<long>(secs * 1000) << " ms\n";
    total += n;
    failures += target_failures;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "fuzz_inputs: " << total << " inputs over " << targets.size() << " targets in "
            << static_cast<long>(secs * 1000) << " ms (seed " << opt.seed << "): " << failures << " failures, no crash\n";
  return failures == 0 ? 0 : 1;
}
