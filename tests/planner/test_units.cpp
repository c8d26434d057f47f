// Variable-length units: the cost formulas (alpha*T + beta*Q + c0), slice invariants and Seq1F1B's
// equal-cost split vectors, the plan file and validator, per-unit simulation (two packs of equal tokens
// but different sum of s^2 differ), slice dependencies, Seq1F1B's and TeraPipe's orders, the list
// scheduler and lower bound over units.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/units.h"
#include "adaptis/planner/memory_policy.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

using test::packed;
using test::split_costs;

SimOptions no_latency() {
  SimOptions o;
  o.comm_latency_ms = 0;
  return o;
}

std::string order_text(const std::vector<Action>& list, const std::vector<WorkUnit>& units) {
  // "F0.1" = forward of row 0 slice 1, as the Seq1F1B test vectors write it.
  std::string s;
  for (const auto& a : list) {
    const WorkUnit& u = units[a.mb];
    if (!s.empty()) s += ' ';
    s += a.op == Op::F ? 'F' : 'B';
    s.append(std::to_string(u.row)).append(".").append(std::to_string(u.slice));
  }
  return s;
}

// m rows of k equal slices each, in row-major order.
std::vector<WorkUnit> rows_of_slices(int m, int k, long long len) {
  std::vector<WorkUnit> out;
  for (int r = 0; r < m; ++r) {
    std::vector<long long> lens(k, len / k);
    for (auto& u : slice_row({len}, lens, r)) out.push_back(u);
  }
  return out;
}

}  // namespace

TEST(Units, PairsOfPacksAndSlices) {
  EXPECT_DOUBLE_EQ(packed({1000}).pairs(), 500000);
  EXPECT_DOUBLE_EQ(packed({300, 700}).pairs(), 0.5 * (300 * 300 + 700 * 700));
  WorkUnit s;
  s.docs = {400};
  s.first_doc_offset = 600;
  s.row = 0;
  s.slice = 1;
  EXPECT_DOUBLE_EQ(s.pairs(), 400.0 * 600 + 0.5 * 400 * 400);  // l*o + l^2/2
  WorkUnit pad = packed({300});
  pad.padded_tokens = 1000;
  EXPECT_EQ(pad.run_tokens(), 1000);
  EXPECT_DOUBLE_EQ(pad.pairs(), 500000);
}

TEST(Units, SlicesOfARowAddUpToItsPairs) {
  // Any cut of a single sequence or of a packed row: the slices' pairs sum to sum s^2/2.
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<long long> docs;
    const int n = 1 + static_cast<int>(rng() % 5);
    long long total = 0;
    for (int i = 0; i < n; ++i) docs.push_back(1 + static_cast<long long>(rng() % 5000)), total += docs.back();
    const int k = 1 + static_cast<int>(rng() % std::min<long long>(8, total));
    std::vector<long long> cuts;
    for (int i = 0; i + 1 < k; ++i) cuts.push_back(1 + static_cast<long long>(rng() % (total - 1)));
    cuts.push_back(0);
    cuts.push_back(total);
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::vector<long long> lens;
    for (size_t i = 1; i < cuts.size(); ++i) lens.push_back(cuts[i] - cuts[i - 1]);
    std::vector<WorkUnit> slices = slice_row(docs, lens, 3);
    double q = 0, want = 0;
    long long tokens = 0;
    for (const auto& u : slices) q += u.pairs(), tokens += u.tokens();
    for (long long d : docs) want += 0.5 * double(d) * double(d);
    EXPECT_EQ(tokens, total);
    EXPECT_NEAR(q, want, 1e-9 * want) << "trial " << trial;
    EXPECT_TRUE(unit_problems(slices).empty()) << unit_problems(slices).front();
  }
}

