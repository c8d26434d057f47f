#include "tui/session.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/private_work_dir.h"
#include "tui/runs_source.h"

namespace adaptis::tui {

using app::make_private_dir;
using app::write_new_file;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool ready(const std::future<RunStoreView>& f) {
  return f.valid() && f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace

TuiSession::TuiSession(TuiState initial, SessionOptions options)
    : state_(std::move(initial)), opt_(std::move(options)) {
  if (state_.config.run_blocker.empty() && opt_.binary.empty())
    state_.config.run_blocker = "the adaptis executable to launch was not found";
}

TuiSession::~TuiSession() { shutdown(); }

void TuiSession::key(int k) {
  state_ = apply_key(std::move(state_), k);
  const Effect e = state_.effect;
  state_.effect = Effect::None;
  carry_out(e);
}

void TuiSession::resize(int width, int height) { state_ = set_viewport(std::move(state_), width, height); }

bool TuiSession::busy() const { return optimizer_.running() || state_.launched.running || store_read_.valid(); }

void TuiSession::carry_out(Effect e) {
  switch (e) {
    case Effect::None: return;
    case Effect::Quit: quit_ = true; return;
    case Effect::StartOptimizer: start_optimizer(); return;
    case Effect::CancelOptimizer: optimizer_.cancel(); return;
    case Effect::LaunchRun: launch_run(); return;
    case Effect::RefreshRuns: refresh_runs(); return;
    case Effect::SavePlan: save_plan(); return;
  }
}

void TuiSession::start_optimizer() {
  const int devices = state_.inputs->cluster.num_devices();
  const int m = shown_microbatches(state_);
  optimizer_.start(optimizer_work(state_.inputs, devices, m, opt_.optimize_seconds, opt_.optimize_threads));
  char buf[160];
  std::snprintf(buf, sizeof buf, "optimizer started: %d devices, %d micro-batches, budget %g s", devices, m,
                opt_.optimize_seconds);
  state_ = with_message(std::move(state_), buf);
}

void TuiSession::save_plan() {
  const std::string path = state_.config.plan_out.empty() ? "adaptis-tui-plan.json" : state_.config.plan_out;
  try {
    const Evaluation& ev = *state_.eval;
    nlohmann::json meta = {{"source", "adaptis tui"}, {"model", state_.inputs->costs.model}};
    if (ev.ok()) meta["predicted_iteration_ms"] = ev.sim.iteration_ms;
    save_plan_file(ev.plan, path, meta);
    state_ = with_message(std::move(state_), "saved the plan to " + path);
  } catch (const std::exception& ex) {
    state_ = with_message(std::move(state_), std::string("cannot save the plan: ") + ex.what(), true);
  }
}

std::string TuiSession::work_dir() {
  if (!opt_.work_dir.empty()) {
    std::filesystem::create_directories(opt_.work_dir);
    return opt_.work_dir;
  }
  opt_.work_dir = make_private_dir("adaptis-tui-");
  return opt_.work_dir;
}

void TuiSession::launch_run() {
  try {
    const std::string dir = work_dir();
    ++run_counter_;
    const std::string stem = dir + "/run" + std::to_string(run_counter_);
    const std::string plan_path = stem + "-plan.json";
    const std::string log_path = stem + ".log";
    write_new_file(plan_path, plan_to_json(state_.eval->plan, {{"source", "adaptis tui"},
                                                               {"predicted_iteration_ms", state_.eval->sim.iteration_ms}})
                                      .dump(1) +
                                  "\n");
    std::vector<std::string> argv = {opt_.binary, "run", "--plan", plan_path, "--db", state_.config.db_path};
    if (!opt_.model_path.empty()) argv.insert(argv.begin() + 2, {"--model", opt_.model_path});
    argv.insert(argv.end(), opt_.run_args.begin(), opt_.run_args.end());
    child_.start(argv, log_path);
    LaunchedRun run;
    run.pid = child_.pid();
    run.running = true;
    run.log_path = log_path;
    for (const auto& a : argv) run.command += (run.command.empty() ? "" : " ") + a;
    state_ = on_launched_run(std::move(state_), std::move(run));
    state_ = with_message(std::move(state_),
                          "launched a run (pid " + std::to_string(child_.pid()) + "), output in " + log_path);
    last_watch_s_ = now_s();
  } catch (const std::exception& ex) {
    state_ = with_message(std::move(state_), std::string("cannot launch the run: ") + ex.what(), true);
  }
}

void TuiSession::refresh_runs() {
  if (store_read_.valid()) {  // one read at a time; the next starts when this one is in
    store_read_again_ = true;
    return;
  }
  store_read_ = std::async(std::launch::async, read_runs, state_.config.db_path);
}

void TuiSession::watch_launched() {
  LaunchedRun run = state_.launched;
  const bool running = child_.poll();
  run.running = running;
  run.exit_status = running ? 0 : child_.exit_status();
  run.log_tail = tail_lines(run.log_path, 12);
  state_ = on_launched_run(std::move(state_), std::move(run));
  refresh_runs();
  if (!running)
    state_ = with_message(std::move(state_),
                          "run pid " + std::to_string(child_.pid()) + " finished with exit status " +
                              std::to_string(child_.exit_status()) + " (output in " + state_.launched.log_path + ")",
                          child_.exit_status() != 0);
  last_watch_s_ = now_s();
}

bool TuiSession::poll() {
  bool changed = false;
  if (optimizer_.running()) {
    const OptimizerView p = optimizer_.progress();
    const OptimizerView& o = state_.optimizer;
    if (p.fraction != o.fraction || p.evaluated != o.evaluated || p.best_ms != o.best_ms || p.phase != o.phase ||
        p.elapsed_s - o.elapsed_s >= 0.1) {
      state_ = on_optimizer_progress(std::move(state_), p);
      changed = true;
    }
  }
  if (auto out = optimizer_.take_outcome()) {
    state_ = on_optimizer_finished(std::move(state_), std::move(out->best), out->how, out->error);
    changed = true;
  }
  // Watch the launched run: its output and the store, a few times a second, and once at its end.
  if (state_.launched.running && (!child_.poll() || now_s() - last_watch_s_ > 0.4)) {
    watch_launched();
    changed = true;
  }
  if (ready(store_read_)) {
    state_ = on_run_store(std::move(state_), store_read_.get());
    changed = true;
    if (store_read_again_) {
      store_read_again_ = false;
      refresh_runs();
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
    stopped += "stopped the run (pid " + std::to_string(child_.pid()) + ", output in " + state_.launched.log_path + "); ";
  }
  if (store_read_.valid()) store_read_.wait();
  store_read_ = {};
  if (!stopped.empty()) stopped.resize(stopped.size() - 2);
  return stopped;
}

}  // namespace adaptis::tui
