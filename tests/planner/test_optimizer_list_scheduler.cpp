// The optimizer's building blocks: the list scheduler (its iteration time and peak memory are
// exactly what simulate() computes for the orders it emits; memory caps hold) and the partitioner
// (the balanced partition is optimal; placements are well formed).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/partitioner.h"

using namespace adaptis;
using P = ListSchedulePolicy;

namespace {

CostTable random_costs(std::mt19937_64& rng, int layers, bool split_w) {
  std::uniform_real_distribution<double> t(0.5, 3.0), bytes(1e8, 1e9);
  CostTable c;
  for (int l = 0; l < layers; ++l) {
    LayerCost x;
    x.f_ms = t(rng);
    x.b_ms = 1.5 * x.f_ms + t(rng) * 0.2;
    x.w_ms = split_w ? 0.6 * x.f_ms : 0.0;
    x.state_bytes = bytes(rng) * 4;
    x.act_b_bytes = bytes(rng);
    x.act_w_bytes = split_w ? bytes(rng) / 2 : 0.0;
    x.out_bytes = 5e7;
    c.layers.push_back(x);
  }
  return c;
}

std::vector<P> some_policies() {
  std::vector<P> out;
  for (auto order : {P::Order::BackwardFirst, P::Order::ForwardFirst, P::Order::Alternate})
    for (auto pick : {P::Pick::OldestMicrobatch, P::Pick::FurthestStage, P::Pick::EarliestStage, P::Pick::Grouped}) {
      P p;
      p.order = order;
      p.forward = pick;
      p.backward = pick == P::Pick::Grouped ? pick : P::Pick::EarliestStage;
      out.push_back(p);
    }
  P capped;
  capped.max_inflight = 2;
  out.push_back(capped);
  P jittered;
  jittered.jitter = 2;
  jittered.jitter_seed = 17;
  jittered.improve_passes = 2;
  out.push_back(jittered);
  P live;
  live.reserve_memory = false;
  out.push_back(live);
  return out;
}

}  // namespace