TEST(Units, SeqOneFOneBEqualFlopSplitVectors) {
  // Seq1F1B's FLOP model: per layer attention (4d+3)a(x*P - x^2/2), projections 8xhad, MLP 4xhf;
  // embedding + head 4xhV per sequence. L=24, h=4096, f=16384, a=32, d=128, V=32000, rounding to 2.
  const double L = 24, h = 4096, f = 16384, a = 32, d = 128, V = 32000;
  const double alpha = L * (8 * h * a * d + 4 * h * f) + 4 * h * V;
  const double beta = L * (4 * d + 3) * a;
  EXPECT_EQ(equal_cost_split({16384}, 4, alpha, beta, 2), (std::vector<long long>{4930, 4238, 3776, 3440}));
  EXPECT_EQ(equal_cost_split({32768}, 4, alpha, beta, 2), (std::vector<long long>{11040, 8418, 7080, 6230}));
  EXPECT_EQ(equal_cost_split({65536}, 2, alpha, beta, 2), (std::vector<long long>{41318, 24218}));
  // The slices of a split cost about the same and shrink with the index.
  std::vector<long long> lens = equal_cost_split({16384}, 4, alpha, beta, 2);
  std::vector<WorkUnit> s = slice_row({16384}, lens, 0);
  for (size_t i = 1; i < s.size(); ++i) {
    EXPECT_LT(s[i].tokens(), s[i - 1].tokens());
    if (i >= 2) {  // the first slice takes the rounding remainder
      const double ci = alpha * s[i].tokens() + beta * s[i].pairs(), c1 = alpha * s[1].tokens() + beta * s[1].pairs();
      EXPECT_NEAR(ci / c1, 1.0, 1e-3);
    }
  }
  EXPECT_THROW(equal_cost_split({3}, 4, 1, 1), InputError);
}

TEST(Units, CostAtTheReferenceIsTheStageCostAndScalesByParts) {
  CostTable c = split_costs(2, 3.0, 1.0, 0.5);
  std::vector<StageCost> st = stage_costs(c, Partition::from_sizes({2}));
  const CostReference ref = cost_reference(c);
  UnitStageCost at_ref = unit_stage_cost(st[0], packed({1000}), ref);
  EXPECT_DOUBLE_EQ(at_ref.f_ms, st[0].f_ms);
  EXPECT_DOUBLE_EQ(at_ref.b_ms, st[0].b_ms);
  EXPECT_DOUBLE_EQ(at_ref.act_b_bytes, st[0].act_b_bytes);
  // Twice the tokens as two documents: token and pair parts double, the fixed part stays.
  UnitStageCost two = unit_stage_cost(st[0], packed({1000, 1000}), ref);
  EXPECT_DOUBLE_EQ(two.f_ms, 2 * 0.5 + 2 * (2 * 3.0) + 2 * (2 * 1.0));
  // One document of twice the length: the pair part quadruples.
  UnitStageCost one = unit_stage_cost(st[0], packed({2000}), ref);
  EXPECT_DOUBLE_EQ(one.f_ms, 2 * (0.5 + 2 * 3.0 + 4 * 1.0));
  EXPECT_DOUBLE_EQ(one.act_b_bytes, 2 * st[0].act_b_bytes);
  EXPECT_DOUBLE_EQ(one.out_bytes, 2 * st[0].out_bytes);
  // The whole-model cost model agrees.
  UnitCostModel m = unit_cost_model(c);
  EXPECT_DOUBLE_EQ(m.ms(packed({2000})), one.f_ms + one.b_ms + one.w_ms);
  // A table without a reference cannot scale.
  CostTable none = c;
  none.tokens_per_microbatch = 0;
  EXPECT_THROW(cost_reference(none), InputError);
}

TEST(Units, AttentionAreaOfPacksSlicesAndPadding) {
  EXPECT_DOUBLE_EQ(packed({1000}).attention_area(), 1e6);
  EXPECT_DOUBLE_EQ(packed({300, 700}).attention_area(), 300.0 * 300 + 700.0 * 700);
  // A slice of 400 after 600 earlier tokens of its document: 400 queries over 1000 keys.
  WorkUnit s = packed({400, 50});
  s.first_doc_offset = 600;
  s.row = 0;
  s.slice = 1;
  EXPECT_DOUBLE_EQ(s.attention_area(), 400.0 * 1000 + 50.0 * 50);
  WorkUnit pad = packed({300});
  pad.padded_tokens = 1000;
  EXPECT_DOUBLE_EQ(pad.attention_area(), 1e6);
}

