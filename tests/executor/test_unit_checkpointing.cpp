// Per-unit checkpointing on the CPU executor: a stage's memory policy recomputes chosen units of a
// variable-length plan only (StageMemoryPolicy::units). The selected units' F really drops the policy's
// layers and their R re-creates them; the others keep everything and have no R. Pipelined runs with full,
// selective and first-k-layers recompute on chosen units give bitwise the loss and gradients of the
// single-device run over the same documents, packed and sliced (any slice recomputes: a slice that later
// slices read keeps its keys and values from F to B and re-creates the rest; a slice's R attends to the
// earlier slices' keys again without counting itself twice as their reader).
#include <gtest/gtest.h>

#include <array>
#include <algorithm>
#include <functional>
#include <set>
#include <string>

#include "adaptis/executor/data_parallel.h"
#include "adaptis/executor/gpu.h"
#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/tensor_parallel.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/model/parallel_config.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/validator.h"
#include "runtime_test_support.h"
#include "sliced_units_test_support.h"
#include "tensor_map_test_support.h"
#include "unit_reference_test_support.h"

namespace adaptis::exec {
namespace {

using test::by_name;
using test::expect_bitwise;
using test::TensorMap;

// Every layer kind; a micro-batch buffer of 24 tokens, documents of at most 12 (the packed-units test's).
NetConfig packed_model() {
  NetConfig c = test::every_layer_kind_model("unit-checkpointing-test", 4242);
  c.seq = 12;
  c.micro_batch = 2;
  return c;
}

using test::sliced_model;
using test::unit;

// Six packed units of 1..24 tokens (tokens and sums of squares differ).
std::vector<WorkUnit> packed_units() {
  return {unit({5, 12, 3}), unit({1}), unit({7, 7, 7, 2}), unit({12, 12}), unit({2, 9}), unit({4, 4, 4, 4, 4})};
}

using test::sliced_units;  // the rows' last slices are units 2 and 5

StageMemoryPolicy policy(Recompute r, std::vector<int> units, int first_layers = 0) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.full_layers = first_layers;
  p.units = std::move(units);
  return p;
}

using Reference = test::UnitReference;

Reference reference(const NetConfig& cfg, const std::vector<WorkUnit>& us, int steps) {
  AdamW opt;
  opt.lr = 0.01f;
  return test::unit_reference(cfg, us, steps, opt);
}

// Runs `plan` for the reference's steps and expects its losses, gradients and parameters bit for bit;
// returns the last step's result.
StepResult expect_reference_run(const Plan& plan, const NetConfig& cfg, const Reference& ref) {
  RuntimeOptions ro;
  ro.optimizer.lr = 0.01f;
  PipelineRuntime rt(lower_plan(plan), real_stage_factory(cfg), make_mailbox_transport(plan.num_devices()), ro);
  const DataSource data = unit_data(cfg, test::bundled_corpus(), plan.units);
  StepResult last;
  for (size_t step = 0; step < ref.loss.size(); ++step) {
    last = rt.run_step(static_cast<int>(step), data);
    EXPECT_EQ(last.loss, ref.loss[step]) << "step " << step;
    EXPECT_EQ(last.mb_losses, ref.mb_loss[step]) << "step " << step;
    expect_bitwise(by_name(rt.grads()), ref.grads[step], "grads step " + std::to_string(step));
  }
  expect_bitwise(by_name(rt.params()), ref.params, "params after " + std::to_string(ref.loss.size()) + " steps");
  return last;
}

// The (stage, mb) pairs the program recomputes.
std::set<std::pair<int, int>> recomputed(const Program& p) {
  std::set<std::pair<int, int>> out;
  for (const auto& list : p.devices)
    for (const Instruction& ins : list)
      if (ins.kind == InstrKind::Compute && ins.op == Op::R) out.insert({ins.stage, ins.mb});
  return out;
}

Plan plan_for(const std::string& schedule, int devices, const std::vector<WorkUnit>& us, int num_layers) {
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.units = us;
  return build_plan(req, num_layers);
}

TEST(UnitCheckpointing, PackedUnitsRecomputedPerUnitMatchTheSingleDeviceRunBitwise) {
  const NetConfig cfg = packed_model();
  const std::vector<WorkUnit> us = packed_units();
  const Reference ref = reference(cfg, us, 2);
  // Full on the two longest units, selective on four, the first layer only of one, all units, nothing.
  const std::vector<StageMemoryPolicy> mix = {policy(Recompute::Full, {0, 3}), policy(Recompute::Selective, {1, 2, 3, 5}),
                                              policy(Recompute::Full, {3}, 1), policy(Recompute::Selective, {}),
                                              StageMemoryPolicy{}};
  struct Case {
    std::string schedule;
    int devices;
  };
  for (const Case& c : {Case{"1f1b", 2}, Case{"zb-h1", 3}, Case{"interleaved-1f1b", 2}, Case{"gpipe", 4}}) {
    SCOPED_TRACE(c.schedule + " on " + std::to_string(c.devices) + " devices");
    Plan plan = plan_for(c.schedule, c.devices, us, cfg.num_layers());
    const StepResult plain = expect_reference_run(plan, cfg, ref);  // the same plan without recompute
    std::vector<StageMemoryPolicy> per;
    for (int s = 0; s < plan.num_stages(); ++s) per.push_back(mix[size_t(s) % mix.size()]);
    set_memory_policy(plan, per);
    const ValidationReport v = validate_plan(plan, cfg.num_layers());
    ASSERT_TRUE(v.ok()) << v.message();
    // R exactly for the selected (stage, unit) pairs.
    std::set<std::pair<int, int>> want;
    for (int s = 0; s < plan.num_stages(); ++s)
      for (int mb = 0; mb < plan.num_microbatches; ++mb)
        if (recomputes_unit(per[size_t(s)], mb)) want.insert({s, mb});
    const Program program = lower_plan(plan);
    EXPECT_EQ(recomputed(program), want);
    ASSERT_TRUE(check_program(program).ok()) << check_program(program).message();
    const StepResult got = expect_reference_run(plan, cfg, ref);
    // Dropping activations never holds more than keeping them.
    for (size_t d = 0; d < got.peak_saved_bytes.size(); ++d)
      EXPECT_LE(got.peak_saved_bytes[d], plain.peak_saved_bytes[d]) << "device " << d;
  }
}

// Runs sliced_units() through seq1f1b / 1f1b / gpipe plans on 2 and 3 devices with stage s recomputing
// `per_stage[s % 3]`, each validated, lowered with R actions and trained on the runtime against the
// single-device sliced run; `check` (optional) looks at the lowered program's recomputed (stage, mb).
// Returns how many plans ran (schedules that cannot take a device count are skipped).
int expect_sliced_plans_bitwise(const std::array<StageMemoryPolicy, 3>& per_stage,
                                const std::function<void(const std::set<std::pair<int, int>>&)>& check = {}) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = sliced_units();
  const Reference ref = reference(cfg, us, 2);
  int ran = 0;
  for (const std::string schedule : {"seq1f1b", "1f1b", "gpipe"}) {
    for (int devices : {2, 3}) {
      Plan plan;
      try {
        plan = plan_for(schedule, devices, us, cfg.num_layers());
      } catch (const InputError&) {
        continue;  // schedules that cannot take this many stages or these units
      }
      SCOPED_TRACE(schedule + " on " + std::to_string(devices) + " devices");
      std::vector<StageMemoryPolicy> per;
      for (int s = 0; s < plan.num_stages(); ++s) per.push_back(per_stage[static_cast<size_t>(s % 3)]);
      set_memory_policy(plan, per);
      const ValidationReport v = validate_plan(plan, cfg.num_layers());
      EXPECT_TRUE(v.ok()) << v.message();
      if (!v.ok()) continue;
      const std::set<std::pair<int, int>> rs = recomputed(lower_plan(plan));
      EXPECT_FALSE(rs.empty());
      if (check) check(rs);
      expect_reference_run(plan, cfg, ref);
      ++ran;
    }
  }
  return ran;
}

