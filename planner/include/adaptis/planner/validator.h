#pragma once
// Structural checks of a Plan before it is simulated or executed, with messages that say what
// is wrong and where.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

struct ValidationReport {
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
  std::string message() const;  // errors joined by newlines
};

// Checks: the partition covers layers [0, num_layers) with every stage non-empty (num_layers < 0
// skips the layer-count check); every stage is placed on exactly one device; every action names a
// stage held by its device and a micro-batch in range; each (stage, mb) has exactly one F and
// either one BW or one B and one W; on each device, F precedes B/BW and B precedes W for the same
// (stage, mb); overlapped actions follow an action; the memory policies and R actions are
// consistent (check_memory_policy in memory_policy.h); Plan::units, when set, has one well-formed
// unit per micro-batch (units.h); and the orders do not deadlock (slice dependencies included).
ValidationReport validate_plan(const Plan& plan, int num_layers);

// Throws InputError with the report's message when the plan is invalid; `origin` names its source.
void require_valid_plan(const Plan& plan, int num_layers, const std::string& origin);

}  // namespace adaptis