// Attention scores (act_score_bytes) scale with the unit's attention area, the rest of its bytes with
// tokens; what a recomputing stage keeps splits the same way (selective keeps the scores it is told to,
// full recompute keeps the block input, no scores).
TEST(Units, ScoreBytesScaleWithTheAttentionArea) {
  CostTable c = split_costs(2, 3.0, 1.0);
  for (LayerCost& l : c.layers) {
    l.act_score_bytes = 600;  // of act_b's 1000
    l.kept_selective_score_bytes = 300;  // of kept_selective's 400
  }
  const CostReference ref = cost_reference(c);
  EXPECT_DOUBLE_EQ(ref.area(), 1e6);
  std::vector<StageCost> st = stage_costs(c, Partition::from_sizes({2}));
  EXPECT_DOUBLE_EQ(st[0].act_score_bytes, 1200);
  EXPECT_DOUBLE_EQ(unit_stage_cost(st[0], packed({1000}), ref).act_b_bytes, 2000);
  // The same 2000 tokens as one document (4x the area) and as 20 of 100 (1/5 of it).
  EXPECT_DOUBLE_EQ(unit_stage_cost(st[0], packed({2000}), ref).act_b_bytes, 800 * 2 + 1200 * 4);
  EXPECT_DOUBLE_EQ(unit_stage_cost(st[0], packed(std::vector<long long>(20, 100)), ref).act_b_bytes,
                   800 * 2 + 1200 * 0.2);
  // The second half of a 2000-token sequence as a slice: 1000 queries over 2000 keys.
  WorkUnit tail = packed({1000});
  tail.first_doc_offset = 1000;
  tail.row = 0;
  tail.slice = 1;
  EXPECT_DOUBLE_EQ(unit_stage_cost(st[0], tail, ref).act_b_bytes, 800 + 1200 * 2);
  // Selective: 800 kept, 600 of them scores; full: the stage's input, no scores.
  StageMemoryPolicy policy;
  policy.recompute = Recompute::Selective;
  std::vector<StageCost> sel = stage_costs(c, Partition::from_sizes({2}), {policy});
  EXPECT_DOUBLE_EQ(sel[0].kept_bytes, 800);
  EXPECT_DOUBLE_EQ(sel[0].kept_score_bytes, 600);
  EXPECT_DOUBLE_EQ(unit_stage_cost(sel[0], packed({2000}), ref).kept_bytes, 200 * 2 + 600 * 4);
  policy.recompute = Recompute::Full;
  std::vector<StageCost> full = stage_costs(c, Partition::from_sizes({2}), {policy});
  EXPECT_DOUBLE_EQ(full[0].kept_score_bytes, 0);
  EXPECT_DOUBLE_EQ(unit_stage_cost(full[0], packed({2000}), ref).kept_bytes, 2 * full[0].kept_bytes);
  // The optimizer's stage cache sums the same scores.
  StageCostCache cache(c);
  EXPECT_DOUBLE_EQ(cache.stage(0, 2).act_score_bytes, 1200);
  // Scores without reference pairs cannot scale.
  CostTable no_pairs = c;
  for (LayerCost& l : no_pairs.layers) l.f_pair_ms = l.b_pair_ms = 0;
  no_pairs.pairs_per_microbatch = 0;
  try {
    cost_reference(no_pairs);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("act_score_bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pairs_per_microbatch"), std::string::npos) << e.what();
  }
}

TEST(Units, AnalyticalModelSplitsAttentionPairsFromTokens) {
  ModelSpec spec = load_model_spec(kSamples + "/models/llama-2-7b.json");
  CostTable c = analytical_costs(spec, make_uniform_cluster(1).devices[0]);
  EXPECT_DOUBLE_EQ(c.tokens_per_microbatch, 4096);
  EXPECT_DOUBLE_EQ(c.pairs_per_microbatch, 0.5 * 4096 * 4096);
  const LayerCost& body = c.layers[1];
  EXPECT_GT(body.f_pair_ms, 0);
  EXPECT_LT(body.f_pair_ms, 0.5 * body.f_ms);
  EXPECT_GT(body.b_pair_ms, body.f_pair_ms);  // flash backward does 2.5x the forward's work
  EXPECT_GT(body.f_fixed_ms, 0);
  EXPECT_DOUBLE_EQ(c.layers[0].f_pair_ms, 0);  // embedding: no attention
  EXPECT_DOUBLE_EQ(c.layers.back().f_pair_ms, 0);
  // The unit cost at the reference shape is the layer's time; longer sequences cost superlinearly.
  UnitCostModel m = unit_cost_model(c);
  double total = 0;
  for (const auto& l : c.layers) total += l.f_ms + l.b_ms + l.w_ms;
  EXPECT_NEAR(m.ms(4096, 0.5 * 4096 * 4096), total, 1e-9 * total);
  EXPECT_GT(m.ms(packed({8192})), 2 * m.ms(packed({4096})));
  EXPECT_NEAR(m.ms(packed({4096, 4096})), 2 * m.ms(packed({4096})) - m.fixed_ms, 1e-9 * total);
  // Round trip through our cost file keeps the split.
  std::string path = ::testing::TempDir() + "/adaptis-split-costs.json";
  save_cost_table(c, path);
  CostTable back = load_cost_table(path);
  EXPECT_DOUBLE_EQ(back.tokens_per_microbatch, c.tokens_per_microbatch);
  EXPECT_DOUBLE_EQ(back.layers[1].f_pair_ms, body.f_pair_ms);
  EXPECT_DOUBLE_EQ(back.layers[1].b_fixed_ms, body.b_fixed_ms);
}