// A row's last slice recomputes (its F's attention reads the earlier slices' keys, its R reads them again);
// the earlier slices keep theirs. Against the single-device sliced run: bitwise.
TEST(UnitCheckpointing, ARowsLastSliceRecomputesBitwise) {
  EXPECT_GE(expect_sliced_plans_bitwise({policy(Recompute::Full, {2, 3, 5}), policy(Recompute::Selective, {5}),
                                         policy(Recompute::Full, {2}, 1)}),
            3);
}

// Early slices recompute (units 0, 1 and 4 are read by later slices; 3 is packed) through whole plans: the
// lowered program's R's run on the runtime's devices in the schedule's order, and the training is bitwise
// the single-device run's under full, selective and first-k-layers recompute.
TEST(UnitCheckpointing, EarlySlicesRecomputeThroughPlansBitwise) {
  const int ran = expect_sliced_plans_bitwise(
      {policy(Recompute::Full, {0, 1, 3, 4}), policy(Recompute::Selective, {0, 1, 4}), policy(Recompute::Full, {0, 4, 5}, 1)},
      [](const std::set<std::pair<int, int>>& rs) {
        EXPECT_TRUE(rs.count({0, 0}) && rs.count({0, 1}) && rs.count({0, 4})) << "stage 0 recomputes the early slices";
      });
  EXPECT_GE(ran, 3);
}

