#include "tui/runs_source.h"

#include <cmath>
#include <ctime>
#include <exception>
#include <filesystem>

#include "adaptis/executor/run_store.h"

namespace adaptis::tui {

namespace {

std::string local_time(int64_t utc_ns) {
  if (utc_ns <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(utc_ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

RunRow to_row(const exec::RunSummary& r) {
  RunRow row;
  row.id = r.id;
  row.status = r.status;
  row.schedule = r.schedule;
  row.model = r.model_name;
  row.started = local_time(r.started_utc_ns);
  row.pid = r.pid;
  row.devices = r.num_devices;
  row.microbatches = r.num_microbatches;
  row.steps = r.steps;
  row.steps_done = r.steps_done;
  // The store reports NaN until an iteration was recorded.
  row.measured_ms = std::isfinite(r.measured_iteration_ms) ? r.measured_iteration_ms : 0;
  row.predicted_ms = std::isfinite(r.predicted_iteration_ms) ? r.predicted_iteration_ms : 0;
  row.final_loss = std::isfinite(r.final_loss) ? r.final_loss : 0;
  row.error = r.error;
  return row;
}

}  // namespace

RunStoreView read_runs(const std::string& db_path) {
  RunStoreView v;
  v.db_path = db_path;
  v.read = true;
  std::error_code ec;
  if (db_path.empty()) {
    v.note = "no run store configured (--db)";
    return v;
  }
  if (!std::filesystem::exists(db_path, ec)) {
    v.note = "no runs recorded yet: " + db_path + " does not exist";
    return v;
  }
  try {
    exec::RunStore store(db_path, exec::StoreAccess::ReadOnly);
    for (const exec::RunSummary& r : store.list_runs()) v.rows.push_back(to_row(r));
  } catch (const std::exception& e) {
    v.note = std::string("cannot read the run store: ") + e.what();
    v.note_is_error = true;
  }
  return v;
}

}  // namespace adaptis::tui
