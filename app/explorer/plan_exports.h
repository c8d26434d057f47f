#pragma once
// Exporting the plan on screen: Chrome trace (Perfetto), PyTorch pipelining CSV, Megatron flags
// and layout, adaptis plan JSON. Thin wrappers over the planner's writers that return a one-line
// summary for the status bar and throw InputError with the writer's reason otherwise.
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"

namespace adaptis::explorer {

enum class PlanExport { ChromeTrace, PytorchCsv, PytorchCsvComms, Megatron, PlanJson };
const char* plan_export_name(PlanExport e);
// A file name suggestion for the plan ("adaptis-1f1b.trace.json", ...).
std::string default_export_path(PlanExport e, const Plan& plan);

std::string export_plan(PlanExport e, const std::string& path, const Plan& plan, const SimResult& sim,
                        const CostTable& costs, const Cluster& cluster, const SimOptions& opt);

// Megatron's flags for the plan as text, or why Megatron cannot express it.
std::string megatron_text(const Plan& plan, const CostTable& costs);

}  // namespace adaptis::explorer