// One stage, by hand, actions written as "F0 F1 R0 B1 B0" (W of every micro-batch and finish_backward
// follow): the stage recomputing `selected` and one keeping everything run the same actions (less the R's);
// their gradients and losses must be bitwise equal.
void expect_order_matches_keep_everything(const NetConfig& cfg, const std::vector<WorkUnit>& us, std::vector<int> selected,
                                          const std::string& order, Recompute policy = Recompute::Full,
                                          int full_end = -1) {
  SCOPED_TRACE(order + " recomputing " + ::testing::PrintToString(selected));
  const int m = static_cast<int>(us.size());
  std::vector<MicroBatchData> data;
  for (int u = 0; u < m; ++u) data.push_back(make_unit_microbatch(cfg, {}, 0, us, u));
  auto run = [&](StageCompute& st, bool with_r) {
    for (size_t at = 0; at + 1 < order.size(); at += 3) {
      const char op = order[at];
      const int mb = order[at + 1] - '0';
      const MicroBatchData& d = data[size_t(mb)];
      if (op == 'F') st.forward(mb, d, nullptr, nullptr);
      if (op == 'R' && with_r) st.recompute(mb, d);
      if (op == 'B') st.backward_input(mb, d, nullptr, nullptr);
    }
    for (int mb = 0; mb < m; ++mb) st.backward_weight(mb);
    st.finish_backward();
  };
  auto keep = StageCompute::create(cfg, 0, cfg.num_layers(), m);
  run(*keep, false);
  auto drop = StageCompute::create(cfg, 0, cfg.num_layers(), m);
  drop->set_recompute(policy, full_end, selected);
  ASSERT_NO_THROW(run(*drop, true));
  expect_bitwise(by_name(*drop, drop->grads()), by_name(*keep, keep->grads()), "grads");
  for (int mb = 0; mb < m; ++mb) EXPECT_EQ(drop->loss(mb), keep->loss(mb)) << "micro-batch " << mb;
  EXPECT_EQ(drop->saved_bytes(), 0u);  // nothing left behind (kept keys, carries, inputs)
}

// A recomputed last slice leaves its earlier slice free to run B (its R registers as a reader once). An
// earlier slice dropped while a later slice reads its keys keeps its keys and values: whether its R runs
// before the later slice's F, between that F and its B, or after its B (the carries it sent back must
// survive the R), and whether the later slice recomputes too, the training equals the stage that keeps
// everything.
TEST(UnitCheckpointing, ASliceDroppedAndRecomputedRegistersAsAReaderOnce) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> two = {unit({6}, 0, 0), unit({6}, 0, 1, 6)};
  expect_order_matches_keep_everything(cfg, two, {1}, "F0 F1 R1 B1 B0");
  expect_order_matches_keep_everything(cfg, two, {0}, "F0 F1 R0 B1 B0");
  expect_order_matches_keep_everything(cfg, two, {0}, "F0 F1 B1 R0 B0");
  expect_order_matches_keep_everything(cfg, two, {0}, "F0 R0 F1 B1 B0");
  expect_order_matches_keep_everything(cfg, two, {0, 1}, "F0 F1 R1 B1 R0 B0");
  expect_order_matches_keep_everything(cfg, two, {0, 1}, "F0 F1 R0 R1 B1 B0");
  expect_order_matches_keep_everything(cfg, two, {0, 1}, "F0 F1 R1 R0 B1 B0", Recompute::Full, 2);  // first attention
  // A row in three slices: the middle one is read (by slice 2) and reads (slice 0); its drop takes back its
  // reader registration with slice 0 and keeps its own keys for slice 2.
  const std::vector<WorkUnit> three = {unit({5}, 0, 0), unit({5}, 0, 1, 5), unit({4}, 0, 2, 10)};
  expect_order_matches_keep_everything(cfg, three, {1}, "F0 F1 F2 B2 R1 B1 B0");
  expect_order_matches_keep_everything(cfg, three, {1}, "F0 F1 R1 F2 B2 B1 B0");
  expect_order_matches_keep_everything(cfg, three, {0, 1, 2}, "F0 F1 F2 R2 B2 R1 B1 R0 B0");
  expect_order_matches_keep_everything(cfg, three, {0, 1, 2}, "F0 F1 F2 R0 R1 R2 B2 B1 B0");
  expect_order_matches_keep_everything(cfg, three, {0, 2}, "F0 F1 F2 R2 B2 B1 R0 B0", Recompute::Selective);
}

