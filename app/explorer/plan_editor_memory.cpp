// The plan editor's memory-policy edits: per-stage recompute and offload, "auto" (the weakest
// uniform policy that fits the cap), and keeping the policies when a schedule choice rebuilds the
// orders. The policy rules and R placement are the planner's (memory_policy.h).
#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"
#include "explorer/memory_view.h"
#include "explorer/plan_editor.h"

namespace adaptis::explorer {

namespace {

bool all_default(const std::vector<StageMemoryPolicy>& v) {
  return std::all_of(v.begin(), v.end(), [](const StageMemoryPolicy& p) { return p == StageMemoryPolicy{}; });
}

bool uniform(const std::vector<StageMemoryPolicy>& v) {
  return std::all_of(v.begin(), v.end(), [&](const StageMemoryPolicy& p) { return p == v.front(); });
}

}  // namespace

std::string PlanEditor::carry_memory(Plan& plan) const {
  if (!state_ || !has_memory_policy(this->plan())) return "";
  std::vector<StageMemoryPolicy> cur = this->plan().memory;
  // Re-packed units: a per-unit selection named the old units, so each recomputing stage now covers every
  // unit of the new ones.
  std::string note;
  if (plan.units != this->plan().units)
    for (StageMemoryPolicy& p : cur) {
      if (!p.units.empty()) note = " (per-unit checkpointing now covers every unit: the units changed)";
      p.units.clear();
      p = policy_over_units(p, plan.units);
    }
  try {
    if (static_cast<int>(cur.size()) == plan.num_stages()) {
      set_memory_policy(plan, cur);
      return note;
    }
    if (uniform(cur)) {
      set_uniform_memory_policy(plan, policy_over_units(cur.front(), plan.units));
      return note;
    }
  } catch (const InputError&) {
    // A policy that does not fit the new plan (full_layers past a stage's layers): dropped below.
    set_memory_policy(plan, {});
  }
  return " (per-stage memory policies reset: the plan now has " + std::to_string(plan.num_stages()) + " stages)";
}

EditResult PlanEditor::set_memory_policies(std::vector<StageMemoryPolicy> policies, const std::string& label) {
  if (!state_) return refuse(label + ": no plan");
  if (all_default(policies)) policies.clear();
  Plan next = plan();
  try {
    set_memory_policy(next, std::move(policies));
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  if (next.memory == plan().memory && next.schedule == plan().schedule) return {false, ""};
  return apply(std::move(next), cluster_, options_, state_->request, state_->custom, label);
}

EditResult PlanEditor::auto_memory_policy() {
  const std::string label = "memory auto";
  if (!state_) return refuse(label + ": no plan");
  const std::vector<StageMemoryPolicy>& cur = plan().memory;
  const double offload = !cur.empty() && uniform(cur) ? cur.front().offload_fraction : 0.0;
  const std::vector<StageMemoryPolicy> ladder = auto_memory_ladder(offload);
  Plan chosen;
  std::string what;
  std::string last_error;
  for (size_t i = 0; i < ladder.size(); ++i) {
    Plan p = plan();
    set_uniform_memory_policy(p, policy_over_units(ladder[i], p.units));
    std::shared_ptr<const Evaluation> e;
    try {
      e = evaluate(p, *costs_, cluster_, options_);
    } catch (const InputError& err) {
      last_error = err.what();
      continue;
    }
    if (!e->ok()) {
      last_error = e->sim.error;
      continue;
    }
    chosen = std::move(p);
    if (!e->sim.oom) {
      what = label + ": " + describe(ladder[i]) + " on every stage, the weakest that fits";
      break;
    }
    what = label + ": nothing fits; the strongest, " + describe(ladder[i]) + ", on every stage";
  }
  if (what.empty()) return refuse(label + ": no policy gives a plan: " + last_error);
  if (chosen.memory == plan().memory && chosen.schedule == plan().schedule) return refuse(what + " (already the plan's)");
  return apply(std::move(chosen), cluster_, options_, state_->request, state_->custom, what);
}

}  // namespace adaptis::explorer
