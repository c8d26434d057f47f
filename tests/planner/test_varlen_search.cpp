// The variable-length optimizer's search on worker threads and its stop at the lower bound: under an
// evaluation budget the screen of sequence processings, the per-unit checkpointing search and the full
// searches give the same trials, plan (byte for byte) and evaluations with 1, 2 or 3 threads; when the best
// plan reaches the lowest bound of the candidate processings the search ends there and says so; cancelled, it
// still returns a plan; a bad thread count is refused by name.
#include <gtest/gtest.h>

#include <atomic>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/varlen_optimizer.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

using test::ckpt_costs;
using test::limited;
using test::skewed_lengths;

VarlenOptimizeOptions search_options(int devices, int threads) {
  VarlenOptimizeOptions o;
  o.search.devices = devices;
  o.search.time_limit_s = 60;  // never reached: the evaluation budget ends the full searches
  o.search.threads = threads;
  o.search.max_evaluations = 120;
  o.search.seed = 7;
  o.finalists = 2;
  return o;
}

// Everything the result says about the search, field by field, and the plan as its file would hold it.
void expect_same_search(const VarlenOptimizeResult& a, const VarlenOptimizeResult& b, const std::string& what) {
  ASSERT_EQ(a.trials.size(), b.trials.size()) << what;
  for (size_t i = 0; i < a.trials.size(); ++i) {
    const ProcessingTrial& x = a.trials[i];
    const ProcessingTrial& y = b.trials[i];
    const std::string at = what + ", trial " + std::to_string(i) + " (" + describe(x.processing) + ")";
    EXPECT_TRUE(x.processing == y.processing) << at;
    EXPECT_EQ(x.error, y.error) << at;
    EXPECT_EQ(x.units, y.units) << at;
    EXPECT_EQ(x.slices, y.slices) << at;
    EXPECT_EQ(x.screen_ms, y.screen_ms) << at;
    EXPECT_EQ(x.fits, y.fits) << at;
    EXPECT_EQ(x.screen_plan, y.screen_plan) << at;
    EXPECT_EQ(x.lower_bound_ms, y.lower_bound_ms) << at;
    EXPECT_EQ(x.finalist, y.finalist) << at;
    EXPECT_EQ(x.final_ms, y.final_ms) << at;
    EXPECT_EQ(x.checkpoint_searched, y.checkpoint_searched) << at;
    EXPECT_EQ(x.checkpoint_ms, y.checkpoint_ms) << at;
  }
  EXPECT_TRUE(a.processing == b.processing) << what;
  EXPECT_EQ(plan_to_json(a.best.best).dump(), plan_to_json(b.best.best).dump()) << what;
  EXPECT_EQ(a.best.sim.iteration_ms, b.best.sim.iteration_ms) << what;
  EXPECT_EQ(a.best.search_evaluations, b.best.search_evaluations) << what;
  EXPECT_EQ(a.evaluations, b.evaluations) << what;
  EXPECT_EQ(a.message, b.message) << what;
  EXPECT_EQ(a.memory_note, b.memory_note) << what;
  EXPECT_EQ(a.checkpointing, b.checkpointing) << what;
  EXPECT_EQ(a.lower_bound_ms, b.lower_bound_ms) << what;
  EXPECT_EQ(a.reached_lower_bound, b.reached_lower_bound) << what;
}

}  // namespace

// Slicing allowed (so Seq1F1B's order is screened too), memory plentiful: the same search on any thread count.
TEST(VarlenSearch, SameResultForAnyThreadCount) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const Cluster cl = make_uniform_cluster(4);
  const VarlenOptimizeResult one = optimize_lengths(c, cl, data, search_options(4, 1));
  ASSERT_TRUE(one.best.feasible) << one.message;
  // More than one batch of the screen, and some sliced processings.
  EXPECT_GT(one.trials.size(), 8u);
  int sliced = 0;
  for (const auto& t : one.trials) sliced += t.slices > 0 ? 1 : 0;
  EXPECT_GT(sliced, 0);
  EXPECT_GT(one.evaluations, one.best.search_evaluations);  // the screen's runs count too
  for (int threads : {2, 3})
    expect_same_search(one, optimize_lengths(c, cl, data, search_options(4, threads)),
                       std::to_string(threads) + " threads");
}

