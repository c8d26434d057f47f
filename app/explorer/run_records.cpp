#include "explorer/run_records.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <exception>
#include <filesystem>

#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_file.h"

namespace adaptis::explorer {

RunStoreView read_run_store(const std::string& db_path) {
  RunStoreView v;
  v.db_path = db_path;
  v.read = true;
  std::error_code ec;
  if (db_path.empty()) {
    v.note = "no run store configured";
    return v;
  }
  if (!std::filesystem::exists(db_path, ec)) {
    v.note = "no runs recorded yet: " + db_path + " does not exist";
    return v;
  }
  try {
    exec::RunStore store(db_path, exec::StoreAccess::ReadOnly);
    v.runs = store.list_runs();
  } catch (const std::exception& e) {
    v.note = std::string("cannot read the run store: ") + e.what();
    v.note_is_error = true;
  }
  return v;
}

double measured_iteration_ms(const exec::RunSummary& run) {
  return run.measured_iteration_ms > 0 ? run.measured_iteration_ms : std::nan("");
}

double prediction_error(const exec::RunSummary& run) {
  return exec::relative_error(run.predicted_iteration_ms, measured_iteration_ms(run));
}

std::string local_time(int64_t utc_ns) {
  if (utc_ns <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(utc_ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

double LoadedRun::error() const {
  return measured_ms > 0 && predicted_ms > 0 ? exec::relative_error(predicted_ms, measured_ms) : std::nan("");
}

namespace {

// The iteration drawn for a run: the recorded step whose time is nearest the measured iteration
// time, so the timeline on screen and the number beside it agree.
int representative_step(const std::vector<exec::StepRow>& steps, double measured_ms) {
  int best = steps.back().step;
  double best_d = INFINITY;
  for (size_t i = steps.size() > 1 ? 1 : 0; i < steps.size(); ++i) {
    const double d = std::fabs(steps[i].iteration_ms() - measured_ms);
    if (d < best_d) {
      best_d = d;
      best = steps[i].step;
    }
  }
  return best;
}

}  // namespace

LoadedRun load_run(const std::string& db_path, int64_t run_id, int step) {
  if (db_path.empty()) throw InputError("no run database chosen");
  exec::RunStore store(db_path, exec::StoreAccess::ReadOnly);
  exec::RunRecord rec = store.load_run(run_id);
  const std::string where = db_path + ": run " + std::to_string(run_id);
  LoadedRun r;
  r.summary = rec.summary;
  r.plan = plan_from_json(rec.plan, where + ": plan");
  r.costs = rec.costs;
  r.cost_source = rec.costs.is_object() && rec.costs.contains("source") && rec.costs["source"].is_string()
                      ? rec.costs["source"].get<std::string>()
                      : std::string();
  r.steps_recorded = static_cast<int>(rec.steps.size());
  r.predicted = exec::predicted_trace_timeline(rec, r.plan).actions;
  r.predicted_summary = summarize_timeline(r.predicted, "run " + std::to_string(run_id) + " predicted");
  r.predicted_ms = rec.summary.predicted_iteration_ms > 0 ? rec.summary.predicted_iteration_ms
                                                           : r.predicted_summary.iteration_ms;
  r.predicted_summary.iteration_ms = r.predicted_ms;
  r.predicted_timeline = timeline_of_actions(r.predicted, r.plan.num_stages(), r.plan.num_microbatches);
  if (!rec.steps.empty()) {
    r.measured_ms = exec::measured_iteration_ms(exec::step_iteration_ms(rec.steps));
    r.step = step >= 0 ? step : representative_step(rec.steps, r.measured_ms);
    TraceTimeline t = exec::measured_trace_timeline(rec, r.plan, r.step);
    r.step_ms = t.iteration_ms;
    r.measured = std::move(t.actions);
    r.measured_summary = summarize_timeline(r.measured, "run " + std::to_string(run_id));
    r.measured_summary.iteration_ms = r.measured_ms;
    r.measured_lanes = measured_lanes(r.measured);
  }
  return r;
}

std::vector<std::string> run_command(const std::string& exe, const std::string& plan_path,
                                     const std::string& model_path, const std::string& db, int steps,
                                     const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {exe, "run", "--plan", plan_path, "--model", model_path, "--db", db};
  // The extra arguments may set the step count themselves (an option given twice is an error).
  if (std::find(extra_args.begin(), extra_args.end(), "--steps") == extra_args.end())
    argv.insert(argv.end(), {"--steps", std::to_string(steps)});
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  return argv;
}

}  // namespace adaptis::explorer