TEST(Units, PlanFileCarriesUnitsAndRejectsBadOnes) {
  std::vector<WorkUnit> units = {packed({512, 300}), packed({800})};
  for (auto& u : slice_row({5000}, {3000, 2000}, 0)) units.push_back(u);
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 2;
  r.units = units;
  Plan p = build_plan(r, 4);
  EXPECT_EQ(p.num_microbatches, 4);
  EXPECT_EQ(p.units, units);
  Plan back = plan_from_json(plan_to_json(p), "mem");
  EXPECT_EQ(back.units, units);
  EXPECT_EQ(back.schedule, p.schedule);

  nlohmann::json j = plan_to_json(p);
  j["units"][1]["docs"][0] = 0;
  try {
    plan_from_json(j, "p.json");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("p.json: units[1]: docs[0]"), std::string::npos) << e.what();
  }
  j = plan_to_json(p);
  j["units"].erase(3);
  EXPECT_THROW(plan_from_json(j, "p.json"), InputError);  // one unit per micro-batch
  j = plan_to_json(p);
  j["units"][3]["slice"] = 5;
  Plan bad = plan_from_json(j, "p.json");
  ValidationReport v = validate_plan(bad, 4);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("row 0 has slice 5"), std::string::npos) << v.message();
  j = plan_to_json(p);
  j["units"][3]["offset"] = 17;
  v = validate_plan(plan_from_json(j, "p.json"), 4);
  EXPECT_NE(v.message().find("does not continue row 0"), std::string::npos) << v.message();
}

TEST(Units, ValidatorCatchesSliceOrderOnADevice) {
  // One device, one row of two slices: B of slice 0 before B of slice 1 waits forever.
  std::vector<WorkUnit> units = slice_row({100}, {60, 40}, 0);
  Plan p;
  p.name = "custom";
  p.num_microbatches = 2;
  p.partition = Partition::from_sizes({1});
  p.placement = sequential_placement(1);
  p.units = units;
  p.schedule = {{Action{Op::F, 0, 0}, Action{Op::F, 0, 1}, Action{Op::BW, 0, 0}, Action{Op::BW, 0, 1}}};
  ValidationReport v = validate_plan(p, 1);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("deadlock"), std::string::npos) << v.message();
  std::swap(p.schedule[0][2], p.schedule[0][3]);
  EXPECT_TRUE(validate_plan(p, 1).ok()) << validate_plan(p, 1).message();
  // Forwards out of slice order deadlock too.
  std::swap(p.schedule[0][0], p.schedule[0][1]);
  EXPECT_FALSE(validate_plan(p, 1).ok());
}

