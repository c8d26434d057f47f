#pragma once
// Recorded runs as Chrome traces (Perfetto, chrome://tracing): the measured timeline of one iteration next to
// the predicted one, in the planner's trace layout (chrome_trace.h), so a prediction and a measurement of the
// same plan open side by side. Measured P2P lanes show each SEND (the copy into the receiver's buffer), and
// the idle lane shows every WAIT with the action it held up and the sender it waited for.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/executor/run_store.h"
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/plan.h"

namespace adaptis::exec {

// Iteration `step` of the run (-1 = the last recorded) as a trace timeline, times in ms from its start.
// Throws InputError when the run recorded no such iteration.
TraceTimeline measured_trace_timeline(const RunRecord& run, const Plan& plan, int step = -1);
TraceTimeline predicted_trace_timeline(const RunRecord& run, const Plan& plan);

// Both timelines in one trace document.
nlohmann::json run_chrome_trace(const RunRecord& run, int step = -1);

// Reads run `run_id` from the database at `db_path` and writes its trace to `out_path`; returns the number of
// trace events written. InputError on a missing database, run or iteration, or an unwritable file.
size_t export_run_chrome_trace(const std::string& db_path, int64_t run_id, const std::string& out_path, int step = -1);

}  // namespace adaptis::exec
