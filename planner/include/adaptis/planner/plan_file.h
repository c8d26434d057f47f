#pragma once
// adaptis' own plan file (JSON): partition, placement and per-device action lists, so any plan
// (built-in, optimized, edited, imported) can be saved, reloaded, simulated and executed.
//
//   {"format": "adaptis-plan/1", "name": "1f1b", "microbatches": 8,
//    "partition": [14, 14, 14, 14], "placement": [[0], [1], [2], [3]],
//    "schedule": [["F0.0", "F0.1", "BW0.0", ...], ...], "meta": {...}}
//
// Actions are "<op><stage>.<mb>" with op F, B, W, BW or R (recompute); a leading '&' marks an action
// overlapped with the previous one (DualPipe F&B pairs). An optional "parallel" object is the plan's
// whole-cluster configuration (Plan::parallel, JSON form in adaptis/model/parallel_config.h).
//
// Optional per-stage memory policies (memory_policy.h); stages not listed keep everything:
//   "memory": [{"stage": 0, "recompute": "full", "layers": 2, "offload": 0.25},
//              {"stage": 3, "recompute": "selective"}]
// recompute is none | selective | full, layers (full only) the first k layers recomputed (default
// all), offload the fraction of the kept activations copied to host (default 0).
//
// A variable-length plan (Plan::units) adds "units": one object per micro-batch, in micro-batch order:
//   {"docs": [512, 300, 88]}                               packed documents (tokens each)
//   {"docs": [4238], "row": 0, "slice": 1, "offset": 4930}  slice 1 of row 0, 4930 tokens into its document
//   {"docs": [700], "padded_tokens": 8192}                 one sequence padded to 8192 tokens
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/planner/plan.h"

namespace adaptis {

std::string format_action(const Action& a);                          // "F3.1", "&B2.0"
Action parse_action(const std::string& text, const std::string& where);  // InputError on bad text

nlohmann::json plan_to_json(const Plan& plan, const nlohmann::json& meta = nlohmann::json::object());
// `origin` names the file in errors. Checks structure only; use validate_plan for semantics.
Plan plan_from_json(const nlohmann::json& j, const std::string& origin);

nlohmann::json units_to_json(const std::vector<WorkUnit>& units);
// `where` names the list in errors ("plan.json: units"); checks types only (see unit_problems).
std::vector<WorkUnit> units_from_json(const nlohmann::json& units, const std::string& where);

void save_plan_file(const Plan& plan, const std::string& path, const nlohmann::json& meta = nlohmann::json::object());
Plan load_plan_file(const std::string& path);

}  // namespace adaptis
