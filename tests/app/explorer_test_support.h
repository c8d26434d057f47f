#pragma once
// What the explorer and GUI view-model tests share: synthetic cost tables and a simulated plan with
// its timeline, built the same way the explorer core builds them.
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "explorer/timeline_data.h"

namespace adaptis::explorer::test_support {

// Layers cycling through three costs (1, 1.5, 2 ms F; B = 2F), every third one "attention".
inline CostTable synthetic_costs(int layers) {
  CostTable t;
  t.model = "synthetic";
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.kind = i % 3 == 0 ? "attention" : "mlp";
    l.f_ms = 1.0 + (i % 3) * 0.5;
    l.b_ms = 2.0 * l.f_ms;
    l.state_bytes = 1e9;
    l.act_b_bytes = 1e8;
    l.out_bytes = 4e7;
    t.layers.push_back(l);
  }
  return t;
}

// Light layers (1 ms F, B = 2F) and a heavy last one (4x): partitions and the layer axis must notice it.
inline CostTable heavy_last_layer_costs(int layers) {
  CostTable t;
  t.model = "synthetic";
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.kind = "decoder";
    l.f_ms = i == layers - 1 ? 4.0 : 1.0;
    l.b_ms = 2.0 * l.f_ms;
    l.state_bytes = 1e9;
    l.act_b_bytes = 2e8;
    l.out_bytes = 1e7;
    t.layers.push_back(l);
  }
  return t;
}

struct BuiltTimeline {
  Plan plan;
  SimResult sim;
  std::vector<StageCost> stages;
  Cluster cluster;
  SimOptions opt;
  TimelineData data;
};

// A built-in schedule on synthetic_costs(layers), uniform devices with the given link, simulated and
// turned into timeline lanes.
inline BuiltTimeline build_timeline_case(const std::string& schedule, int devices, int mbs, int layers,
                                         double latency_ms, double bw) {
  BuiltTimeline b;
  const CostTable costs = synthetic_costs(layers);
  b.cluster = make_uniform_cluster(devices);
  b.cluster.intra_node.latency_ms = latency_ms;
  b.cluster.intra_node.bandwidth = bw;
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = mbs;
  b.plan = build_plan(req, layers);
  b.stages = stage_costs(costs, b.plan.partition);
  b.sim = simulate_stages(b.plan, b.stages, b.cluster, b.opt);
  b.data = build_timeline(b.plan, b.sim, b.stages, b.cluster, b.opt);
  return b;
}

}  // namespace adaptis::explorer::test_support
