// Variable-length units on the real layer math: packed documents (no attention across documents) and
// sliced sequences (later slices attend to the keys/values of earlier ones) give bitwise the same loss,
// gradients and parameters on a pipeline as on a single device running the same units; slicing or
// packing documents does not change the math (same loss and gradients to float rounding as running each
// document whole and alone); and what the executor cannot run is refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/validator.h"

namespace adaptis::exec {
namespace {

NetConfig model(std::vector<LayerType> blocks) {
  NetConfig c = make_net_config(blocks);
  c.name = "units-test";
  c.vocab = 256;
  c.hidden = 16;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 24;
  c.experts = 4;
  c.top_k = 2;
  c.expert_ffn = 8;
  c.mamba_state = 4;
  c.seed = 7;
  return c;
}

NetConfig attention_model() {
  return model({LayerType::Attention, LayerType::Mlp, LayerType::Attention, LayerType::Moe, LayerType::Attention,
                LayerType::Mlp});
}

WorkUnit packed(std::vector<long long> docs) {
  WorkUnit u;
  u.docs = std::move(docs);
  return u;
}

std::vector<int32_t> corpus() { return load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR)); }

struct RunOut {
  std::vector<double> losses;
  std::vector<std::map<std::string, std::vector<float>>> grads;
  std::map<std::string, std::vector<float>> params;
};

std::map<std::string, std::vector<float>> by_name(const std::vector<NamedTensor>& ts) {
  std::map<std::string, std::vector<float>> m;
  for (const auto& t : ts) m[t.name].assign(t.data.begin(), t.data.end());
  return m;
}

RunOut run(const Plan& plan, const NetConfig& base, const std::vector<WorkUnit>& units, int steps) {
  const UnitLayout layout = unit_layout(units);
  const NetConfig cfg = unit_net_config(base, layout);
  RuntimeOptions ro;
  ro.optimizer.lr = 0.02f;
  PipelineRuntime rt(lower_plan(plan), real_stage_factory(cfg), make_mailbox_transport(plan.num_devices()), ro);
  const DataSource data = unit_data(cfg, layout, corpus());
  RunOut out;
  for (int s = 0; s < steps; ++s) {
    StepResult r = rt.run_step(s, data);
    out.losses.push_back(r.loss);
    out.grads.push_back(by_name(rt.grads()));
  }
  out.params = by_name(rt.params());
  return out;
}

// The single-device run over the same units: one stage, every unit's forward in order, then the backwards
// in reverse (a row's slices last first).
Plan single_device(const std::vector<WorkUnit>& units, int layers) {
  Plan p = terapipe_schedule(1, units);
  p.partition = Partition::from_sizes({layers});
  return p;
}

Plan plan_over(const std::string& schedule, int devices, const std::vector<WorkUnit>& units, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = devices;
  r.units = units;
  return build_plan(r, layers);
}

void expect_bitwise(const RunOut& a, const RunOut& b, const std::string& what) {
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t s = 0; s < a.losses.size(); ++s) {
    EXPECT_EQ(a.losses[s], b.losses[s]) << what << " step " << s;
    ASSERT_EQ(a.grads[s].size(), b.grads[s].size()) << what;
    for (const auto& [name, g] : a.grads[s]) {
      const auto& h = b.grads[s].at(name);
      ASSERT_EQ(g.size(), h.size());
      EXPECT_EQ(0, std::memcmp(g.data(), h.data(), g.size() * sizeof(float))) << what << ": grad " << name << " step " << s;
    }
  }
  for (const auto& [name, p] : a.params)
    EXPECT_EQ(0, std::memcmp(p.data(), b.params.at(name).data(), p.size() * sizeof(float))) << what << ": param " << name;
}

double max_rel_diff(const std::map<std::string, std::vector<float>>& a, const std::map<std::string, std::vector<float>>& b) {
  double worst = 0;
  for (const auto& [name, g] : a) {
    const auto& h = b.at(name);
    double num = 0, den = 0;
    for (size_t i = 0; i < g.size(); ++i) num += std::pow(double(g[i]) - h[i], 2), den += double(g[i]) * g[i];
    worst = std::max(worst, std::sqrt(num / std::max(den, 1e-30)));
  }
  return worst;
}

}  // namespace

TEST(RuntimeUnits, PackedUnitsMatchTheSingleDeviceRunBitwise) {
  const NetConfig cfg = attention_model();
  const int L = cfg.num_layers();  // one plan layer per executor layer (no spec)
  std::vector<WorkUnit> units = {packed({5, 9, 2}), packed({16}), packed({3, 3, 3, 3, 4}), packed({12, 4}),
                                 packed({1, 7}), packed({10})};
  const RunOut ref = run(single_device(units, L), cfg, units, 2);
  EXPECT_TRUE(std::isfinite(ref.losses[0]));
  EXPECT_NE(ref.losses[0], ref.losses[1]);  // it trains
  for (const auto& [sched, devices] : std::vector<std::pair<std::string, int>>{{"1f1b", 2}, {"zb-h1", 4}, {"zb-v", 2},
                                                                                {"interleaved-1f1b", 2}, {"gpipe", 3}}) {
    SCOPED_TRACE(sched);
    expect_bitwise(run(plan_over(sched, devices, units, L), cfg, units, 2), ref, sched);
  }
}