// Dropping the keys a later slice needs is still refused: data that names no next slice (a hand-made
// micro-batch) makes the dropped slice release its keys, and the later slice's F says why it cannot run.
TEST(UnitCheckpointing, AnEarlierSliceWithoutItsNextSliceNamedCannotBeRead) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = {unit({6}, 0, 0), unit({6}, 0, 1, 6)};
  MicroBatchData d0 = make_unit_microbatch(cfg, {}, 0, us, 0);
  const MicroBatchData d1 = make_unit_microbatch(cfg, {}, 0, us, 1);
  ASSERT_EQ(d0.next_slice_mb, 1);
  d0.next_slice_mb = -1;
  auto early = StageCompute::create(cfg, 0, cfg.num_layers(), 2);
  early->set_recompute(Recompute::Full, -1, {0});
  early->forward(0, d0, nullptr, nullptr);
  EXPECT_EQ(early->saved_bytes(0), 0u);  // the tokens need no kept input, and nothing named a reader
  try {
    early->forward(1, d1, nullptr, nullptr);
    ADD_FAILURE() << "F of slice 1 after slice 0 released its keys must be refused";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("without the keys of its previous slice 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("next_slice_mb"), std::string::npos) << e.what();
  }
  // The layer itself: discarding a micro-batch that a later slice already reads, when its data named no
  // next slice, is refused rather than leaving the reader with released keys.
  auto attn = make_layer<float>(LayerType::Attention, cfg, 2);
  std::vector<float> params(attn->num_params());
  Rng rng(7);
  attn->init_params(params.data(), rng);
  const std::vector<float> x(size_t(6) * size_t(cfg.hidden), 0.5f);
  std::vector<float> y(x.size());
  attn->forward(0, d0, params.data(), x.data(), y.data());
  attn->forward(1, d1, params.data(), x.data(), y.data());
  try {
    attn->discard(0);
    ADD_FAILURE() << "dropping keys a later slice reads without next_slice_mb must be refused";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("dropping micro-batch 0 whose keys 1 later slice(s) read"), std::string::npos)
        << e.what();
  }
}