TEST(Units, TwoPacksOfEqualTokensButDifferentPairsSimulateDifferently) {
  CostTable c = split_costs(4, 3.0, 1.0);
  // Both plans' units hold 2000 tokens each: one long document vs. four short ones.
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 2;
  r.units = {packed({2000}), packed({2000})};
  SimResult long_docs = simulate(build_plan(r, 4), c, make_uniform_cluster(2), no_latency());
  r.units = {packed({500, 500, 500, 500}), packed({500, 500, 500, 500})};
  SimResult short_docs = simulate(build_plan(r, 4), c, make_uniform_cluster(2), no_latency());
  ASSERT_TRUE(long_docs.ok && short_docs.ok);
  // Stage times per unit: tokens part 2*3=6 per layer, pairs (2000^2/2)/(500000) = 4x vs 4*(500^2/2)/500000 = 1x.
  EXPECT_DOUBLE_EQ(long_docs.timeline[0][0].end - long_docs.timeline[0][0].start, 2 * (6.0 + 4.0));
  EXPECT_DOUBLE_EQ(short_docs.timeline[0][0].end - short_docs.timeline[0][0].start, 2 * (6.0 + 1.0));
  EXPECT_GT(long_docs.iteration_ms, short_docs.iteration_ms * 1.2);
  // Equal tokens: equal activation memory.
  EXPECT_DOUBLE_EQ(long_docs.devices[0].peak_activation_bytes, short_docs.devices[0].peak_activation_bytes);
  ASSERT_EQ(long_docs.unit_work_ms.size(), 2u);
  EXPECT_GT(long_docs.unit_work_ms[0], short_docs.unit_work_ms[0]);
}

TEST(Units, IdenticalUnitsAtTheReferenceMatchIdenticalMicroBatches) {
  CostTable c = split_costs(8, 2.0, 0.5);
  for (const char* sched : {"1f1b", "zb-v", "interleaved-1f1b", "gpipe"}) {
    PlanRequest r;
    r.schedule = sched;
    r.devices = 4;
    r.microbatches = 8;
    SimResult plain = simulate(build_plan(r, 8), c, make_uniform_cluster(4));
    r.units.assign(8, packed({1000}));
    SimResult units = simulate(build_plan(r, 8), c, make_uniform_cluster(4));
    ASSERT_TRUE(plain.ok && units.ok) << sched;
    EXPECT_DOUBLE_EQ(plain.iteration_ms, units.iteration_ms) << sched;
    EXPECT_DOUBLE_EQ(plain.devices[0].peak_memory_bytes, units.devices[0].peak_memory_bytes) << sched;
  }
}

TEST(Units, SeqOneFOneBOrderVectors) {
  // p=4, k=2, m=4 (the test vector: warm-up min(p-r-2+k, mk), then 1F1B, a row's backwards last slice first).
  std::vector<WorkUnit> units = rows_of_slices(4, 2, 1000);
  Plan p = seq1f1b_schedule(4, units);
  EXPECT_EQ(order_text(p.schedule[0], units),
            "F0.0 F0.1 F1.0 F1.1 F2.0 B0.1 F2.1 B0.0 F3.0 B1.1 F3.1 B1.0 B2.1 B2.0 B3.1 B3.0");
  EXPECT_EQ(order_text(p.schedule[3], units),
            "F0.0 F0.1 B0.1 F1.0 B0.0 F1.1 B1.1 F2.0 B1.0 F2.1 B2.1 F3.0 B2.0 F3.1 B3.1 B3.0");
  p.partition = Partition::from_sizes({1, 1, 1, 1});
  EXPECT_TRUE(validate_plan(p, 4).ok()) << validate_plan(p, 4).message();
}

TEST(Units, TeraPipeMakespanIsTheClosedForm) {
  // Uniform stages, backward = 2x forward: every unit takes t_i = F_i + B_i on each stage, and GPipe over
  // units (TeraPipe) finishes at sum t_i + (K-1) max t_i.
  for (int K : {2, 4, 6}) {
    CostTable c = split_costs(K, 2.0, 1.5, 0.25);
    std::vector<WorkUnit> units = {packed({700, 100})};
    for (auto& u : slice_row({3000}, {1400, 1000, 600}, 0)) units.push_back(u);
    units.push_back(packed({2500}));
    units.push_back(packed({50}));
    Plan p = terapipe_schedule(K, units);
    p.partition = even_partition(K, K);
    Cluster free_links = make_uniform_cluster(K);
    free_links.intra_node = free_links.inter_node = Link{0.0, 0.0};  // TeraPipe's formula has no transfers
    SimResult r = simulate(p, c, free_links, no_latency());
    ASSERT_TRUE(r.ok) << r.error;
    std::vector<StageCost> st = stage_costs(c, p.partition);
    double sum = 0, mx = 0;
    for (const auto& u : units) {
      const UnitStageCost uc = unit_stage_cost(st[0], u, cost_reference(c));
      sum += uc.f_ms + uc.b_ms;
      mx = std::max(mx, uc.f_ms + uc.b_ms);
    }
    EXPECT_NEAR(r.iteration_ms, sum + (K - 1) * mx, 1e-9 * r.iteration_ms) << "K=" << K;
  }
}