TEST(ListScheduler, SimulatorReproducesTimeAndMemory) {
  std::mt19937_64 rng(5);
  int checked = 0;
  for (int trial = 0; trial < 12; ++trial) {
    const bool split = trial % 2 == 0;
    const int L = 6 + trial % 5, D = 2 + trial % 3, m = 3 + trial % 4;
    CostTable costs = random_costs(rng, L, split);
    Cluster cluster = make_uniform_cluster(D);
    if (trial % 3 == 1) cluster.devices[0].speed = 1.7;
    SimOptions sim;
    sim.comm_latency_ms = trial % 4 == 0 ? 0.0 : 0.05;
    sim.overlap_comm = trial % 5 != 3;
    sim.action_overhead_ms = trial % 2 ? 0.01 : 0.0;
    // A random irregular placement over a random stage count.
    const int S = D + static_cast<int>(rng() % static_cast<uint64_t>(L - D + 1));
    Partition part = balanced_partition(layer_weights(costs), S);
    std::vector<int> sd(S);
    for (int s = 0; s < S; ++s) sd[s] = s < D ? s : static_cast<int>(rng() % static_cast<uint64_t>(D));
    ListScheduleProblem pb;
    pb.microbatches = m;
    pb.num_devices = D;
    pb.stages = stage_costs(costs, part);
    pb.stage_device = sd;
    for (const P& pol : some_policies()) {
      ListScheduler ls;
      ListScheduleResult r = ls.run(pb, cluster, sim, pol, true);
      if (!r.ok) continue;  // a cap that blocks every device is reported, not scheduled
      Plan plan = list_schedule_plan(pb, part, cluster, sim, pol, "ls");
      ValidationReport v = validate_plan(plan, L);
      ASSERT_TRUE(v.ok()) << describe(pol) << "\n" << v.message();
      SimResult s = simulate(plan, costs, cluster, sim);
      ASSERT_TRUE(s.ok) << s.error;
      EXPECT_NEAR(s.iteration_ms, r.iteration_ms, 1e-9) << "trial " << trial << " " << describe(pol);
      for (int d = 0; d < D; ++d)
        EXPECT_NEAR(s.devices[d].peak_memory_bytes, r.peak_bytes[d], 1.0) << "trial " << trial << " device " << d;
      EXPECT_EQ(s.oom, !r.fits_memory);
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(ListScheduler, MemoryCapsHold) {
  std::mt19937_64 rng(9);
  CostTable costs = random_costs(rng, 8, true);
  Cluster cluster = make_uniform_cluster(4);
  SimOptions sim;
  Partition part = balanced_partition(layer_weights(costs), 8);
  ListScheduleProblem pb;
  pb.microbatches = 12;
  pb.num_devices = 4;
  pb.stages = stage_costs(costs, part);
  pb.stage_device = looped_stage_devices(8, 4);
  // Room for the static state plus about three micro-batches of activations on each device.
  double worst_static = 0, worst_mb = 0;
  for (int d = 0; d < 4; ++d) {
    double st = 0, mb = 0;
    for (int s = 0; s < 8; ++s)
      if (pb.stage_device[s] == d) st += pb.stages[s].state_bytes, mb += pb.stages[s].act_b_bytes + pb.stages[s].act_w_bytes;
    worst_static = std::max(worst_static, st);
    worst_mb = std::max(worst_mb, mb);
  }
  for (auto& dev : cluster.devices) dev.memory_limit_bytes = worst_static + 3 * worst_mb;

  P forward_first;  // unconstrained, it would run all 12 forwards first
  forward_first.order = P::Order::ForwardFirst;
  pb.enforce_memory = false;
  ListScheduler ls;
  EXPECT_FALSE(ls.run(pb, cluster, sim, forward_first, false).fits_memory);
  pb.enforce_memory = true;
  ListScheduleResult r = ls.run(pb, cluster, sim, forward_first, false);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.fits_memory);
  for (int d = 0; d < 4; ++d) EXPECT_LE(r.peak_bytes[d], cluster.devices[d].memory_limit());
  forward_first.reserve_memory = false;
  ListScheduleResult live = ls.run(pb, cluster, sim, forward_first, false);
  ASSERT_TRUE(live.ok) << live.error;
  EXPECT_TRUE(live.fits_memory);
}

TEST(ListScheduler, MatchesOneFOneBOnAHomogeneousPipeline) {
  // One stage per device, equal layers: the backward-first list schedule with D micro-batches in
  // flight is exactly 1F1B's ((m + D - 1) * (f + b)).
  CostTable costs;
  for (int l = 0; l < 4; ++l) {
    LayerCost x;
    x.f_ms = 1.0;
    x.b_ms = 2.0;
    costs.layers.push_back(x);
  }
  Cluster cluster = make_uniform_cluster(4);
  SimOptions sim;
  sim.comm_latency_ms = 0;
  ListScheduleProblem pb;
  pb.microbatches = 8;
  pb.num_devices = 4;
  pb.stages = stage_costs(costs, even_partition(4, 4));
  pb.stage_device = {0, 1, 2, 3};
  P p;
  p.max_inflight = 4;
  ListScheduler ls;
  EXPECT_NEAR(ls.run(pb, cluster, sim, p, false).iteration_ms, (8 + 4 - 1) * 3.0, 1e-9);
}

TEST(Partitioner, BalancedPartitionIsOptimal) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> w(0.1, 5.0);
  for (int trial = 0; trial < 20; ++trial) {
    const int L = 4 + trial % 6, S = 2 + trial % 3;
    if (S > L) continue;
    std::vector<double> weights(L), speed(S);
    for (double& x : weights) x = w(rng);
    for (double& x : speed) x = trial % 2 ? w(rng) : 1.0;
    Partition p = balanced_partition(weights, speed);
    ASSERT_EQ(p.num_stages(), S);
    auto cost = [&](const std::vector<int>& b) {
      double q = 0;
      for (int s = 0; s < S; ++s) {
        double t = 0;
        for (int l = b[s]; l < b[s + 1]; ++l) t += weights[l];
        q += (t / speed[s]) * (t / speed[s]);
      }
      return q;
    };
    // Brute force over every set of S-1 cut points.
    double best = std::numeric_limits<double>::infinity();
    std::vector<int> b(S + 1, 0);
    b[S] = L;
    std::function<void(int, int)> rec = [&](int s, int from) {
      if (s == S) {
        best = std::min(best, cost(b));
        return;
      }
      for (int c = from; c <= L - (S - s); ++c) {
        b[s] = c;
        rec(s + 1, c + 1);
      }
    };
    rec(1, 1);
    EXPECT_NEAR(cost(p.bounds), best, 1e-9 * best) << "trial " << trial;
  }
  EXPECT_THROW(balanced_partition(std::vector<double>(3, 1.0), 4), InputError);
  EXPECT_THROW(balanced_partition(std::vector<double>(3, 1.0), std::vector<double>{1.0, 0.0}), InputError);
}

TEST(Partitioner, PlacementsCoverEveryDevice) {
  EXPECT_EQ(looped_stage_devices(6, 3), (std::vector<int>{0, 1, 2, 0, 1, 2}));
  EXPECT_EQ(wave_stage_devices(8, 4), (std::vector<int>{0, 1, 2, 3, 3, 2, 1, 0}));
  // LPT: the heavy stage alone on one device, the light ones share the others.
  std::vector<int> lpt = lpt_stage_devices({1, 1, 1, 1, 1, 1, 6}, {1, 1, 1});
  EXPECT_EQ(std::count(lpt.begin(), lpt.end(), lpt[6]), 1);
  for (int d = 0; d < 3; ++d) EXPECT_GE(std::count(lpt.begin(), lpt.end(), d), 1);
  // Even with zero-weight stages every device gets one.
  std::vector<int> zeros = lpt_stage_devices({0, 0, 0, 0}, {1, 1, 1, 1});
  for (int d = 0; d < 4; ++d) EXPECT_EQ(std::count(zeros.begin(), zeros.end(), d), 1);
}

TEST(Partitioner, DeviceBalancingLowersTheMostLoadedDevice) {
  std::vector<double> w = {3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 8};  // embedding-ish first, head-ish last
  std::vector<int> sd = looped_stage_devices(8, 4);
  Partition p = balanced_partition(w, 8);
  auto max_load = [&](const Partition& q) {
    std::vector<double> load(4, 0.0);
    for (int s = 0; s < 8; ++s)
      for (int l = q.bounds[s]; l < q.bounds[s + 1]; ++l) load[sd[s]] += w[l];
    return *std::max_element(load.begin(), load.end());
  };
  Partition q = p;
  balance_device_loads(w, sd, std::vector<double>(4, 1.0), q);
  EXPECT_LE(max_load(q), max_load(p));
  EXPECT_EQ(q.bounds.front(), 0);
  EXPECT_EQ(q.bounds.back(), 12);
  for (int s = 0; s < 8; ++s) EXPECT_GT(q.bounds[s + 1], q.bounds[s]);
}
