// The auto-optimizer's contract (planner/optimizer.h): never worse than the best built-in schedule,
// every returned plan valid and reproduced by simulate(), memory limits respected (and the closest
// plan with its overflow when nothing fits), deterministic per seed, cancellable, progress reported,
// clear errors for invalid options.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/optimizer.h"

using namespace adaptis;

namespace {

// A small heterogeneous model: an embedding-heavy first layer, alternating light/heavy middle
// layers and a heavy LM head, like the peer profiles but fast to search.
CostTable hetero_costs(int layers, bool split_w = false, double state_bytes = 1e9, double act_bytes = 1e8) {
  CostTable c;
  c.model = "hetero-test";
  for (int l = 0; l < layers; ++l) {
    LayerCost x;
    x.name = "layers." + std::to_string(l);
    x.f_ms = (l % 2 == 0) ? 1.0 : 2.2;
    x.b_ms = 2.0 * x.f_ms;
    if (split_w) x.w_ms = 0.8 * x.f_ms;
    if (l == 0) x.f_ms += 1.5, x.b_ms += 1.0;
    if (l == layers - 1) x.f_ms += 6.0, x.b_ms += 7.0;
    x.state_bytes = state_bytes;
    x.param_bytes = state_bytes / 8;
    x.act_b_bytes = act_bytes;
    x.act_w_bytes = split_w ? act_bytes / 2 : 0;
    x.out_bytes = 1e6;
    c.layers.push_back(x);
  }
  return c;
}

// Tests run under a short evaluation budget (the search returns its best so far when cut; 0 = none, the
// search then ends by itself), never a wall-clock one: the same plan comes out however fast or loaded the
// machine is. The time limit is only a safety net. The bench measures what a full search reaches.
OptimizeOptions quick(int devices, int microbatches, long long max_evaluations = 3000) {
  OptimizeOptions o;
  o.devices = devices;
  o.microbatches = microbatches;
  o.max_evaluations = max_evaluations;
  o.time_limit_s = 600;
  o.threads = 2;
  o.sim.comm_latency_ms = 0;
  return o;
}

// The fastest built-in schedule (default partition and placement) that fits memory; 0 if none.
double best_builtin_ms(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o) {
  double best = 0;
  for (const auto& info : all_schedules()) {
    PlanRequest req;
    req.schedule = info.name;
    req.devices = o.devices;
    req.microbatches = o.microbatches;
    try {
      Plan p = build_plan(req, costs.num_layers());
      SimResult r = simulate(p, costs, cluster, o.sim);
      if (r.ok && !r.oom && (best == 0 || r.iteration_ms < best)) best = r.iteration_ms;
    } catch (const InputError&) {
      // not applicable to this input
    }
  }
  return best;
}

void expect_replays(const OptimizeResult& r, const CostTable& costs, const Cluster& cluster, const SimOptions& sim) {
  EXPECT_EQ(r.best.name, "adaptis-opt");
  ValidationReport v = validate_plan(r.best, costs.num_layers());
  EXPECT_TRUE(v.ok()) << v.message();
  SimResult again = simulate(r.best, costs, cluster, sim);
  ASSERT_TRUE(again.ok) << again.error;
  EXPECT_NEAR(again.iteration_ms, r.sim.iteration_ms, 1e-9);
  EXPECT_EQ(again.oom, r.sim.oom);
}

double max_overflow(const SimResult& r) {
  double o = -std::numeric_limits<double>::infinity();
  for (const auto& d : r.devices) o = std::max(o, d.peak_memory_bytes - d.memory_limit_bytes);
  return o;
}

}  // namespace

TEST(Optimizer, NeverWorseThanTheBestBuiltInAndReplays) {
  for (bool split : {false, true}) {
    CostTable costs = hetero_costs(16, split);
    Cluster cluster = make_uniform_cluster(4);
    OptimizeOptions o = quick(4, 8);
    OptimizeResult r = optimize(costs, cluster, o);
    ASSERT_TRUE(r.feasible) << r.message;
    const double builtin = best_builtin_ms(costs, cluster, o);
    ASSERT_GT(builtin, 0);
    EXPECT_LE(r.sim.iteration_ms, builtin + 1e-9) << "split=" << split << ": " << r.message;
    // The model is heterogeneous enough that the search must find something strictly better.
    EXPECT_LT(r.sim.iteration_ms, builtin * 0.99) << "split=" << split << ": " << r.message;
    expect_replays(r, costs, cluster, o.sim);
  }
}

