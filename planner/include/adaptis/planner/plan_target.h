#pragma once
// Where a plan is meant to run, and whether it can run there as planned:
//   adaptis     our own executor: any partition, placement and per-device order;
//   torch       PyTorch pipelining's runtime loading our schedule CSV: any partition/placement/
//               order that obeys its rules (torch_rules.h), after the micro-batch relabelling;
//   torchtitan  torchtitan with that CSV: also a placement torchtitan can build (looped: stage s
//               on rank s mod p, the same number per rank; or V: two per rank, rank r holding r
//               and 2p-1-r);
//   megatron    Megatron-LM: looped placement, any (uneven) layout, and the order Megatron itself
//               runs: 1F1B with one stage per rank, or interleaved 1F1B with a valid micro-batch
//               group size (full backwards; Megatron does not split B/W).
#include <string>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

enum class PlanTarget { Adaptis, Torch, Torchtitan, Megatron };

const char* plan_target_name(PlanTarget t);  // "adaptis", "torch", "torchtitan", "megatron"
// Throws InputError listing the names when `name` is unknown.
PlanTarget parse_plan_target(const std::string& name);

// torchtitan's placement styles: "loop", "v", or "" when the placement is neither.
std::string torchtitan_placement_style(const Placement& placement);

// Whether `plan` (relabelled for torch targets) runs on `target` exactly as planned. On false,
// `why` (when given) says which rule or constraint fails.
bool target_can_run(const Plan& plan, PlanTarget target, const CostTable& costs, std::string* why = nullptr);

// The plan as it would be handed to `target`: relabelled for the torch targets, unchanged
// otherwise.
Plan plan_for_target(const Plan& plan, PlanTarget target);

}  // namespace adaptis
