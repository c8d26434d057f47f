#pragma once
// Schedules over variable-length units (Plan::units).
//
// - Any built-in schedule (schedules.h) runs over units with one micro-batch per unit. When rows are
//   sliced, its backward order is relabelled so each stage runs a row's backwards in reverse slice order
//   (a row's backwards start from its last slice; rows keep the order their last slice had), and any
//   backward that would then precede a forward of its own row on the same device is moved just after it.
//   When that order deadlocks (a warm-up too shallow for a row's slices), the schedule's placement and
//   backward split are kept and each device is ordered by a cost-blind list schedule that prefers
//   backwards (the 1F1B rule) under the slice dependencies; the plan is then named
//   "<schedule> (re-ordered for slices)".
// - seq1f1b: Seq1F1B (sequence-level 1F1B) on one stage per device: rank r runs
//   min(p - r - 2 + k, units) warm-up forwards (k = the most slices of any row), then alternates the
//   next forward with the next backward in backward order (rows in order, each row's slices last to
//   first), then the remaining backwards. Fused backward (BW).
// - terapipe: TeraPipe (token-level GPipe) on one stage per device: every forward in unit order, then
//   every backward in reverse unit order (reversed batch and token order). Fused backward (BW). On
//   stages of equal cost whose units take t_i = F_i + B_i in total, its makespan is
//   sum_i t_i + (p - 1) max_i t_i when the backward is folded into t_i as TeraPipe's model does.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/unit.h"

namespace adaptis {

struct UnitScheduleInfo {
  const char* name;
  const char* description;
};
// The schedules that exist only over units: seq1f1b, terapipe.
const std::vector<UnitScheduleInfo>& unit_only_schedules();
bool is_unit_only_schedule(const std::string& name);

// Per-unit backward order: rows in order of their last slice, each row's slices last to first; whole
// units where they stand.
std::vector<int> unit_backward_order(const std::vector<WorkUnit>& units);

// `name` is a built-in schedule or a unit-only one; opt.microbatches is ignored (one per unit). The
// plan carries `units`; its partition is left empty. Throws InputError naming the schedule when it
// does not apply (its own constraint, or an order that deadlocks on these slices).
Plan generate_unit_schedule(const std::string& name, const ScheduleOptions& opt, const std::vector<WorkUnit>& units);

Plan seq1f1b_schedule(int devices, const std::vector<WorkUnit>& units);
Plan terapipe_schedule(int devices, const std::vector<WorkUnit>& units);

}  // namespace adaptis
