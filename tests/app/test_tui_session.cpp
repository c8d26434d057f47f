// The TUI session without a terminal: keys reach the explorer core and its driver carries out what
// they ask for (the optimizer thread with its progress and cancel, a launched run watched as a
// child process, the run store read in the background).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "tui/render.h"
#include "tui/session.h"

using namespace adaptis;
using namespace adaptis::tui;
namespace fs = std::filesystem;

namespace {

app::Inputs test_inputs() {
  app::Inputs in;
  in.costs.model = "test-model";
  for (int l = 0; l < 12; ++l) {
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.f_ms = l == 11 ? 3 : 1;
    c.b_ms = l == 11 ? 3 : 1;
    c.w_ms = 0.5;
    c.param_bytes = 1 << 20;
    c.state_bytes = 4 << 20;
    c.act_b_bytes = 1 << 20;
    c.out_bytes = 1 << 10;
    in.costs.layers.push_back(c);
  }
  in.cluster = make_uniform_cluster(4);
  in.sim.comm_latency_ms = 0;
  return in;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("adaptis-tui-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Polls the session until `done` holds; bounded so a broken session fails instead of hanging.
template <class Pred>
bool poll_until(TuiSession& s, Pred done, double seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    s.poll();
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TuiState initial(const std::string& db = "", double optimize_seconds = 0.3, std::vector<std::string> run_args = {}) {
  explorer::ExplorerConfig config;
  config.db_path = db;
  config.model_path = "model.json";
  config.optimizer.time_limit_s = optimize_seconds;
  config.optimizer.threads = 1;
  config.run_args = std::move(run_args);
  PlanRequest r;
  r.microbatches = 8;
  return make_state(test_inputs(), r, config);
}

explorer::DriverOptions driver(const std::string& binary = "", const std::string& work_dir = "") {
  explorer::DriverOptions o;
  o.binary = binary;
  o.work_dir = work_dir;
  return o;
}

const explorer::Explorer& core(const TuiSession& s) { return s.state().core; }

std::string slurp_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A stand-in for `adaptis run`: prints its arguments, then behaves as `body` says.
std::string fake_binary(const fs::path& dir, const std::string& body) {
  const fs::path p = dir / "fake-adaptis";
  std::ofstream(p) << "#!/bin/sh\necho \"args: $*\"\n" << body << "\n";
  fs::permissions(p, fs::perms::owner_all);
  return p.string();
}

}  // namespace

TEST(TuiSession, OptimizerRunsInTheBackgroundAndLandsItsPlan) {
  TuiSession s(initial());
  const double before = core(s).editor().sim().iteration_ms;
  s.key('o');
  EXPECT_TRUE(s.busy());
  EXPECT_EQ(core(s).optimizer().state, explorer::JobState::Running);
  ASSERT_TRUE(poll_until(s, [&] { return core(s).optimizer().state != explorer::JobState::Running; }));
  EXPECT_EQ(core(s).optimizer().state, explorer::JobState::Done) << core(s).message().text;
  ASSERT_TRUE(core(s).editor().state().custom);
  EXPECT_EQ(core(s).on_screen_label(), "optimized");
  EXPECT_LE(core(s).editor().sim().iteration_ms, before + 1e-9);
  // The search is one undo step: u brings the plan before it back.
  s.key('u');
  EXPECT_FALSE(core(s).editor().state().custom);
  EXPECT_DOUBLE_EQ(core(s).editor().sim().iteration_ms, before);
  EXPECT_EQ(s.shutdown(), "");
}

TEST(TuiSession, OptimizerCancelsPromptly) {
  TuiSession s(initial("", 60));
  s.key('o');
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  s.key('x');
  ASSERT_TRUE(poll_until(s, [&] { return core(s).optimizer().state != explorer::JobState::Running; }, 10));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  EXPECT_EQ(core(s).optimizer().state, explorer::JobState::Cancelled);
}

TEST(TuiSession, QuittingCancelsTheOptimizer) {
  TuiSession s(initial("", 60));
  s.key('o');
  s.key('q');
  EXPECT_TRUE(s.quit_requested());
  EXPECT_EQ(s.shutdown(), "cancelled the optimizer");
  EXPECT_FALSE(s.busy());
}

TEST(TuiSession, LaunchesARunAndWatchesItToTheEnd) {
  TempDir tmp;
  const std::string work = (tmp.path / "work").string();
  TuiSession s(initial((tmp.path / "runs.db").string(), 0.3, {"--steps", "2"}),
               driver(fake_binary(tmp.path, "echo step 1; echo step 2; exit 3"), work));
  s.key('r');
  ASSERT_GT(core(s).launched().pid, 0) << core(s).message().text;
  EXPECT_EQ(s.state().view, View::Runs);
  ASSERT_TRUE(poll_until(s, [&] { return !core(s).launched().running; }));
  const explorer::LaunchedRun& run = core(s).launched();
  EXPECT_EQ(run.exit_status, 3);
  ASSERT_GE(run.log_tail.size(), 3u);
  EXPECT_NE(run.log_tail[0].find("args: run --plan "), std::string::npos) << run.log_tail[0];
  EXPECT_NE(run.log_tail[0].find("--model model.json --db " + (tmp.path / "runs.db").string() + " --steps 2"),
            std::string::npos)
      << run.log_tail[0];
  EXPECT_EQ(run.log_tail.back(), "step 2");
  EXPECT_TRUE(core(s).message().error);
  EXPECT_NE(core(s).message().text.find("exit status 3"), std::string::npos) << core(s).message().text;
  // The plan it ran was written where the command says.
  EXPECT_TRUE(fs::exists(fs::path(work) / "run1-plan.json"));
}

// The launch directory is new and private: a directory planted under the old predictable name (and
// symlinks in it) is neither used nor written through.
TEST(TuiSession, LaunchIgnoresAPlantedWorkDirAndItsSymlinks) {
  TempDir tmp;
  const fs::path planted = tmp.path / ("adaptis-explorer-" + std::to_string(::getpid()));
  fs::create_directories(planted);
  const fs::path victim_plan = tmp.path / "victim-plan.txt", victim_log = tmp.path / "victim-log.txt";
  std::ofstream(victim_plan) << "keep me";
  std::ofstream(victim_log) << "keep me too";
  fs::create_symlink(victim_plan, planted / "run1-plan.json");
  fs::create_symlink(victim_log, planted / "run1.log");
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved = old_tmpdir ? old_tmpdir : "";
  ::setenv("TMPDIR", tmp.path.c_str(), 1);
  TuiSession s(initial((tmp.path / "runs.db").string()), driver(fake_binary(tmp.path, "echo ran; exit 0")));
  s.key('r');
  if (old_tmpdir) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  ASSERT_GT(core(s).launched().pid, 0) << core(s).message().text;
  ASSERT_TRUE(poll_until(s, [&] { return !core(s).launched().running; }));
  const fs::path log = core(s).launched().log_path;
  EXPECT_NE(log.parent_path(), planted);
  EXPECT_EQ(log.parent_path().parent_path(), tmp.path);
  EXPECT_EQ(fs::status(log.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_TRUE(fs::exists(log.parent_path() / "run1-plan.json"));
  EXPECT_EQ(slurp_text(victim_plan), "keep me");
  EXPECT_EQ(slurp_text(victim_log), "keep me too");
  std::error_code ec;
  fs::remove_all(log.parent_path(), ec);
}

TEST(TuiSession, ShutdownStopsARunningChild) {
  TempDir tmp;
  TuiSession s(initial((tmp.path / "runs.db").string()), driver(fake_binary(tmp.path, "exec sleep 30"), tmp.path.string()));
  s.key('r');
  ASSERT_TRUE(core(s).launched().running) << core(s).message().text;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string stopped = s.shutdown();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  EXPECT_NE(stopped.find("stopped the run (pid " + std::to_string(core(s).launched().pid)), std::string::npos)
      << stopped;
}

TEST(TuiSession, TheRunsViewReadsTheStoreInTheBackground) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  {
    exec::RunStore store(db);
    exec::RunInfo info;
    info.command = "adaptis run test";
    info.schedule = "zb-h1";
    info.model_name = "tiny";
    info.num_devices = 2;
    info.num_stages = 2;
    info.num_microbatches = 4;
    info.steps = 3;
    store.finish_run(store.begin_run(info), exec::RunStatus::Complete);
    store.finish_run(store.begin_run(info), exec::RunStatus::Complete);
  }
  TuiSession s(initial(db));
  s.key('6');
  ASSERT_TRUE(poll_until(s, [&] { return core(s).runs().read; }, 10));
  EXPECT_EQ(core(s).runs().runs.size(), 2u);
  const Screen scr = render(s.state(), 100, 30);
  EXPECT_TRUE(scr.contains("zb-h1")) << scr.text();
}
