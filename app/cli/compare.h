#pragma once
// Running every built-in schedule on one input, for `compare`, `optimize` and the README job.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "cli/inputs.h"

namespace adaptis::cli {

struct CompareRow {
  std::string name;  // the schedule, with " + <policy>" when a memory policy applies
  std::string schedule;
  StageMemoryPolicy memory;  // uniform on every stage
  bool ok = false;
  std::string error;  // why the schedule does not apply (its constraint, a deadlock, ...)
  Plan plan;
  SimResult sim;
  double speedup_vs_interleaved = 0;  // interleaved-1f1b time / this time (0 when either is missing)
};

// Each built-in schedule with the base request's devices/micro-batches (default partition and
// placement), once per uniform memory policy in `memory` (default: none). Schedules whose
// constraints reject the input get ok = false and the reason.
std::vector<CompareRow> compare_schedules(const PlanRequest& base, const Inputs& in,
                                          const std::vector<StageMemoryPolicy>& memory = {StageMemoryPolicy{}});
// Adds a row computed elsewhere (e.g. the optimizer's plan) and refreshes speedups.
void add_compare_row(std::vector<CompareRow>& rows, CompareRow row);
const CompareRow* fastest(const std::vector<CompareRow>& rows);  // OOM-free first, then any
std::string compare_table(const std::vector<CompareRow>& rows);
nlohmann::json compare_json(const std::vector<CompareRow>& rows);

}  // namespace adaptis::cli
