// Recompute and offload in the list scheduler and the optimizer: the list scheduler's orders with R
// and host copies replay in the simulator to the same time and memory; R goes into bubbles ahead
// of B; the optimizer never returns a plan over the cap when one fits, beats every built-in
// schedule with every uniform recompute policy that fits when the cap binds (under an evaluation
// budget), and stays deterministic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/optimizer.h"

using namespace adaptis;

namespace {

// Heterogeneous layers (heavy first and last, alternating middle) with large activations: a
// pipeline of these runs into its memory limit long before it runs out of micro-batches.
CostTable hetero_costs(int layers, bool split_w, double act = 2e9) {
  CostTable c;
  c.model = "hetero-memory";
  for (int l = 0; l < layers; ++l) {
    LayerCost x;
    x.name = "layers." + std::to_string(l);
    x.f_ms = (l % 2 == 0) ? 1.0 : 2.2;
    x.b_ms = 2.0 * x.f_ms;
    if (split_w) x.w_ms = 0.8 * x.f_ms;
    if (l == 0) x.f_ms += 1.5, x.b_ms += 1.0;
    if (l == layers - 1) x.f_ms += 6.0, x.b_ms += 7.0;
    x.state_bytes = 1e9;
    x.param_bytes = 1.25e8;
    x.act_b_bytes = split_w ? 0.6 * act : act;
    x.act_w_bytes = split_w ? 0.4 * act : 0;
    x.out_bytes = 2e7;
    x.kept_full_bytes = 2e7;
    x.kept_selective_bytes = 0.45 * act;
    x.recompute_selective_ms = 0.6 * x.f_ms;
    c.layers.push_back(x);
  }
  return c;
}

SimOptions no_latency() {
  SimOptions o;
  o.comm_latency_ms = 0;
  return o;
}

double max_peak(const SimResult& r) {
  double p = 0;
  for (const auto& d : r.devices) p = std::max(p, d.peak_memory_bytes);
  return p;
}

// Every built-in (its default partition and placement) with every uniform recompute policy: the
// fastest that fits, 0 when none does.
double best_builtin_uniform_ms(const CostTable& costs, const Cluster& cluster, int devices, int m, const SimOptions& sim) {
  double best = 0;
  for (const auto& info : all_schedules())
    for (Recompute rc : {Recompute::None, Recompute::Selective, Recompute::Full}) {
      PlanRequest req;
      req.schedule = info.name;
      req.devices = devices;
      req.microbatches = m;
      try {
        Plan p = build_plan(req, costs.num_layers());
        StageMemoryPolicy pol;
        pol.recompute = rc;
        set_uniform_memory_policy(p, pol);
        SimResult r = simulate(p, costs, cluster, sim);
        if (r.ok && !r.oom && (best == 0 || r.iteration_ms < best)) best = r.iteration_ms;
      } catch (const InputError&) {
      }
    }
  return best;
}

ListScheduleProblem problem_for(const CostTable& costs, const Partition& part, const std::vector<int>& stage_device,
                                int devices, int m, const std::vector<StageMemoryPolicy>& memory) {
  ListScheduleProblem pb;
  pb.microbatches = m;
  pb.num_devices = devices;
  pb.stages = stage_costs(costs, part, memory);
  pb.stage_device = stage_device;
  pb.memory = memory;
  return pb;
}

}  // namespace