TEST(RuntimeUnits, SlicedSequencesMatchTheSingleDeviceRunBitwise) {
  const NetConfig cfg = attention_model();
  const int L = cfg.num_layers();
  std::vector<WorkUnit> units = {packed({6, 4})};
  for (auto& u : slice_row({30}, {12, 10, 8}, 0)) units.push_back(u);       // one long document in 3 slices
  units.push_back(packed({9}));
  for (auto& u : slice_row({5, 20, 3}, {14, 14}, 1)) units.push_back(u);    // a packed row cut mid-document
  ASSERT_TRUE(unit_problems(units).empty());
  const RunOut ref = run(single_device(units, L), cfg, units, 2);
  for (const auto& [sched, devices] : std::vector<std::pair<std::string, int>>{
           {"seq1f1b", 4}, {"terapipe", 2}, {"1f1b", 3}, {"zb-h1", 2}, {"zb-v", 2}}) {
    SCOPED_TRACE(sched);
    Plan p = plan_over(sched, devices, units, L);
    expect_bitwise(run(p, cfg, units, 2), ref, sched);
  }
}

TEST(RuntimeUnits, SlicingAndPackingDoNotChangeTheMath) {
  // The same three documents run (a) each whole in its own unit, (b) packed into one unit, (c) the long one
  // cut into three slices. Each document sees only itself in all three, so the iteration's mean token loss
  // and the gradients agree to float rounding. (No MoE here: its load-balancing loss is per micro-batch, so
  // it does depend on how tokens are grouped.)
  const NetConfig cfg = model({LayerType::Attention, LayerType::Mlp, LayerType::Attention, LayerType::Mlp});
  const int L = cfg.num_layers();
  std::vector<WorkUnit> whole = {packed({30}), packed({7}), packed({11})};
  std::vector<WorkUnit> packs = {packed({30, 7, 11})};
  std::vector<WorkUnit> sliced = slice_row({30}, {13, 9, 8}, 0);
  sliced.push_back(packed({7, 11}));
  const RunOut a = run(single_device(whole, L), cfg, whole, 1);
  const RunOut b = run(single_device(packs, L), cfg, packs, 1);
  const RunOut c = run(plan_over("seq1f1b", 3, sliced, L), cfg, sliced, 1);
  EXPECT_NEAR(a.losses[0], b.losses[0], 1e-5 * std::abs(a.losses[0]));
  EXPECT_NEAR(a.losses[0], c.losses[0], 1e-5 * std::abs(a.losses[0]));
  EXPECT_LT(max_rel_diff(a.grads[0], b.grads[0]), 1e-4);
  EXPECT_LT(max_rel_diff(a.grads[0], c.grads[0]), 1e-4);
  // Attention across documents would change the result: a unit whose two documents are one is different.
  const std::vector<WorkUnit> merged = {packed({37}), packed({11})};
  const RunOut d = run(single_device(merged, L), cfg, merged, 1);
  EXPECT_GT(std::abs(a.losses[0] - d.losses[0]), 1e-4 * std::abs(a.losses[0]));
}

TEST(RuntimeUnits, MambaRunsPackedDocumentsAndRefusesSlices) {
  const NetConfig cfg = model({LayerType::Mamba, LayerType::Attention, LayerType::Mlp, LayerType::Mamba});
  const int L = cfg.num_layers();
  std::vector<WorkUnit> units = {packed({5, 9}), packed({16}), packed({2, 3, 4, 5})};
  const RunOut ref = run(single_device(units, L), cfg, units, 1);
  expect_bitwise(run(plan_over("1f1b", 3, units, L), cfg, units, 1), ref, "mamba 1f1b");
  // Two documents packed = each alone (the scan restarts per document).
  const std::vector<WorkUnit> apart = {packed({5}), packed({9}), packed({16}), packed({2, 3, 4, 5})};
  EXPECT_NEAR(run(single_device(apart, L), cfg, apart, 1).losses[0], ref.losses[0], 1e-5 * std::abs(ref.losses[0]));
  std::vector<WorkUnit> sliced = slice_row({20}, {12, 8}, 0);
  try {
    run(single_device(sliced, L), cfg, sliced, 1);
    ADD_FAILURE() << "expected the Mamba layer to refuse a slice";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("Mamba"), std::string::npos) << e.what();
  }
}

TEST(RuntimeUnits, DataIsConsistentAcrossSlicesAndBadUnitsAreRefused) {
  NetConfig cfg = attention_model();
  std::vector<WorkUnit> sliced = slice_row({20}, {12, 8}, 0);
  const UnitLayout lay = unit_layout(sliced);
  const UnitLayout whole = unit_layout({packed({20})});
  NetConfig c = unit_net_config(cfg, lay);
  EXPECT_EQ(c.micro_batch, 1);
  EXPECT_EQ(c.seq, 20);
  // Slices of a document carry its one stream: slice 0 + slice 1 == the whole document (same seed, doc 0).
  MicroBatchData s0 = make_unit_microbatch(c, lay, corpus(), 3, 0), s1 = make_unit_microbatch(c, lay, corpus(), 3, 1);
  MicroBatchData w = make_unit_microbatch(c, whole, corpus(), 3, 0);
  std::vector<int32_t> joined = s0.tokens;
  joined.insert(joined.end(), s1.tokens.begin(), s1.tokens.end());
  EXPECT_EQ(joined, w.tokens);
  EXPECT_EQ(s1.first_doc_offset, 12);
  EXPECT_EQ(s1.row, 0);
  EXPECT_DOUBLE_EQ(s0.loss_weight + s1.loss_weight, 2.0);
  WorkUnit pad = packed({5});
  pad.padded_tokens = 16;
  EXPECT_THROW(unit_layout({pad}), InputError);
  std::vector<WorkUnit> reversed = {sliced[1], sliced[0]};
  EXPECT_THROW(unit_layout(reversed), InputError);
}

}  // namespace adaptis::exec
