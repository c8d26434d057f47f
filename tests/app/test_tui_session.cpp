// The TUI session's side effects without a terminal: the optimizer thread with its progress and
// cancel, a launched run watched as a child process, the run store read in the background.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "tui/child_process.h"
#include "tui/runs_source.h"
#include "tui/session.h"

using namespace adaptis;
using namespace adaptis::tui;
namespace fs = std::filesystem;

namespace {

std::string slurp_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

cli::Inputs test_inputs() {
  cli::Inputs in;
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

TuiState initial(const std::string& db = "") {
  TuiConfig config;
  config.db_path = db;
  PlanRequest r;
  r.microbatches = 8;
  return make_state(test_inputs(), r, config);
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
  SessionOptions opt;
  opt.optimize_seconds = 0.3;
  opt.optimize_threads = 1;
  TuiSession s(initial(), opt);
  const double before = s.state().eval->sim.iteration_ms;
  s.key('o');
  EXPECT_TRUE(s.busy());
  EXPECT_EQ(s.state().optimizer.state, JobState::Running);
  ASSERT_TRUE(poll_until(s, [&] { return s.state().optimizer.state != JobState::Running; }));
  EXPECT_EQ(s.state().optimizer.state, JobState::Done) << s.state().message;
  ASSERT_TRUE(s.state().eval->custom);
  EXPECT_TRUE(s.state().eval->ok());
  EXPECT_LE(s.state().eval->sim.iteration_ms, before + 1e-9);
  EXPECT_EQ(s.shutdown(), "");
}

TEST(TuiSession, OptimizerCancelsPromptly) {
  SessionOptions opt;
  opt.optimize_seconds = 60;
  opt.optimize_threads = 1;
  TuiSession s(initial(), opt);
  s.key('o');
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto t0 = std::chrono::steady_clock::now();
  s.key('x');
  ASSERT_TRUE(poll_until(s, [&] { return s.state().optimizer.state != JobState::Running; }, 10));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  EXPECT_EQ(s.state().optimizer.state, JobState::Cancelled);
}

TEST(TuiSession, QuittingCancelsTheOptimizer) {
  SessionOptions opt;
  opt.optimize_seconds = 60;
  opt.optimize_threads = 1;
  TuiSession s(initial(), opt);
  s.key('o');
  s.key('q');
  EXPECT_TRUE(s.quit_requested());
  EXPECT_EQ(s.shutdown(), "cancelled the optimizer");
  EXPECT_FALSE(s.busy());
}

TEST(TuiSession, LaunchesARunAndWatchesItToTheEnd) {
  TempDir tmp;
  SessionOptions opt;
  opt.binary = fake_binary(tmp.path, "echo step 1; echo step 2; exit 3");
  opt.model_path = "model.json";
  opt.work_dir = (tmp.path / "work").string();
  opt.run_args = {"--steps", "2"};
  TuiSession s(initial((tmp.path / "runs.db").string()), opt);
  s.key('r');
  ASSERT_GT(s.state().launched.pid, 0) << s.state().message;
  EXPECT_EQ(s.state().view, View::Runs);
  ASSERT_TRUE(poll_until(s, [&] { return !s.state().launched.running; }));
  const LaunchedRun& run = s.state().launched;
  EXPECT_EQ(run.exit_status, 3);
  ASSERT_GE(run.log_tail.size(), 3u);
  EXPECT_NE(run.log_tail[0].find("args: run --model model.json --plan "), std::string::npos) << run.log_tail[0];
  EXPECT_NE(run.log_tail[0].find("--db " + (tmp.path / "runs.db").string() + " --steps 2"), std::string::npos);
  EXPECT_EQ(run.log_tail.back(), "step 2");
  EXPECT_TRUE(s.state().message_is_error);
  EXPECT_NE(s.state().message.find("exit status 3"), std::string::npos) << s.state().message;
  // The plan it ran was written where the command says.
  EXPECT_TRUE(fs::exists(fs::path(opt.work_dir) / "run1-plan.json"));
}

// The default work directory used to be $TMPDIR/adaptis-tui-<pid>, taken even when it already existed,
// with its files opened through symlinks: plant that directory with symlinks to two other files, press
// `r`, and neither file may change; the session works in a new private directory instead.
TEST(TuiSession, LaunchIgnoresAPlantedWorkDirAndItsSymlinks) {
  TempDir tmp;
  const fs::path planted = tmp.path / ("adaptis-tui-" + std::to_string(::getpid()));
  fs::create_directories(planted);
  const fs::path victim_plan = tmp.path / "victim-plan.txt", victim_log = tmp.path / "victim-log.txt";
  std::ofstream(victim_plan) << "keep me";
  std::ofstream(victim_log) << "keep me too";
  fs::create_symlink(victim_plan, planted / "run1-plan.json");
  fs::create_symlink(victim_log, planted / "run1.log");
  const char* old_tmpdir = std::getenv("TMPDIR");
  const std::string saved = old_tmpdir ? old_tmpdir : "";
  ::setenv("TMPDIR", tmp.path.c_str(), 1);

  SessionOptions opt;
  opt.binary = fake_binary(tmp.path, "echo ran; exit 0");
  opt.model_path = "model.json";
  TuiSession s(initial((tmp.path / "runs.db").string()), opt);
  s.key('r');
  if (old_tmpdir) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  ASSERT_GT(s.state().launched.pid, 0) << s.state().message;
  ASSERT_TRUE(poll_until(s, [&] { return !s.state().launched.running; }));
  const fs::path log = s.state().launched.log_path;
  EXPECT_NE(log.parent_path(), planted);
  EXPECT_EQ(log.parent_path().parent_path(), tmp.path);
  EXPECT_EQ(fs::status(log.parent_path()).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_TRUE(fs::exists(log.parent_path() / "run1-plan.json"));
  EXPECT_EQ(slurp_text(victim_plan), "keep me");
  EXPECT_EQ(slurp_text(victim_log), "keep me too");
}

TEST(TuiSession, ShutdownStopsARunningChild) {
  TempDir tmp;
  SessionOptions opt;
  opt.binary = fake_binary(tmp.path, "exec sleep 30");
  opt.work_dir = tmp.path.string();
  TuiSession s(initial((tmp.path / "runs.db").string()), opt);
  s.key('r');
  ASSERT_TRUE(s.state().launched.running) << s.state().message;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string stopped = s.shutdown();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5);
  EXPECT_NE(stopped.find("stopped the run (pid " + std::to_string(s.state().launched.pid)), std::string::npos)
      << stopped;
}

TEST(TuiRunsSource, MissingDatabaseIsANoteAndIsNotCreated) {
  TempDir tmp;
  const std::string db = (tmp.path / "none" / "runs.db").string();
  RunStoreView v = read_runs(db);
  EXPECT_TRUE(v.read);
  EXPECT_TRUE(v.rows.empty());
  EXPECT_FALSE(v.note_is_error);
  EXPECT_NE(v.note.find("no runs recorded yet"), std::string::npos);
  EXPECT_FALSE(fs::exists(db));
  EXPECT_FALSE(fs::exists(tmp.path / "none"));

  const fs::path junk = tmp.path / "junk.db";
  std::ofstream(junk) << "not a database at all, just text that is long enough to be read as a header.....";
  v = read_runs(junk.string());
  EXPECT_TRUE(v.note_is_error);
  EXPECT_NE(v.note.find("cannot read the run store"), std::string::npos) << v.note;
}

TEST(TuiRunsSource, ListsRecordedRunsNewestFirst) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  {
    exec::RunStore store(db);
    exec::RunInfo info;
    info.command = "adaptis run test";
    info.schedule = "1f1b";
    info.model_name = "tiny";
    info.num_devices = 2;
    info.num_stages = 2;
    info.num_microbatches = 4;
    info.steps = 3;
    info.predicted_iteration_ms = 1.5;
    const int64_t a = store.begin_run(info);
    store.finish_run(a, exec::RunStatus::Failed, "broke");
    info.schedule = "zb-h1";
    const int64_t b = store.begin_run(info);
    store.finish_run(b, exec::RunStatus::Complete);
  }
  const RunStoreView v = read_runs(db);
  EXPECT_TRUE(v.note.empty()) << v.note;
  ASSERT_EQ(v.rows.size(), 2u);
  EXPECT_EQ(v.rows[0].schedule, "zb-h1");
  EXPECT_EQ(v.rows[0].status, "complete");
  EXPECT_EQ(v.rows[1].status, "failed");
  EXPECT_EQ(v.rows[1].error, "broke");
  EXPECT_EQ(v.rows[0].pid, static_cast<int64_t>(::getpid()));
  EXPECT_EQ(v.rows[0].steps, 3);
  EXPECT_DOUBLE_EQ(v.rows[0].predicted_ms, 1.5);
  EXPECT_EQ(v.rows[0].measured_ms, 0);  // no iteration recorded: not NaN
  EXPECT_EQ(v.rows[0].started.size(), 19u);

  // Through the session: entering the runs view reads the store in the background.
  TuiSession s(initial(db), SessionOptions{});
  s.key('6');
  ASSERT_TRUE(poll_until(s, [&] { return s.state().store.read; }, 10));
  EXPECT_EQ(s.state().store.rows.size(), 2u);
}

TEST(TuiChildProcess, ReportsStartFailureAndReadsTails) {
  TempDir tmp;
  ChildProcess c;
  EXPECT_THROW(c.start({(tmp.path / "no-such-program").string()}, (tmp.path / "log").string()), InputError);
  const fs::path log = tmp.path / "tail.log";
  std::ofstream(log) << "one\ntwo\nprogress 10%\rprogress 90%\nlast";
  EXPECT_EQ(tail_lines(log.string(), 3), (std::vector<std::string>{"two", "progress 90%", "last"}));
  EXPECT_TRUE(tail_lines((tmp.path / "missing").string(), 3).empty());
}
