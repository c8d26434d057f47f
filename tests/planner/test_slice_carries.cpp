// Slices' key/value gradient carries (planner/units.h): the backward of a later slice produces the
// gradients of the keys and values it read from earlier slices of its row, and each earlier slice holds
// them in a carry of its own key/value size until its B folds them in. The simulator's ledger and the
// list scheduler count them from the start of the B of the slice's last reader to the end of its own B.
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
using test::unit_plan;
using test::split_costs;

CostTable costs_with_kv(int layers, double kv) {
  CostTable c = split_costs(layers, 2.0, 1.0, 0.1);
  for (LayerCost& l : c.layers) l.kv_bytes = kv;
  return c;
}

}  // namespace

// A document running on through several slices is read by all of them: the last one's B comes first.
TEST(SliceCarries, TheLastReaderFollowsTheDocument) {
  std::vector<WorkUnit> units = slice_row({6000}, {3000, 2000, 1000}, 0);  // one document, 3 slices
  for (auto& u : slice_row({4000, 2000}, {3000, 2000, 1000}, 1)) units.push_back(u);
  units.push_back(packed({700, 300}));
  // Row 1: slice 0 holds 3000 of document 0; slice 1 its last 1000 and 1000 of document 1; slice 2 the
  // rest of document 1. Slice 0 is read by slice 1 only; slice 1 by slice 2.
  ASSERT_EQ(units[4].docs, (std::vector<long long>{1000, 1000}));
  const KeyReaders k = key_readers(units);
  EXPECT_EQ(k.read_later, (std::vector<char>{1, 1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(k.last_reader, (std::vector<int>{2, 2, -1, 4, 5, -1, -1}));
  EXPECT_EQ(k.read_later, keys_read_later(units));
}

TEST(SliceCarries, UnitCostsSizeTheCarriesByTheKeysAndValues) {
  std::vector<WorkUnit> units = slice_row({6000}, {3000, 2000, 1000}, 0);
  units.push_back(packed({1000, 500}));
  const CostTable costs = costs_with_kv(4, 150);
  const std::vector<StageCost> st = stage_costs(costs, Partition::from_sizes({1, 3}));
  EXPECT_DOUBLE_EQ(st[0].kv_bytes, 150);
  EXPECT_DOUBLE_EQ(st[1].kv_bytes, 450);
  // The optimizer's cache sums them alike.
  std::vector<StageCost> cached;
  StageCostCache(costs).stages({0, 1, 4}, cached);
  EXPECT_DOUBLE_EQ(cached[1].kv_bytes, 450);
  std::vector<UnitStageCost> uc;
  unit_stage_costs(st, units, cost_reference(costs), uc);
  const size_t U = units.size();
  // Reference 1000 tokens: slice 0 (3000 tokens) carries 3x the stage's keys and values, slice 1 2x.
  EXPECT_DOUBLE_EQ(uc[U + 0].carry_bytes, 3 * 450.0);
  EXPECT_DOUBLE_EQ(uc[U + 1].carry_bytes, 2 * 450.0);
  EXPECT_DOUBLE_EQ(uc[U + 2].carry_bytes, 0);
  EXPECT_DOUBLE_EQ(uc[U + 3].carry_bytes, 0);
  // The last slice's B creates both; nobody else creates any.
  EXPECT_DOUBLE_EQ(uc[U + 2].carries_created_bytes, 5 * 450.0);
  EXPECT_DOUBLE_EQ(uc[U + 0].carries_created_bytes + uc[U + 1].carries_created_bytes + uc[U + 3].carries_created_bytes, 0);
  EXPECT_DOUBLE_EQ(uc[2].carries_created_bytes, 5 * 150.0);
  // Keys and values not given: no carry is counted.
  const std::vector<StageCost> unknown = stage_costs(costs_with_kv(4, -1), Partition::from_sizes({1, 3}));
  unit_stage_costs(unknown, units, cost_reference(costs), uc);
  for (const UnitStageCost& c : uc) EXPECT_EQ(c.carry_bytes + c.carries_created_bytes, 0);
}

// The searches derive the key readers once per unit list and pass them in: every (stage, unit) cost,
// recompute selections included, is the same as when unit_stage_costs derives them itself, and readers
// of another list are refused.
TEST(SliceCarries, GivenKeyReadersCostAsDerivedOnes) {
  std::vector<WorkUnit> units = slice_row({6000}, {3000, 2000, 1000}, 0);
  for (auto& u : slice_row({4000, 2000}, {3000, 2000, 1000}, 1)) units.push_back(u);
  units.push_back(packed({700, 300}));
  const CostTable costs = costs_with_kv(4, 150);
  std::vector<StageMemoryPolicy> memory(2);
  memory[0].recompute = Recompute::Selective;
  memory[0].units = {0, 3, 6};
  memory[1].recompute = Recompute::Full;
  memory[1].offload_fraction = 0.5;
  const KeyReaders keys = key_readers(units);
  for (const auto& policies : {std::vector<StageMemoryPolicy>{}, memory}) {
    const std::vector<StageCost> st = stage_costs(costs, Partition::from_sizes({1, 3}), policies);
    std::vector<UnitStageCost> derived, given;
    unit_stage_costs(st, units, cost_reference(costs), derived, policies);
    unit_stage_costs(st, units, keys, cost_reference(costs), given, policies);
    ASSERT_EQ(given.size(), derived.size());
    double carries = 0;
    for (size_t k = 0; k < given.size(); ++k) {
      const UnitStageCost& a = given[k];
      const UnitStageCost& b = derived[k];
      EXPECT_EQ(a.f_ms, b.f_ms) << k;
      EXPECT_EQ(a.b_ms, b.b_ms) << k;
      EXPECT_EQ(a.w_ms, b.w_ms) << k;
      EXPECT_EQ(a.act_b_bytes, b.act_b_bytes) << k;
      EXPECT_EQ(a.act_w_bytes, b.act_w_bytes) << k;
      EXPECT_EQ(a.out_bytes, b.out_bytes) << k;
      EXPECT_EQ(a.in_bytes, b.in_bytes) << k;
      EXPECT_EQ(a.recompute, b.recompute) << k;
      EXPECT_EQ(a.kept_bytes, b.kept_bytes) << k;
      EXPECT_EQ(a.recompute_ms, b.recompute_ms) << k;
      EXPECT_EQ(a.carry_bytes, b.carry_bytes) << k;
      EXPECT_EQ(a.carries_created_bytes, b.carries_created_bytes) << k;
      EXPECT_EQ(a.offload_bytes, b.offload_bytes) << k;
      carries += a.carries_created_bytes;
    }
    EXPECT_GT(carries, 0);  // the rows' slices do carry, so the readers mattered
  }
  std::vector<WorkUnit> fewer(units.begin(), units.begin() + 3);
  std::vector<UnitStageCost> uc;
  EXPECT_THROW(unit_stage_costs(stage_costs(costs, Partition::from_sizes({1, 3})), fewer, keys, cost_reference(costs), uc),
               InputError);
}

// One device, two slices: F0 F1 B1 B0. The peak is both slices' activations plus slice 0's carry, taken
// at the start of B1; B0 frees it with slice 0's activations.
TEST(SliceCarries, TheSimulatorHoldsACarryFromTheReadersBackwardToItsOwn) {
  const std::vector<WorkUnit> units = slice_row({4000}, {2000, 2000}, 0);
  const Plan plan = unit_plan("gpipe", 1, units, 2);
  ASSERT_TRUE(validate_plan(plan, 2).ok()) << validate_plan(plan, 2).message();
  SimOptions o;
  o.record_memory_timeline = true;
  const SimResult with = simulate(plan, costs_with_kv(2, 150), make_uniform_cluster(1), o);
  const SimResult without = simulate(plan, costs_with_kv(2, -1), make_uniform_cluster(1), o);
  ASSERT_TRUE(with.ok && without.ok) << with.error << without.error;
  const double act = 2 * 2 * 1000.0;  // per slice: 2 layers x 1000 bytes per reference unit x 2
  EXPECT_DOUBLE_EQ(without.devices[0].peak_activation_bytes, 2 * act);
  EXPECT_DOUBLE_EQ(without.devices[0].peak_carried_bytes, 0);
  EXPECT_DOUBLE_EQ(with.devices[0].peak_activation_bytes, 2 * act + 2 * 2 * 150.0);
  EXPECT_DOUBLE_EQ(with.devices[0].peak_carried_bytes, 2 * 2 * 150.0);
  EXPECT_DOUBLE_EQ(with.devices[0].peak_kept_bytes + with.devices[0].peak_recomputed_bytes +
                       with.devices[0].peak_carried_bytes,
                   with.devices[0].peak_activation_bytes);
  // The timeline ends with nothing live: every carry was folded in.
  ASSERT_FALSE(with.memory[0].empty());
  EXPECT_DOUBLE_EQ(with.memory[0].back().bytes, with.devices[0].static_bytes);
}

// The list scheduler's replay applies the same rule: its peaks are the simulator's on every device, with
// and without split backwards. Over one row of slices alone the carries raise every device's peak: the
// last slice's B starts with the whole row live.
TEST(SliceCarries, ListSchedulerPeaksAreTheSimulators) {
  std::vector<WorkUnit> mixed = {packed({300, 200})};
  for (auto& u : slice_row({5000}, {2000, 1200, 1000, 800}, 0)) mixed.push_back(u);
  for (auto& u : slice_row({1500, 2500}, {2000, 2000}, 1)) mixed.push_back(u);
  mixed.push_back(packed({900, 10}));
  const std::vector<WorkUnit> one_row = slice_row({5000}, {2000, 1200, 1000, 800}, 0);
  const std::vector<WorkUnit>* const unit_sets[] = {&mixed, &one_row};
  for (const std::vector<WorkUnit>* units : unit_sets)
    for (bool split : {true, false}) {
      std::vector<double> peak_without;
      for (double kv : {-1.0, 300.0}) {
        CostTable c = costs_with_kv(8, kv);
        if (split)
          for (LayerCost& l : c.layers) l.w_ms = 0.5 * l.b_ms, l.act_w_bytes = 200;
        const test::ListedAndSimulated run = test::list_schedule_and_simulate(c, *units, 0, split);
        const ListScheduleResult& lr = run.listed;
        ASSERT_TRUE(lr.ok) << lr.error;
        ASSERT_TRUE(validate_plan(run.plan, 8).ok()) << validate_plan(run.plan, 8).message();
        const SimResult& s = run.simulated;
        ASSERT_TRUE(s.ok) << s.error;
        for (int d = 0; d < 4; ++d) {
          EXPECT_NEAR(s.devices[d].peak_memory_bytes, lr.peak_bytes[d], 1e-6) << "device " << d << " kv " << kv;
          if (kv < 0) {
            peak_without.push_back(s.devices[d].peak_memory_bytes);
            EXPECT_EQ(s.devices[d].peak_carried_bytes, 0);
          } else if (units == &one_row) {
            EXPECT_GT(s.devices[d].peak_memory_bytes, peak_without[static_cast<size_t>(d)]) << "device " << d;
            EXPECT_GT(s.devices[d].peak_carried_bytes, 0) << "device " << d;
          }
        }
      }
    }
}
