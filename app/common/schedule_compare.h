#pragma once
// Every built-in schedule run on one input: the rows `adaptis compare` prints, the TUI's compare
// view lists and the explorers rank. Plans that cannot apply carry their reason instead.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "common/inputs.h"

namespace adaptis::app {

struct CompareRow {
  std::string name;      // the schedule, with " + <policy>" when a memory policy applies
  std::string schedule;  // the built-in schedule's name alone ("" for a plan computed elsewhere)
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
// The row name of a built-in with a uniform policy: "1f1b", or "1f1b + full" when policies are compared.
std::string compare_row_name(const std::string& schedule, const StageMemoryPolicy& memory, bool show_policy);
// Adds a row computed elsewhere (e.g. the optimizer's plan) and refreshes speedups.
void add_compare_row(std::vector<CompareRow>& rows, CompareRow row);
// The fastest row that fits memory, else the fastest row; nullptr when none simulated.
const CompareRow* fastest(const std::vector<CompareRow>& rows);
// The highest peak memory of any device of a simulation (0 when the costs carry no sizes).
double peak_memory(const SimResult& sim);

}  // namespace adaptis::app