TEST(Optimizer, PeerProfileBeatsTheAuthorsTunerResult) {
  // The brief's target input (4 devices, 8 micro-batches, zero latency): at most the authors'
  // own tuner result, 1058.1 ms. The bench measures the full table and the search time.
  CostTable costs = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json");
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o = quick(4, 8, 4000);
  OptimizeResult r = optimize(costs, cluster, o);
  ASSERT_TRUE(r.feasible) << r.message;
  EXPECT_LE(r.sim.iteration_ms, 1058.1) << r.message;
  EXPECT_LE(r.sim.iteration_ms, best_builtin_ms(costs, cluster, o));
  expect_replays(r, costs, cluster, o.sim);
}

TEST(Optimizer, HeterogeneousDevicesGetMatchingWork) {
  CostTable costs = hetero_costs(12);
  Cluster cluster = make_uniform_cluster(3);
  cluster.devices[1].speed = 2.0;  // one device twice as fast
  OptimizeOptions o = quick(3, 6);
  OptimizeResult r = optimize(costs, cluster, o);
  ASSERT_TRUE(r.feasible);
  EXPECT_LE(r.sim.iteration_ms, best_builtin_ms(costs, cluster, o) + 1e-9);
  expect_replays(r, costs, cluster, o.sim);
  // The fast device does more than its equal share of the layers.
  std::vector<int> sd = r.best.placement.stage_device();
  int on_fast = 0;
  for (int s = 0; s < r.best.num_stages(); ++s)
    if (sd[s] == 1) on_fast += r.best.partition.stage_size(s);
  EXPECT_GT(on_fast, 12 / 3);
}

TEST(Optimizer, RespectsMemoryLimitsWhenSomePlanFits) {
  // Activations large enough that GPipe-style plans (all micro-batches in flight) overflow.
  CostTable costs = hetero_costs(8, false, 1e9, 2e9);
  Cluster cluster = make_uniform_cluster(4);
  for (auto& d : cluster.devices) d.memory_limit_bytes = 19e9;  // 1F1B's 4 in flight fit, GPipe's 8 do not
  OptimizeOptions o = quick(4, 8);
  PlanRequest gpipe;
  gpipe.schedule = "gpipe";
  gpipe.devices = 4;
  gpipe.microbatches = 8;
  ASSERT_TRUE(simulate(build_plan(gpipe, 8), costs, cluster, o.sim).oom) << "the test needs an over-limit built-in";

  OptimizeResult r = optimize(costs, cluster, o);
  ASSERT_TRUE(r.feasible) << r.message;
  EXPECT_FALSE(r.sim.oom);
  EXPECT_LE(max_overflow(r.sim), 0.0);
  EXPECT_EQ(r.overflow_bytes, 0.0);
  const double builtin = best_builtin_ms(costs, cluster, o);
  ASSERT_GT(builtin, 0) << "the test needs a built-in that fits";
  EXPECT_LE(r.sim.iteration_ms, builtin + 1e-9);
  expect_replays(r, costs, cluster, o.sim);
}