// The bytes a dropped slice keeps from F to R, measured: on a middle stage under Full recompute, the kept
// input of the stage plus the keys and values of each attention layer when a later slice reads it, the
// kept input only when none does; once the later slice's B has sent back their gradients, the carries as
// well. After R the stage holds what the stage keeping everything holds.
TEST(UnitCheckpointing, ADroppedReadSliceKeepsExactlyItsKeysAndValues) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = sliced_units();
  const int m = static_cast<int>(us.size()), first = 1, last = cfg.num_layers() - 1;  // a middle stage
  int attention_layers = 0;
  for (int li = first; li < last; ++li) attention_layers += cfg.layers[size_t(li)] == LayerType::Attention;
  ASSERT_EQ(attention_layers, 2);
  std::vector<MicroBatchData> data;
  for (int u = 0; u < m; ++u) data.push_back(make_unit_microbatch(cfg, test::bundled_corpus(), 0, us, u));
  const std::vector<float> input(cfg.activation_floats(), 0.25f);
  std::vector<float> out(cfg.activation_floats()), grad_in(cfg.activation_floats());
  const std::vector<float> grad_out(cfg.activation_floats(), 0.01f);
  auto kept_input = [&](int u) {  // the stage's input for the unit's own tokens (not the whole buffer)
    return data[size_t(u)].tokens.size() * size_t(cfg.hidden) * sizeof(float);
  };
  auto kv_bytes = [&](int u) {  // keys and values of every attention layer of the stage, from the model's dims
    return size_t(attention_layers) * size_t(us[size_t(u)].tokens()) * size_t(cfg.kv_heads) * size_t(cfg.head_dim()) *
           2 * sizeof(float);
  };
  auto keep = StageCompute::create(cfg, first, last, m);
  auto st = StageCompute::create(cfg, first, last, m);
  st->set_recompute(Recompute::Full, -1, {0, 1, 2, 3, 4, 5});
  for (int u = 0; u < m; ++u) {
    keep->forward(u, data[size_t(u)], input.data(), out.data());
    st->forward(u, data[size_t(u)], input.data(), out.data());
    const bool read = data[size_t(u)].next_slice_mb >= 0;
    EXPECT_EQ(read, u == 0 || u == 1 || u == 4) << "unit " << u;
    EXPECT_EQ(st->saved_bytes(u), kept_input(u) + (read ? kv_bytes(u) : 0)) << "unit " << u;
    EXPECT_LT(st->saved_bytes(u), keep->saved_bytes(u)) << "unit " << u;
  }
  // Row 1: unit 5 recomputes and runs B; unit 4 now also holds the gradients unit 5 sent back.
  for (StageCompute* s : {keep.get(), st.get()}) {
    if (s == st.get()) s->recompute(5, data[5]);
    s->backward_input(5, data[5], grad_out.data(), grad_in.data());
  }
  EXPECT_EQ(st->saved_bytes(4), kept_input(4) + 2 * kv_bytes(4));
  for (int u : {4, 0}) {
    st->recompute(u, data[size_t(u)]);
    EXPECT_EQ(st->saved_bytes(u), keep->saved_bytes(u)) << "unit " << u;
  }
}

// Two stages by hand over every unit of sliced_units(), the early slices 0, 1 and 4 (read by later slices)
// and the packed unit 3 recomputing, against the single-device run: bitwise losses and gradients. Each
// stage runs every F, then (early) every R before any B, or (late) each R right before its B; B and W run
// from the last unit to the first (a slice's B before its earlier slice's).
TEST(UnitCheckpointing, EarlySlicesRecomputedOnAPipelineMatchTheSingleDeviceRunBitwise) {
  const NetConfig cfg = sliced_model();
  const std::vector<WorkUnit> us = sliced_units();
  const int m = static_cast<int>(us.size()), cut = 2, L = cfg.num_layers();  // [embed, attn] [mlp, attn, mlp, head]
  const std::vector<int> selected = {0, 1, 3, 4};
  const Reference ref = reference(cfg, us, 1);
  std::vector<MicroBatchData> data;
  for (int u = 0; u < m; ++u) data.push_back(make_unit_microbatch(cfg, test::bundled_corpus(), 0, us, u));
  struct Policy {
    std::string name;
    Recompute r;
    int full_end0, full_end1;  // global layer index, -1 = the whole stage
  };
  // Full; selective (the MLP blocks); the first layers only: the embedding and attention of stage 0, the MLP
  // and attention of stage 1.
  for (const Policy& pol : {Policy{"full", Recompute::Full, -1, -1}, Policy{"selective", Recompute::Selective, -1, -1},
                            Policy{"first layers", Recompute::Full, cut, cut + 2}}) {
    for (const bool early_r0 : {true, false}) {
      SCOPED_TRACE(pol.name + (early_r0 ? ", stage 0 recomputes early" : ", stage 0 recomputes late"));
      auto s0 = StageCompute::create(cfg, 0, cut, m);
      auto s1 = StageCompute::create(cfg, cut, L, m);
      s0->set_recompute(pol.r, pol.full_end0, selected);
      s1->set_recompute(pol.r, pol.full_end1, selected);
      std::vector<std::vector<float>> act(size_t(m), std::vector<float>(cfg.activation_floats()));
      std::vector<std::vector<float>> grad = act;
      auto recompute_all = [&](StageCompute& st) {
        for (int u : selected) st.recompute(u, data[size_t(u)]);
      };
      for (int u = 0; u < m; ++u) s0->forward(u, data[size_t(u)], nullptr, act[size_t(u)].data());
      if (early_r0) recompute_all(*s0);
      for (int u = 0; u < m; ++u) s1->forward(u, data[size_t(u)], act[size_t(u)].data(), nullptr);
      if (!early_r0) recompute_all(*s1);
      for (int u = m - 1; u >= 0; --u) {
        const bool sel = std::find(selected.begin(), selected.end(), u) != selected.end();
        if (sel && early_r0) s1->recompute(u, data[size_t(u)]);
        s1->backward_input(u, data[size_t(u)], nullptr, grad[size_t(u)].data());
        s1->backward_weight(u);
      }
      for (int u = m - 1; u >= 0; --u) {
        const bool sel = std::find(selected.begin(), selected.end(), u) != selected.end();
        if (sel && !early_r0) s0->recompute(u, data[size_t(u)]);
        s0->backward_input(u, data[size_t(u)], grad[size_t(u)].data(), nullptr);
        s0->backward_weight(u);
      }
      s0->finish_backward();
      s1->finish_backward();
      for (int u = 0; u < m; ++u) EXPECT_EQ(microbatch_loss({s0.get(), s1.get()}, u), ref.mb_loss[0][size_t(u)]) << "unit " << u;
      TensorMap got = by_name(*s0, s0->grads());
      got.merge(by_name(*s1, s1->grads()));
      expect_bitwise(got, ref.grads[0], "grads");
    }
  }
}

