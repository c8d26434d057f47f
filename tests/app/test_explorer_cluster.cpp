// The explorer core's cluster-plan view: the whole-cluster search's inputs and state machine (start,
// progress, done or cancelled keeping the best so far, failure), its table, and choosing a row: the
// row's pipeline plan on screen with its parallel configuration, per-GPU costs and replica devices,
// the collectives as dp/tp lanes and the throughput numbers in the summary.
#include <gtest/gtest.h>

#include "adaptis/model/cost_model.h"
#include "adaptis/model/parallel_costs.h"
#include "adaptis/planner.h"
#include "explorer/explorer.h"
#include "explorer/explorer_driver.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

std::string sample(const std::string& rel) { return std::string(ADAPTIS_SOURCE_DIR) + "/" + rel; }

// llama-2-7b on one 8 x H100 node, the search narrowed to pp 2 x tp 2 x cp 1 (so dp 2) to stay quick and
// give every kind of lane: tensor-parallel shares, gradient sync, the optimizer step.
Explorer cluster_session(bool with_model = true) {
  auto model = std::make_shared<const ModelSpec>(load_model_spec(sample("samples/models/llama-2-7b.json")));
  Cluster cluster = load_cluster(sample("samples/clusters/h100x8.json"));
  ExplorerConfig cfg;
  cfg.optimizer.threads = 1;
  cfg.optimizer.time_limit_s = 30;
  cfg.cluster_path = "h100x8.json";
  if (with_model) {
    cfg.cluster_plans.model = model;
    cfg.cluster_plans.cluster = cluster;
    cfg.cluster_plans.options.tp = {2};
    cfg.cluster_plans.options.pp = {2};
    cfg.cluster_plans.options.cp = {1};
    cfg.cluster_plans.options.optimize_top = 1;
    cfg.cluster_plans.options.evaluations = 300;
  }
  Explorer ex(app::Inputs{analytical_costs(*model, cluster.devices.front()), cluster, SimOptions{}}, cfg);
  PlanRequest req;
  req.schedule = "1f1b";
  req.microbatches = 8;
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

bool run_to_end(ExplorerDriver& d, Explorer& ex) {
  d.carry_out(ex);
  return test_support::poll_driver_until(d, ex, [&] { return ex.cluster_plans().state != JobState::Running; });
}

size_t count_kind(const Lane& lane, BoxKind k) {
  size_t n = 0;
  for (const TimelineBox& b : lane.boxes) n += b.kind == k;
  return n;
}

}  // namespace

TEST(ExplorerClusterPlans, WithoutAModelSpecTheSearchSaysWhyAndRequestsNothing) {
  Explorer ex = cluster_session(false);
  EXPECT_NE(ex.cluster_search_blocker().find("model spec"), std::string::npos);
  ex.start_cluster_search();
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("--model"), std::string::npos);
  EXPECT_FALSE(ex.has_effects());
  EXPECT_EQ(ex.cluster_plans().state, JobState::Idle);
  EXPECT_FALSE(ex.use_cluster_row(0).applied);  // no table yet
  EXPECT_TRUE(ex.message().error);
}