TEST(Optimizer, ReportsTheClosestPlanWhenNothingFits) {
  // Static state alone (8 layers x 10 GB over 4 devices) exceeds a 15 GB device.
  CostTable costs = hetero_costs(8, false, 10e9, 1e8);
  Cluster cluster = make_uniform_cluster(4);
  for (auto& d : cluster.devices) d.memory_limit_bytes = 15e9;
  OptimizeOptions o = quick(4, 4);
  OptimizeResult r = optimize(costs, cluster, o);
  EXPECT_FALSE(r.feasible);
  EXPECT_TRUE(r.sim.oom);
  EXPECT_GT(r.overflow_bytes, 0.0);
  EXPECT_NEAR(r.overflow_bytes, max_overflow(r.sim), 1.0);
  // Two layers per device is the least static state possible: 20 GB, 5 GB over; plus activations.
  EXPECT_GE(r.overflow_bytes, 5e9);
  EXPECT_LT(r.overflow_bytes, 5e9 + 8 * 1e8 * 2 + 1);
  EXPECT_NE(r.message.find("no plan fits memory"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("over its"), std::string::npos) << r.message;
  expect_replays(r, costs, cluster, o.sim);
}

TEST(Optimizer, DeterministicPerSeedWhateverTheThreadCount) {
  CostTable costs = hetero_costs(6, true);
  Cluster cluster = make_uniform_cluster(2);
  OptimizeOptions o = quick(2, 4, 0);  // no budget: the search must end by itself
  o.threads = 1;
  OptimizeResult a = optimize(costs, cluster, o);
  o.threads = 3;
  OptimizeResult b = optimize(costs, cluster, o);
  ASSERT_EQ(a.final_progress.phase, "done");
  EXPECT_EQ(a.stopped_by, StopReason::Complete);
  EXPECT_TRUE(a.reproducible);
  ASSERT_EQ(a.message.find("time budget"), std::string::npos) << a.message;
  ASSERT_EQ(b.message.find("time budget"), std::string::npos) << b.message;
  EXPECT_EQ(a.best.partition.bounds, b.best.partition.bounds);
  EXPECT_EQ(a.best.placement.device_stages, b.best.placement.device_stages);
  EXPECT_EQ(a.best.schedule, b.best.schedule);
  EXPECT_EQ(a.sim.iteration_ms, b.sim.iteration_ms);
  EXPECT_EQ(a.final_progress.evaluated, b.final_progress.evaluated);
}

void expect_same_plan(const OptimizeResult& a, const OptimizeResult& b) {
  EXPECT_EQ(a.best.partition.bounds, b.best.partition.bounds);
  EXPECT_EQ(a.best.placement.device_stages, b.best.placement.device_stages);
  ASSERT_EQ(a.best.schedule.size(), b.best.schedule.size());
  for (size_t d = 0; d < a.best.schedule.size(); ++d)
    EXPECT_TRUE(a.best.schedule[d] == b.best.schedule[d]) << "device " << d << " orders differ";
  EXPECT_EQ(a.sim.iteration_ms, b.sim.iteration_ms);
}

// An evaluation budget is a deterministic stop: the same seed and budget give the same plan on any
// thread count, and the search stops at the first batch boundary past the budget.
TEST(Optimizer, EvaluationBudgetIsDeterministicWhateverTheThreadCount) {
  CostTable costs = hetero_costs(24, true);
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o = quick(4, 8, 3000);
  o.threads = 1;
  OptimizeResult a = optimize(costs, cluster, o);
  o.threads = 2;
  OptimizeResult b = optimize(costs, cluster, o);
  ASSERT_EQ(a.stopped_by, StopReason::Evaluations) << a.message;
  ASSERT_EQ(b.stopped_by, StopReason::Evaluations) << b.message;
  EXPECT_TRUE(a.reproducible);
  EXPECT_EQ(a.search_evaluations, b.search_evaluations);
  EXPECT_GE(a.search_evaluations, 3000);
  EXPECT_LT(a.search_evaluations, 2 * 3000);  // stops at the first batch boundary past it
  EXPECT_NE(a.message.find("evaluation budget reached"), std::string::npos) << a.message;
  expect_same_plan(a, b);
  expect_replays(a, costs, cluster, o.sim);
}

// A time-cut search stops between batches, so its result is repeated exactly by an evaluation
// budget equal to the work it did (on one thread here, so at a different speed).
TEST(Optimizer, TimeCutResultIsRepeatedByItsEvaluationCount) {
  CostTable costs = hetero_costs(48, true);
  Cluster cluster = make_uniform_cluster(8);
  // The one test of the wall-clock budget: it must cut this search (48 layers on 8 devices) well before its end.
  OptimizeOptions o = quick(8, 16, 0);
  o.time_limit_s = 0.4;
  OptimizeResult cut = optimize(costs, cluster, o);
  ASSERT_EQ(cut.stopped_by, StopReason::Time) << "the search finished inside 0.4 s; make the test input larger";
  if (!cut.reproducible) {
    // Only when a batch overran the deadline (a badly overloaded machine); then it must say so.
    EXPECT_NE(cut.message.find("not reproducible"), std::string::npos) << cut.message;
    return;
  }
  const std::string hint = "a budget of " + std::to_string(cut.search_evaluations) + " evaluations (max_evaluations)";
  EXPECT_NE(cut.message.find(hint), std::string::npos) << cut.message;
  o.time_limit_s = 300;
  o.threads = 1;
  o.max_evaluations = cut.search_evaluations;
  OptimizeResult again = optimize(costs, cluster, o);
  EXPECT_EQ(again.stopped_by, StopReason::Evaluations);
  EXPECT_EQ(again.search_evaluations, cut.search_evaluations);
  expect_same_plan(cut, again);
}

TEST(Optimizer, CancelReturnsTheBestSoFar) {
  CostTable costs = hetero_costs(24);
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o = quick(4, 8, 0);
  std::atomic<bool> cancel{false};
  int calls = 0;
  auto t0 = std::chrono::steady_clock::now();
  OptimizeResult r = optimize(
      costs, cluster, o,
      [&](const OptimizeProgress& p, const Plan* best) {
        ++calls;
        if (best && p.best_ms > 0) cancel.store(true);  // stop as soon as there is a plan
      },
      &cancel);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.final_progress.phase, "cancelled");
  EXPECT_LT(took, 20.0);
  EXPECT_GT(calls, 0);
  EXPECT_TRUE(r.feasible);
  EXPECT_NE(r.message.find("cancelled"), std::string::npos) << r.message;
  expect_replays(r, costs, cluster, o.sim);
}

