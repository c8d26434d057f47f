// The explorer session core driven through its commands alone, without a window, a terminal, a
// thread or a child process: edits re-simulate (refusals become the message), undo walks back
// through them, B follows the plan (A - B, B's speed-up of A), the optimizer and a run are
// requested as effects and land through on_* as one undo step, and a second start is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaptis/planner.h"
#include "explorer/explorer.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

// Uneven layers, so partitions and schedules give different iteration times.
CostTable uneven_costs(int layers = 12) {
  test_support::SyntheticLayers shape;
  shape.model = "uneven";
  shape.source = "test";
  shape.w_share = 0.5;
  shape.state_bytes = 1e6;
  shape.act_b_bytes = 1e5;
  shape.out_bytes = 1e3;
  return test_support::synthetic_layers(
      layers, [](int i) { return 1.0 + 0.5 * (i % 4); }, [](int) { return ""; }, shape);
}

Explorer make_explorer(ExplorerConfig cfg = {}, int cluster_devices = 8) {
  Explorer ex(app::Inputs{uneven_costs(), make_uniform_cluster(cluster_devices), SimOptions{}}, std::move(cfg));
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.microbatches = 8;
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

size_t count(const std::vector<Effect>& effects, EffectKind k) {
  return static_cast<size_t>(std::count_if(effects.begin(), effects.end(), [&](const Effect& e) { return e.kind == k; }));
}

// The iteration time of the plan on screen, simulated afresh (not the core's cached numbers).
double resimulated_ms(const Explorer& ex) {
  return simulate(ex.editor().plan(), ex.editor().costs(), ex.editor().cluster(), ex.editor().sim_options()).iteration_ms;
}

}  // namespace

TEST(ExplorerSession, EditsResimulateAndRefusalsAreTheMessage) {
  Explorer ex = make_explorer();
  ASSERT_TRUE(ex.has_plan());
  const double start = ex.editor().sim().iteration_ms;
  EXPECT_NEAR(start, resimulated_ms(ex), 1e-9);
  const uint64_t rev = ex.revision();

  ASSERT_TRUE(ex.set_microbatches(16).applied) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().num_microbatches, 16);
  EXPECT_GT(ex.revision(), rev);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, resimulated_ms(ex), 1e-9);
  EXPECT_GT(ex.editor().sim().iteration_ms, start) << "twice the micro-batches must take longer";
  EXPECT_FALSE(ex.message().error) << ex.message().text;

  ASSERT_TRUE(ex.set_devices(2).applied) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().num_devices(), 2);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, resimulated_ms(ex), 1e-9);

  // A move that would empty a stage is refused: the plan stays, the message says why.
  const Plan before = ex.editor().plan();
  const EditResult r = ex.move_boundary(1, 0);
  EXPECT_FALSE(r.applied);
  EXPECT_TRUE(ex.message().error);
  EXPECT_FALSE(ex.message().text.empty());
  EXPECT_EQ(ex.editor().plan().partition.bounds, before.partition.bounds);

  // A nudge moves one layer and re-simulates.
  ASSERT_TRUE(ex.nudge_boundary(1, +1).applied) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().partition.bounds[1], before.partition.bounds[1] + 1);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, resimulated_ms(ex), 1e-9);
}

TEST(ExplorerSession, UndoAndRedoWalkBackThroughEdits) {
  Explorer ex = make_explorer();
  const double t0 = ex.editor().sim().iteration_ms;
  const std::vector<int> bounds0 = ex.editor().plan().partition.bounds;
  ASSERT_TRUE(ex.set_microbatches(12).applied);
  const double t1 = ex.editor().sim().iteration_ms;
  ASSERT_TRUE(ex.nudge_boundary(2, -1).applied) << ex.message().text;
  const std::vector<int> bounds2 = ex.editor().plan().partition.bounds;

  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().num_microbatches, 12);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, t1, 1e-9);
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().num_microbatches, 8);
  EXPECT_EQ(ex.editor().plan().partition.bounds, bounds0);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, t0, 1e-9);
  // Loading the first plan is not an undo step.
  EXPECT_FALSE(ex.undo());
  EXPECT_TRUE(ex.message().error);

  ASSERT_TRUE(ex.redo());
  ASSERT_TRUE(ex.redo());
  EXPECT_EQ(ex.editor().plan().partition.bounds, bounds2);
  EXPECT_FALSE(ex.redo());

  // go_to_history jumps several steps at once.
  ex.go_to_history(2);
  EXPECT_EQ(ex.editor().plan().num_microbatches, 8);
  ex.go_to_history(-1);
  EXPECT_EQ(ex.editor().plan().num_microbatches, 12);
}

