#pragma once
// One plan through the planner: simulated on a cluster with the simulator's options, with the
// lanes the timelines draw and its headline numbers. Immutable once made and shared (undo steps,
// the A and B sides, copies of a view's state), so keeping many of them is cheap.
#include <memory>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"
#include "explorer/memory_view.h"
#include "explorer/plan_summary.h"
#include "explorer/timeline_data.h"

namespace adaptis::explorer {

struct Evaluation {
  Plan plan;
  Cluster cluster;
  SimOptions options;
  std::vector<StageCost> stages;  // with each stage's memory policy applied (kept bytes, R time)
  // Plans with variable-length units: each (stage, unit)'s time and bytes (unit_stage_costs()), what
  // the simulation and the transfer lanes use, so every unit is as long as it costs. Empty otherwise.
  std::vector<UnitStageCost> unit_costs;
  SimResult sim;          // sim.ok: the orders ran to the end (otherwise sim.error says why)
  TimelineData timeline;  // lanes and critical path (empty when !sim.ok)
  PlanSummary summary;
  std::vector<double> memory_limit;  // per device, bytes (the limit the simulation checked)
  MemoryOverview memory;             // per device peak vs cap, OOM, the kept/recomputed/on-host split
  double eval_ms = 0;                // wall time of stage costs + simulation + lanes

  bool ok() const { return sim.ok; }
};

// Simulates `plan` (validated by the caller) with its memory policies and derives its lanes. Throws
// InputError when the plan does not fit the costs or the cluster (a stage that offloads on a device
// without a host link, too); a deadlock comes back as !ok() with the diagnosis.
std::shared_ptr<const Evaluation> evaluate(Plan plan, const CostTable& costs, Cluster cluster, SimOptions options);

// A cluster of `n` devices like `c`: its first n devices, or all of them and copies of the last
// (same kind and node) when it has fewer. Links are kept.
Cluster resized_cluster(const Cluster& c, int n);

}  // namespace adaptis::explorer
