// Per-unit checkpointing (StageMemoryPolicy::units over Plan::units): each unit's recompute time and
// kept bytes scale from the stage's like the forward they re-run, a stage recomputes only the units its
// policy selects, the plan file keeps the selection, and the validator names what is wrong with one.
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/recompute_exports.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

using test::packed;
using test::unit_plan;
using test::split_costs;

bool any_error_contains(const ValidationReport& v, const std::string& text) {
  for (const auto& e : v.errors)
    if (e.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

// Full recompute re-runs the forward: a unit's R splits like its F (fixed, token, pair parts), and what
// it keeps (the stage input) grows with its tokens. Selective grows with tokens only.
TEST(UnitCheckpointing, RecomputeTimeAndKeptBytesScaleWithTheUnit) {
  const CostTable costs = split_costs(4, 2.0, 1.0, 0.25);
  const Partition part = Partition::from_sizes({2, 2});
  const CostReference ref = cost_reference(costs);
  StageMemoryPolicy full;
  full.recompute = Recompute::Full;
  const std::vector<StageCost> st = stage_costs(costs, part, {full, full});
  ASSERT_TRUE(st[0].recompute);
  EXPECT_DOUBLE_EQ(st[0].recompute_ms, 2 * 3.25);
  EXPECT_DOUBLE_EQ(st[0].recompute_pair_ms, 2 * 1.0);
  EXPECT_DOUBLE_EQ(st[0].recompute_fixed_ms, 2 * 0.25);

  const UnitStageCost at_ref = unit_stage_cost(st[0], packed({1000}), ref);
  EXPECT_TRUE(at_ref.recompute);
  EXPECT_DOUBLE_EQ(at_ref.recompute_ms, st[0].recompute_ms);
  EXPECT_DOUBLE_EQ(at_ref.recompute_ms, at_ref.f_ms);  // full recompute of every layer = the stage's F
  EXPECT_DOUBLE_EQ(at_ref.kept(), st[0].kept_bytes);

  // Two documents of 1000: twice the tokens, twice the pairs; one of 2000: twice the tokens, 4x the pairs.
  const UnitStageCost two = unit_stage_cost(st[0], packed({1000, 1000}), ref);
  const UnitStageCost one = unit_stage_cost(st[0], packed({2000}), ref);
  EXPECT_DOUBLE_EQ(two.recompute_ms, 0.5 + 2 * 4.0 + 2 * 2.0);
  EXPECT_DOUBLE_EQ(one.recompute_ms, 0.5 + 2 * 4.0 + 4 * 2.0);
  EXPECT_DOUBLE_EQ(two.kept(), 2 * st[0].kept_bytes);
  EXPECT_DOUBLE_EQ(one.kept(), two.kept());
  EXPECT_LT(two.kept(), two.act_b_bytes + two.act_w_bytes);

  StageMemoryPolicy sel;
  sel.recompute = Recompute::Selective;
  const std::vector<StageCost> ss = stage_costs(costs, part, {sel, sel});
  const UnitStageCost s1 = unit_stage_cost(ss[0], packed({1000}), ref);
  const UnitStageCost s2 = unit_stage_cost(ss[0], packed({2000}), ref);
  EXPECT_DOUBLE_EQ(s2.recompute_ms, 2 * s1.recompute_ms);  // token-linear, whatever the pairs
  EXPECT_DOUBLE_EQ(s2.kept(), 2 * s1.kept());
}

// A stage recomputes only the units its policy lists; the others keep everything and have no R.
TEST(UnitCheckpointing, OnlyTheSelectedUnitsRecompute) {
  const CostTable costs = split_costs(4, 2.0, 1.0, 0.0);
  const std::vector<WorkUnit> units = {packed({3000}), packed({500, 500}), packed({2000}), packed({100, 200, 300})};
  Plan plan = unit_plan("1f1b", 2, units, 4);
  StageMemoryPolicy p;
  p.recompute = Recompute::Full;
  p.units = {0, 2};
  set_memory_policy(plan, {p, StageMemoryPolicy{}});
  const ValidationReport v = validate_plan(plan, 4);
  ASSERT_TRUE(v.ok()) << v.message();
  int r_count = 0;
  for (const Action& a : plan.schedule[0])
    if (a.op == Op::R) {
      ++r_count;
      EXPECT_TRUE(a.mb == 0 || a.mb == 2) << to_string(a);
    }
  EXPECT_EQ(r_count, 2);
  EXPECT_EQ(describe(p), "full on 2 units");

  std::vector<UnitStageCost> per_unit;
  const std::vector<StageCost> st = stage_costs(costs, plan.partition, plan.memory);
  unit_stage_costs(st, units, cost_reference(costs), per_unit, plan.memory);
  const size_t U = units.size();
  EXPECT_TRUE(per_unit[0].recompute);
  EXPECT_FALSE(per_unit[1].recompute);
  EXPECT_TRUE(per_unit[2].recompute);
  EXPECT_FALSE(per_unit[3].recompute);
  EXPECT_DOUBLE_EQ(per_unit[1].kept(), per_unit[1].act_b_bytes + per_unit[1].act_w_bytes);
  for (size_t u = 0; u < U; ++u) EXPECT_FALSE(per_unit[U + u].recompute) << "stage 1 has no policy";

  // Simulated: device 0 spends exactly the selected units' recompute time in R.
  const SimResult r = simulate(plan, costs, make_uniform_cluster(2));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_NEAR(r.devices[0].recompute_ms, per_unit[0].recompute_ms + per_unit[2].recompute_ms, 1e-9);
  EXPECT_EQ(r.devices[1].recompute_ms, 0.0);
  // Recomputing every unit costs more R time than the selection, and keeps less.
  Plan all = plan;
  p.units.clear();
  set_memory_policy(all, {p, StageMemoryPolicy{}});
  const SimResult ra = simulate(all, costs, make_uniform_cluster(2));
  ASSERT_TRUE(ra.ok) << ra.error;
  EXPECT_GT(ra.devices[0].recompute_ms, r.devices[0].recompute_ms);
  EXPECT_LE(ra.devices[0].peak_activation_bytes, r.devices[0].peak_activation_bytes);
}

TEST(UnitCheckpointing, PlanFileKeepsTheSelection) {
  const std::vector<WorkUnit> units = {packed({3000}), packed({500, 500}), packed({2000})};
  Plan plan = unit_plan("1f1b", 2, units, 4);
  StageMemoryPolicy p;
  p.recompute = Recompute::Selective;
  p.units = {1, 2};
  set_memory_policy(plan, {p, StageMemoryPolicy{}});
  const nlohmann::json j = plan_to_json(plan);
  ASSERT_TRUE(j["memory"][0].contains("units"));
  const Plan back = plan_from_json(j, "round-trip.json");
  EXPECT_EQ(back.memory, plan.memory);
  EXPECT_EQ(back.schedule, plan.schedule);

  nlohmann::json bad = j;
  bad["memory"][0]["units"] = "all";
  try {
    (void)plan_from_json(bad, "bad.json");
    FAIL() << "a non-list 'units' was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: memory[0]: field 'units'"), std::string::npos) << e.what();
  }
  bad["memory"][0]["units"] = {0, 1.5};
  EXPECT_THROW((void)plan_from_json(bad, "bad.json"), InputError);
}

