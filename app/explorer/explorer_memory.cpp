// The explorer core's memory-policy commands: recompute and offload per stage or on every stage,
// and "auto". The editor applies them (plan_editor_memory.cpp); here they get their labels, their
// range checks and the message.
#include <algorithm>

#include "adaptis/planner/memory_policy.h"
#include "common/format.h"
#include "explorer/explorer.h"
#include "explorer/timeline_query.h"

namespace adaptis::explorer {

using app::strf;

template <typename Change>
EditResult Explorer::edit_memory(int stage, const std::string& what, Change change) {
  if (!has_plan()) return after_edit({false, what + ": no valid plan to edit: change schedule, devices or micro-batches"});
  const Plan& plan = editor_.plan();
  const int S = plan.num_stages();
  if (stage < -1 || stage >= S)
    return after_edit({false, strf("%s: stage %d does not exist (stages are 0..%d; -1 = every stage)", what.c_str(),
                                   stage, S - 1)});
  std::vector<StageMemoryPolicy> policies(static_cast<size_t>(S));
  for (int s = 0; s < S; ++s) policies[static_cast<size_t>(s)] = stage_memory(plan, s);
  for (int s = 0; s < S; ++s)
    if (stage < 0 || s == stage) {
      change(policies[static_cast<size_t>(s)]);
      // A unit selection only where the plan has units and the stage recomputes (memory_policy.h).
      policies[static_cast<size_t>(s)] = policy_over_units(policies[static_cast<size_t>(s)], plan.units);
    }
  // The label says what every changed stage now has.
  std::string label = what + ": ";
  if (stage >= 0) label += strf("stage %d ", stage) + describe(policies[static_cast<size_t>(stage)]);
  else if (std::all_of(policies.begin(), policies.end(), [&](const StageMemoryPolicy& p) { return p == policies[0]; }))
    label += describe(policies[0]) + " on every stage";
  else label += describe_memory(policies);
  EditResult r = editor_.set_memory_policies(std::move(policies), label);
  if (!r.applied && r.message.empty()) r.message = label + ": already the plan's";
  return after_edit(r);
}

EditResult Explorer::set_memory_policy(int stage, const StageMemoryPolicy& policy) {
  return edit_memory(stage, "memory", [&](StageMemoryPolicy& p) { p = policy; });
}

EditResult Explorer::cycle_recompute(int stage, int dir) {
  // Every stage steps from the first stage's choice, so mixed stages line up on one policy.
  const Recompute next = next_recompute(memory_policy(stage < 0 ? 0 : stage).recompute, dir);
  return edit_memory(stage, "recompute", [&](StageMemoryPolicy& p) {
    p.recompute = next;
    p.full_layers = 0;
  });
}

EditResult Explorer::step_offload(int stage, int dir) {
  return edit_memory(stage, "offload",
                     [&](StageMemoryPolicy& p) { p.offload_fraction = step_offload_fraction(p.offload_fraction, dir); });
}

EditResult Explorer::set_recompute(int stage, Recompute r) {
  return edit_memory(stage, "recompute", [&](StageMemoryPolicy& p) {
    if (p.recompute != r) p.full_layers = 0;
    p.recompute = r;
  });
}

EditResult Explorer::set_offload(int stage, double fraction) {
  if (!(fraction >= 0 && fraction <= 1))
    return after_edit({false, strf("offload %g: the fraction of kept activations must be in [0, 1]", fraction)});
  return edit_memory(stage, "offload", [&](StageMemoryPolicy& p) { p.offload_fraction = fraction; });
}

EditResult Explorer::toggle_unit_recompute() {
  const std::string what = "checkpoint unit";
  if (!has_plan()) return after_edit({false, what + ": no valid plan to edit"});
  const TimelineBox* b = selected_box();
  if (b == nullptr || view_.selected.lane != LaneKind::Compute || view_.selected.idle)
    return after_edit({false, what + ": select an action of the unit on the stage first"});
  const Plan& plan = editor_.plan();
  if (plan.units.empty())
    return after_edit({false, what + ": the plan has no variable-length units (start with --lengths FILE|DIST); "
                                     "recompute whole stages instead"});
  const int stage = b->stage, unit = b->mb;
  StageMemoryPolicy p = stage_memory(plan, stage);
  const bool now = recomputes_unit(p, unit);
  if (!recomputes(p)) {
    p.recompute = Recompute::Full;
    p.full_layers = 0;
    p.units = {unit};
  } else {
    if (p.units.empty()) {  // every unit, spelled out
      p.units.resize(plan.units.size());
      for (size_t u = 0; u < p.units.size(); ++u) p.units[u] = static_cast<int>(u);
    }
    if (now) p.units.erase(std::find(p.units.begin(), p.units.end(), unit));
    else p.units.insert(std::upper_bound(p.units.begin(), p.units.end(), unit), unit);
    if (p.units.empty()) p = StageMemoryPolicy{Recompute::None, 0, p.offload_fraction, {}};
    else if (p.units.size() == plan.units.size()) p.units.clear();
  }
  const std::string label = strf("%s: stage %d %s unit %d (%s)", what.c_str(), stage,
                                 now ? "keeps" : "recomputes", unit, describe(p).c_str());
  const Op op = b->op;
  EditResult r = edit_memory(stage, label, [&](StageMemoryPolicy& q) { q = p; });
  // The edit re-simulated and cleared the selection; the same action stays selected so the key toggles back.
  if (r.applied && has_plan()) {
    const PathStep w = editor_.eval().timeline.locate(op, stage, unit);
    if (w.device >= 0) select(pick_of(0, w));
  }
  return r;
}

EditResult Explorer::auto_memory_policy() {
  if (!has_plan()) return after_edit({false, "memory auto: no valid plan to edit"});
  return after_edit(editor_.auto_memory_policy());
}

StageMemoryPolicy Explorer::memory_policy(int stage) const {
  if (!has_plan() || stage < 0 || stage >= editor_.plan().num_stages()) return {};
  return stage_memory(editor_.plan(), stage);
}

const MemoryOverview& Explorer::memory() const {
  static const MemoryOverview kNone;
  return has_plan() ? editor_.eval().memory : kNone;
}

}  // namespace adaptis::explorer
