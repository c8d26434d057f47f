#include "explorer/explorer_driver.h"

#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>

#include "adaptis/planner/plan_file.h"
#include "common/format.h"
#include "explorer/session_file.h"
#include "common/private_work_dir.h"

namespace adaptis::explorer {

namespace {

template <class T>
bool ready(const std::future<T>& f) {
  return f.valid() && f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

nlohmann::json plan_meta(const Evaluation& e, const std::string& model) {
  nlohmann::json meta = {{"source", "adaptis explorer"}, {"model", model}};
  if (e.ok()) meta["predicted_iteration_ms"] = e.sim.iteration_ms;
  return meta;
}

}  // namespace

ExplorerDriver::ExplorerDriver(DriverOptions options)
    : opt_(std::move(options)), t0_(std::chrono::steady_clock::now()) {}

ExplorerDriver::~ExplorerDriver() { shutdown(); }

double ExplorerDriver::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

bool ExplorerDriver::busy() const {
  return optimizer_.running() || cluster_search_.running() || lengths_read_.running() || lengths_next_ ||
         child_.running() || store_read_.valid() || load_.valid() || !loads_.empty();
}

void ExplorerDriver::carry_out(Explorer& ex) {
  for (const Effect& e : ex.take_effects()) {
    switch (e.kind) {
      case EffectKind::StartOptimizer: start_optimizer(ex); break;
      case EffectKind::CancelOptimizer: optimizer_.cancel(); break;
      case EffectKind::LaunchRun: launch_run(ex, e); break;
      case EffectKind::StopRun:
        child_.stop();
        watch_launched(ex);
        break;
      case EffectKind::RefreshRuns: refresh_runs(ex.config().db_path); break;
      case EffectKind::LoadRun:
        loads_.push_back({e.use, e.run_id, ex.config().db_path});
        next_load();
        break;
      case EffectKind::SavePlan: save_plan(ex, e); break;
      case EffectKind::SaveSession: save_session_file(ex, e); break;
      case EffectKind::StartClusterSearch: start_cluster_search(ex); break;
      case EffectKind::CancelClusterSearch: cluster_search_.cancel(); break;
      case EffectKind::ReadLengths: read_lengths(ex, e.lengths); break;
      case EffectKind::CancelReadLengths:
        lengths_read_.cancel();
        lengths_next_.reset();
        break;
    }
  }
}

void ExplorerDriver::start_optimizer(Explorer& ex) {
  if (!ex.has_plan()) return;
  optimizer_seen_ = 0;
  if (!optimizer_.start(ex.editor().costs_ptr(), ex.editor().cluster(), ex.optimizer().options)) {
    OptimizerJob::Outcome out;
    out.how = JobState::Failed;
    out.error = "the optimizer is already running";
    ex.on_optimizer_finished(out);
  }
}

void ExplorerDriver::start_cluster_search(Explorer& ex) {
  const ClusterPlanSetup& setup = ex.config().cluster_plans;
  if (!cluster_search_.start(setup.model, setup.cluster, ex.cluster_plans().options)) {
    ClusterSearchJob::Outcome out;
    out.how = JobState::Failed;
    out.error = setup.model ? "the cluster-plan search is already running" : "no model spec to search with";
    ex.on_cluster_search_finished(out);
  }
}

void ExplorerDriver::save_plan(Explorer& ex, const Effect& e) {
  try {
    save_plan_file(e.plan->plan, e.path, plan_meta(*e.plan, ex.editor().costs().model));
    ex.on_plan_saved(e.path, "");
  } catch (const std::exception& err) {
    ex.on_plan_saved(e.path, err.what());
  }
}

void ExplorerDriver::save_session_file(Explorer& ex, const Effect& e) {
  try {
    save_session(*e.session, e.path);
    ex.on_session_saved(e.path, "");
  } catch (const std::exception& err) {
    ex.on_session_saved(e.path, err.what());
  }
}

void ExplorerDriver::read_lengths(Explorer& ex, std::shared_ptr<const LengthsRequest> request) {
  if (!request) return;
  // One read at a time: a newer request stops the one in flight (it polls its cancel flag while it
  // waits on the file) and starts once that worker has returned (poll()), so nothing here waits.
  if (lengths_read_.running()) {
    lengths_read_.cancel();
    lengths_next_ = std::move(request);
    return;
  }
  if (!request->costs) return ex.on_lengths_read(*request, nullptr, "no cost table to pack the lengths with");
  lengths_read_.start(std::move(request));
}

bool ExplorerDriver::report_lengths(Explorer& ex) {
  bool changed = false;
  if (std::optional<LengthsReadJob::Outcome> out = lengths_read_.take_outcome()) {
    // A cancelled read was superseded or dropped: the explorer no longer waits for it.
    if (out->how != JobState::Cancelled) {
      if (const std::shared_ptr<const LengthsRequest> request = lengths_read_.request()) {
        ex.on_lengths_read(*request, out->result, out->error);
        changed = true;
      }
    }
  }
  if (lengths_next_ && !lengths_read_.running()) {
    std::shared_ptr<const LengthsRequest> next = std::move(lengths_next_);
    lengths_next_.reset();
    read_lengths(ex, std::move(next));  // the same checks as a request that found no read in flight
    changed = true;                     // (it may refuse the request at once)
  }
  return changed;
}

std::string ExplorerDriver::work_dir() {
  if (!opt_.work_dir.empty()) {
    std::filesystem::create_directories(opt_.work_dir);
    return opt_.work_dir;
  }
  opt_.work_dir = app::make_private_dir("adaptis-explorer-");
  return opt_.work_dir;
}

void ExplorerDriver::launch_run(Explorer& ex, const Effect& e) {
  if (child_.running()) return ex.note("a run is already in progress (pid " + std::to_string(child_.pid()) + ")", true);
  try {
    const std::string dir = work_dir();
    ++run_counter_;
    const std::string stem = dir + "/run" + std::to_string(run_counter_);
    const std::string plan_path = stem + "-plan.json";
    const std::string log_path = stem + ".log";
    app::write_new_file(plan_path, plan_to_json(e.plan->plan, plan_meta(*e.plan, ex.editor().costs().model)).dump(1) + "\n");
    const std::string exe = opt_.binary.empty() ? app::self_executable() : opt_.binary;
    const ExplorerConfig& c = ex.config();
    const std::vector<std::string> argv = run_command(exe, plan_path, c.model_path, c.db_path, c.run_steps, c.run_args);
    child_.start(argv, log_path);
    launched_ = LaunchedRun{};
    launched_.pid = child_.pid();
    launched_.running = true;
    launched_.log_path = log_path;
    for (const auto& a : argv) launched_.command += (launched_.command.empty() ? "" : " ") + a;
    ex.on_launched(launched_);
    last_watch_s_ = now_s();
  } catch (const std::exception& err) {
    ex.note(std::string("cannot launch the run: ") + err.what(), true);
  }
}

void ExplorerDriver::refresh_runs(const std::string& db) {
  if (store_read_.valid()) {  // one read at a time; the next starts when this one is in
    store_again_ = db.empty() ? std::string(" ") : db;
    return;
  }
  store_read_ = std::async(std::launch::async, read_run_store, db);
}

void ExplorerDriver::next_load() {
  if (load_.valid() || loads_.empty()) return;
  loading_ = loads_.front();
  loads_.pop_front();
  const RunLoad job = loading_;
  load_ = std::async(std::launch::async, [job] {
    RunLoadResult r;
    try {
      r.run = std::make_shared<const LoadedRun>(load_run(job.db, job.id));
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    return r;
  });
}

void ExplorerDriver::watch_launched(Explorer& ex) {
  if (!child_.started()) return;
  const bool running = child_.poll();
  launched_.running = running;
  launched_.exit_status = running ? 0 : child_.exit_status();
  launched_.log_tail = app::tail_lines(launched_.log_path, 12);
  ex.on_launched(launched_);
  refresh_runs(ex.config().db_path);
  last_watch_s_ = now_s();
}

bool ExplorerDriver::poll(Explorer& ex) {
  bool changed = false;
  // The optimizer: progress, and each improved plan (the explorer decides whether it shows live).
  if (ex.optimizer().state == JobState::Running) {
    const OptimizerJob::Status st = optimizer_.status();
    std::optional<Plan> improved;
    if (st.best_version != optimizer_seen_) {
      optimizer_seen_ = st.best_version;
      improved = optimizer_.take_best();
    }
    const OptimizeProgress& o = ex.optimizer().progress;
    if (improved || st.progress.fraction != o.fraction || st.progress.evaluated != o.evaluated ||
        st.progress.best_ms != o.best_ms || st.progress.phase != o.phase || st.progress.elapsed_s - o.elapsed_s >= 0.1) {
      ex.on_optimizer_progress(st.progress, std::move(improved));
      changed = true;
    }
    if (auto out = optimizer_.take_outcome()) {
      ex.on_optimizer_finished(*out);
      changed = true;
    }
  }
  // The cluster-plan search: progress, and its table once it returns.
  if (ex.cluster_plans().state == JobState::Running) {
    const ClusterSearchProgress p = cluster_search_.progress();
    const ClusterSearchProgress& shown = ex.cluster_plans().progress;
    if (p.fraction != shown.fraction || p.phase != shown.phase || p.done != shown.done || p.best != shown.best ||
        p.elapsed_s - shown.elapsed_s >= 0.1) {
      ex.on_cluster_search_progress(p);
      changed = true;
    }
    if (auto out = cluster_search_.take_outcome()) {
      ex.on_cluster_search_finished(*out);
      changed = true;
    }
  }
  // The lengths read again: adopted or refused once in, and the next read started.
  if (report_lengths(ex)) changed = true;
  // The launched run: its output and the store, a few times a second, and once at its end.
  if (launched_.running && (!child_.poll() || now_s() - last_watch_s_ > 0.4)) {
    watch_launched(ex);
    changed = true;
  }
  if (ready(store_read_)) {
    ex.on_run_store(store_read_.get());
    changed = true;
    if (!store_again_.empty()) {
      const std::string db = store_again_ == " " ? std::string() : store_again_;
      store_again_.clear();
      refresh_runs(db);
    }
  }
  if (ready(load_)) {
    RunLoadResult r = load_.get();
    ex.on_run_loaded(loading_.use, loading_.id, std::move(r.run), r.error);
    changed = true;
    next_load();
  }
  if (ex.has_effects()) {
    carry_out(ex);
    changed = true;
  }
  return changed;
}

std::string ExplorerDriver::shutdown() {
  std::string stopped;
  if (optimizer_.running()) {
    optimizer_.cancel();
    stopped += "cancelled the optimizer; ";
  }
  optimizer_.wait();
  if (cluster_search_.running()) {
    cluster_search_.cancel();
    stopped += "cancelled the cluster-plan search; ";
  }
  cluster_search_.wait();
  if (lengths_read_.running() || lengths_next_) {
    lengths_read_.cancel();
    stopped += "stopped reading the lengths; ";
  }
  lengths_read_.wait();
  lengths_next_.reset();
  if (child_.started() && child_.poll()) {
    child_.stop();
    stopped += "stopped the run (pid " + std::to_string(child_.pid()) + ", output in " + launched_.log_path + "); ";
  }
  if (store_read_.valid()) store_read_.wait();
  store_read_ = {};
  if (load_.valid()) load_.wait();
  load_ = {};
  loads_.clear();
  if (!stopped.empty()) stopped.resize(stopped.size() - 2);
  return stopped;
}

}  // namespace adaptis::explorer
