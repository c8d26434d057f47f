// Output gradients a separate B makes for its W (LayerCost::w_grad_bytes): the weight gradient reads the
// gradient of each linear's output, which B computes. They are not activations F kept: they appear with
// the B (counted from its end, with what it frees: a stage's B goes layer by layer) and go with the W. A
// fused BW uses them up inside itself. The simulator's ledger and the list scheduler count them alike.
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

using test::packed;
using test::split_costs;

// `layers` layers with F = 1, B = 2, W = 1 ms; each keeps act_b from F until B and act_w until W, and
// its B makes w_grad for its W.
CostTable split_backward_costs(int layers, double act_b, double act_w, double w_grad) {
  CostTable t;
  t.model = "split-backward";
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = std::string("l").append(std::to_string(i));
    c.f_ms = 1, c.b_ms = 2, c.w_ms = 1;
    c.act_b_bytes = act_b, c.act_w_bytes = act_w, c.w_grad_bytes = w_grad;
    c.out_bytes = 10;
    c.state_bytes = 1000;
    t.layers.push_back(c);
  }
  return t;
}

Action act(Op op, int mb) {
  Action a;
  a.op = op;
  a.stage = 0;
  a.mb = mb;
  return a;
}

// One device, one stage, two micro-batches in the order F0 F1 B0 B1 W0 W1 (split) or F0 F1 BW0 BW1.
Plan one_device_plan(bool split) {
  PlanRequest r;
  r.schedule = "gpipe";
  r.devices = 1;
  r.microbatches = 2;
  Plan p = build_plan(r, 1);
  if (split)
    p.schedule[0] = {act(Op::F, 0), act(Op::F, 1), act(Op::B, 0), act(Op::B, 1), act(Op::W, 0), act(Op::W, 1)};
  else
    p.schedule[0] = {act(Op::F, 0), act(Op::F, 1), act(Op::BW, 0), act(Op::BW, 1)};
  return p;
}

}  // namespace

// F0 F1: 2 x 200 kept. B0 frees the 100 it read and makes 300 for W0 (600); B1 the same (800, the peak:
// 2 x 100 kept for W, 2 x 300 made for W). Then W0 frees 100 + 300, W1 the same: nothing is left.
TEST(WeightGradMemory, ABackwardHoldsWhatItMakesUntilItsWeightGradientEnds) {
  const CostTable c = split_backward_costs(1, 100, 100, 300);
  const Plan plan = one_device_plan(true);
  ASSERT_TRUE(validate_plan(plan, 1).ok()) << validate_plan(plan, 1).message();
  SimOptions o;
  o.record_memory_timeline = true;
  const SimResult s = simulate(plan, c, make_uniform_cluster(1), o);
  ASSERT_TRUE(s.ok) << s.error;
  const DeviceStats& d = s.devices[0];
  EXPECT_DOUBLE_EQ(d.peak_activation_bytes, 800);
  EXPECT_DOUBLE_EQ(d.peak_w_grad_bytes, 600);
  EXPECT_DOUBLE_EQ(d.peak_kept_bytes, 200);
  EXPECT_DOUBLE_EQ(d.peak_kept_bytes + d.peak_recomputed_bytes + d.peak_carried_bytes + d.peak_w_grad_bytes,
                   d.peak_activation_bytes);
  ASSERT_FALSE(s.memory[0].empty());
  EXPECT_DOUBLE_EQ(s.memory[0].back().bytes, d.static_bytes);
  // Without them the same order peaks at what F kept.
  const SimResult none = simulate(plan, split_backward_costs(1, 100, 100, 0), make_uniform_cluster(1), o);
  ASSERT_TRUE(none.ok) << none.error;
  EXPECT_DOUBLE_EQ(none.devices[0].peak_activation_bytes, 400);
  EXPECT_DOUBLE_EQ(none.devices[0].peak_w_grad_bytes, 0);
  // B and W one after the other (F0 B0 W0 F1 B1 W1): after B0, what F kept for W and what B0 made for it.
  Plan serial = plan;
  serial.schedule[0] = {act(Op::F, 0), act(Op::B, 0), act(Op::W, 0), act(Op::F, 1), act(Op::B, 1), act(Op::W, 1)};
  const SimResult one = simulate(serial, c, make_uniform_cluster(1), o);
  ASSERT_TRUE(one.ok) << one.error;
  EXPECT_DOUBLE_EQ(one.devices[0].peak_activation_bytes, 100 + 300);
  // A B that frees more than it makes never raises the peak: it stays what both Fs kept.
  const SimResult less = simulate(plan, split_backward_costs(1, 300, 100, 200), make_uniform_cluster(1), o);
  ASSERT_TRUE(less.ok) << less.error;
  EXPECT_DOUBLE_EQ(less.devices[0].peak_activation_bytes, 800);
}