// Memory binds, so the per-unit checkpointing search runs (its layouts on the worker threads): still the same
// result on any thread count.
TEST(VarlenSearch, CheckpointingSearchSameForAnyThreadCount) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  VarlenOptimizeOptions o = search_options(4, 1);
  o.allow_slicing = false;
  double peak = 0;
  for (const auto& d : optimize_lengths(c, make_uniform_cluster(4), data, o).best.sim.devices)
    peak = std::max(peak, d.peak_memory_bytes);
  // The loosest of these limits under which the search runs and finds a plan that fits.
  double fraction = 0;
  for (double f : {0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2}) {
    const VarlenOptimizeResult r = optimize_lengths(c, limited(4, f * peak), data, o);
    bool searched = false;
    for (const auto& t : r.trials) searched = searched || t.checkpoint_searched;
    if (searched && r.checkpointed_pairs > 0) {
      fraction = f;
      break;
    }
  }
  ASSERT_GT(fraction, 0) << "no limit made the optimizer checkpoint units";
  const Cluster cl = limited(4, fraction * peak);
  const VarlenOptimizeResult one = optimize_lengths(c, cl, data, o);
  for (int threads : {2, 3}) {
    o.search.threads = threads;
    expect_same_search(one, optimize_lengths(c, cl, data, o), std::to_string(threads) + " threads");
  }
}

// On one device nothing waits for anything: the screen's plan of the processing with the least work is at
// its lower bound, which is the lowest of all. The search ends there, without the full searches and before the
// screen's last batches, well inside the evaluation budget, and says so.
TEST(VarlenSearch, EndsWhenThePlanReachesTheLowerBound) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const VarlenOptimizeOptions o = search_options(1, 2);
  const VarlenOptimizeResult r = optimize_lengths(c, make_uniform_cluster(1), data, o);
  ASSERT_TRUE(r.best.feasible) << r.message;
  ASSERT_GT(r.lower_bound_ms, 0);
  EXPECT_TRUE(r.reached_lower_bound) << r.message;
  EXPECT_TRUE(r.ended_at_lower_bound) << r.message;
  EXPECT_LE(r.best.sim.iteration_ms, r.lower_bound_ms * (1 + 1e-9));
  EXPECT_GE(r.best.sim.iteration_ms, r.lower_bound_ms * (1 - 1e-9));  // a bound: never below it
  EXPECT_EQ(r.best.stopped_by, StopReason::Optimal);
  EXPECT_NE(r.message.find("at the lower bound"), std::string::npos) << r.message;
  for (const auto& t : r.trials) EXPECT_FALSE(t.finalist) << describe(t.processing);
  EXPECT_LT(r.trials.size(), default_processings(data, 1, true, 1).size());
  EXPECT_GT(r.evaluations, 0);
  EXPECT_LT(r.evaluations, o.search.max_evaluations);
  // The same on one thread.
  expect_same_search(r, optimize_lengths(c, make_uniform_cluster(1), data, search_options(1, 1)), "1 thread");
}

// On four devices the ramp keeps every plan above the bound: the search does all its work.
TEST(VarlenSearch, RunsOnWhileAboveTheLowerBound) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const VarlenOptimizeResult r = optimize_lengths(c, make_uniform_cluster(4), data, search_options(4, 2));
  ASSERT_TRUE(r.best.feasible) << r.message;
  EXPECT_GT(r.best.sim.iteration_ms, r.lower_bound_ms * (1 + 1e-9));
  EXPECT_FALSE(r.reached_lower_bound);
  EXPECT_FALSE(r.ended_at_lower_bound);
  EXPECT_EQ(r.message.find("at the lower bound"), std::string::npos) << r.message;
  EXPECT_EQ(r.trials.size(), default_processings(data, 4, true, 1).size());
  int finalists = 0;
  for (const auto& t : r.trials) finalists += t.finalist ? 1 : 0;
  EXPECT_EQ(finalists, 2);
}

// Cancelled before it starts, the search still screens its first batch of processings and returns the best
// plan of those, without the full searches.
TEST(VarlenSearch, CancelledSearchStillReturnsAPlan) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const std::atomic<bool> cancel{true};
  const VarlenOptimizeResult r = optimize_lengths(c, make_uniform_cluster(4), data, search_options(4, 2), {}, &cancel);
  ASSERT_TRUE(r.best.feasible) << r.message;
  EXPECT_FALSE(r.trials.empty());
  EXPECT_LT(r.trials.size(), default_processings(data, 4, true, 1).size());
  for (const auto& t : r.trials) EXPECT_FALSE(t.finalist) << describe(t.processing);
  EXPECT_TRUE(validate_plan(r.best.best, c.num_layers()).ok());
}

TEST(VarlenSearch, RefusesABadThreadCount) {
  const CostTable c = ckpt_costs(8);
  for (int threads : {-1, max_optimizer_threads() + 1}) {
    try {
      optimize_lengths(c, make_uniform_cluster(4), skewed_lengths(), search_options(4, threads));
      ADD_FAILURE() << threads << " threads accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("threads"), std::string::npos) << e.what();
    }
  }
}
