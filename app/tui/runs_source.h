#pragma once
// Recorded runs for the runs view, read from the executor's SQLite run store.
#include <string>

#include "tui/tui_state.h"

namespace adaptis::tui {

// Fills db_path, store_available, note and rows (newest first). Never throws: problems (no run
// store in this build, no database yet, a locked or foreign file) become the note.
RunsView read_runs(const std::string& db_path);

// The run store's default database path (what `adaptis run` uses without --db).
std::string default_runs_db();

}  // namespace adaptis::tui
