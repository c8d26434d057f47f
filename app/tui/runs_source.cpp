#include "tui/runs_source.h"

#include <cstdlib>

namespace adaptis::tui {

std::string default_runs_db() {
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/adaptis/runs.db";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/adaptis/runs.db";
  return "adaptis-runs.db";
}

RunsView read_runs(const std::string& db_path) {
  RunsView v;
  v.db_path = db_path;
  v.store_available = false;
  v.note = "the executor's run store (executor/run_store.h) is not built into this binary yet: no runs to list";
  return v;
}

}  // namespace adaptis::tui
