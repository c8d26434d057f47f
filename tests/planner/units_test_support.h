#pragma once
// Cost tables and units shared by the planner's variable-length tests (units, per-unit checkpointing).
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/unit.h"

namespace adaptis::test {

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