TEST(Optimizer, CancelledBeforeStartingStillGivesAValidPlan) {
  CostTable costs = hetero_costs(8);
  Cluster cluster = make_uniform_cluster(4);
  std::atomic<bool> cancel{true};
  OptimizeResult r = optimize(costs, cluster, quick(4, 4), {}, &cancel);
  EXPECT_TRUE(r.cancelled);
  expect_replays(r, costs, cluster, quick(4, 4).sim);
}

TEST(Optimizer, ProgressIsMonotoneAndEndsDone) {
  CostTable costs = hetero_costs(12);
  Cluster cluster = make_uniform_cluster(4);
  std::vector<OptimizeProgress> seen;
  int with_plan = 0;
  OptimizeResult r = optimize(costs, cluster, quick(4, 8), [&](const OptimizeProgress& p, const Plan* best) {
    seen.push_back(p);
    if (best) ++with_plan;
  });
  ASSERT_GE(seen.size(), 2u);
  EXPECT_GT(with_plan, 0);
  double best = 0;
  for (size_t i = 0; i < seen.size(); ++i) {
    const auto& p = seen[i];
    EXPECT_GE(p.fraction, 0.0);
    EXPECT_LE(p.fraction, 1.0);
    EXPECT_FALSE(p.phase.empty());
    if (i > 0) {
      EXPECT_GE(p.fraction, seen[i - 1].fraction - 1e-12) << "at report " << i << " (" << p.phase << ")";
      EXPECT_GE(p.evaluated, seen[i - 1].evaluated);
      EXPECT_GE(p.elapsed_s, seen[i - 1].elapsed_s);
    }
    if (p.best_ms > 0) {
      if (best > 0) {
        EXPECT_LE(p.best_ms, best + 1e-9);
      }
      best = p.best_ms;
    }
  }
  EXPECT_EQ(seen.back().phase, "done");
  EXPECT_EQ(seen.back().fraction, 1.0);
  EXPECT_NEAR(seen.back().best_ms, r.sim.iteration_ms, 1e-9);
  EXPECT_EQ(r.final_progress.phase, "done");
}

TEST(Optimizer, MaxStagesPerDeviceIsRespected) {
  CostTable costs = hetero_costs(16);
  Cluster cluster = make_uniform_cluster(4);
  OptimizeOptions o = quick(4, 8);
  o.max_stages_per_device = 2;
  OptimizeResult r = optimize(costs, cluster, o);
  for (const auto& stages : r.best.placement.device_stages) {
    EXPECT_GE(stages.size(), 1u);
    EXPECT_LE(stages.size(), 2u);
  }
  expect_replays(r, costs, cluster, o.sim);
}

TEST(Optimizer, InvalidOptionsAndInputsThrowClearErrors) {
  CostTable costs = hetero_costs(6);
  Cluster cluster = make_uniform_cluster(4);
  // An option at fault is named as OptimizeOptions spells it (field()); anything else by its content.
  auto expect_error = [&](const CostTable& c, OptimizeOptions o, const std::string& field, const std::string& needle) {
    try {
      optimize(c, cluster, o);
      ADD_FAILURE() << "no error; expected one on field '" << field << "' mentioning '" << needle << "'";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), field) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      if (!field.empty()) {
        EXPECT_EQ(std::string(e.what()).rfind(field + ": ", 0), 0u) << e.what();
      }
    }
  };
  OptimizeOptions o = quick(4, 8);
  o.time_limit_s = 0;
  expect_error(costs, o, "time_limit_s", "positive");
  o.time_limit_s = -1;
  expect_error(costs, o, "time_limit_s", "-1");
  o.time_limit_s = std::nan("");
  expect_error(costs, o, "time_limit_s", "nan");
  o = quick(4, 8);
  o.max_evaluations = -5;
  expect_error(costs, o, "max_evaluations", "-5");
  o = quick(5, 8);
  expect_error(costs, o, "devices", "cluster");
  o = quick(0, 8);
  expect_error(costs, o, "devices", "at least 1");
  o = quick(4, 0);
  expect_error(costs, o, "microbatches", "at least 1");
  o = quick(4, 8);
  o.threads = -2;
  expect_error(costs, o, "threads", "-2");
  o.threads = 100000;  // would start as many threads and starve the machine
  expect_error(costs, o, "threads", "must be in [0, " + std::to_string(max_optimizer_threads()) + "]");
  o = quick(4, 100000);
  expect_error(costs, o, "microbatches", "100000 is above the limit of 16384");
  o = quick(4, 8);
  o.max_stages_per_device = -1;
  expect_error(costs, o, "max_stages_per_device", "-1");
  expect_error(hetero_costs(3), quick(4, 8), "devices", "only 3 layers");
  expect_error(CostTable{}, quick(4, 8), "", "no layers");
  CostTable negative = hetero_costs(6);
  negative.layers[2].b_ms = -1;
  expect_error(negative, quick(4, 8), "", "layer 2");
}
