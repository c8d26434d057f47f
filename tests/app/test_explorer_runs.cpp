// Recorded runs in the explorer core, without a window: one definition of a run's numbers
// (measured iteration = the median of the steps after the first, prediction from the run's own
// machine, error = (measured - predicted) / predicted) wherever a run is shown, A compared with a
// run only like with like, and the driver that reads the store, watches a launched run and runs
// the optimizer in the background.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "common/format.h"
#include "explorer/explorer.h"
#include "explorer/explorer_driver.h"
#include "explorer/run_records.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;
namespace fs = std::filesystem;

namespace {

CostTable make_costs(const std::string& source, double scale, int layers = 8) {
  CostTable t;
  t.model = "tiny";
  t.source = source;
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.f_ms = scale * (1.0 + 0.25 * (i % 3));
    l.b_ms = 2 * l.f_ms;
    l.w_ms = 0;
    l.state_bytes = 1e6;
    l.act_b_bytes = 1e5;
    l.out_bytes = 1e3;
    t.layers.push_back(l);
  }
  return t;
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("adaptis-explorer-runs-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

Plan tiny_plan() {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 2;
  req.microbatches = 4;
  return build_plan(req, 8);
}

// A run recorded as `adaptis run` records one: the plan, the costs its prediction used, the
// prediction, then each step's measured actions (the prediction slowed down by `slowdown[step]`).
int64_t record_run(const std::string& db, const CostTable& run_costs, const std::vector<double>& slowdown) {
  const Plan plan = tiny_plan();
  const Cluster cluster = make_uniform_cluster(2);
  const SimResult sim = simulate(plan, run_costs, cluster, SimOptions{});
  exec::RunStore store(db);
  exec::RunInfo info;
  info.command = "adaptis run (test)";
  info.schedule = plan.name;
  info.model_name = "tiny";
  info.plan = plan_to_json(plan);
  info.costs = cost_table_json(run_costs);
  info.num_devices = plan.num_devices();
  info.num_stages = plan.num_stages();
  info.num_microbatches = plan.num_microbatches;
  info.steps = static_cast<int>(slowdown.size());
  info.predicted_iteration_ms = sim.iteration_ms;
  for (int d = 0; d < plan.num_devices(); ++d)
    for (const TimedAction& ta : sim.timeline[static_cast<size_t>(d)])
      info.predicted.push_back({d, ta.action.op, ta.action.stage, ta.action.mb,
                                static_cast<int64_t>(ta.start * 1e6), static_cast<int64_t>(ta.end * 1e6)});
  const int64_t id = store.begin_run(info);
  int64_t t = 0;
  for (size_t s = 0; s < slowdown.size(); ++s) {
    exec::StepRecord r;
    r.step = static_cast<int>(s);
    r.loss = 5.0 - 0.1 * static_cast<double>(s);
    r.start_ns = t;
    r.pipeline_end_ns = t + static_cast<int64_t>(sim.iteration_ms * slowdown[s] * 1e6);
    r.end_ns = r.pipeline_end_ns + 1000;
    r.grad_checksum = "00000000000000aa";
    for (int d = 0; d < plan.num_devices(); ++d) {
      int seq = 0;
      for (const TimedAction& ta : sim.timeline[static_cast<size_t>(d)]) {
        exec::MeasuredInterval m;
        m.step = r.step;
        m.device = d;
        m.seq = seq++;
        m.kind = exec::MeasuredKind::Compute;
        m.op = ta.action.op;
        m.stage = ta.action.stage;
        m.mb = ta.action.mb;
        m.start_ns = t + static_cast<int64_t>(ta.start * slowdown[s] * 1e6);
        m.end_ns = t + static_cast<int64_t>(ta.end * slowdown[s] * 1e6);
        r.intervals.push_back(m);
      }
    }
    store.record_step(id, r);
    t = r.end_ns + 1000000;
  }
  store.finish_run(id, exec::RunStatus::Complete);
  return id;
}

// Carries out the explorer's run loads the way the driver does, synchronously.
void load_runs(Explorer& ex) {
  for (const Effect& e : ex.take_effects())
    if (e.kind == EffectKind::LoadRun) {
      try {
        ex.on_run_loaded(e.use, e.run_id, std::make_shared<const LoadedRun>(load_run(ex.config().db_path, e.run_id)),
                         "");
      } catch (const std::exception& err) {
        ex.on_run_loaded(e.use, e.run_id, nullptr, err.what());
      }
    } else if (e.kind == EffectKind::RefreshRuns) {
      ex.on_run_store(read_run_store(ex.config().db_path));
    }
}

Explorer session_with(const CostTable& costs, const std::string& db) {
  ExplorerConfig cfg;
  cfg.db_path = db;
  Explorer ex(app::Inputs{costs, make_uniform_cluster(2), SimOptions{}}, cfg);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 2;
  req.microbatches = 4;
  EXPECT_TRUE(ex.start_with_request(req).applied);
  return ex;
}

}  // namespace

TEST(RunRecords, OneMeasuredIterationOneErrorSignEverywhere) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  // Step 0 is slow (first-touch), then 1.4x, 1.2x, 1.3x the prediction: the measured iteration is
  // the median of steps 1..3, 1.3x, and step 3 is the one drawn.
  const int64_t id = record_run(db, make_costs("cpu-profile", 1.0), {3.0, 1.4, 1.2, 1.3});
  const LoadedRun run = load_run(db, id);
  const exec::RunRecord rec = exec::RunStore(db).load_run(id);
  const double predicted = rec.summary.predicted_iteration_ms;
  ASSERT_GT(predicted, 0);
  EXPECT_NEAR(run.measured_ms, exec::measured_iteration_ms(exec::step_iteration_ms(rec.steps)), 1e-9);
  EXPECT_NEAR(run.measured_ms, 1.3 * predicted, 1e-3);
  EXPECT_NEAR(run.measured_summary.iteration_ms, run.measured_ms, 1e-12);  // what a B header shows
  EXPECT_EQ(run.step, 3);
  EXPECT_NEAR(run.step_ms, run.measured_ms, 1e-3);
  EXPECT_NEAR(run.predicted_ms, predicted, 1e-12);
  // (measured - predicted) / predicted: the run was 30% slower than predicted, everywhere.
  EXPECT_NEAR(run.error(), 0.3, 1e-3);
  const RunStoreView store = read_run_store(db);
  ASSERT_EQ(store.runs.size(), 1u);
  EXPECT_NEAR(measured_iteration_ms(store.runs[0]), run.measured_ms, 1e-9);  // the runs table
  EXPECT_NEAR(prediction_error(store.runs[0]), run.error(), 1e-12);
  EXPECT_NEAR(exec::relative_error(predicted, run.measured_ms), run.error(), 1e-12);  // `adaptis run`/`show`
  EXPECT_GT(exec::relative_error(10, 13), 0);
  EXPECT_LT(exec::relative_error(10, 7), 0);
  EXPECT_TRUE(std::isnan(exec::relative_error(10, std::nan(""))));
}