TEST(ExplorerSession, APinnedPlanIsBAndTheDifferenceIsAMinusB) {
  Explorer ex = make_explorer();
  EXPECT_FALSE(ex.comparing());
  EXPECT_FALSE(ex.ab().comparable);
  ex.pin_current();
  ASSERT_TRUE(ex.comparing());
  const double b_ms = ex.side(1).summary.iteration_ms;
  ASSERT_GT(b_ms, 0);

  // More micro-batches: A gets slower than the pinned B.
  ASSERT_TRUE(ex.set_microbatches(16).applied);
  AbComparison ab = ex.ab();
  ASSERT_TRUE(ab.comparable) << ab.why_not;
  EXPECT_NEAR(ab.b.iteration_ms, b_ms, 1e-9) << "B must stay the pinned plan";
  EXPECT_NEAR(ab.a.iteration_ms, ex.editor().sim().iteration_ms, 1e-9);
  EXPECT_NEAR(ab.d.iteration_ms, ab.a.iteration_ms - ab.b.iteration_ms, 1e-9);
  EXPECT_GT(ab.d.iteration_ms, 0);
  EXPECT_NEAR(ab.d.speedup, ab.b.iteration_ms / ab.a.iteration_ms, 1e-9);
  EXPECT_LT(ab.d.speedup, 1);

  ex.clear_compare();
  EXPECT_FALSE(ex.comparing());
  EXPECT_TRUE(ex.side(1).empty());
}

TEST(ExplorerSession, AComparedScheduleFollowsTheDevicesAndMicrobatches) {
  Explorer ex = make_explorer();
  ASSERT_TRUE(ex.compare_with_schedule("gpipe").applied) << ex.message().text;
  ASSERT_NE(ex.side(1).plan(), nullptr);
  EXPECT_EQ(ex.side(1).plan()->num_devices(), 4);
  ASSERT_TRUE(ex.set_devices(2).applied);
  ASSERT_TRUE(ex.set_microbatches(6).applied);
  ASSERT_NE(ex.side(1).plan(), nullptr) << ex.side(1).label;
  EXPECT_EQ(ex.side(1).plan()->num_devices(), 2);
  EXPECT_EQ(ex.side(1).plan()->num_microbatches, 6);
  const AbComparison ab = ex.ab();
  ASSERT_TRUE(ab.comparable) << ab.why_not;
  // GPipe's B is recomputed on the same input: the same numbers as simulating it here.
  PlanRequest req;
  req.schedule = "gpipe";
  req.devices = 2;
  req.microbatches = 6;
  const SimResult gpipe = simulate(build_plan(req, ex.editor().costs().num_layers()), ex.editor().costs(),
                                   ex.editor().cluster(), ex.editor().sim_options());
  EXPECT_NEAR(ab.b.iteration_ms, gpipe.iteration_ms, 1e-9);

  // An unknown schedule is refused and B stays.
  EXPECT_FALSE(ex.compare_with_schedule("no-such-schedule").applied);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("no-such-schedule"), std::string::npos) << ex.message().text;
  EXPECT_EQ(ex.comparison().schedule, "gpipe");
}

TEST(ExplorerSession, TheOptimizerIsAnEffectAndItsPlanLandsAsOneUndoStep) {
  ExplorerConfig cfg;
  cfg.optimizer.max_evaluations = 300;
  cfg.optimizer.time_limit_s = 60;
  cfg.optimizer.threads = 1;
  Explorer ex = make_explorer(cfg);
  const Plan start = ex.editor().plan();
  const double start_ms = ex.editor().sim().iteration_ms;
  ex.take_effects();

  ex.start_optimizer();
  std::vector<Effect> effects = ex.take_effects();
  ASSERT_EQ(count(effects, EffectKind::StartOptimizer), 1u);
  const OptimizerState& o = ex.optimizer();
  EXPECT_EQ(o.state, JobState::Running);
  // The search is for the plan on screen: its devices and micro-batches, its simulator options.
  EXPECT_EQ(o.options.devices, 4);
  EXPECT_EQ(o.options.microbatches, 8);
  EXPECT_EQ(o.options.max_evaluations, 300);
  EXPECT_NEAR(o.start_ms, start_ms, 1e-9);
  EXPECT_GT(o.bound_ms, 0);
  EXPECT_LE(o.bound_ms, start_ms + 1e-9);

  // One search at a time.
  ex.start_optimizer();
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(count(ex.take_effects(), EffectKind::StartOptimizer), 0u);
  ex.cancel_optimizer();
  EXPECT_EQ(count(ex.take_effects(), EffectKind::CancelOptimizer), 1u);

  // The driver runs the search (here synchronously) and reports its outcome.
  OptimizerJob::Outcome out;
  out.how = JobState::Done;
  out.result = optimize(ex.editor().costs(), ex.editor().cluster(), o.options);
  ASSERT_TRUE(out.result->sim.ok);
  ex.on_optimizer_finished(out);
  EXPECT_EQ(ex.optimizer().state, JobState::Done);
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_NEAR(ex.editor().sim().iteration_ms, out.result->sim.iteration_ms, 1e-9);
  EXPECT_LE(ex.editor().sim().iteration_ms, start_ms + 1e-9) << "the optimizer starts from the built-ins";
  EXPECT_TRUE(ex.editor().state().custom);
  // The optimized plan joins the schedule table.
  const auto table = ex.schedule_table();
  EXPECT_TRUE(std::any_of(table->begin(), table->end(), [](const app::CompareRow& r) { return r.name == "optimized"; }));

  // One undo step back to the plan before the search.
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().partition.bounds, start.partition.bounds);
  EXPECT_NEAR(ex.editor().sim().iteration_ms, start_ms, 1e-9);

  // A failed search is the message and leaves the plan alone.
  ex.start_optimizer();
  ex.take_effects();
  OptimizerJob::Outcome failed;
  failed.how = JobState::Failed;
  failed.error = "devices: 9 is more than the cluster's 8\nsecond line";
  ex.on_optimizer_finished(failed);
  EXPECT_EQ(ex.optimizer().state, JobState::Failed);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("devices: 9"), std::string::npos) << ex.message().text;
  EXPECT_EQ(ex.message().text.find("second line"), std::string::npos) << "the status shows the first line only";
  EXPECT_NEAR(ex.editor().sim().iteration_ms, start_ms, 1e-9);
}

