// The explorer core: recorded runs (the store's list, a run as B or under the plan, two runs side
// by side) and the run this session launches.
#include "common/format.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

using app::strf;

void Explorer::refresh_runs() {
  store_.db_path = config_.db_path;
  request(Effect(EffectKind::RefreshRuns));
}

void Explorer::set_runs_db(const std::string& path) {
  if (path == config_.db_path && store_.read) return refresh_runs();
  config_.db_path = path;
  store_ = RunStoreView{};
  store_.db_path = path;
  selected_run_ = 0;
  refresh_runs();
}

void Explorer::load_run_for(RunUse use, int64_t id) {
  Effect e(EffectKind::LoadRun);
  e.run_id = id;
  e.use = use;
  request(std::move(e));
}

void Explorer::compare_with_run(int64_t run_id) {
  if (run_id <= 0) return note("no run selected", true);
  Comparison c;
  c.kind = CompareKind::Run;
  c.run_id = run_id;
  c.label = strf("run %lld (measured)", static_cast<long long>(run_id));
  // The same run again (a launched run's new iterations): keep what is shown until the new read.
  if (compare_.kind == CompareKind::Run && compare_.run_id == run_id) {
    c.run = compare_.run;
    c.same_costs = compare_.same_costs;
  }
  compare_ = std::move(c);
  if (view_.selected.side == 1) view_.selected = {};
  selected_run_ = run_id;
  load_run_for(RunUse::Compare, run_id);
}

void Explorer::overlay_run(int64_t id) {
  if (id <= 0) return note("no run selected", true);
  selected_run_ = id;
  load_run_for(RunUse::Overlay, id);
}

void Explorer::clear_overlay() {
  overlay_.reset();
  plan_changed();
}

void Explorer::open_run_plan(int64_t id) {
  if (id <= 0) return note("no run selected", true);
  if (editing_locked()) return note("the optimizer is driving the plan: cancel it first", true);
  load_run_for(RunUse::OpenPlan, id);
}

void Explorer::tick_run(int64_t id) {
  // Unticking shifts the other tick first; ticking a third drops the older tick.
  if (ticked_id_[0] == id) {
    ticked_id_[0] = ticked_id_[1];
    ticked_[0] = std::move(ticked_[1]);
    ticked_id_[1] = 0;
    ticked_[1].reset();
    return;
  }
  if (ticked_id_[1] == id) {
    ticked_id_[1] = 0;
    ticked_[1].reset();
    return;
  }
  if (ticked_id_[0] && ticked_id_[1]) {
    ticked_id_[0] = ticked_id_[1];
    ticked_[0] = std::move(ticked_[1]);
    ticked_id_[1] = 0;
  }
  const int slot = ticked_id_[0] ? 1 : 0;
  ticked_id_[slot] = id;
  ticked_[slot].reset();
  load_run_for(RunUse::Tick, id);
}

std::string Explorer::launch_blocker() const {
  if (!config_.run_blocker.empty()) return config_.run_blocker;
  if (config_.model_path.empty())
    return "a run executes the real model: start the explorer with a model spec (--model FILE); cost files alone "
           "cannot run";
  if (launched_.running) return strf("a run is already in progress (pid %d)", launched_.pid);
  if (!has_plan()) return "no valid plan to run: fix the plan first";
  return "";
}

void Explorer::launch_run() {
  const std::string why = launch_blocker();
  if (!why.empty()) return note("cannot launch a run: " + why, true);
  Effect e(EffectKind::LaunchRun);
  e.plan = editor_.eval_ptr();
  request(std::move(e));
}

void Explorer::stop_run() {
  if (!launched_.running) return;
  request(Effect(EffectKind::StopRun));
  note(strf("stopping the run (pid %d)...", launched_.pid));
}

const exec::RunSummary* Explorer::launched_row() const {
  if (launched_.pid <= 0) return nullptr;
  for (const exec::RunSummary& r : store_.runs)  // newest first: a reused pid matches its latest run
    if (r.pid == launched_.pid) return &r;
  return nullptr;
}

void Explorer::on_launched(LaunchedRun run) {
  const bool was_running = launched_.running && launched_.pid == run.pid;
  const bool first = launched_.pid != run.pid;
  run.run_id = first ? 0 : launched_.run_id;
  launched_ = std::move(run);
  if (first) {
    following_ = config_.follow_launched_run;
    note(strf("launched a run (pid %d), output in %s", launched_.pid, launched_.log_path.c_str()));
  }
  if (was_running && !launched_.running)
    note(strf("run pid %d finished with exit status %d (output in %s)", launched_.pid, launched_.exit_status,
              launched_.log_path.c_str()),
         launched_.exit_status != 0);
}

void Explorer::on_run_store(RunStoreView store) {
  store_ = std::move(store);
  if (const exec::RunSummary* row = launched_row()) {
    launched_.run_id = row->id;
    // Show the launched run as B as its iterations arrive (re-read on every refresh, the last
    // time after it ended).
    if (following_) {
      const bool same = compare_.kind == CompareKind::Run && compare_.run_id == row->id;
      compare_with_run(row->id);
      if (!same) fit_view();
      if (!launched_.running) following_ = false;
    }
  }
}

void Explorer::on_run_loaded(RunUse use, int64_t id, std::shared_ptr<const LoadedRun> run, const std::string& error) {
  const std::string name = strf("run %lld", static_cast<long long>(id));
  switch (use) {
    case RunUse::Compare:
    case RunUse::Follow:
      if (compare_.kind != CompareKind::Run || compare_.run_id != id) return;  // B changed meanwhile
      if (!run) {
        compare_.run.reset();
        compare_.error = name + ": " + error;
        note(compare_.error, true);
      } else {
        compare_.same_costs = predicted_with(*run, editor_.costs());
        compare_.run = std::move(run);
        compare_.error.clear();
        if (use == RunUse::Compare && !compare_.run->has_measurement()) note(name + " recorded no iteration yet", true);
      }
      plan_changed();
      return;
    case RunUse::Overlay:
      if (!run) return note("cannot overlay " + name + ": " + error, true);
      if (!run->has_measurement()) return note("cannot overlay " + name + ": it recorded no iteration yet", true);
      if (!predicted_with(*run, editor_.costs())) {
        // Under the prediction only on one time scale: a run predicted with another machine's costs
        // (a CPU profile against analytical H100 costs) is shown as B on its own time scale.
        compare_with_run(id);
        note(name + " ran on another machine (predicted with " +
             (run->cost_source.empty() ? std::string("its own") : run->cost_source) +
             " costs): shown as B on its own time scale, not under this prediction");
        return;
      }
      overlay_ = std::move(run);
      note(strf("overlaying %s (iteration %d)%s", name.c_str(), overlay_->step,
                overlay_->plan.num_devices() == (has_plan() ? editor_.plan().num_devices() : 0)
                    ? ""
                    : "; note: the run executed a plan of another shape than the one on screen"));
      plan_changed();
      return;
    case RunUse::Tick:
      for (int i = 0; i < 2; ++i)
        if (ticked_id_[i] == id) {
          if (run) {
            ticked_[i] = std::move(run);
          } else {
            ticked_id_[i] = 0;
            note(name + ": " + error, true);
          }
        }
      return;
    case RunUse::OpenPlan: {
      if (!run) return note(name + ": " + error, true);
      EditResult r = load_plan(run->plan, "plan of " + name);
      if (r.applied && run->has_measurement() && predicted_with(*run, editor_.costs())) {
        overlay_ = std::move(run);
        plan_changed();
      }
      fit_view();
      return;
    }
  }
}

}  // namespace adaptis::explorer