TEST(RunRecords, MissingAndForeignDatabasesAreNotesAndNothingIsCreated) {
  TempDir tmp;
  const std::string db = (tmp.path / "none" / "runs.db").string();
  RunStoreView v = read_run_store(db);
  EXPECT_TRUE(v.read);
  EXPECT_TRUE(v.runs.empty());
  EXPECT_FALSE(v.note_is_error);
  EXPECT_NE(v.note.find("no runs recorded yet"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path / "none"));
  const fs::path junk = tmp.path / "junk.db";
  std::ofstream(junk) << "not a database at all, just text that is long enough to be read as a header.....";
  v = read_run_store(junk.string());
  EXPECT_TRUE(v.note_is_error);
  EXPECT_NE(v.note.find("cannot read the run store"), std::string::npos) << v.note;
  EXPECT_THROW(load_run(junk.string(), 1), InputError);
}

TEST(ExplorerRuns, ARunFromAnotherMachineIsNeverComparedWithThisPrediction) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  // The run was predicted and measured on a CPU; the session predicts a 100x faster GPU.
  const int64_t id = record_run(db, make_costs("cpu-profile", 10.0), {1.0, 6.0, 6.0});
  Explorer ex = session_with(make_costs("analytical:H100", 0.1), db);
  ex.compare_with_run(id);
  load_runs(ex);
  ASSERT_EQ(ex.comparison().kind, CompareKind::Run);
  ASSERT_TRUE(ex.comparison().run);
  const AbComparison ab = ex.ab();
  EXPECT_FALSE(ab.comparable) << "A (GPU prediction) must not be compared with B (CPU measurement)";
  EXPECT_NE(ab.why_not.find("another machine"), std::string::npos) << ab.why_not;
  EXPECT_NE(ab.why_not.find("cpu-profile"), std::string::npos) << ab.why_not;
  // B's own figures: its measurement against its own prediction.
  EXPECT_TRUE(ab.b_is_run);
  EXPECT_NEAR(ab.b_measured_ms, ex.comparison().run->measured_ms, 1e-12);
  EXPECT_NEAR(ab.b_error, 5.0, 1e-3);  // 6x the prediction: +500%
  const Side b = ex.side(1);
  EXPECT_NE(b.label.find(app::format_ms(ab.b_measured_ms)), std::string::npos) << b.label;
  EXPECT_NE(b.label.find("+500.0%"), std::string::npos) << b.label;
  // Overlaying that run under this prediction is refused the same way: it becomes B instead.
  ex.clear_compare();
  ex.overlay_run(id);
  load_runs(ex);
  EXPECT_FALSE(ex.overlay());
  EXPECT_EQ(ex.comparison().kind, CompareKind::Run);
  load_runs(ex);
  EXPECT_NE(ex.message().text.find("another machine"), std::string::npos) << ex.message().text;
}

