#pragma once
// Recorded runs for the runs view, read from the executor's SQLite run store.
#include <string>

#include "tui/tui_state.h"

namespace adaptis::tui {

// The store at `db_path`, newest run first. Never throws: problems (no database yet, a file that is
// not a run database, one written by a newer adaptis) become the note. A missing database is not
// created: looking must not leave files behind.
RunStoreView read_runs(const std::string& db_path);

}  // namespace adaptis::tui
