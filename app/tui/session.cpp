#include "tui/session.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "tui/runs_source.h"

namespace adaptis::tui {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

TuiSession::TuiSession(TuiState initial, SessionOptions options) : state_(std::move(initial)), opt_(std::move(options)) {
  state_.config.runs_available = state_.config.runs_available && !opt_.binary.empty();
}

TuiSession::~TuiSession() { shutdown(); }

void TuiSession::key(int k) {
  state_ = apply_key(std::move(state_), k);
  Effect e = state_.effect;
  state_.effect = Effect::None;
  carry_out(e);
}

void TuiSession::resize(int width, int height) { state_ = set_viewport(std::move(state_), width, height); }

bool TuiSession::busy() const { return optimizer_.running() || state_.runs.child_running; }

void TuiSession::carry_out(Effect e) {
  switch (e) {
    case Effect::None: return;
    case Effect::Quit: quit_ = true; return;
    case Effect::StartOptimizer: {
      const Evaluation* ev = state_.eval.get();
      int m = ev && ev->from_optimizer ? ev->plan.num_microbatches : state_.request.microbatches;
      optimizer_.start(optimizer_work(state_.inputs, state_.inputs->cluster.num_devices(), m, opt_.optimize_seconds,
                                      opt_.optimize_threads));
      state_ = with_message(std::move(state_), "optimizer started (budget " + std::to_string(static_cast<int>(opt_.optimize_seconds)) + " s)");
      return;
    }
    case Effect::CancelOptimizer: optimizer_.cancel(); return;
    case Effect::LaunchRun: launch_run(); return;
    case Effect::RefreshRuns: refresh_runs(); return;
    case Effect::SavePlan: {
      std::string path = state_.config.plan_out.empty() ? "adaptis-tui-plan.json" : state_.config.plan_out;
      try {
        const Evaluation& ev = *state_.eval;
        nlohmann::json meta = {{"source", "adaptis tui"}, {"model", state_.inputs->costs.model}};
        if (ev.ok()) meta["predicted_iteration_ms"] = ev.sim.iteration_ms;
        save_plan_file(ev.plan, path, meta);
        state_ = with_message(std::move(state_), "saved the plan to " + path);
      } catch (const std::exception& ex) {
        state_ = with_message(std::move(state_), std::string("cannot save the plan: ") + ex.what(), true);
      }
      return;
    }
  }
}

std::string TuiSession::work_dir() {
  if (!opt_.work_dir.empty()) return opt_.work_dir;
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/adaptis-tui-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  opt_.work_dir = dir;
  return dir;
}

void TuiSession::launch_run() {
  if (opt_.model_path.empty()) {
    state_ = with_message(std::move(state_),
                          "a run executes the real model: start the TUI with --model FILE (costs alone cannot run)", true);
    return;
  }
  try {
    std::string dir = work_dir();
    ++run_counter_;
    std::string plan_path = dir + "/run" + std::to_string(run_counter_) + "-plan.json";
    std::string log_path = dir + "/run" + std::to_string(run_counter_) + ".log";
    save_plan_file(state_.eval->plan, plan_path, {{"source", "adaptis tui"}});
    std::vector<std::string> argv = {opt_.binary, "run",  "--model", opt_.model_path, "--plan",
                                     plan_path,   "--db", state_.config.db_path};
    argv.insert(argv.end(), opt_.run_args.begin(), opt_.run_args.end());
    child_.start(argv, log_path);
    RunsView runs = state_.runs;
    runs.child_pid = child_.pid();
    runs.child_running = true;
    runs.child_exit = 0;
    runs.log_path = log_path;
    runs.log_tail.clear();
    runs.child_command.clear();
    for (const auto& a : argv) runs.child_command += (runs.child_command.empty() ? "" : " ") + a;
    state_ = on_runs(std::move(state_), std::move(runs));
    state_ = with_message(std::move(state_), "launched run (pid " + std::to_string(child_.pid()) + "), log " + log_path);
  } catch (const std::exception& ex) {
    state_ = with_message(std::move(state_), std::string("cannot launch the run: ") + ex.what(), true);
  }
}

void TuiSession::refresh_runs() {
  RunsView fresh = read_runs(state_.config.db_path);
  const RunsView& old = state_.runs;
  // Keep what the session knows about its own child.
  fresh.child_pid = old.child_pid;
  fresh.child_running = old.child_running;
  fresh.child_exit = old.child_exit;
  fresh.child_command = old.child_command;
  fresh.log_path = old.log_path;
  fresh.log_tail = old.log_path.empty() ? std::vector<std::string>{} : tail_lines(old.log_path, 12);
  state_ = on_runs(std::move(state_), std::move(fresh));
  last_runs_refresh_s_ = now_s();
}

bool TuiSession::poll() {
  bool changed = false;
  if (optimizer_.running()) {
    OptimizerView p = optimizer_.progress();
    if (p.fraction != state_.optimizer.fraction || p.evaluated != state_.optimizer.evaluated ||
        p.best_ms != state_.optimizer.best_ms || p.phase != state_.optimizer.phase) {
      state_ = on_optimizer_progress(std::move(state_), p);
      changed = true;
    }
  }
  if (auto out = optimizer_.take_outcome()) {
    state_ = on_optimizer_finished(std::move(state_), std::move(out->best), out->how, out->error);
    changed = true;
  }
  if (child_.started() && state_.runs.child_running) {
    bool running = child_.poll();
    // Watch the run: its log and the store, twice a second while it runs, once more at its end.
    if (!running || now_s() - last_runs_refresh_s_ > 0.5) {
      RunsView runs = state_.runs;
      runs.child_running = running;
      runs.child_exit = running ? 0 : child_.exit_status();
      state_ = on_runs(std::move(state_), std::move(runs));
      refresh_runs();
      if (!running)
        state_ = with_message(std::move(state_),
                              "run pid " + std::to_string(child_.pid()) + " finished with exit status " +
                                  std::to_string(child_.exit_status()) + " (log " + state_.runs.log_path + ")",
                              child_.exit_status() != 0);
      changed = true;
    }
  }
  return changed;
}

std::string TuiSession::shutdown() {
  std::string stopped;
  if (optimizer_.running()) {
    optimizer_.cancel();
    stopped += "cancelled the optimizer; ";
  }
  optimizer_.wait();
  if (child_.started() && child_.poll()) {
    child_.stop();
    stopped += "stopped run pid " + std::to_string(child_.pid()) + " (log " + state_.runs.log_path + "); ";
  }
  return stopped;
}

}  // namespace adaptis::tui