TEST(ExplorerSession, ARunIsLaunchedAsAnEffectOneAtATime) {
  // Without a model spec there is nothing to execute: refused with the reason, no effect.
  Explorer costs_only = make_explorer();
  costs_only.take_effects();
  EXPECT_FALSE(costs_only.launch_blocker().empty());
  costs_only.launch_run();
  EXPECT_TRUE(costs_only.message().error);
  EXPECT_NE(costs_only.message().text.find("model spec"), std::string::npos) << costs_only.message().text;
  EXPECT_EQ(count(costs_only.take_effects(), EffectKind::LaunchRun), 0u);

  ExplorerConfig cfg;
  cfg.model_path = "/models/uneven.json";
  cfg.db_path = "/tmp/unused-runs.db";
  Explorer ex = make_explorer(cfg);
  ex.take_effects();
  EXPECT_EQ(ex.launch_blocker(), "");
  ex.launch_run();
  std::vector<Effect> effects = ex.take_effects();
  ASSERT_EQ(count(effects, EffectKind::LaunchRun), 1u);
  const Effect& launch = effects.front();
  ASSERT_TRUE(launch.plan);
  // The effect carries the plan as it was when asked, whatever is edited meanwhile.
  const double asked_ms = launch.plan->sim.iteration_ms;
  EXPECT_NEAR(asked_ms, ex.editor().sim().iteration_ms, 1e-12);
  ASSERT_TRUE(ex.set_microbatches(16).applied);
  EXPECT_NEAR(launch.plan->sim.iteration_ms, asked_ms, 1e-12);
  EXPECT_EQ(launch.plan->plan.num_microbatches, 8);

  LaunchedRun run;
  run.pid = 4242;
  run.running = true;
  run.command = "adaptis run ...";
  run.log_path = "/tmp/run1.log";
  ex.on_launched(run);
  EXPECT_TRUE(ex.launched().running);
  EXPECT_NE(ex.message().text.find("4242"), std::string::npos) << ex.message().text;
  // A second run waits for the first.
  EXPECT_NE(ex.launch_blocker().find("already in progress"), std::string::npos) << ex.launch_blocker();
  ex.launch_run();
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(count(ex.take_effects(), EffectKind::LaunchRun), 0u);
  ex.stop_run();
  EXPECT_EQ(count(ex.take_effects(), EffectKind::StopRun), 1u);

  // Its end is reported once, as an error when it failed.
  run.running = false;
  run.exit_status = 3;
  ex.on_launched(run);
  EXPECT_FALSE(ex.launched().running);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("exit status 3"), std::string::npos) << ex.message().text;
  EXPECT_EQ(ex.launch_blocker(), "");
  ex.stop_run();  // nothing running: nothing to stop
  EXPECT_EQ(count(ex.take_effects(), EffectKind::StopRun), 0u);
}

TEST(ExplorerSession, SavingIsAnEffectWithThePlanAndTheReplyIsTheMessage) {
  ExplorerConfig cfg;
  cfg.plan_out = "default-plan.json";
  Explorer ex = make_explorer(cfg);
  ex.take_effects();
  ex.save_plan();
  std::vector<Effect> effects = ex.take_effects();
  ASSERT_EQ(count(effects, EffectKind::SavePlan), 1u);
  EXPECT_EQ(effects.front().path, "default-plan.json");
  ASSERT_TRUE(effects.front().plan);
  EXPECT_EQ(effects.front().plan->plan.num_devices(), 4);
  ex.save_plan("elsewhere.json");
  effects = ex.take_effects();
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects.front().path, "elsewhere.json");
  ex.on_plan_saved("elsewhere.json", "");
  EXPECT_FALSE(ex.message().error);
  EXPECT_NE(ex.message().text.find("elsewhere.json"), std::string::npos);
  ex.on_plan_saved("/root/x.json", "/root/x.json: permission denied");
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("permission denied"), std::string::npos);
}
