#include "adaptis/planner/plan_target.h"

#include "adaptis/model/error.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/torch_rules.h"

namespace adaptis {

const char* plan_target_name(PlanTarget t) {
  switch (t) {
    case PlanTarget::Adaptis: return "adaptis";
    case PlanTarget::Torch: return "torch";
    case PlanTarget::Torchtitan: return "torchtitan";
    case PlanTarget::Megatron: return "megatron";
  }
  return "?";
}

PlanTarget parse_plan_target(const std::string& name) {
  for (PlanTarget t : {PlanTarget::Adaptis, PlanTarget::Torch, PlanTarget::Torchtitan, PlanTarget::Megatron})
    if (name == plan_target_name(t)) return t;
  throw InputError("target", "unknown target '" + name + "' (choose from: adaptis, torch, torchtitan, megatron)");
}

std::string torchtitan_placement_style(const Placement& placement) {
  const int p = placement.num_devices();
  if (p < 1) return "";
  const int S = placement.num_stages();
  if (S % p != 0) return "";
  const int v = S / p;
  bool loop = true, vee = v == 2;
  for (int d = 0; d < p; ++d) {
    const auto& st = placement.device_stages[d];
    if (static_cast<int>(st.size()) != v) return "";
    for (int k = 0; k < v; ++k) loop = loop && st[k] == d + k * p;
    vee = vee && st[0] == d && st[1] == 2 * p - 1 - d;
  }
  return loop ? "loop" : vee ? "v" : "";
}

bool target_can_run(const Plan& plan, PlanTarget target, const CostTable& costs, std::string* why) {
  auto fail = [&](const std::string& w) {
    if (why) *why = w;
    return false;
  };
  switch (target) {
    case PlanTarget::Adaptis: return true;
    case PlanTarget::Torchtitan:
      if (torchtitan_placement_style(plan.placement).empty())
        return fail("torchtitan builds only looped placements (stage s on rank s mod p, the same number per rank) "
                    "or V placements (rank r holds r and 2p-1-r)");
      [[fallthrough]];
    case PlanTarget::Torch: {
      TorchRulesReport r = check_torch_rules(relabel_for_torch(plan));
      return r.ok() ? true : fail(r.message(1));
    }
    case PlanTarget::Megatron: {
      try {
        MegatronExport e = export_megatron(plan, costs);
        if (!e.order_matches)
          return fail("the per-device order is not Megatron's own (1F1B, or interleaved 1F1B with a valid micro-batch "
                      "group size)");
        return true;
      } catch (const InputError& e) {
        return fail(e.what());
      }
    }
  }
  return true;
}

Plan plan_for_target(const Plan& plan, PlanTarget target) {
  return target == PlanTarget::Torch || target == PlanTarget::Torchtitan ? relabel_for_torch(plan) : plan;
}

}  // namespace adaptis