TEST(Units, BuiltInSchedulesRunOverSlicedUnits) {
  CostTable c = split_costs(8, 2.0, 1.0);
  std::vector<WorkUnit> units = {packed({300, 200})};
  for (auto& u : slice_row({4000}, {2000, 1200, 800}, 0)) units.push_back(u);
  units.push_back(packed({900}));
  for (auto& u : slice_row({200, 2600}, {1600, 1200}, 1)) units.push_back(u);
  units.push_back(packed({50, 50, 50}));  // 8 units: Megatron's interleaving wants m mod p == 0 here
  for (const char* sched : {"1f1b", "gpipe", "zb-h1", "zb-h2", "interleaved-1f1b", "interleaved-zb", "zb-v", "dualpipev",
                            "seq1f1b", "terapipe"}) {
    PlanRequest r;
    r.schedule = sched;
    r.devices = 4;
    r.units = units;
    try {
      Plan p = build_plan(r, 8);
      SimResult s = simulate(p, c, make_uniform_cluster(4));
      EXPECT_TRUE(s.ok) << sched << ": " << s.error;
      // Every stage runs a row's forwards in slice order and its backwards in reverse.
      for (const auto& tl : s.timeline)
        for (const auto& a : tl)
          for (const auto& b : tl) {
            const WorkUnit &ua = units[a.action.mb], &ub = units[b.action.mb];
            if (a.action.stage != b.action.stage || ua.row < 0 || ua.row != ub.row || ua.slice >= ub.slice) continue;
            if (a.action.op == Op::F && b.action.op == Op::F) {
              EXPECT_LE(a.end, b.start + 1e-9) << sched;
            }
            if (a.action.op != Op::F && a.action.op != Op::W && b.action.op != Op::F && b.action.op != Op::W) {
              EXPECT_LE(b.end, a.start + 1e-9) << sched;
            }
          }
    } catch (const InputError& e) {
      ADD_FAILURE() << sched << ": " << e.what();
    }
  }
}

TEST(Units, ListSchedulerOverUnitsIsReplayedExactly) {
  CostTable c = split_costs(8, 2.0, 1.0, 0.1);
  std::vector<WorkUnit> units = {packed({300, 200}), packed({1500})};
  for (auto& u : slice_row({4000}, {2000, 1200, 800}, 0)) units.push_back(u);
  units.push_back(packed({900, 10}));
  StageCostCache cache(c);
  for (int S : {4, 8}) {
    ListScheduleProblem pb;
    pb.microbatches = static_cast<int>(units.size());
    pb.num_devices = 4;
    pb.stage_device = S == 4 ? looped_stage_devices(4, 4) : wave_stage_devices(8, 4);
    Partition part = even_partition(8, S);
    cache.stages(part.bounds, pb.stages);
    unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs);
    SliceLinks links = slice_links(units);
    pb.slice_prev = links.prev;
    pb.slice_next = links.next;
    for (auto order : {ListSchedulePolicy::Order::BackwardFirst, ListSchedulePolicy::Order::Alternate}) {
      ListSchedulePolicy pol;
      pol.order = order;
      pol.improve_passes = 2;
      ListScheduler ls;
      ListScheduleResult lr = ls.run(pb, make_uniform_cluster(4), SimOptions{}, pol, true);
      ASSERT_TRUE(lr.ok) << lr.error;
      Plan p = list_schedule_plan(pb, part, make_uniform_cluster(4), SimOptions{}, pol, "ls");
      p.units = units;
      ASSERT_TRUE(validate_plan(p, 8).ok()) << validate_plan(p, 8).message();
      SimResult s = simulate(p, c, make_uniform_cluster(4));
      ASSERT_TRUE(s.ok);
      EXPECT_NEAR(s.iteration_ms, lr.iteration_ms, 1e-9 * s.iteration_ms) << "S=" << S;
      for (int d = 0; d < 4; ++d) {
        EXPECT_NEAR(s.devices[d].peak_memory_bytes, lr.peak_bytes[d], 1e-6);
      }
      // The bound holds.
      EXPECT_LE(iteration_lower_bound(c, make_uniform_cluster(4), 4, units).ms, s.iteration_ms * (1 + 1e-9));
    }
  }
}

