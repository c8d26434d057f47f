// The simulator with a parallel configuration: data-parallel gradient sync hidden behind the 1F1B
// cool-down exactly as the closed form says, nothing added with one replica, ZeRO-3 gathers
// delaying compute, ZeRO-2 reducing every micro-batch, blocking collectives inside their actions,
// throughput metrics, plan files carrying the configuration, and memory policies inside one.
#include <gtest/gtest.h>

#include <algorithm>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis {
namespace {

// Per-layer costs: F = 1, BW = 2 ms; each layer's gradient sync over 2 ranks at 1 GB/s takes
// sync_ms[l] (an all-reduce over 2 ranks of S bytes takes S / B).
CostTable costs_with_sync(const std::vector<double>& sync_ms) {
  CostTable t;
  t.model = "toy";
  for (size_t l = 0; l < sync_ms.size(); ++l) {
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.f_ms = 1;
    c.b_ms = 2;
    c.w_ms = 0;
    c.param_bytes = 1e6;
    c.parallel.grad_bytes = sync_ms[l] * 1e6;
    t.layers.push_back(c);
  }
  t.tokens_per_microbatch = 1000;
  t.model_flops_per_microbatch = 1e12;
  return t;
}

// 8 GPUs on one node whose collectives run at 1 GB/s with no latency; no P2P cost.
Cluster slow_node() {
  Cluster c = make_uniform_cluster(8);
  c.intra_node = Link{0, 0};
  c.topology.gpus_per_node = 8;
  c.topology.nodes = 1;
  c.topology.intra_bandwidth = 1e9;
  c.topology.collective_efficiency = 1;
  c.topology.intra_latency_ms = 0;
  return c;
}

Plan one_f_one_b(int p, int m, int dp, bool overlap) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = p;
  req.microbatches = m;
  Plan plan = build_plan(req, p);
  ParallelConfig cfg;
  cfg.pp = p;
  cfg.dp = dp;
  cfg.microbatches = m;
  cfg.global_batch_size = 1LL * m * dp;
  cfg.overlap_grad_reduce = overlap;
  cfg.bucket_params = 1e12;  // one bucket per stage
  plan.parallel = cfg;
  return plan;
}

SimOptions no_latency() {
  SimOptions o;
  o.comm_latency_ms = 0;
  return o;
}

double compute_end(const SimResult& r, int d) {
  double e = 0;
  for (const auto& ta : r.timeline[d]) e = std::max(e, ta.end);
  return e;
}

TEST(ParallelSim, ExposedGradSyncOn1F1BIsTheClosedForm) {
  // 1F1B, p = 4 stages of one layer, uniform BW t_B = 2: stage k's last backward ends k * t_B before
  // the pipeline does, so its sync S_k hides up to k * t_B: exposed = max_k max(0, S_k - k t_B).
  const std::vector<double> sync = {1, 6, 9, 3};
  CostTable costs = costs_with_sync(sync);
  Cluster cl = slow_node();
  Plan plan = one_f_one_b(4, 8, 2, /*overlap=*/false);
  SimResult r = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_TRUE(r.has_parallel);
  const double T = r.parallel.pipeline_ms;
  double expected = 0;
  for (int k = 0; k < 4; ++k) {
    EXPECT_NEAR(T - compute_end(r, k), 2.0 * k, 1e-9) << "stage " << k << " ends k * t_B early";
    expected = std::max(expected, sync[k] - 2.0 * k);
  }
  EXPECT_NEAR(expected, 5.0, 1e-12);  // stage 2 binds; the last stage hides all of its sync
  EXPECT_NEAR(r.parallel.exposed_grad_sync_ms, expected, 1e-9);
  EXPECT_NEAR(r.iteration_ms, T + expected, 1e-9);
  EXPECT_NEAR(r.parallel.device_grad_sync_exposed_ms[3], 3.0, 1e-9);  // its own sync, hidden from the iteration
  // Every gradient-sync record has the right length and starts after its stage's last backward.
  int records = 0;
  for (const auto& c : r.collectives)
    if (c.kind == CollectiveKind::GradSync) {
      ++records;
      EXPECT_NEAR(c.end - c.start, sync[c.stage], 1e-9);
      EXPECT_GE(c.start, compute_end(r, c.device) - 1e-9);
    }
  EXPECT_EQ(records, 4);

  // Launching buckets as gradients complete (overlap) can only hide more.
  Plan overlapped = one_f_one_b(4, 8, 2, /*overlap=*/true);
  overlapped.parallel->bucket_params = 0.25e6;  // ~ a few buckets per stage
  SimResult o = simulate(overlapped, costs, cl, no_latency());
  ASSERT_TRUE(o.ok);
  EXPECT_LT(o.parallel.exposed_grad_sync_ms, expected);
  EXPECT_NEAR(o.parallel.pipeline_ms, T, 1e-9);
}