TEST(ExplorerClusterPlans, GpusAndGlobalBatchAreCheckedInputs) {
  Explorer ex = cluster_session();
  EXPECT_EQ(ex.cluster_max_gpus(), 8);
  EXPECT_EQ(ex.cluster_gpus(), 8);  // default: the whole cluster
  EXPECT_EQ(ex.cluster_batch_tokens(), kDefaultSequencesPerGpu * 8 * 4096);
  EXPECT_FALSE(ex.set_cluster_gpus(0));
  EXPECT_TRUE(ex.message().error);
  EXPECT_FALSE(ex.set_cluster_gpus(9));
  EXPECT_NE(ex.message().text.find("1..8"), std::string::npos);
  EXPECT_TRUE(ex.set_cluster_gpus(4));
  EXPECT_EQ(ex.cluster_gpus(), 4);
  EXPECT_EQ(ex.cluster_batch_tokens(), kDefaultSequencesPerGpu * 8 * 4096);  // kept as it was shown
  EXPECT_FALSE(ex.set_cluster_batch_tokens(4096 * 3 + 1));  // not whole sequences
  EXPECT_NE(ex.message().text.find("whole sequences"), std::string::npos);
  EXPECT_FALSE(ex.set_cluster_batch_tokens(0));
  EXPECT_TRUE(ex.set_cluster_batch_tokens(4096 * 16));
  EXPECT_EQ(ex.cluster_batch_tokens(), 4096 * 16);
  ex.start_cluster_search();
  const auto effects = ex.take_effects();
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects[0].kind, EffectKind::StartClusterSearch);
  EXPECT_EQ(ex.cluster_plans().state, JobState::Running);
  EXPECT_EQ(ex.cluster_plans().options.gpus, 4);
  EXPECT_EQ(ex.cluster_plans().options.global_batch_tokens, 4096 * 16);
  ex.start_cluster_search();  // a second start while one runs is refused
  EXPECT_TRUE(ex.message().error);
  EXPECT_FALSE(ex.has_effects());
}

