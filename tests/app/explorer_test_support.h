#pragma once
// What the explorer and GUI view-model tests share: synthetic cost tables and a simulated plan with
// its timeline, built the same way the explorer core builds them; polling a driver as the front ends do.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner.h"
#include "explorer/explorer_driver.h"
#include "explorer/timeline_data.h"

namespace adaptis::explorer::test_support {

// One iteration's sequence lengths given in memory (drawn, not read: no file lines) at `context`, their
// origin as messages and views name it.
inline std::shared_ptr<SequenceLengths> lengths_in_memory(std::vector<long long> lengths, long long context,
                                                          const std::string& origin) {
  auto d = std::make_shared<SequenceLengths>();
  d->lengths = std::move(lengths);
  d->lines.assign(d->lengths.size(), 0);
  d->context = context;
  d->origin = origin;
  return d;
}

// The shape of a synthetic cost table: F time per layer from a rule, B = 2F, W = w_share x F, and the
// same memory sizes for every layer.
struct SyntheticLayers {
  std::string model = "synthetic", source;
  double w_share = 0;
  double state_bytes = 1e9, act_b_bytes = 2e8, out_bytes = 1e7;
};

// `layers` layers named layers.<i> of kind kind_of(i) with F time f_ms(i).
template <typename FMs, typename KindOf>
CostTable synthetic_layers(int layers, FMs f_ms, KindOf kind_of, const SyntheticLayers& shape = {}) {
  CostTable t;
  t.model = shape.model;
  t.source = shape.source;
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.kind = kind_of(i);
    l.f_ms = f_ms(i);
    l.b_ms = 2.0 * l.f_ms;
    l.w_ms = shape.w_share * l.f_ms;
    l.state_bytes = shape.state_bytes;
    l.act_b_bytes = shape.act_b_bytes;
    l.out_bytes = shape.out_bytes;
    t.layers.push_back(l);
  }
  return t;
}

// Layers cycling through three costs (1, 1.5, 2 ms F; B = 2F), every third one "attention".
inline CostTable synthetic_costs(int layers) {
  SyntheticLayers shape;
  shape.act_b_bytes = 1e8;
  shape.out_bytes = 4e7;
  return synthetic_layers(
      layers, [](int i) { return 1.0 + (i % 3) * 0.5; }, [](int i) { return i % 3 == 0 ? "attention" : "mlp"; },
      shape);
}

// Light layers (1 ms F, B = 2F) and a heavy last one (4x): partitions and the layer axis must notice it.
inline CostTable heavy_last_layer_costs(int layers) {
  return synthetic_layers(
      layers, [layers](int i) { return i == layers - 1 ? 4.0 : 1.0; }, [](int) { return "decoder"; });
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

// Polls `driver` for `ex` as a front end does each frame until `done()` (true) or `seconds` passed
// (false: what the test waited for never came).
template <class Done>
bool poll_driver_until(ExplorerDriver& driver, Explorer& ex, Done done, double seconds = 60) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    driver.poll(ex);
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace adaptis::explorer::test_support