TEST(ParallelSim, OneReplicaAddsNothing) {
  CostTable costs = costs_with_sync({3, 3, 3, 3});
  Cluster cl = slow_node();
  Plan bare = one_f_one_b(4, 8, 1, false);
  bare.parallel.reset();
  SimResult plain = simulate(bare, costs, cl, no_latency());
  Plan plan = one_f_one_b(4, 8, /*dp=*/1, false);
  SimResult r = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.iteration_ms, plain.iteration_ms);
  EXPECT_DOUBLE_EQ(r.parallel.exposed_grad_sync_ms, 0.0);
  for (const auto& c : r.collectives) EXPECT_NE(c.kind, CollectiveKind::GradSync);
  for (int d = 0; d < 4; ++d) {
    EXPECT_DOUBLE_EQ(r.timeline[d].size(), plain.timeline[d].size());
    for (size_t i = 0; i < plain.timeline[d].size(); ++i) EXPECT_DOUBLE_EQ(r.timeline[d][i].end, plain.timeline[d][i].end);
  }
  // The optimizer step is the only addition, after each device's last action.
  for (auto& l : costs.layers) l.parallel.optimizer_ms = 0.5;
  SimResult step = simulate(plan, costs, cl, no_latency());
  EXPECT_NEAR(step.iteration_ms, plain.iteration_ms + 0.5, 1e-9);
  int optimizer_records = 0;
  for (const auto& c : step.collectives) optimizer_records += c.kind == CollectiveKind::OptimizerStep;
  EXPECT_EQ(optimizer_records, 4);
}

TEST(ParallelSim, ZeroThreeGathersWeightsBeforeEveryForwardAndBackward) {
  CostTable costs = costs_with_sync({0.1, 0.1, 0.1, 0.1});
  for (auto& l : costs.layers) l.parallel.gather_bytes = 0.8e6;  // 0.4 ms all-gather over 2 ranks
  Cluster cl = slow_node();
  Plan plan = one_f_one_b(4, 8, 2, true);
  SimResult z1 = simulate(plan, costs, cl, no_latency());
  plan.parallel->zero = 3;
  SimResult z3 = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(z3.ok);
  EXPECT_GT(z3.parallel.pipeline_ms, z1.parallel.pipeline_ms);  // the first gathers cannot hide
  int gathers = 0;
  for (const auto& c : z3.collectives) {
    if (c.kind != CollectiveKind::ParamGather) continue;
    ++gathers;
    EXPECT_NEAR(c.end - c.start, 0.4, 1e-9);
    // The action it serves starts after it.
    for (const auto& ta : z3.timeline[c.device]) {
      if (ta.action.stage == c.stage && ta.action.mb == c.mb && ta.action.op == c.op) {
        EXPECT_GE(ta.start, c.end - 1e-9);
      }
    }
  }
  EXPECT_EQ(gathers, 4 * 8 * 2);  // every F and every BW
  // ZeRO 2/3 reduce-scatter every micro-batch's gradients (no full gradient is kept).
  int syncs = 0;
  for (const auto& c : z3.collectives) syncs += c.kind == CollectiveKind::GradSync;
  EXPECT_EQ(syncs, 4 * 8);
}

TEST(ParallelSim, BlockingCollectivesSitInsideTheirActionsAndMetricsFollow) {
  CostTable costs = costs_with_sync({1, 1, 1, 1});
  for (auto& l : costs.layers) {
    l.parallel.tp_f_ms = 0.25;
    l.parallel.tp_b_ms = 0.5;
  }
  Cluster cl = slow_node();
  Plan plan = one_f_one_b(4, 8, 2, true);
  plan.parallel->tp = 2;  // 4 stages x tp 2 x dp 2 = 16 GPUs > 8: the cluster is too small
  EXPECT_THROW(simulate(plan, costs, cl, no_latency()), InputError);
  plan.parallel->tp = 1;
  SimResult r = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(r.ok);
  int tp = 0;
  for (const auto& c : r.collectives) {
    if (c.kind != CollectiveKind::TensorParallel) continue;
    ++tp;
    for (const auto& ta : r.timeline[c.device])
      if (ta.action.stage == c.stage && ta.action.mb == c.mb && ta.action.op == c.op) {
        EXPECT_NEAR(c.end, ta.end, 1e-9);
        EXPECT_GE(c.start, ta.start - 1e-9);
      }
  }
  EXPECT_EQ(tp, 4 * 8 * 2);
  EXPECT_NEAR(r.parallel.device_ms[0][static_cast<int>(CollectiveKind::TensorParallel)], 8 * 0.75, 1e-9);
  // Throughput: 1000 tokens x 8 micro-batches x 2 replicas per iteration.
  EXPECT_NEAR(r.parallel.tokens_per_iteration, 16000, 1e-9);
  EXPECT_NEAR(r.parallel.tokens_per_s, 16000 / (r.iteration_ms * 1e-3), 1e-6);
  EXPECT_EQ(r.parallel.gpus, 8);
  EXPECT_NEAR(r.parallel.model_flops_per_gpu, 1e12 * 16 / 8 / (r.iteration_ms * 1e-3), 1);
  EXPECT_NEAR(r.parallel.mfu, r.parallel.model_flops_per_gpu / (cl.devices[0].peak_tflops * 1e12), 1e-12);
  // Off the record, the totals stay.
  SimOptions quiet = no_latency();
  quiet.record_collectives = false;
  SimResult q = simulate(plan, costs, cl, quiet);
  EXPECT_TRUE(q.collectives.empty());
  EXPECT_DOUBLE_EQ(q.iteration_ms, r.iteration_ms);
  EXPECT_DOUBLE_EQ(q.parallel.exposed_comm_ms, r.parallel.exposed_comm_ms);
}