TEST(Units, LowerBoundOverUnitsMatchesIdenticalMicroBatches) {
  CostTable c = split_costs(12, 2.0, 1.0, 0.1);
  std::vector<WorkUnit> units(16, packed({1000}));
  IterationLowerBound a = iteration_lower_bound(c, make_uniform_cluster(4), 4, 16);
  IterationLowerBound b = iteration_lower_bound(c, make_uniform_cluster(4), 4, units);
  EXPECT_NEAR(a.ms, b.ms, 1e-9 * a.ms);
  EXPECT_NEAR(a.chain_ms, b.chain_ms, 1e-9 * a.chain_ms);
  EXPECT_EQ(a.binding, b.binding);
  // Heterogeneous units: never above what a schedule achieves.
  std::vector<WorkUnit> mixed = {packed({3000}), packed({100, 100}), packed({1200}), packed({600, 600})};
  for (const char* sched : {"1f1b", "zb-v", "gpipe"}) {
    PlanRequest r;
    r.schedule = sched;
    r.devices = 4;
    r.units = mixed;
    SimResult s = simulate(build_plan(r, 12), c, make_uniform_cluster(4));
    EXPECT_LE(iteration_lower_bound(c, make_uniform_cluster(4), 4, mixed).ms, s.iteration_ms * (1 + 1e-9)) << sched;
  }
}

namespace adaptis {
namespace {

// Recompute with units validates once its R actions are there (per-unit checkpointing); offload with units
// validates too; optimize() leaves recompute over units to the variable-length optimizer (field
// recompute_choices), which chooses it per unit.
TEST(Units, MemoryPoliciesWithUnitsAreCheckedByField) {
  CostTable c = split_costs(4, 3.0, 1.0);
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 2;
  r.units = {packed({2000}), packed({500, 500})};
  Plan p = build_plan(r, 4);
  p.memory.assign(static_cast<size_t>(p.num_stages()), StageMemoryPolicy{});
  p.memory[0].recompute = Recompute::Full;
  const ValidationReport v = validate_plan(p, 4);
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.message().find("no R action"), std::string::npos) << v.message();
  StageMemoryPolicy full;
  full.recompute = Recompute::Full;
  set_memory_policy(p, {full, StageMemoryPolicy{}});
  EXPECT_TRUE(validate_plan(p, 4).ok()) << validate_plan(p, 4).message();
  Plan off = build_plan(r, 4);
  StageMemoryPolicy half;
  half.offload_fraction = 0.5;
  set_memory_policy(off, {half, StageMemoryPolicy{}});
  const ValidationReport vo = validate_plan(off, 4);
  EXPECT_TRUE(vo.ok()) << vo.message();  // offload over units: tests/planner/test_unit_offload.cpp
  OptimizeOptions o;
  o.devices = 2;
  o.units = r.units;
  o.time_limit_s = 0.5;
  o.recompute_choices = {Recompute::None, Recompute::Full};
  try {
    optimize(c, make_uniform_cluster(2), o);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "recompute_choices") << e.what();
  }
}

TEST(Units, RelabellingMicroBatchesMovesTheirUnits) {
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 2;
  r.units = {packed({100}), packed({200}), packed({300})};
  Plan p = build_plan(r, 4);
  Plan q = relabel_microbatches(p, {2, 0, 1});
  ASSERT_EQ(q.units.size(), 3u);
  EXPECT_EQ(q.units[2].tokens(), 100);
  EXPECT_EQ(q.units[0].tokens(), 200);
  EXPECT_EQ(q.units[1].tokens(), 300);
  // The same work, so the same simulated time.
  CostTable c = split_costs(4, 3.0, 1.0);
  EXPECT_DOUBLE_EQ(simulate(p, c, make_uniform_cluster(2)).iteration_ms, simulate(q, c, make_uniform_cluster(2)).iteration_ms);
}

}  // namespace
}  // namespace adaptis