TEST(UnitCheckpointing, ValidatorNamesBadSelections) {
  const std::vector<WorkUnit> units = {packed({3000}), packed({500, 500}), packed({2000})};
  const Plan base = unit_plan("1f1b", 2, units, 4);
  auto with = [&](StageMemoryPolicy p) {
    Plan plan = base;
    plan.memory = {p, StageMemoryPolicy{}};
    return plan;
  };
  StageMemoryPolicy p;
  p.recompute = Recompute::Full;
  p.units = {2, 0};
  EXPECT_TRUE(any_error_contains(validate_plan(with(p), 4), "ascending order")) << validate_plan(with(p), 4).message();
  p.units = {0, 3};
  EXPECT_TRUE(any_error_contains(validate_plan(with(p), 4), "outside the plan's units 0..2"));
  p.units = {1};
  p.recompute = Recompute::None;
  EXPECT_TRUE(any_error_contains(validate_plan(with(p), 4), "recomputes nothing"));
  // Offload beside it is fine (test_unit_offload.cpp); the recompute still needs its R actions.
  p.recompute = Recompute::Full;
  p.units.clear();
  p.offload_fraction = 0.5;
  EXPECT_TRUE(any_error_contains(validate_plan(with(p), 4), "has no R action")) << validate_plan(with(p), 4).message();

  // A selection on a plan without units.
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 2;
  r.microbatches = 3;
  Plan plain = build_plan(r, 4);
  StageMemoryPolicy q;
  q.recompute = Recompute::Full;
  q.units = {0};
  plain.memory = {q, StageMemoryPolicy{}};
  EXPECT_TRUE(any_error_contains(validate_plan(plain, 4), "has no variable-length units"));

  // An R for a unit the stage does not recompute, and a missing one for a unit it does.
  Plan plan = base;
  p = StageMemoryPolicy{};
  p.recompute = Recompute::Full;
  p.units = {0};
  set_memory_policy(plan, {p, StageMemoryPolicy{}});
  ASSERT_TRUE(validate_plan(plan, 4).ok());
  plan.memory[0].units = {1};
  const ValidationReport v = validate_plan(plan, 4);
  EXPECT_TRUE(any_error_contains(v, "does not recompute (not in its memory policy's field 'units')")) << v.message();
  EXPECT_TRUE(any_error_contains(v, "stage 0 mb 1: stage 0 recomputes")) << v.message();
}

