#pragma once
// A plan's per-stage memory policies (Plan::memory) in the settings of the training stacks plans
// are exported to: Megatron-LM's recompute flags and torchtitan's [activation_checkpoint] keys.
// Both stacks apply one setting to every pipeline stage, so per-stage choices are approximated by
// the strongest one present (memory then fits, at the cost of more recompute), and both have no
// way to express activation offload with pipeline parallelism; notes say so.
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

struct RecomputeExport {
  std::vector<std::pair<std::string, std::string>> settings;  // flags (Megatron) or TOML keys (torchtitan)
  std::vector<std::string> notes;  // what cannot be expressed or is approximated
  bool exact = true;               // the settings reproduce the plan's policies
};

// Megatron-LM: nothing for no recompute; --recompute-granularity selective with
// --recompute-modules mlp (moe too when the model has MoE layers) for selective; and
// --recompute-granularity full --recompute-method block --recompute-num-layers N for full, N the
// decoder layers recomputed per stage (the first N of every stage, all of them when N is the
// largest stage). Layer kinds come from `costs` (megatron_layout.h's symbols).
RecomputeExport megatron_recompute_flags(const Plan& plan, const CostTable& costs);

// torchtitan's [activation_checkpoint] section: mode = "none" | "full" | "selective"
// (selective_ac_option = "op" for selective).
RecomputeExport torchtitan_activation_checkpoint(const Plan& plan);
// The section as TOML text, notes as comments.
std::string format_torchtitan_activation_checkpoint(const RecomputeExport& e);

}  // namespace adaptis
