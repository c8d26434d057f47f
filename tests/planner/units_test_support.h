#pragma once
// Cost tables, data and units shared by the planner's variable-length tests (units, per-unit checkpointing,
// the variable-length optimizer).
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/unit.h"
#include "adaptis/planner/units.h"

namespace adaptis::test {

// The list scheduler's plan on 4 uniform devices, one stage each over an even partition of the table's 8
// layers, for `units` (with their slice links) or, when there are none, `microbatches` equal micro-batches;
// and the simulation of that plan, to compare the scheduler's own figures with.
struct ListedAndSimulated {
  ListScheduleResult listed;
  Plan plan;
  SimResult simulated;
};
inline ListedAndSimulated list_schedule_and_simulate(const CostTable& c, const std::vector<WorkUnit>& units,
                                                     int microbatches, bool split_backward) {
  ListScheduleProblem pb;
  pb.microbatches = units.empty() ? microbatches : static_cast<int>(units.size());
  pb.num_devices = 4;
  pb.stage_device = looped_stage_devices(4, 4);
  const Partition part = even_partition(8, 4);
  StageCostCache(c).stages(part.bounds, pb.stages);
  if (!units.empty()) {
    unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs);
    const SliceLinks links = slice_links(units);
    pb.slice_prev = links.prev;
    pb.slice_next = links.next;
  }
  ListSchedulePolicy pol;
  pol.split_backward = split_backward;
  ListedAndSimulated out;
  out.listed = ListScheduler().run(pb, make_uniform_cluster(4), SimOptions{}, pol, true);
  if (!out.listed.ok) return out;
  out.plan = list_schedule_plan(pb, part, make_uniform_cluster(4), SimOptions{}, pol, "ls");
  out.plan.units = units;
  out.simulated = simulate(out.plan, c, make_uniform_cluster(4));
  return out;
}

// Layers whose F time is a token part, a pair part and a fixed part at a reference of 1000 tokens /
// 500000 pairs (one sequence of 1000), B = 2F, no W. Each layer keeps 1000 bytes per reference
// micro-batch (1 per token), 100 of them its input (what full recompute keeps) and 400 under selective
// recompute, which re-runs half of its token part.
inline CostTable split_costs(int layers, double token_ms, double pair_ms, double fixed_ms = 0) {
  CostTable t;
  t.model = "split";
  t.tokens_per_microbatch = 1000;
  t.pairs_per_microbatch = 500000;
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = std::string("l").append(std::to_string(i));
    c.f_ms = token_ms + pair_ms + fixed_ms;
    c.f_pair_ms = pair_ms;
    c.f_fixed_ms = fixed_ms;
    c.b_ms = 2 * c.f_ms;
    c.b_pair_ms = 2 * pair_ms;
    c.b_fixed_ms = 2 * fixed_ms;
    c.act_b_bytes = 1000;
    c.out_bytes = 100;
    c.kept_full_bytes = 100;
    c.kept_selective_bytes = 400;
    c.recompute_selective_ms = 0.5 * token_ms;
    t.layers.push_back(c);
  }
  return t;
}

// F a token part and a pair part at a reference of 1000 tokens, B = 1.5F, W = 0.5F; each layer keeps
// 1 MB per reference micro-batch (10% of it its input, 40% under selective) and holds 4 MB of state.
inline CostTable ckpt_costs(int layers) {
  CostTable t;
  t.model = "ckpt";
  t.tokens_per_microbatch = 1000;
  t.pairs_per_microbatch = 500000;
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = std::string("l").append(std::to_string(i));
    c.f_ms = 1.0 + 0.5 + 0.05;
    c.f_pair_ms = 0.5;
    c.f_fixed_ms = 0.05;
    c.b_ms = 1.5 * c.f_ms;
    c.b_pair_ms = 0.75;
    c.b_fixed_ms = 0.075;
    c.w_ms = 0.5 * c.f_ms;
    c.w_pair_ms = 0.25;
    c.w_fixed_ms = 0.025;
    c.act_b_bytes = 7e5;
    c.act_w_bytes = 3e5;
    c.out_bytes = 1e4;
    c.state_bytes = 4e6;
    c.kept_full_bytes = 1e5;
    c.kept_selective_bytes = 4e5;
    c.recompute_selective_ms = 0.3;
    t.layers.push_back(c);
  }
  return t;
}

// One iteration of skewed document lengths in an 8000-token context.
inline SequenceLengths skewed_lengths() {
  SequenceLengths d;
  d.lengths = {6000, 900, 4000, 500, 3000, 700, 2000, 400, 1500, 600, 1000, 800, 500, 300, 200, 5000};
  d.context = 8000;
  d.origin = "test";
  return d;
}

// Identical devices with `limit_bytes` of usable memory each.
inline Cluster limited(int devices, double limit_bytes) {
  Cluster c = make_uniform_cluster(devices);
  for (auto& d : c.devices) d.memory_limit_bytes = limit_bytes;
  return c;
}

// A unit of whole documents.
inline WorkUnit packed(std::vector<long long> docs) {
  WorkUnit u;
  u.docs = std::move(docs);
  return u;
}

// A plan of `schedule` on `devices` devices over `layers` layers that runs `units`.
inline Plan unit_plan(const std::string& schedule, int devices, const std::vector<WorkUnit>& units, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = devices;
  r.units = units;
  return build_plan(r, layers);
}

}  // namespace adaptis::test
