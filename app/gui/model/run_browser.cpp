#include "gui/model/run_browser.h"

#include <filesystem>

#include "adaptis/executor/run_trace.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_file.h"

namespace adaptis::gui {

RunBrowser::RunBrowser() = default;
RunBrowser::~RunBrowser() = default;

void RunBrowser::set_db(const std::string& path) {
  if (path == path_ && store_) return;
  path_ = path;
  store_.reset();
  runs_.clear();
  note_.clear();
}

exec::RunStore& RunBrowser::store() {
  if (path_.empty()) throw InputError("no runs database chosen");
  if (!store_) store_ = std::make_unique<exec::RunStore>(path_, exec::StoreAccess::ReadOnly);
  return *store_;
}

bool RunBrowser::refresh() {
  // The list is read-only and never creates the database: until a first run writes it, there are no runs.
  std::error_code ec;
  if (!store_ && !path_.empty() && !std::filesystem::exists(path_, ec)) {
    runs_.clear();
    note_.clear();
    return true;
  }
  try {
    runs_ = store().list_runs();
    note_.clear();
    return true;
  } catch (const std::exception& e) {
    store_.reset();
    runs_.clear();
    note_ = e.what();
    return false;
  }
}

namespace {

bool parse_op(const std::string& k, Op& op) {
  if (k == "F") op = Op::F;
  else if (k == "B") op = Op::B;
  else if (k == "W") op = Op::W;
  else if (k == "BW") op = Op::BW;
  else return false;
  return true;
}

}  // namespace

LoadedRun RunBrowser::load(int64_t run_id, int step) {
  exec::RunRecord rec = store().load_run(run_id);
  LoadedRun r;
  r.summary = rec.summary;
  r.plan = plan_from_json(rec.plan, path_ + ": run " + std::to_string(run_id) + ": plan");
  r.steps_recorded = static_cast<int>(rec.steps.size());
  const int D = std::max(r.plan.num_devices(), rec.summary.num_devices);
  r.predicted.assign(D, {});
  for (const exec::PredictedInterval& p : rec.predicted) {
    Op op;
    if (p.device < 0 || p.device >= D || !parse_op(p.kind, op)) continue;
    TimedAction ta;
    ta.action = Action{op, p.stage, p.mb, false};
    ta.device = p.device;
    ta.start = static_cast<double>(p.start_ns) * 1e-6;
    ta.end = static_cast<double>(p.end_ns) * 1e-6;
    r.predicted[p.device].push_back(ta);
  }
  r.predicted_summary = summarize_timeline(r.predicted, "run " + std::to_string(run_id) + " predicted");
  if (!rec.steps.empty()) {
    TraceTimeline t = exec::measured_trace_timeline(rec, r.plan, step);
    r.measured = std::move(t.actions);
    r.step = step < 0 ? rec.steps.back().step : step;
    r.measured_summary = summarize_timeline(r.measured, "run " + std::to_string(run_id));
    r.measured_summary.iteration_ms = t.iteration_ms > 0 ? t.iteration_ms : r.measured_summary.iteration_ms;
  }
  return r;
}

int64_t RunBrowser::run_of_pid(int64_t pid) {
  refresh();
  for (const auto& s : runs_)
    if (s.pid == pid) return s.id;  // newest first
  return 0;
}

std::vector<std::string> run_command(const std::string& exe, const std::string& plan_path,
                                     const std::string& model_path, const std::string& db, int steps) {
  return {exe,     "run",   "--plan",  plan_path, "--model",          model_path, "--steps",
          std::to_string(steps), "--backend", "cpu", "--db", db};
}

}  // namespace adaptis::gui