TEST(ExplorerClusterPlans, SearchRanksConfigurationsAndARowLoadsItsPlanWithLanes) {
  Explorer ex = cluster_session();
  const uint64_t rev0 = ex.revision();
  ExplorerDriver driver;
  ex.start_cluster_search();
  ASSERT_TRUE(run_to_end(driver, ex));
  const ClusterPlansState& st = ex.cluster_plans();
  ASSERT_EQ(st.state, JobState::Done) << st.message << " / " << ex.message().text;
  ASSERT_TRUE(st.rows && !st.rows->empty());
  EXPECT_TRUE(st.rows_fit);
  for (size_t i = 1; i < st.rows->size(); ++i)
    EXPECT_GE((*st.rows)[i - 1].tokens_per_s, (*st.rows)[i].tokens_per_s) << "row " << i;
  for (const ClusterCandidate& c : *st.rows) {
    EXPECT_EQ(c.config.pp, 2);
    EXPECT_EQ(c.config.tp, 2);
    EXPECT_EQ(c.config.dp, 2);
  }
  EXPECT_EQ(ex.revision(), rev0);  // the search alone leaves the plan alone

  // Row 2 (not the best: choosing is not "take the first").
  const int row = st.rows->size() > 1 ? 1 : 0;
  const ClusterCandidate want = (*st.rows)[static_cast<size_t>(row)];
  ASSERT_TRUE(ex.use_cluster_row(row).applied) << ex.message().text;
  EXPECT_EQ(ex.cluster_row_on_screen(), row);
  const Plan& p = ex.editor().plan();
  ASSERT_TRUE(p.parallel.has_value());
  EXPECT_EQ(*p.parallel, want.config);
  EXPECT_EQ(p.num_devices(), want.config.pp);
  EXPECT_EQ(ex.editor().cluster().num_devices(), want.config.pp);  // the replica's devices
  // The costs are the configuration's per-GPU costs: the simulation reproduces the row.
  const CostTable per_gpu = parallel_costs(*ex.config().cluster_plans.model, ex.config().cluster_plans.cluster, want.config);
  EXPECT_DOUBLE_EQ(ex.editor().costs().layers.front().f_ms, per_gpu.layers.front().f_ms);
  // The replica keeps the whole cluster's topology: a saved session (replica only) re-derives them.
  const CostTable from_replica = parallel_costs(*ex.config().cluster_plans.model, ex.editor().cluster(), want.config);
  EXPECT_DOUBLE_EQ(from_replica.layers.back().b_ms, per_gpu.layers.back().b_ms);
  const SimResult& sim = ex.editor().sim();
  ASSERT_TRUE(sim.has_parallel);
  EXPECT_NEAR(sim.iteration_ms, want.iteration_ms, 1e-6 * want.iteration_ms);
  const PlanSummary sum = ex.side(0).summary;
  EXPECT_TRUE(sum.parallel);
  EXPECT_EQ(sum.gpus, 8);
  EXPECT_NEAR(sum.tokens_per_s, want.tokens_per_s, 1e-6 * want.tokens_per_s);
  EXPECT_NEAR(sum.mfu, want.mfu, 1e-9);
  EXPECT_NEAR(sum.exposed_comm_ms, want.exposed_comm_ms, 1e-6 * std::max(1.0, want.exposed_comm_ms));
  EXPECT_FALSE(ex.editor().can_undo());  // the history starts with the row

  // Lanes: every device has its gradient sync and optimizer step on dp, tensor-parallel shares on tp,
  // each box the simulator's record.
  const TimelineData& tl = ex.side(0).timeline();
  ASSERT_EQ(tl.devices.size(), 2u);
  size_t records = 0;
  for (size_t d = 0; d < tl.devices.size(); ++d) {
    const DeviceLanes& dev = tl.devices[d];
    EXPECT_GT(count_kind(dev.dp, BoxKind::GradSync), 0u) << "device " << d;
    EXPECT_EQ(count_kind(dev.dp, BoxKind::OptimizerStep), 1u) << "device " << d;
    EXPECT_GT(count_kind(dev.tp, BoxKind::TensorComm), 0u) << "device " << d;
    for (const Lane* lane : {&dev.dp, &dev.tp})
      for (const TimelineBox& b : lane->boxes) {
        ASSERT_LT(b.ref, sim.collectives.size());
        const CollectiveRecord& c = sim.collectives[b.ref];
        EXPECT_EQ(c.device, static_cast<int>(d));
        EXPECT_EQ(box_kind_of(c.kind), b.kind);
        EXPECT_DOUBLE_EQ(c.start, b.start);
        ++records;
      }
    // Blocking shares lie inside compute; the optimizer step ends by the iteration's end.
    EXPECT_LE(dev.dp.max_end.back(), sim.iteration_ms + 1e-9);
  }
  size_t timed = 0;
  for (const CollectiveRecord& c : sim.collectives) timed += c.end > c.start;
  EXPECT_EQ(records, timed);
  // A pick on a dp box resolves like any other lane's.
  Pick pick;
  pick.side = 0;
  pick.device = 0;
  pick.lane = LaneKind::Dp;
  pick.index = 0;
  ex.select(pick);
  ASSERT_NE(ex.selected_box(), nullptr);
  EXPECT_TRUE(is_collective(ex.selected_box()->kind));

  // A schedule choice keeps the configuration (same pp); the row is no longer what is on screen.
  ASSERT_TRUE(ex.choose_schedule("1f1b").applied) << ex.message().text;
  ASSERT_TRUE(ex.editor().plan().parallel.has_value());
  EXPECT_EQ(ex.editor().plan().parallel->dp, 2);
  EXPECT_EQ(ex.cluster_row_on_screen(), -1);
  EXPECT_FALSE(ex.side(0).timeline().devices[0].dp.empty());
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.cluster_row_on_screen(), -1);  // undo is a new revision: the cursor row stays, marked loaded no longer
  EXPECT_NEAR(ex.editor().sim().iteration_ms, want.iteration_ms, 1e-6 * want.iteration_ms);
}

TEST(ExplorerClusterPlans, MicroBatchChangesCarryTheConfigurationWithItsNewBatch) {
  Explorer ex = cluster_session();
  ExplorerDriver driver;
  ex.start_cluster_search();
  ASSERT_TRUE(run_to_end(driver, ex));
  ASSERT_TRUE(ex.cluster_plans().rows && !ex.cluster_plans().rows->empty());
  ASSERT_TRUE(ex.use_cluster_row(0).applied);
  ASSERT_TRUE(ex.choose_schedule("1f1b").applied) << ex.message().text;
  const ParallelConfig before = *ex.editor().plan().parallel;
  ASSERT_TRUE(ex.set_microbatches(before.microbatches * 2).applied) << ex.message().text;
  const ParallelConfig& after = *ex.editor().plan().parallel;
  EXPECT_EQ(after.microbatches, before.microbatches * 2);
  EXPECT_EQ(after.global_batch_size, 2 * before.global_batch_size);
  EXPECT_NE(ex.message().text.find("global batch now"), std::string::npos) << ex.message().text;
}

