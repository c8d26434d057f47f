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
// `name` (a plan name, which any plan file can set) reduced to a harmless file name part: control
// characters written as their escapes (terminal_safe: ESC -> "x1b"), then only
// [A-Za-z0-9._-] (each run of other characters becomes one '_'), no leading '.', '-' or '_', no trailing
// '.' or '_', at most kMaxFileNameStem characters; "plan" when nothing is left. No path separators, no
// hidden file, nothing a shell or a command line would read as an option.
constexpr size_t kMaxFileNameStem = 64;
std::string file_name_stem(const std::string& name);
// A file name suggestion for the plan ("adaptis-1f1b.trace.json", ...), its name through file_name_stem.
std::string default_export_path(PlanExport e, const Plan& plan);

std::string export_plan(PlanExport e, const std::string& path, const Plan& plan, const SimResult& sim,
                        const CostTable& costs, const Cluster& cluster, const SimOptions& opt);

// Megatron's flags for the plan as text, or why Megatron cannot express it.
std::string megatron_text(const Plan& plan, const CostTable& costs);

}  // namespace adaptis::explorer