// The list scheduler's own timing and memory with R and host copies is what simulate() replays.
TEST(MemoryListScheduler, OrdersReplayExactlyInTheSimulator) {
  using P = ListSchedulePolicy;
  for (bool split : {false, true}) {
    CostTable costs = hetero_costs(16, split, 2e8);
    Cluster cluster = make_uniform_cluster(4);
    for (auto& d : cluster.devices) d.host_link.bandwidth = 20e9;
    const std::vector<int> looped = {0, 1, 2, 3, 0, 1, 2, 3};
    Partition part = even_partition(16, 8);
    int checked = 0;
    for (Recompute rc : {Recompute::None, Recompute::Selective, Recompute::Full})
      for (double off : {0.0, 0.5, 1.0})
        for (P::EarlyRecompute er : {P::EarlyRecompute::JustInTime, P::EarlyRecompute::BeforeW, P::EarlyRecompute::AfterW})
          for (P::Order order : {P::Order::BackwardFirst, P::Order::Alternate}) {
            std::vector<StageMemoryPolicy> mem(8);
            for (int s = 0; s < 8; ++s) {
              mem[s].recompute = s % 3 == 0 ? Recompute::None : rc;  // mixed per stage
              mem[s].offload_fraction = s % 2 == 0 ? off : 0.0;
            }
            ListScheduleProblem pb = problem_for(costs, part, looped, 4, 12, mem);
            P pol;
            pol.order = order;
            pol.recompute = er;
            pol.max_inflight = 5;
            const std::string at = std::string(recompute_name(rc)) + " off " + std::to_string(off) + " " + describe(pol);
            ListScheduler ls;
            ListScheduleResult r = ls.run(pb, cluster, no_latency(), pol, true);
            ASSERT_TRUE(r.ok) << at << ": " << r.error;
            Plan plan = list_schedule_plan(pb, part, cluster, no_latency(), pol, "ls");
            ASSERT_TRUE(validate_plan(plan, 16).ok()) << at << validate_plan(plan, 16).message();
            SimResult sim = simulate(plan, costs, cluster, no_latency());
            ASSERT_TRUE(sim.ok) << at;
            EXPECT_NEAR(sim.iteration_ms, r.iteration_ms, 1e-9) << at;
            for (int d = 0; d < 4; ++d) EXPECT_NEAR(sim.devices[d].peak_memory_bytes, r.peak_bytes[d], 1e-3) << at;
            ++checked;
          }
    EXPECT_EQ(checked, 54);
  }
}

// R in a bubble: with the gradient still on its way, an idle device recomputes and B starts on
// arrival; in time that is never worse than placing R just in time.
TEST(MemoryListScheduler, RecomputeFillsBubblesAheadOfBackward) {
  CostTable costs = hetero_costs(8, false, 1e8);
  Cluster cluster = make_uniform_cluster(4);
  std::vector<StageMemoryPolicy> mem(4);
  for (auto& p : mem) p.recompute = Recompute::Full;
  ListScheduleProblem pb = problem_for(costs, even_partition(8, 4), {0, 1, 2, 3}, 4, 8, mem);
  ListSchedulePolicy jit, early;
  jit.recompute = ListSchedulePolicy::EarlyRecompute::JustInTime;
  early.recompute = ListSchedulePolicy::EarlyRecompute::AfterW;
  ListScheduler ls;
  ListScheduleResult a = ls.run(pb, cluster, no_latency(), jit, true);
  ListScheduleResult b = ls.run(pb, cluster, no_latency(), early, true);
  ASSERT_TRUE(a.ok && b.ok);
  EXPECT_LE(b.iteration_ms, a.iteration_ms + 1e-9);
  // Replayed: some R ran and ended while its B still waited for the next stage's gradient.
  Plan plan = list_schedule_plan(pb, even_partition(8, 4), cluster, no_latency(), early, "early");
  SimResult sim = simulate(plan, costs, cluster, no_latency());
  ASSERT_TRUE(sim.ok);
  int hidden = 0;
  for (const auto& dev : sim.timeline)
    for (const auto& r : dev)
      if (r.action.op == Op::R)
        for (const auto& b : dev)
          if (b.action.op == Op::BW && b.action.stage == r.action.stage && b.action.mb == r.action.mb &&
              b.start > r.end + 1e-9)
            ++hidden;
  EXPECT_GT(hidden, 0);
}