// A fused BW makes and uses them inside itself: they are never held between actions.
TEST(WeightGradMemory, AFusedBackwardHoldsNone) {
  const Plan plan = one_device_plan(false);
  ASSERT_TRUE(validate_plan(plan, 1).ok()) << validate_plan(plan, 1).message();
  const SimResult with = simulate(plan, split_backward_costs(1, 100, 100, 300), make_uniform_cluster(1));
  const SimResult without = simulate(plan, split_backward_costs(1, 100, 100, 0), make_uniform_cluster(1));
  ASSERT_TRUE(with.ok && without.ok) << with.error << without.error;
  EXPECT_DOUBLE_EQ(with.devices[0].peak_activation_bytes, 400);
  EXPECT_DOUBLE_EQ(with.devices[0].peak_activation_bytes, without.devices[0].peak_activation_bytes);
  EXPECT_DOUBLE_EQ(with.devices[0].peak_w_grad_bytes, 0);
}

// Stage costs sum them (the partitioner's cache too); per-unit costs scale them with tokens, and no memory
// policy touches them (F does not make them).
TEST(WeightGradMemory, StageAndUnitCostsCarryThem) {
  CostTable c = split_costs(4, 1.0, 0.5);
  for (size_t l = 0; l < c.layers.size(); ++l) {
    c.layers[l].w_ms = 0.5;
    c.layers[l].w_grad_bytes = 100.0 * double(l + 1);
  }
  const Partition part = Partition::from_sizes({1, 3});
  const std::vector<StageCost> st = stage_costs(c, part);
  EXPECT_DOUBLE_EQ(st[0].w_grad_bytes, 100);
  EXPECT_DOUBLE_EQ(st[1].w_grad_bytes, 200 + 300 + 400);
  std::vector<StageCost> cached;
  StageCostCache(c).stages(part.bounds, cached);
  EXPECT_DOUBLE_EQ(cached[1].w_grad_bytes, 900);
  StageMemoryPolicy full;
  full.recompute = Recompute::Full;
  full.offload_fraction = 0.5;
  const std::vector<StageCost> with_policy = stage_costs(c, part, std::vector<StageMemoryPolicy>{full, full});
  EXPECT_DOUBLE_EQ(with_policy[1].w_grad_bytes, 900);
  // Reference 1000 tokens: 3000 tokens make 3x, 250 a quarter, whatever their attention area.
  const std::vector<WorkUnit> units = {packed({3000}), packed({100, 100, 50})};
  std::vector<UnitStageCost> uc;
  unit_stage_costs(with_policy, units, cost_reference(c), uc);
  EXPECT_DOUBLE_EQ(uc[2 + 0].w_grad_bytes, 3 * 900.0);
  EXPECT_DOUBLE_EQ(uc[2 + 1].w_grad_bytes, 0.25 * 900.0);
  EXPECT_DOUBLE_EQ(uc[0].w_grad_bytes, 3 * 100.0);
}

// The list scheduler counts them as the simulator does: its peaks are the simulator's on every device, with
// units and without, and they raise the peaks of a split schedule only.
TEST(WeightGradMemory, ListSchedulerPeaksAreTheSimulators) {
  const std::vector<WorkUnit> units = {packed({800, 200}), packed({3000}), packed({100, 100, 50}), packed({1500}),
                                       packed({600}),      packed({2000}), packed({400, 400}),      packed({1000})};
  for (bool with_units : {false, true})
    for (bool split : {true, false}) {
      std::vector<double> peak_without;
      for (double w_grad : {0.0, 1500.0}) {  // more than each B frees (act_b 1000)
        CostTable c = split_costs(8, 1.0, 0.5);
        for (LayerCost& l : c.layers) l.w_ms = 0.5 * l.b_ms, l.act_w_bytes = 200, l.w_grad_bytes = w_grad;
        const test::ListedAndSimulated run =
            test::list_schedule_and_simulate(c, with_units ? units : std::vector<WorkUnit>{}, 8, split);
        const ListScheduleResult& lr = run.listed;
        ASSERT_TRUE(lr.ok) << lr.error;
        ASSERT_TRUE(validate_plan(run.plan, 8).ok()) << validate_plan(run.plan, 8).message();
        const SimResult& s = run.simulated;
        ASSERT_TRUE(s.ok) << s.error;
        const std::string at = std::string(with_units ? "units" : "equal") + (split ? " split" : " fused") +
                               " w_grad " + std::to_string(w_grad);
        for (int d = 0; d < 4; ++d) {
          EXPECT_NEAR(s.devices[d].peak_memory_bytes, lr.peak_bytes[d], 1e-6) << at << " device " << d;
          if (w_grad == 0) {
            peak_without.push_back(s.devices[d].peak_memory_bytes);
          } else if (split) {
            EXPECT_GT(s.devices[d].peak_memory_bytes, peak_without[static_cast<size_t>(d)]) << at << " device " << d;
            EXPECT_GT(s.devices[d].peak_w_grad_bytes, 0) << at << " device " << d;
          } else {
            EXPECT_DOUBLE_EQ(s.devices[d].peak_memory_bytes, peak_without[static_cast<size_t>(d)]) << at;
          }
        }
      }
    }
}