TEST(ExplorerClusterPlans, CancelledSearchKeepsTheBestSoFarAndFailureSaysWhy) {
  Explorer ex = cluster_session();
  ex.start_cluster_search();
  (void)ex.take_effects();
  ex.cancel_cluster_search();
  auto effects = ex.take_effects();
  ASSERT_EQ(effects.size(), 1u);
  EXPECT_EQ(effects[0].kind, EffectKind::CancelClusterSearch);
  ClusterSearchProgress p;
  p.phase = "simulate";
  p.fraction = 0.4;
  ex.on_cluster_search_progress(p);
  EXPECT_DOUBLE_EQ(ex.cluster_plans().progress.fraction, 0.4);

  // What the search returns when cancelled: its ranking so far.
  const ParallelConfig cfg = [] {
    ParallelConfig c;
    c.pp = 2;
    c.tp = 2;
    c.dp = 2;
    c.microbatches = 8;
    c.global_batch_size = 16;
    return c;
  }();
  const ClusterCandidate best = evaluate_cluster_config(*ex.config().cluster_plans.model, ex.config().cluster_plans.cluster, cfg);
  ASSERT_TRUE(best.evaluated);
  auto partial = std::make_shared<ClusterSearchResult>();
  partial->ranked = {best};
  partial->best = best;
  partial->feasible = best.fits;
  partial->cancelled = true;
  ClusterSearchJob::Outcome out;
  out.how = JobState::Cancelled;
  out.result = partial;
  ex.on_cluster_search_finished(out);
  EXPECT_EQ(ex.cluster_plans().state, JobState::Cancelled);
  ASSERT_EQ(ex.cluster_plans().rows->size(), 1u);
  EXPECT_NE(ex.message().text.find("best so far"), std::string::npos);
  ASSERT_TRUE(ex.use_cluster_row(0).applied) << ex.message().text;
  EXPECT_EQ(*ex.editor().plan().parallel, cfg);

  // Nothing fits: the closest is the one row, said as such.
  ClusterCandidate over = best;
  over.fits = false;
  auto none = std::make_shared<ClusterSearchResult>();
  none->best = over;
  ex.start_cluster_search();
  out.how = JobState::Done;
  out.result = none;
  ex.on_cluster_search_finished(out);
  EXPECT_FALSE(ex.cluster_plans().rows_fit);
  EXPECT_EQ(ex.cluster_plans().rows->size(), 1u);
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(ex.cluster_row_on_screen(), -1);

  // A failed search says why.
  ex.start_cluster_search();
  ClusterSearchJob::Outcome failed;
  failed.how = JobState::Failed;
  failed.error = "global_batch_tokens: not divisible";
  ex.on_cluster_search_finished(failed);
  EXPECT_EQ(ex.cluster_plans().state, JobState::Failed);
  EXPECT_NE(ex.message().text.find("not divisible"), std::string::npos);
}

TEST(ExplorerClusterPlans, DriverCancelsARunningSearchAndShutdownJoinsIt) {
  Explorer ex = cluster_session();
  ExplorerDriver driver;
  ex.start_cluster_search();
  driver.carry_out(ex);
  EXPECT_TRUE(driver.busy() || ex.cluster_plans().state == JobState::Running);
  ex.cancel_cluster_search();
  ASSERT_TRUE(run_to_end(driver, ex));
  // The search may have ended before it saw the flag; either way it hands back a table or says why.
  const JobState s = ex.cluster_plans().state;
  EXPECT_TRUE(s == JobState::Cancelled || s == JobState::Done) << job_state_name(s);
  if (s == JobState::Done) {
    EXPECT_TRUE(ex.cluster_plans().rows && !ex.cluster_plans().rows->empty());
  }
  ex.start_cluster_search();
  driver.carry_out(ex);
  driver.shutdown();  // joins
  EXPECT_FALSE(driver.busy());
}