// Slices: a recomputed slice that later slices of its row read keeps its keys and values until its B
// (chunk checkpointing); the rest of what the policy drops it drops. Per reference micro-batch (1000
// tokens) each layer keeps 1000 bytes, 100 of them its input, 400 under selective, and `kv` of keys and
// values.
TEST(UnitCheckpointing, ARecomputedSliceThatLaterSlicesReadKeepsItsKeysAndValues) {
  std::vector<WorkUnit> units = slice_row({6000}, {3000, 2000, 1000}, 0);
  units.push_back(packed({1000, 500}));
  EXPECT_EQ(keys_read_later(units), (std::vector<char>{1, 1, 0, 0}));
  CostTable costs = split_costs(4, 2.0, 1.0, 0.0);
  for (LayerCost& l : costs.layers) l.kv_bytes = 150;
  const CostReference ref = cost_reference(costs);
  const Partition part = Partition::from_sizes({2, 2});
  StageMemoryPolicy full, first1, sel;
  full.recompute = Recompute::Full;
  first1 = full;
  first1.full_layers = 1;
  sel.recompute = Recompute::Selective;
  const std::vector<StageCost> st = stage_costs(costs, part, {full, first1});
  EXPECT_DOUBLE_EQ(st[0].kept_bytes, 100);
  EXPECT_DOUBLE_EQ(st[0].kept_read_bytes, 100 + 2 * 150);
  EXPECT_DOUBLE_EQ(st[1].kept_bytes, 100 + 1000);            // layer 3 is not recomputed
  EXPECT_DOUBLE_EQ(st[1].kept_read_bytes, 100 + 1000 + 150);  // layer 2's keys and values stay
  std::vector<UnitStageCost> uc;
  unit_stage_costs(st, units, ref, uc);
  const size_t U = units.size();
  EXPECT_DOUBLE_EQ(uc[0].kept(), 3 * 400.0);  // slice 0, 3000 tokens, read by slice 1
  EXPECT_DOUBLE_EQ(uc[1].kept(), 2 * 400.0);  // slice 1, read by slice 2
  EXPECT_DOUBLE_EQ(uc[2].kept(), 1 * 100.0);  // the last slice keeps its input only
  EXPECT_DOUBLE_EQ(uc[3].kept(), 1.5 * 100.0);
  EXPECT_DOUBLE_EQ(uc[U + 0].kept(), 3 * 1250.0);
  EXPECT_DOUBLE_EQ(uc[U + 2].kept(), 1 * 1100.0);
  // R re-runs the same forward, read or not.
  EXPECT_DOUBLE_EQ(uc[0].recompute_ms, unit_stage_cost(st[0], units[0], ref).recompute_ms);
  // Selective keeps q, k, v already (400 >= 150): nothing more; a table whose keys and values are more
  // than what selective keeps keeps them instead.
  std::vector<StageCost> ss = stage_costs(costs, part, {sel, sel});
  EXPECT_DOUBLE_EQ(ss[0].kept_read_bytes, ss[0].kept_bytes);
  for (LayerCost& l : costs.layers) l.kv_bytes = 500;
  ss = stage_costs(costs, part, {sel, sel});
  EXPECT_DOUBLE_EQ(ss[0].kept_bytes, 2 * 400.0);
  EXPECT_DOUBLE_EQ(ss[0].kept_read_bytes, 2 * 500.0);
  // Keys and values unknown: a read slice keeps everything (no saving), the others save as before.
  for (LayerCost& l : costs.layers) l.kv_bytes = -1;
  unit_stage_costs(stage_costs(costs, part, {full, full}), units, ref, uc);
  EXPECT_DOUBLE_EQ(uc[0].kept(), uc[0].act_b_bytes + uc[0].act_w_bytes);
  EXPECT_DOUBLE_EQ(uc[2].kept(), 100.0);

  // The validator takes every slice; the simulator holds the kept keys and values: recomputing the read
  // slices lowers the peak, and less the more keys and values they keep.
  const Plan base = unit_plan("gpipe", 2, units, 4);
  auto peak = [&](double kv, bool recompute) {
    CostTable c = split_costs(4, 2.0, 1.0, 0.0);
    for (LayerCost& l : c.layers) l.kv_bytes = kv;
    Plan plan = base;
    if (recompute) {
      StageMemoryPolicy p = full;
      p.units = {0, 1};
      set_memory_policy(plan, {p, p});
    }
    const ValidationReport v = validate_plan(plan, 4);
    EXPECT_TRUE(v.ok()) << v.message();
    const SimResult r = simulate(plan, c, make_uniform_cluster(2));
    EXPECT_TRUE(r.ok) << r.error;
    if (recompute) {
      EXPECT_GT(r.devices[0].recompute_ms, 0);
    }
    return r.devices[0].peak_activation_bytes;
  };
  const double none = peak(150, false), small = peak(150, true), big = peak(450, true);
  EXPECT_LT(small, none);
  EXPECT_LT(small, big);
  EXPECT_LT(big, none);
  // At most what the two slices drop on stage 0 (2000 per reference unit, 100 + 2 * kv kept) is saved:
  // an R re-creates one of them while the other still keeps its part.
  EXPECT_LE(none - small, (3 + 2) * (2000 - (100 + 2 * 150.0)));
}