TEST(ParallelSim, PlanFilesCarryTheConfigurationAndTheValidatorChecksIt) {
  Plan plan = one_f_one_b(4, 8, 2, false);
  plan.parallel->zero = 1;
  plan.parallel->distributed_optimizer = true;
  Plan back = plan_from_json(plan_to_json(plan), "mem");
  ASSERT_TRUE(back.parallel.has_value());
  EXPECT_EQ(*back.parallel, *plan.parallel);
  EXPECT_TRUE(validate_plan(back, 4).ok());
  back.parallel->pp = 8;
  ValidationReport v = validate_plan(back, 4);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("parallel.pp"), std::string::npos) << v.message();
  Plan bare = one_f_one_b(4, 8, 2, false);
  bare.parallel.reset();
  EXPECT_FALSE(plan_to_json(bare).contains("parallel"));
}


TEST(ParallelSim, MemoryPoliciesRunInsideAParallelConfiguration) {
  // A plan carrying both dimensions: ZeRO-3 over 2 replicas and full recompute + half offload on
  // every stage. R actions run (and, reading the weights, wait for their own gathers), the host
  // copies happen, and both survive a plan file.
  CostTable costs = costs_with_sync({0.1, 0.1, 0.1, 0.1});
  for (auto& l : costs.layers) {
    l.parallel.gather_bytes = 0.8e6;  // 0.4 ms all-gather over 2 ranks
    l.act_b_bytes = 4e6;
    l.act_w_bytes = 1e6;
    l.out_bytes = 1e6;
  }
  Cluster cl = slow_node();
  Plan plan = one_f_one_b(4, 8, 2, true);
  plan.parallel->zero = 3;
  const SimResult bare = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(bare.ok);
  set_uniform_memory_policy(plan, StageMemoryPolicy{Recompute::Full, 0, 0.5, {}});
  const SimResult both = simulate(plan, costs, cl, no_latency());
  ASSERT_TRUE(both.ok) << both.error;
  ASSERT_TRUE(both.has_parallel);
  int r_actions = 0;
  for (const auto& tl : both.timeline)
    for (const auto& ta : tl) r_actions += ta.action.op == Op::R;
  EXPECT_EQ(r_actions, 4 * 8);
  int gathers = 0, r_gathers = 0;
  for (const auto& c : both.collectives) {
    if (c.kind != CollectiveKind::ParamGather) continue;
    ++gathers;
    r_gathers += c.op == Op::R;
    for (const auto& ta : both.timeline[c.device]) {
      if (ta.action.stage == c.stage && ta.action.mb == c.mb && ta.action.op == c.op) {
        EXPECT_GE(ta.start, c.end - 1e-9);
      }
    }
  }
  EXPECT_EQ(gathers, 4 * 8 * 3);  // every F, R and BW
  EXPECT_EQ(r_gathers, 4 * 8);
  EXPECT_FALSE(both.host_transfers.empty());
  // R adds a forward per micro-batch: the pipeline is longer, and less activation memory peaks.
  EXPECT_GT(both.parallel.pipeline_ms, bare.parallel.pipeline_ms);
  EXPECT_LT(both.devices[0].peak_activation_bytes, bare.devices[0].peak_activation_bytes);
  const Plan back = plan_from_json(plan_to_json(plan), "both");
  ASSERT_TRUE(back.parallel.has_value());
  EXPECT_EQ(*back.parallel, *plan.parallel);
  EXPECT_EQ(back.memory, plan.memory);
  EXPECT_TRUE(validate_plan(back, 4).ok()) << validate_plan(back, 4).message();
}

TEST(ParallelSim, AStageRecomputeOnTopOfTheConfigurationsRecomputeIsRejected) {
  // The configuration's recompute is folded into every layer's costs; a stage policy recomputing
  // again would count the same recomputation twice. Offload alone on top is fine.
  Plan plan = one_f_one_b(4, 8, 2, false);
  plan.parallel->recompute = Recompute::Full;
  set_uniform_memory_policy(plan, StageMemoryPolicy{Recompute::None, 0, 0.5, {}});
  EXPECT_TRUE(validate_plan(plan, 4).ok()) << validate_plan(plan, 4).message();
  plan.memory[2].recompute = Recompute::Selective;
  const ValidationReport v = validate_plan(plan, 4);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("memory: stage 2"), std::string::npos) << v.message();
  EXPECT_NE(v.message().find("parallel.recompute"), std::string::npos) << v.message();
  // Without the configuration's recompute only the stage's own rule remains (it needs R actions).
  plan.parallel->recompute = Recompute::None;
  EXPECT_EQ(validate_plan(plan, 4).message().find("parallel.recompute"), std::string::npos);
}

}  // namespace
}  // namespace adaptis