// What F keeps: a selected unit only its stage input (Full) or its non-MLP/MoE state (Selective) until R;
// an unselected one everything, bit for bit the bytes of a stage without a policy.
TEST(UnitCheckpointing, OnlyTheSelectedUnitsDropTheirActivations) {
  const NetConfig cfg = packed_model();
  const std::vector<WorkUnit> us = packed_units();
  const int m = static_cast<int>(us.size()), first = 1, last = cfg.num_layers() - 1;  // a middle stage
  std::vector<MicroBatchData> data;
  for (int u = 0; u < m; ++u) data.push_back(make_unit_microbatch(cfg, test::bundled_corpus(), 0, us, u));
  const std::vector<float> input(cfg.activation_floats(), 0.25f);
  std::vector<float> out(cfg.activation_floats());
  auto forwarded = [&](Recompute r, std::vector<int> sel) {
    auto st = StageCompute::create(cfg, first, last, m);
    st->set_recompute(r, -1, sel);
    for (int u = 0; u < m; ++u) st->forward(u, data[size_t(u)], input.data(), out.data());
    return st;
  };
  auto keep = forwarded(Recompute::None, {});
  for (Recompute r : {Recompute::Full, Recompute::Selective}) {
    SCOPED_TRACE(recompute_name(r));
    auto st = forwarded(r, {2, 3});
    for (int u = 0; u < m; ++u) {
      if (u == 2 || u == 3) {
        EXPECT_LT(st->saved_bytes(u), keep->saved_bytes(u)) << "unit " << u;
        if (r == Recompute::Full) {  // the kept input: the unit's tokens x hidden (unit 2 fills 23 of 24 tokens)
          EXPECT_EQ(st->saved_bytes(u), size_t(us[size_t(u)].tokens()) * size_t(cfg.hidden) * sizeof(float))
              << "unit " << u;
        }
        st->recompute(u, data[size_t(u)]);
      }
      EXPECT_EQ(st->saved_bytes(u), keep->saved_bytes(u)) << "unit " << u;
    }
    // Longer units keep more: unit 3 (24 tokens) saves more than unit 2 (23) on the stage that keeps all.
    EXPECT_GT(keep->saved_bytes(3), keep->saved_bytes(2));
    try {
      st->recompute(0, data[0]);
      ADD_FAILURE() << "R of an unselected unit must be refused";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("R of micro-batch 0, which this stage does not recompute"), std::string::npos)
          << e.what();
    }
  }
}

// GPipe holds every unit's activations at once after the forwards: recomputing the longest units lowers the
// measured peak, recomputing all of them lowers it further; the training is bitwise the same.
TEST(UnitCheckpointing, MeasuredPeakSavedBytesDropWithTheRecomputedUnits) {
  const NetConfig cfg = packed_model();
  const std::vector<WorkUnit> us = packed_units();
  const Reference ref = reference(cfg, us, 1);
  Plan plan = plan_for("gpipe", 2, us, cfg.num_layers());
  const StepResult none = expect_reference_run(plan, cfg, ref);
  Plan longest = plan;
  set_uniform_memory_policy(longest, policy(Recompute::Full, {0, 3}));
  const StepResult some = expect_reference_run(longest, cfg, ref);
  Plan every = plan;
  set_uniform_memory_policy(every, policy(Recompute::Full, {}));
  const StepResult all = expect_reference_run(every, cfg, ref);
  for (size_t d = 0; d < 2; ++d) {
    SCOPED_TRACE("device " + std::to_string(d));
    EXPECT_LT(some.peak_saved_bytes[d], none.peak_saved_bytes[d]);
    EXPECT_LT(all.peak_saved_bytes[d], some.peak_saved_bytes[d]);
  }
}