// Trainers checkpoint every micro-batch of a stage alike: the exports say the selection is lost.
TEST(UnitCheckpointing, ExportsSayTheSelectionCannotBeExpressed) {
  const std::vector<WorkUnit> units = {packed({3000}), packed({500, 500}), packed({2000})};
  Plan plan = unit_plan("1f1b", 2, units, 4);
  StageMemoryPolicy p;
  p.recompute = Recompute::Full;
  p.units = {0, 2};
  set_memory_policy(plan, {p, StageMemoryPolicy{}});
  const RecomputeExport tt = torchtitan_activation_checkpoint(plan);
  EXPECT_FALSE(tt.exact);
  bool noted = false;
  for (const auto& n : tt.notes) noted = noted || n.find("per-unit checkpointing (stage 0: 2 of 3 units)") != std::string::npos;
  EXPECT_TRUE(noted) << format_torchtitan_activation_checkpoint(tt);
  EXPECT_NE(pytorch_csv_memory_note(plan).find("listed units only"), std::string::npos) << pytorch_csv_memory_note(plan);
  // Every unit recomputed: nothing to note about units.
  p.units.clear();
  set_memory_policy(plan, {p, StageMemoryPolicy{}});
  for (const auto& n : torchtitan_activation_checkpoint(plan).notes) EXPECT_EQ(n.find("per-unit"), std::string::npos) << n;
}
