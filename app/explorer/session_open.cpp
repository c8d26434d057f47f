#include "explorer/session_open.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/model/parallel_costs.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis::explorer {

Session session_of(const Explorer& ex) {
  Session s;
  s.inputs.costs = ex.config().costs_path;
  s.inputs.model = ex.config().model_path;
  s.inputs.cluster = ex.config().cluster_path;
  const PlanEditor& ed = ex.editor();
  if (ex.has_plan() && !ed.plan().units.empty()) {
    s.inputs.reference_tokens = ed.costs().tokens_per_microbatch;
    s.inputs.reference_pairs = ed.costs().pairs_per_microbatch;
  }
  s.cluster = ed.cluster();
  s.sim = ed.sim_options();
  s.request = ed.request();
  s.custom = ex.has_plan() && ed.state().custom;
  if (ex.has_plan()) s.plan = ed.plan();
  const Comparison& cmp = ex.comparison();
  if ((cmp.kind == CompareKind::Pinned || cmp.kind == CompareKind::Schedule) && cmp.eval) {
    s.compare = cmp.eval->plan;
    s.compare_label = cmp.label;
  }
  s.view_t0 = ex.view().window.t0;
  s.view_t1 = ex.view().window.t1;
  s.runs_db = ex.config().db_path;
  if (LengthsSource l = ex.lengths_on_screen(); l.data) s.lengths = std::move(l);
  return s;
}

CostTable session_costs(const Session& s) {
  if (s.inputs.costs.empty() && s.inputs.model.empty())
    throw InputError("inputs: the session names neither a cost file nor a model spec");
  CostTable costs =
      !s.inputs.costs.empty() ? load_cost_table(s.inputs.costs) : load_model_costs(s.inputs.model, s.cluster);
  // A whole-cluster plan (a cluster-plan row) was simulated with its configuration's per-GPU costs;
  // the saved cluster is its replica, which keeps the whole cluster's topology.
  if (s.custom && s.plan.parallel && s.inputs.costs.empty())
    costs = parallel_costs(load_model_spec(s.inputs.model), s.cluster, *s.plan.parallel);
  // Variable-length units are costed from the reference micro-batch the session had.
  if (s.inputs.reference_tokens > 0 && costs.tokens_per_microbatch <= 0) {
    costs.tokens_per_microbatch = s.inputs.reference_tokens;
    costs.pairs_per_microbatch = s.inputs.reference_pairs;
  }
  return costs;
}

Explorer open_session(const Session& s, const std::string& origin, ExplorerConfig base) {
  CostTable costs;
  try {
    costs = session_costs(s);
  } catch (const InputError& e) {
    throw InputError(origin + ": " + e.what());
  }
  // The session's lengths come back with the processing that made its units, checked by making them
  // again: the Data views show them and re-packing starts from them.
  session_units(s, costs, origin);
  base.costs_path = s.inputs.costs;
  base.model_path = s.inputs.model;
  base.cluster_path = s.inputs.cluster;
  base.costs_label = s.inputs.costs.empty() ? "model " + s.inputs.model : s.inputs.costs;
  if (!s.runs_db.empty()) base.db_path = s.runs_db;
  base.lengths = s.lengths ? *s.lengths : LengthsSource{};
  Explorer fresh(app::Inputs{std::move(costs), s.cluster, s.sim}, std::move(base));
  const EditResult r = s.custom ? fresh.start_with_plan(s.plan, "session " + origin) : fresh.start_with_request(s.request);
  if (!r.applied) throw InputError(origin + ": plan: " + r.message);
  // A plan built from its request keeps its memory policies only in the plan: they are set again, as
  // edits (one undo step when every stage has the same one).
  if (!s.custom && !s.plan.memory.empty() && fresh.editor().plan().memory != s.plan.memory) {
    const std::vector<StageMemoryPolicy>& want = s.plan.memory;
    const bool uniform = std::all_of(want.begin(), want.end(), [&](const StageMemoryPolicy& p) { return p == want[0]; });
    for (int stage = uniform ? -1 : 0; stage < (uniform ? 0 : static_cast<int>(want.size())); ++stage) {
      const StageMemoryPolicy& p = want[static_cast<size_t>(std::max(stage, 0))];
      if (stage >= 0 && stage_memory(fresh.editor().plan(), stage) == p) continue;
      const EditResult m = fresh.set_memory_policy(stage, p);
      if (!m.applied) throw InputError(origin + ": plan.memory: " + m.message);
    }
  }
  if (s.compare) fresh.pin_plan(*s.compare, s.compare_label.empty() ? "pinned" : s.compare_label);
  if (s.view_t1 > s.view_t0) fresh.set_window(s.view_t0, s.view_t1);
  return fresh;
}

}  // namespace adaptis::explorer
