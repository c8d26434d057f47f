// Variable-length plans on the executor: packed units (several documents of different lengths in one
// micro-batch, per-document causal attention, positions restarting at each document) run pipelined give
// bitwise the loss, every gradient and the trained parameters of the single-device reference over the same
// documents; no document sees another; units the model cannot hold are refused naming the unit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "adaptis/executor/data_parallel.h"
#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/tensor_parallel.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "runtime_test_support.h"
#include "tensor_map_test_support.h"
#include "unit_reference_test_support.h"

namespace adaptis::exec {
namespace {

// Every layer kind (attention, MLP, MoE, Mamba); a micro-batch buffer of micro_batch * seq = 24 tokens,
// documents of at most seq = 12.
NetConfig model() {
  NetConfig c = test::every_layer_kind_model("packed-units-test", 4242);
  c.seq = 12;
  c.micro_batch = 2;
  return c;
}

WorkUnit unit(std::vector<long long> docs) {
  WorkUnit u;
  u.docs = std::move(docs);
  return u;
}

// Six units of 1..24 tokens; tokens per unit and sum of squares both differ.
std::vector<WorkUnit> units() {
  return {unit({5, 12, 3}), unit({1}), unit({7, 7, 7, 2}), unit({12, 12}), unit({2, 9}), unit({4, 4, 4, 4, 4})};
}

using test::TensorMap;
using test::by_name;
using test::expect_bitwise;

using Reference = test::UnitReference;

Reference reference(const NetConfig& cfg, const std::vector<WorkUnit>& us, int steps, const AdamW& opt) {
  return test::unit_reference(cfg, us, steps, opt);
}

TEST(PackedUnits, PipelinedRunsMatchTheSingleDeviceRunBitwise) {
  const NetConfig cfg = model();
  const std::vector<WorkUnit> us = units();
  AdamW opt;
  opt.lr = 0.01f;
  const int steps = 2;
  const Reference ref = reference(cfg, us, steps, opt);
  ASSERT_EQ(ref.loss.size(), size_t(steps));
  struct Case {
    std::string schedule;
    int devices;
  };
  for (const Case& c : {Case{"1f1b", 2}, Case{"zb-h1", 3}, Case{"interleaved-1f1b", 2}}) {
    SCOPED_TRACE(c.schedule + " on " + std::to_string(c.devices) + " devices");
    PlanRequest req;
    req.schedule = c.schedule;
    req.devices = c.devices;
    req.units = us;
    const Plan plan = build_plan(req, cfg.num_layers());
    ASSERT_EQ(plan.units, us);
    const Program program = lower_plan(plan);
    ASSERT_EQ(program.mb_loss_weight.size(), us.size());
    RuntimeOptions ro;
    ro.optimizer = opt;
    PipelineRuntime rt(program, real_stage_factory(cfg), make_mailbox_transport(plan.num_devices()), ro);
    const DataSource data = unit_data(cfg, test::bundled_corpus(), us);
    for (int step = 0; step < steps; ++step) {
      const StepResult r = rt.run_step(step, data);
      EXPECT_EQ(r.loss, ref.loss[size_t(step)]) << "step " << step;
      EXPECT_EQ(r.mb_losses, ref.mb_loss[size_t(step)]) << "step " << step;
      expect_bitwise(by_name(rt.grads()), ref.grads[size_t(step)], "grads step " + std::to_string(step));
    }
    expect_bitwise(by_name(rt.params()), ref.params, "params after " + std::to_string(steps) + " steps");
  }
}

// The step loss is the iteration's mean token loss: each unit's mean weighs its share of the tokens.
TEST(PackedUnits, StepLossWeighsUnitsByTheirTokens) {
  const NetConfig cfg = model();
  const std::vector<WorkUnit> us = units();
  ReferenceOptions ro;
  ro.units = us;
  ro.opt.lr = 0;
  const ReferenceRun run = train_reference(cfg, ro);
  ASSERT_EQ(run.steps.size(), 1u);
  const ReferenceStep& s = run.steps[0];
  ASSERT_EQ(s.microbatch_loss.size(), us.size());
  long long total = 0;
  double token_sum = 0;
  for (size_t u = 0; u < us.size(); ++u) {
    total += us[u].tokens();
    token_sum += s.microbatch_loss[u] * double(us[u].tokens());  // the unit's summed token losses
  }
  EXPECT_NEAR(s.loss, token_sum / double(total), 1e-12);
  double plain_mean = 0;
  for (double l : s.microbatch_loss) plain_mean += l / double(us.size());
  EXPECT_GT(std::abs(s.loss - plain_mean), 1e-6) << "units of different sizes must not weigh alike";
  const std::vector<double> w = unit_loss_weights(us);
  EXPECT_DOUBLE_EQ(w[1], 1.0 / double(total));
  EXPECT_DOUBLE_EQ(w[3], 24.0 / double(total));
}

// A packed micro-batch whose sequences are the rows of an equal one (seq_lens = {seq, seq}) is the same
// computation: the packed path generalises rows, it does not approximate them.
TEST(PackedUnits, RowsAsSequencesEqualTheEqualMicroBatchPath) {
  const NetConfig cfg = model();
  const int m = 4;
  auto run = [&](bool as_packed) {
    auto stage = StageCompute::create(cfg, 0, cfg.num_layers(), m);
    stage->zero_grad();
    std::vector<double> losses;
    for (int mb = 0; mb < m; ++mb) {
      MicroBatchData d = make_microbatch(cfg, test::bundled_corpus(), 0, mb);
      if (as_packed) {
        d.seq_lens.assign(size_t(cfg.micro_batch), cfg.seq);
        d.loss_weight = 1.0 / m;
      }
      stage->forward(mb, d, nullptr, nullptr);
      stage->backward_input(mb, d, nullptr, nullptr);
      stage->backward_weight(mb);
      losses.push_back(stage->loss(mb));
    }
    stage->finish_backward();
    return std::pair{losses, by_name(*stage, stage->grads())};
  };
  const auto plain = run(false);
  const auto packed = run(true);
  EXPECT_EQ(packed.first, plain.first);
  expect_bitwise(packed.second, plain.second, "packed rows vs equal micro-batch");
}

// Runs layers [0, L-1) (everything before the LM head) on one packed micro-batch and returns the output
// rows [first, first + count) of the last hidden state: what the head turns into those tokens' losses.
std::vector<float> hidden_rows(const NetConfig& cfg, const MicroBatchData& d, int first, int count) {
  auto stage = StageCompute::create(cfg, 0, cfg.num_layers() - 1, 1);
  std::vector<float> out(cfg.activation_floats(), 0.0f);
  stage->forward(0, d, nullptr, out.data());
  return {out.begin() + ptrdiff_t(first) * cfg.hidden, out.begin() + ptrdiff_t(first + count) * cfg.hidden};
}

// No attention (and no scan state) across documents, positions restart per document: document B's
// hidden states, hence its token losses, are bit for bit the same whatever document A holds, and the same
// as B alone. The control (A and B as one sequence) shows the check can fail.
TEST(PackedUnits, DocumentsDoNotSeeEachOther) {
  const NetConfig cfg = model();
  const std::vector<int32_t> corpus = test::bundled_corpus();
  const MicroBatchData ab = make_unit_microbatch(cfg, corpus, 0, {unit({7, 9})}, 0);
  MicroBatchData changed_a = ab;
  for (int t = 0; t < 7; ++t) changed_a.tokens[size_t(t)] = (changed_a.tokens[size_t(t)] + 1 + t) % cfg.vocab;
  MicroBatchData b_alone;
  b_alone.tokens.assign(ab.tokens.begin() + 7, ab.tokens.end());
  b_alone.targets.assign(ab.targets.begin() + 7, ab.targets.end());
  b_alone.seq_lens = {9};

  const std::vector<float> b_in_ab = hidden_rows(cfg, ab, 7, 9);
  const std::vector<float> b_after_changed_a = hidden_rows(cfg, changed_a, 7, 9);
  const std::vector<float> b_by_itself = hidden_rows(cfg, b_alone, 0, 9);
  ASSERT_EQ(b_in_ab.size(), size_t(9) * cfg.hidden);
  EXPECT_EQ(0, std::memcmp(b_in_ab.data(), b_after_changed_a.data(), b_in_ab.size() * sizeof(float)))
      << "document B's hidden states changed with document A's tokens";
  EXPECT_EQ(0, std::memcmp(b_in_ab.data(), b_by_itself.data(), b_in_ab.size() * sizeof(float)))
      << "document B packed after A differs from B alone (positions or state carried across documents)";

  // Control: the same tokens as one 16-token sequence (no boundary). B's rows now depend on A.
  MicroBatchData joined = ab, joined_changed = changed_a;
  joined.seq_lens = {16};
  joined_changed.seq_lens = {16};
  NetConfig wide = cfg;
  wide.seq = 16;  // one sequence of 16 positions
  EXPECT_NE(0, std::memcmp(hidden_rows(wide, joined, 7, 9).data(), hidden_rows(wide, joined_changed, 7, 9).data(),
                           b_in_ab.size() * sizeof(float)))
      << "without a document boundary B should see A";

  // A's own rows do change (the edit is real).
  EXPECT_NE(0, std::memcmp(hidden_rows(cfg, ab, 0, 7).data(), hidden_rows(cfg, changed_a, 0, 7).data(),
                           size_t(7) * cfg.hidden * sizeof(float)));
}

// The loss gradient flows only within each document too: the embedding rows of B's tokens get the same
// gradient whatever A holds, as long as A's and B's tokens are disjoint. (The MoE load-balancing loss is
// over the whole micro-batch by definition, so it is off here: it couples documents on purpose.)
TEST(PackedUnits, DocumentGradientsStayInsideTheirDocument) {
  NetConfig cfg = model();
  cfg.aux_loss_coef = 0;
  MicroBatchData d;
  d.seq_lens = {6, 6};
  d.loss_weight = 1.0;
  for (int t = 0; t < 6; ++t) {
    d.tokens.push_back(10 + t);  // A: ids 10..15
    d.targets.push_back(11 + t);
  }
  for (int t = 0; t < 6; ++t) {
    d.tokens.push_back(100 + 2 * t);  // B: ids 100..110 (even)
    d.targets.push_back(102 + 2 * t);
  }
  MicroBatchData changed = d;
  for (int t = 0; t < 6; ++t) changed.tokens[size_t(t)] = 40 + 3 * t;  // A: other ids, still disjoint from B
  auto embed_grad_of_b = [&](const MicroBatchData& x) {
    auto stage = StageCompute::create(cfg, 0, cfg.num_layers(), 1);
    stage->zero_grad();
    stage->forward(0, x, nullptr, nullptr);
    stage->backward_input(0, x, nullptr, nullptr);
    stage->backward_weight(0);
    stage->finish_backward();
    const TensorMap g = by_name(*stage, stage->grads());
    const std::vector<float>& e = g.at("layers.0.embed.wte");
    std::vector<float> rows;
    for (int t = 0; t < 6; ++t) {
      const auto* row = e.data() + size_t(100 + 2 * t) * cfg.hidden;
      rows.insert(rows.end(), row, row + cfg.hidden);
    }
    return rows;
  };
  const std::vector<float> g0 = embed_grad_of_b(d), g1 = embed_grad_of_b(changed);
  EXPECT_EQ(0, std::memcmp(g0.data(), g1.data(), g0.size() * sizeof(float)))
      << "the gradient reaching document B's tokens depends on document A";
  bool nonzero = false;
  for (float v : g0) nonzero = nonzero || v != 0.0f;
  EXPECT_TRUE(nonzero);
}

using test::expect_input_error;

TEST(PackedUnits, UnitsTheModelCannotHoldAreRefusedNamingTheUnit) {
  const NetConfig cfg = model();  // seq 12, micro-batch buffer 24 tokens
  const std::vector<int32_t> corpus = test::bundled_corpus();
  expect_input_error([&] { check_units_runnable(cfg, {}, corpus); }, "no units");
  expect_input_error([&] { check_units_runnable(cfg, {unit({4}), unit({13})}, corpus); },
                     "units[1].docs[0]: a document of 13 tokens is longer than the model's seq = 12");
  expect_input_error([&] { check_units_runnable(cfg, {unit({12, 12, 1})}, corpus); },
                     "units[0]: 25 tokens, more than the model's micro_batch * seq = 24");
  expect_input_error([&] { check_units_runnable(cfg, {unit({0, 3})}, corpus); }, "units[0]");
  WorkUnit padded = unit({5});
  padded.padded_tokens = 12;
  expect_input_error([&] { check_units_runnable(cfg, {padded}, corpus); }, "units[0]: a padded unit");
  WorkUnit s0 = unit({8}), s1 = unit({4});
  s0.row = s1.row = 0;
  s1.slice = 1;
  s1.first_doc_offset = 8;
  expect_input_error([&] { check_units_runnable(cfg, {s0, s1}, corpus); },
                     "units[0]: slice 0 of row 0, 8 tok, but model 'packed-units-test' has mamba layers, which the "
                     "executor cannot run on slices");
  expect_input_error([&] { check_units_runnable(cfg, {unit({10})}, std::vector<int32_t>(10, 65)); },
                     "needs a corpus of at least 11 tokens");
  expect_input_error([&] { (void)unit_data(cfg, corpus, {unit({3}), unit({30})}); }, "units[1]");
  // A plan whose units do not match its micro-batches cannot be lowered.
  PlanRequest req;
  req.devices = 2;
  req.units = units();
  Plan plan = build_plan(req, cfg.num_layers());
  plan.units.pop_back();
  expect_input_error([&] { (void)lower_plan(plan); }, "units for 6 micro-batches");
}

// Backends whose layers or loss reduction assume equal micro-batches refuse a program with units.
TEST(PackedUnits, BackendsWithoutUnitSupportRefuseUnitPrograms) {
  const NetConfig cfg = model();
  PlanRequest req;
  req.devices = 2;
  req.units = units();
  const Program program = lower_plan(build_plan(req, cfg.num_layers()));
  DataParallelOptions dp;
  dp.replicas = 2;
  expect_input_error([&] { (void)make_data_parallel_run_backend(program, cfg, dp); }, "does not run variable-length units");
  expect_input_error([&] { (void)make_tensor_parallel_run_backend(program, cfg, 2, {}); },
                     "does not run variable-length units");
  expect_input_error([&] { (void)make_gpu_run_backend(program, cfg, GpuRunOptions{}); },
                     "the GPU backends do not run variable-length units");
}

TEST(PackedUnits, MalformedPackedMicroBatchesFailBeforeAnyLayerRuns) {
  const NetConfig cfg = model();
  auto stage = StageCompute::create(cfg, 0, cfg.num_layers(), 1);
  MicroBatchData d = make_unit_microbatch(cfg, {}, 0, {unit({5, 4})}, 0);
  MicroBatchData bad = d;
  bad.seq_lens = {5, 5};
  expect_input_error([&] { stage->forward(0, bad, nullptr, nullptr); }, "seq_lens add up to 10 tokens but the micro-batch holds 9");
  bad = d;
  bad.seq_lens = {9, 0};
  expect_input_error([&] { stage->forward(0, bad, nullptr, nullptr); }, "seq_lens[1] = 0 must be >= 1");
  bad = d;
  bad.targets.pop_back();
  expect_input_error([&] { stage->forward(0, bad, nullptr, nullptr); }, "expected one per token = 9");
  bad = d;
  bad.loss_weight = -1;
  expect_input_error([&] { stage->forward(0, bad, nullptr, nullptr); }, "loss_weight must be finite and >= 0");
  // The stage is untouched by the refusals: the good micro-batch runs.
  stage->forward(0, d, nullptr, nullptr);
  stage->backward_input(0, d, nullptr, nullptr);
  stage->backward_weight(0);
  EXPECT_TRUE(std::isfinite(stage->loss(0)));
}

}  // namespace
}  // namespace adaptis::exec
