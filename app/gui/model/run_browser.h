#pragma once
// Recorded runs for the GUI, read from the executor's SQLite run store: the list of runs, one run's
// measured iteration (for the predicted-vs-measured overlay and for comparing runs), the run a
// launched process is writing (to watch it arrive live), and the `adaptis run` command line that
// executes the current plan in a separate process.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/run_store.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "gui/model/plan_summary.h"

namespace adaptis::gui {

struct LoadedRun {
  exec::RunSummary summary;
  Plan plan;
  int step = -1;           // the iteration shown
  int steps_recorded = 0;
  std::vector<std::vector<TimedAction>> measured;   // per device, ms from the iteration's start
  std::vector<std::vector<TimedAction>> predicted;  // the prediction stored with the run
  PlanSummary measured_summary, predicted_summary;
};

class RunBrowser {
 public:
  RunBrowser();
  ~RunBrowser();
  // Switches to another database file (opened lazily and read-only; never created here).
  void set_db(const std::string& path);
  const std::string& db() const { return path_; }
  // Re-reads the run list (newest first). Never throws: a problem becomes note() and returns false; a
  // database that does not exist yet is an empty list (true, no note).
  bool refresh();
  const std::vector<exec::RunSummary>& runs() const { return runs_; }
  const std::string& note() const { return note_; }
  // One run's recorded iteration (step -1 = the last one). Throws InputError.
  LoadedRun load(int64_t run_id, int step = -1);
  // The newest run written by process `pid` (0 when it has not begun one yet).
  int64_t run_of_pid(int64_t pid);

 private:
  exec::RunStore& store();

  std::string path_;
  std::unique_ptr<exec::RunStore> store_;
  std::vector<exec::RunSummary> runs_;
  std::string note_;
};

// `adaptis run` of a saved plan file with a model spec, recording into `db`.
std::vector<std::string> run_command(const std::string& exe, const std::string& plan_path,
                                     const std::string& model_path, const std::string& db, int steps);

}  // namespace adaptis::gui