TEST(ExplorerRuns, ARunOnThisMachineIsComparedAndOverlaid) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  const CostTable costs = make_costs("cpu-profile", 1.0);
  const int64_t id = record_run(db, costs, {2.0, 1.1, 1.1});
  Explorer ex = session_with(costs, db);
  ex.compare_with_run(id);
  load_runs(ex);
  const AbComparison ab = ex.ab();
  ASSERT_TRUE(ab.comparable) << ab.why_not;

  EXPECT_NEAR(ab.b.iteration_ms, ex.comparison().run->measured_ms, 1e-12);
  EXPECT_NEAR(ab.d.speedup, ab.b.iteration_ms / ab.a.iteration_ms, 1e-12);
  EXPECT_NEAR(ab.d.speedup, 1.1, 1e-3);  // the same plan, measured 10% slower than predicted
  ex.clear_compare();
  ex.overlay_run(id);
  load_runs(ex);
  ASSERT_TRUE(ex.overlay());
  const Side a = ex.side(0);
  ASSERT_NE(a.measured(), nullptr);
  EXPECT_EQ(a.measured()->devices.size(), 2u);
  EXPECT_NEAR(a.measured()->t_end, ex.overlay()->step_ms, 1e-3);
}

TEST(ExplorerRuns, TickingRunsKeepsTheLatestTwo) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  const CostTable costs = make_costs("cpu-profile", 1.0);
  const int64_t a = record_run(db, costs, {1.0, 1.2});
  const int64_t b = record_run(db, costs, {1.0, 1.5});
  const int64_t c = record_run(db, costs, {1.0, 1.7});
  Explorer ex = session_with(costs, db);
  ex.tick_run(a);
  ex.tick_run(b);
  load_runs(ex);
  ASSERT_TRUE(ex.ticked(0) && ex.ticked(1));
  EXPECT_EQ(ex.ticked(0)->summary.id, a);
  ex.tick_run(c);  // drops the older tick
  load_runs(ex);
  EXPECT_EQ(ex.ticked_id(0), b);
  EXPECT_EQ(ex.ticked_id(1), c);
  ex.tick_run(b);  // unticking shifts the other one first
  EXPECT_EQ(ex.ticked_id(0), c);
  EXPECT_EQ(ex.ticked_id(1), 0);
}

// ---- the driver ----

TEST(ExplorerDriver, ALiveOptimizerSearchIsOneUndoStepAndPinsTheStartAsB) {
  ExplorerConfig cfg;
  cfg.live_optimizer = true;
  cfg.optimizer.time_limit_s = 0.5;
  cfg.optimizer.threads = 1;
  Explorer ex(app::Inputs{make_costs("test", 1.0, 12), make_uniform_cluster(4), SimOptions{}}, cfg);
  PlanRequest req;
  req.schedule = "gpipe";
  req.microbatches = 8;
  ASSERT_TRUE(ex.start_with_request(req).applied);
  const double before = ex.editor().sim().iteration_ms;
  ExplorerDriver driver;
  ex.start_optimizer();
  EXPECT_TRUE(ex.editing_locked());
  EXPECT_EQ(ex.comparison().kind, CompareKind::Pinned);  // the plan before the search, as B
  driver.carry_out(ex);
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return ex.optimizer().state != JobState::Running; }));
  EXPECT_EQ(ex.optimizer().state, JobState::Done) << ex.message().text;
  EXPECT_LT(ex.editor().sim().iteration_ms, before);
  EXPECT_FALSE(ex.optimizer().history.empty());
  EXPECT_GT(ex.optimizer().bound_ms, 0);
  EXPECT_LE(ex.optimizer().bound_ms, ex.editor().sim().iteration_ms + 1e-9);
  EXPECT_EQ(ex.editor().undo_labels().size(), 1u);  // the whole search is one step
  ASSERT_TRUE(ex.undo());
  EXPECT_DOUBLE_EQ(ex.editor().sim().iteration_ms, before);
}

TEST(ExplorerDriver, ReadsTheStoreAndLoadsRunsOffTheUiThread) {
  TempDir tmp;
  const std::string db = (tmp.path / "runs.db").string();
  const CostTable costs = make_costs("cpu-profile", 1.0);
  const int64_t id = record_run(db, costs, {1.0, 1.2, 1.2});
  Explorer ex = session_with(costs, db);
  ExplorerDriver driver;
  ex.refresh_runs();
  ex.compare_with_run(id);
  driver.carry_out(ex);
  EXPECT_TRUE(driver.busy());
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return ex.runs().read && ex.comparison().run != nullptr; }));
  EXPECT_EQ(ex.runs().runs.size(), 1u);
  EXPECT_TRUE(ex.ab().comparable);
  EXPECT_EQ(driver.shutdown(), "");
}

TEST(ExplorerDriver, SavesPlansAndSaysWhyWhenItCannot) {
  TempDir tmp;
  Explorer ex = session_with(make_costs("test", 1.0), "");
  ExplorerDriver driver;
  ex.save_plan((tmp.path / "plan.json").string());
  driver.carry_out(ex);
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  const Plan back = load_plan_file((tmp.path / "plan.json").string());
  EXPECT_EQ(back.schedule, ex.editor().plan().schedule);
  ex.save_plan((tmp.path / "no" / "such" / "dir" / "plan.json").string());
  driver.carry_out(ex);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("cannot save the plan"), std::string::npos) << ex.message().text;
}
