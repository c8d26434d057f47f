// OptimizeOptions::target: the search returns only plans the target runs as planned (plan_target.h),
// deterministically, and the Megatron search's plans are exactly Megatron's own orders.
#include <gtest/gtest.h>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/plan_target.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/validator.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

CostTable profile(const char* name) {
  return load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/" + name + ".json");
}

OptimizeOptions budget(PlanTarget target, long long evaluations = 1500) {
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 8;
  o.time_limit_s = 60;
  o.max_evaluations = evaluations;
  o.threads = 2;
  o.sim.comm_latency_ms = 0;
  o.target = target;
  return o;
}

TEST(OptimizerTargets, EveryTargetGetsAPlanItRunsAndNeverBeatsTheUnconstrainedSearchByMuch) {
  const CostTable costs = profile("gpt-oss-20B");
  const Cluster cluster = make_uniform_cluster(4);
  OptimizeResult native = optimize(costs, cluster, budget(PlanTarget::Adaptis, 4000));
  for (PlanTarget t : {PlanTarget::Torch, PlanTarget::Torchtitan, PlanTarget::Megatron}) {
    SCOPED_TRACE(plan_target_name(t));
    OptimizeResult r = optimize(costs, cluster, budget(t));
    EXPECT_EQ(r.target, t);
    std::string why;
    EXPECT_TRUE(target_can_run(r.best, t, costs, &why)) << why;
    EXPECT_TRUE(r.feasible);
    ValidationReport v = validate_plan(r.best, costs.num_layers());
    EXPECT_TRUE(v.ok()) << v.message();
    SimResult again = simulate(r.best, costs, cluster, budget(t).sim);
    ASSERT_TRUE(again.ok);
    EXPECT_NEAR(again.iteration_ms, r.sim.iteration_ms, 1e-9);
    EXPECT_GE(r.sim.iteration_ms, r.lower_bound.ms - 1e-9);
    // A constrained target is never much faster than the unconstrained search with more budget.
    EXPECT_GE(r.sim.iteration_ms, native.sim.iteration_ms * 0.98) << r.message;
  }
}

TEST(OptimizerTargets, TorchTargetPlansAreRelabelledAndObeyPytorchsRules) {
  const CostTable costs = profile("nemotron-nano-v2-9B");
  OptimizeResult r = optimize(costs, make_uniform_cluster(4), budget(PlanTarget::Torch));
  TorchRulesReport report = check_torch_rules(r.best);
  EXPECT_TRUE(report.ok()) << report.message();
  // Already in PyTorch's order: exporting changes no label.
  std::vector<int> perm = torch_microbatch_relabelling(r.best);
  for (int i = 0; i < r.best.num_microbatches; ++i) EXPECT_EQ(perm[i], i);
}

TEST(OptimizerTargets, TorchtitanTargetKeepsLoopedOrVPlacements) {
  const CostTable costs = profile("deepseek-16B");
  OptimizeResult r = optimize(costs, make_uniform_cluster(4), budget(PlanTarget::Torchtitan));
  const std::string style = torchtitan_placement_style(r.best.placement);
  EXPECT_TRUE(style == "loop" || style == "v") << r.message;
}

TEST(OptimizerTargets, MegatronTargetRunsMegatronsOwnOrderWithAnUnevenLayout) {
  const CostTable costs = profile("nemotron-nano-v2-9B");
  const Cluster cluster = make_uniform_cluster(4);
  OptimizeResult r = optimize(costs, cluster, budget(PlanTarget::Megatron));
  const Plan& plan = r.best;
  ASSERT_EQ(plan.num_stages() % 4, 0);
  const int v = plan.num_stages() / 4;
  EXPECT_EQ(plan.placement.device_stages, looped_placement(4, v).device_stages);
  MegatronExport e = export_megatron(plan, costs);
  ASSERT_TRUE(e.order_matches) << format_megatron_export(e);
  ScheduleOptions so;
  so.devices = 4;
  so.microbatches = 8;
  so.stages_per_device = v;
  so.group_size = e.group_size;
  EXPECT_EQ(generate_schedule(v == 1 ? ScheduleKind::OneFOneB : ScheduleKind::Interleaved1F1B, so).schedule,
            plan.schedule);
  for (const auto& list : plan.schedule)
    for (const Action& a : list) EXPECT_TRUE(a.op == Op::F || a.op == Op::BW) << to_string(a);  // no B/W split
  // The layout round-trips through our own parser with the same layers per stage.
  MegatronLayout back = parse_megatron_layout(e.layout, 4, layer_kinds(costs));
  EXPECT_EQ(back.partition.bounds, plan.partition.bounds);
  // It is at least as good as the best Megatron built-in with a balanced partition it started from.
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.microbatches = 8;
  SimResult one = simulate(build_plan(req, costs.num_layers()), costs, cluster, budget(PlanTarget::Megatron).sim);
  EXPECT_LE(r.sim.iteration_ms, one.iteration_ms + 1e-9);
  EXPECT_NE(r.message.find("Megatron-LM plan"), std::string::npos) << r.message;
}

TEST(OptimizerTargets, DeterministicPerSeedWhateverTheThreadCount) {
  const CostTable costs = profile("gpt-13B");
  for (PlanTarget t : {PlanTarget::Megatron, PlanTarget::Torchtitan}) {
    SCOPED_TRACE(plan_target_name(t));
    OptimizeOptions a = budget(t, 800), b = a;
    b.threads = 1;
    OptimizeResult ra = optimize(costs, make_uniform_cluster(4), a), rb = optimize(costs, make_uniform_cluster(4), b);
    EXPECT_EQ(ra.best.partition.bounds, rb.best.partition.bounds);
    EXPECT_EQ(ra.best.placement.device_stages, rb.best.placement.device_stages);
    EXPECT_EQ(ra.best.schedule, rb.best.schedule);
    EXPECT_EQ(ra.sim.iteration_ms, rb.sim.iteration_ms);
    EXPECT_TRUE(ra.stopped_by == StopReason::Evaluations || ra.stopped_by == StopReason::Complete)
        << stop_reason_name(ra.stopped_by);
    EXPECT_TRUE(ra.reproducible);
  }
}

TEST(OptimizerTargets, MegatronRefusesAModelItCannotSplit) {
  CostTable costs = profile("gpt-13B");
  costs.layers[5].kind = "embedding";  // a second embedding in the middle of the model
  test::expect_input_error([&] { optimize(costs, make_uniform_cluster(4), budget(PlanTarget::Megatron)); },
                           {"target: megatron", "embedding"});
}

TEST(OptimizerTargets, TargetNamesParseAndUnknownOnesAreRefused) {
  for (PlanTarget t : {PlanTarget::Adaptis, PlanTarget::Torch, PlanTarget::Torchtitan, PlanTarget::Megatron})
    EXPECT_EQ(parse_plan_target(plan_target_name(t)), t);
  test::expect_input_error([] { parse_plan_target("deepspeed"); }, {"deepspeed", "adaptis, torch, torchtitan, megatron"});
}

}  // namespace
}  // namespace adaptis
