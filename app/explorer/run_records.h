#pragma once
// Recorded runs for the explorers, read from the executor's SQLite run store: the list of runs and
// one run's iteration (its prediction and its measurement) as timelines. These functions do the
// I/O; the explorer core only sees their results (the driver calls them off the UI thread, since a
// writer holding the database's lock can make a read wait).
//
// One definition of a run's numbers everywhere (runs table, comparison headers, `adaptis show`):
//  - measured iteration: exec::measured_iteration_ms, the median over the steps after the first;
//  - predicted iteration: the run's own prediction, made with the costs of the machine it ran on
//    (the CPU profile, or the measured GPU profile, recorded with the run);
//  - prediction error: exec::relative_error, (measured - predicted) / predicted.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/executor/run_store.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "explorer/plan_summary.h"
#include "explorer/timeline_data.h"

namespace adaptis::explorer {

// The run store as last read.
struct RunStoreView {
  std::string db_path;
  bool read = false;      // a read finished (runs and note are meaningful)
  std::string note;       // why there are no runs (no database yet, unreadable, ...)
  bool note_is_error = false;
  std::vector<exec::RunSummary> runs;  // newest first
};

// The store at `db_path`. Never throws: problems (no database yet, a file that is not a run
// database, one written by a newer adaptis) become the note. A missing database is not created:
// looking must not leave files behind.
RunStoreView read_run_store(const std::string& db_path);

// A run's measured iteration time (NaN until one was recorded) and its prediction error.
double measured_iteration_ms(const exec::RunSummary& run);
double prediction_error(const exec::RunSummary& run);
// Local start time, "2025-01-31 14:02:11" ("-" when unknown).
std::string local_time(int64_t utc_ns);

// One recorded iteration of a run.
struct LoadedRun {
  exec::RunSummary summary;
  Plan plan;
  nlohmann::json costs;  // the cost table the run's prediction used (adaptis-costs/1 JSON)
  std::string cost_source;
  int step = -1;            // the iteration drawn: the one nearest the measured iteration time
  double step_ms = 0;       // that iteration's own time
  int steps_recorded = 0;
  double measured_ms = 0;   // measured iteration (median, see above); 0 before any iteration
  double predicted_ms = 0;  // the run's own prediction
  std::vector<std::vector<TimedAction>> measured;   // per device, ms from the iteration's start
  std::vector<std::vector<TimedAction>> predicted;  // the prediction stored with the run
  PlanSummary measured_summary, predicted_summary;  // iteration_ms = measured_ms / predicted_ms
  TimelineData predicted_timeline;                  // compute lanes of the prediction
  MeasuredLanes measured_lanes;

  bool has_measurement() const { return !measured.empty(); }
  double error() const;  // (measured - predicted) / predicted; NaN when either is missing
};

// Run `run_id` of the store at `db_path`; `step` -1 picks the iteration nearest the measured time.
// Throws InputError naming the database and the run.
LoadedRun load_run(const std::string& db_path, int64_t run_id, int step = -1);

// `adaptis run` of a saved plan file with a model spec, recording into `db`.
std::vector<std::string> run_command(const std::string& exe, const std::string& plan_path,
                                     const std::string& model_path, const std::string& db, int steps,
                                     const std::vector<std::string>& extra_args = {});

}  // namespace adaptis::explorer