// When a cap binds: never over it when a plan fits, and faster than every built-in with every
// uniform recompute policy that fits.
TEST(MemoryOptimizer, BeatsEveryBuiltinWithEveryUniformPolicyUnderTheCap) {
  for (bool split : {false, true}) {
    CostTable costs = hetero_costs(16, split);
    Cluster cluster = make_uniform_cluster(4);
    const int m = 8;
    // The cap: what the fastest plain 1F1B needs, minus a third of its activations.
    PlanRequest req;
    req.devices = 4;
    req.microbatches = m;
    SimResult plain = simulate(build_plan(req, 16), costs, cluster, no_latency());
    const double cap = max_peak(plain) - 0.33 * plain.devices[0].peak_activation_bytes;
    for (auto& d : cluster.devices) d.memory_limit_bytes = cap;
    ASSERT_TRUE(simulate(build_plan(req, 16), costs, cluster, no_latency()).oom);
    const double baseline = best_builtin_uniform_ms(costs, cluster, 4, m, no_latency());
    ASSERT_GT(baseline, 0) << "some built-in with some uniform policy must fit";

    OptimizeOptions o;
    o.devices = 4;
    o.microbatches = m;
    o.time_limit_s = 120;  // the evaluation budget, not the clock, ends the search
    o.max_evaluations = 12000;
    o.threads = 2;
    o.sim = no_latency();
    o.recompute_choices = {Recompute::None, Recompute::Selective, Recompute::Full};
    OptimizeResult r = optimize(costs, cluster, o);
    ASSERT_TRUE(r.feasible) << r.message;
    EXPECT_FALSE(r.sim.oom);
    EXPECT_LE(max_peak(r.sim), cap * (1 + 1e-12));
    EXPECT_TRUE(r.stopped_by == StopReason::Evaluations || r.stopped_by == StopReason::Complete ||
                r.stopped_by == StopReason::Optimal)
        << stop_reason_name(r.stopped_by);
    EXPECT_LT(r.sim.iteration_ms, baseline * 0.99) << "split=" << split << ": " << r.message;
    SimResult again = simulate(r.best, costs, cluster, no_latency());
    EXPECT_NEAR(again.iteration_ms, r.sim.iteration_ms, 1e-9);
    EXPECT_TRUE(validate_plan(r.best, 16).ok()) << validate_plan(r.best, 16).message();
    // Without the memory dimension the same budget cannot do as well (or fit at all).
    OptimizeOptions off = o;
    off.recompute_choices = {Recompute::None};
    OptimizeResult r0 = optimize(costs, cluster, off);
    if (r0.feasible) {
      EXPECT_LE(r.sim.iteration_ms, r0.sim.iteration_ms + 1e-9) << r0.message;
    }
  }
}

TEST(MemoryOptimizer, NeverOverTheCapWhenOnlyRecomputeFits) {
  // Static state plus one micro-batch's plain activations already exceed the cap on the first
  // device; full recompute keeps only the stage inputs, so plans fit only with it.
  CostTable costs = hetero_costs(8, false, 4e9);
  Cluster cluster = make_uniform_cluster(4);
  for (auto& d : cluster.devices) d.memory_limit_bytes = 2e9 + 4e9 + 0.5e9;
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 8;
  o.time_limit_s = 60;
  o.max_evaluations = 4000;
  o.threads = 2;
  o.sim = no_latency();
  OptimizeResult none = optimize(costs, cluster, o);
  EXPECT_FALSE(none.feasible);
  o.recompute_choices = {Recompute::None, Recompute::Selective, Recompute::Full};
  OptimizeResult r = optimize(costs, cluster, o);
  ASSERT_TRUE(r.feasible) << r.message;
  EXPECT_FALSE(r.sim.oom);
  EXPECT_TRUE(has_memory_policy(r.best));
  // The report says which policy made it fit.
  EXPECT_TRUE(r.message.find("full") != std::string::npos || r.message.find("selective") != std::string::npos)
      << r.message;
}

TEST(MemoryOptimizer, DeterministicPerSeedAndThreadCount) {
  CostTable costs = hetero_costs(12, true);
  Cluster cluster = make_uniform_cluster(4);
  for (auto& d : cluster.devices) d.memory_limit_bytes = 3e9 + 10e9;
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 8;
  o.time_limit_s = 60;
  o.max_evaluations = 3000;
  o.sim = no_latency();
  o.recompute_choices = {Recompute::None, Recompute::Selective, Recompute::Full};
  o.offload_choices = {0.0, 0.5, 1.0};
  o.threads = 1;
  OptimizeResult a = optimize(costs, cluster, o);
  o.threads = 2;
  OptimizeResult b = optimize(costs, cluster, o);
  EXPECT_EQ(a.best.schedule, b.best.schedule);
  EXPECT_EQ(a.best.memory, b.best.memory);
  EXPECT_EQ(a.best.partition.bounds, b.best.partition.bounds);
  EXPECT_DOUBLE_EQ(a.sim.iteration_ms, b.sim.iteration_ms);
}

TEST(MemoryOptimizer, BadMemoryOptionsAreInputErrors) {
  CostTable costs = hetero_costs(8, false);
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 4;
  o.offload_choices = {1.5};
  EXPECT_THROW(optimize(costs, cluster, o), InputError);
  o.offload_choices = {-0.1};
  EXPECT_THROW(optimize(costs, cluster, o), InputError);
  o.offload_choices = {0.5};
  cluster.devices[2].host_link = HostLink{};
  try {
    optimize(costs, cluster, o);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("device 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("host link"), std::string::npos) << e.what();
  }
  CostTable neg = costs;
  neg.layers[3].act_b_bytes = -5;
  o.offload_choices = {0.0};
  EXPECT_THROW(optimize(neg, make_uniform_cluster(4), o), InputError);
}