std::string check_message(const Program& p) { return check_program(p).message(); }

TEST(UnitCheckpointing, AProgramRecomputingAnUnselectedUnitIsRefused) {
  const NetConfig cfg = packed_model();
  Plan plan = plan_for("1f1b", 2, packed_units(), cfg.num_layers());
  set_memory_policy(plan, {policy(Recompute::Full, {1, 4}), StageMemoryPolicy{}});
  const Program good = lower_plan(plan);
  ASSERT_EQ(good.memory.size(), 2u);
  EXPECT_EQ(good.memory[0].microbatches, (std::vector<int>{1, 4}));
  ASSERT_TRUE(check_program(good).ok()) << check_message(good);
  // An R for unit 2 of stage 0, right after its F.
  Program extra = good;
  auto& list = extra.devices[0];
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].kind == InstrKind::Compute && list[i].op == Op::F && list[i].stage == 0 && list[i].mb == 2) {
      Action r{Op::R, 0, 2};
      list.insert(list.begin() + static_cast<long>(i) + 1, Instruction::compute(r));
      break;
    }
  EXPECT_NE(check_message(extra).find("stage 0 mb 2: R but the stage does not recompute this micro-batch"),
            std::string::npos)
      << check_message(extra);
  try {
    PipelineRuntime rt(extra, real_stage_factory(cfg), make_mailbox_transport(2));
    ADD_FAILURE() << "the runtime must refuse the program";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("does not recompute this micro-batch"), std::string::npos) << e.what();
  }
  // A selected unit without its R.
  Program missing = good;
  for (auto& l : missing.devices)
    std::erase_if(l, [](const Instruction& x) { return x.kind == InstrKind::Compute && x.op == Op::R && x.mb == 4; });
  EXPECT_NE(check_message(missing).find("stage 0 mb 4: the stage recomputes this micro-batch but it has no R"),
            std::string::npos)
      << check_message(missing);
  // A selection out of range, out of order, or on a stage that recomputes nothing.
  Program bad = good;
  bad.memory[0].microbatches = {1, 9};
  EXPECT_NE(check_message(bad).find("9 is not a micro-batch of the program (0..5)"), std::string::npos) << check_message(bad);
  bad.memory[0].microbatches = {4, 1};
  EXPECT_NE(check_message(bad).find("must ascend, each once (4 then 1)"), std::string::npos) << check_message(bad);
  bad = good;
  bad.memory[1].microbatches = {2};
  EXPECT_NE(check_message(bad).find("stage 1's recomputed micro-batches are listed but the stage recomputes nothing"),
            std::string::npos)
      << check_message(bad);
}

using test::expect_input_error;

// Backends that run F, B and W only, or recompute whole stages, refuse per-unit checkpointing by name.
TEST(UnitCheckpointing, BackendsThatCannotRecomputeUnitsRefuseThem) {
  const NetConfig cfg = packed_model();
  Plan plan = plan_for("1f1b", 2, packed_units(), cfg.num_layers());
  set_uniform_memory_policy(plan, policy(Recompute::Full, {3}));
  const Program program = lower_plan(plan);
  expect_input_error([&] { (void)make_gpu_run_backend(program, cfg, GpuRunOptions{}); }, "variable-length units");
  // Without the units' loss weights (a hand-made program): the selection itself is refused.
  Program equal = program;
  equal.mb_loss_weight.clear();
  expect_input_error([&] { (void)make_gpu_run_backend(equal, cfg, GpuRunOptions{}); },
                     "the GPU backends do not run per-unit checkpointing (stage 0");
  DataParallelOptions dp;
  dp.replicas = 2;
  expect_input_error([&] { (void)make_data_parallel_run_backend(equal, cfg, dp); },
                     "the CPU data-parallel run does not recompute or offload activations (stage 0");
  expect_input_error([&] { (void)make_tensor_parallel_run_backend(equal, cfg, 2, {}); },
                     "the CPU tensor-parallel run does not recompute or offload activations (stage 0");
}

}  // namespace
}  // namespace adaptis::exec
