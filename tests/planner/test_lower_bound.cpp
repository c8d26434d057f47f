// iteration_lower_bound (planner/lower_bound.h): never above the simulated time of any plan, exact
// where the answer is known by hand, and reached by the optimizer where a plan can reach it (which
// then stops early, as "optimal").
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"

using namespace adaptis;

namespace {

CostTable layers_of(const std::vector<std::array<double, 3>>& fbw) {
  CostTable c;
  c.model = "bound-test";
  for (size_t l = 0; l < fbw.size(); ++l) {
    LayerCost x;
    x.name = "layers." + std::to_string(l);
    x.f_ms = fbw[l][0];
    x.b_ms = fbw[l][1];
    x.w_ms = fbw[l][2];
    x.state_bytes = 1e6;
    x.act_b_bytes = 1e6;
    x.out_bytes = 1e3;
    c.layers.push_back(x);
  }
  return c;
}

// Every built-in schedule, simulated (its default partition and placement).
void expect_below_every_builtin(const CostTable& costs, const Cluster& cluster, int devices, int mb,
                                const SimOptions& sim) {
  const IterationLowerBound b = iteration_lower_bound(costs, cluster, devices, mb, sim);
  ASSERT_GT(b.ms, 0);
  int simulated = 0;
  for (const auto& info : all_schedules()) {
    PlanRequest req;
    req.schedule = info.name;
    req.devices = devices;
    req.microbatches = mb;
    Plan p;
    try {
      p = build_plan(req, costs.num_layers());
    } catch (const InputError&) {
      continue;  // not applicable to this input
    }
    SimResult r = simulate(p, costs, cluster, sim);
    ASSERT_TRUE(r.ok) << info.name << ": " << r.error;
    EXPECT_GE(r.iteration_ms, b.ms - 1e-9) << info.name << " beats the 'lower bound' (" << b.binding << ")";
    ++simulated;
  }
  EXPECT_GE(simulated, 5);
}

}  // namespace

TEST(LowerBound, NeverAboveAnyBuiltInSchedule) {
  std::vector<std::array<double, 3>> hetero;
  for (int l = 0; l < 16; ++l) hetero.push_back({l % 3 == 0 ? 2.0 : 1.0, l % 3 == 0 ? 4.0 : 2.0, 1.0});
  hetero.back() = {9.0, 8.0, 6.0};  // a heavy LM head
  CostTable split = layers_of(hetero);
  CostTable fused = split;
  for (auto& l : fused.layers) l.b_ms += l.w_ms, l.w_ms = 0;
  SimOptions sim;
  sim.comm_latency_ms = 0;
  for (int d : {2, 4})
    for (int mb : {4, 8}) {
      expect_below_every_builtin(split, make_uniform_cluster(d), d, mb, sim);
      expect_below_every_builtin(fused, make_uniform_cluster(d), d, mb, sim);
    }
  sim.pair_overlap = 0.5;  // DualPipe pairs hide work: the bound shrinks with them
  expect_below_every_builtin(split, make_uniform_cluster(4), 4, 8, sim);
  const CostTable peer = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json");
  sim = {};
  sim.comm_latency_ms = 0;
  expect_below_every_builtin(peer, make_uniform_cluster(4), 4, 8, sim);
}

TEST(LowerBound, ExactOnOneDevice) {
  CostTable c = layers_of({{1, 2, 0.5}, {3, 1, 1}, {2, 2, 2}});
  const IterationLowerBound b = iteration_lower_bound(c, make_uniform_cluster(1), 1, 4);
  EXPECT_DOUBLE_EQ(b.ms, 4 * 14.5);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 1;
  req.microbatches = 4;
  SimOptions sim;
  sim.comm_latency_ms = 0;
  EXPECT_NEAR(simulate(build_plan(req, 3), c, make_uniform_cluster(1), sim).iteration_ms, b.ms, 1e-9);
}

TEST(LowerBound, EachPartBindsWhereItShould) {
  // Three equal layers on two devices: some device holds two of them.
  CostTable three = layers_of({{1, 1, 1}, {1, 1, 1}, {1, 1, 1}});
  IterationLowerBound b = iteration_lower_bound(three, make_uniform_cluster(2), 2, 10);
  EXPECT_EQ(b.binding, "bins");
  EXPECT_DOUBLE_EQ(b.bins_ms, 2 * 3 * 10);

  // A heavy last layer: its device waits for the forward to reach it, then runs it 8 times.
  CostTable head = layers_of({{1, 1, 0}, {1, 1, 0}, {1, 1, 0}, {10, 10, 0}});
  b = iteration_lower_bound(head, make_uniform_cluster(4), 4, 8);
  EXPECT_EQ(b.binding, "chain");
  EXPECT_EQ(b.chain_layer, 3);
  EXPECT_DOUBLE_EQ(b.chain_ms, 3 + 8 * 20 + 3);  // + the backward of layers 2..0 of the last micro-batch

  // Many light equal layers: the work spread evenly plus the warm-up ramp.
  CostTable flat = layers_of(std::vector<std::array<double, 3>>(32, {1, 1, 1}));
  b = iteration_lower_bound(flat, make_uniform_cluster(4), 4, 16);
  EXPECT_EQ(b.binding, "work");
  EXPECT_DOUBLE_EQ(b.work_ms, (32 * 3 * 16 + 1 * (3 + 2 + 1)) / 4.0);

  // A device twice as fast takes twice the share of the work.
  Cluster mixed = make_uniform_cluster(2);
  mixed.devices[1].speed = 2.0;
  b = iteration_lower_bound(flat, mixed, 2, 16);
  EXPECT_GT(b.work_ms, 32 * 3 * 16 / 3.0);
  EXPECT_LT(b.work_ms, 32 * 3 * 16 / 2.0);
}

TEST(LowerBound, OptimizerStopsWhenAPlanReachesIt) {
  // The heavy-last-layer model: the chain bound is reachable (the LM head's device never idles
  // once micro-batch 0 reaches it), so the search may stop as soon as it finds such a plan.
  CostTable head = layers_of({{1, 1, 0}, {1, 1, 0}, {1, 1, 0}, {10, 10, 0}});
  for (auto& l : head.layers) l.out_bytes = 0;  // no transfer time at all: the bound is exact
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 8;
  o.time_limit_s = 600;        // never binding: the evaluation budget is the deterministic limit
  o.max_evaluations = 200000;  // far more than the search needs to reach the bound
  o.threads = 2;
  o.sim.comm_latency_ms = 0;
  OptimizeResult r = optimize(head, cluster, o);
  ASSERT_TRUE(r.feasible);
  EXPECT_NEAR(r.sim.iteration_ms, r.lower_bound.ms, 1e-9);
  EXPECT_EQ(r.stopped_by, StopReason::Optimal) << r.message;
  EXPECT_NE(r.message.find("optimal: equals the lower bound"), std::string::npos) << r.message;
  // It stopped at the bound, before running its course or its budget.
  EXPECT_LT(r.search_evaluations, o.max_evaluations) << r.message;
}

TEST(LowerBound, BadArgumentsThrow) {
  CostTable c = layers_of({{1, 1, 1}});
  EXPECT_THROW(iteration_lower_bound(c, make_uniform_cluster(2), 3, 4), InputError);
  EXPECT_THROW(iteration_lower_bound(c, make_uniform_cluster(2), 0, 4), InputError);
  EXPECT_THROW(iteration_lower_bound(c, make_uniform_cluster(2), 2, 0), InputError);
}
