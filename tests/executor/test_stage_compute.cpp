// StageCompute splits: a model cut into 2, 3, 4 (or one-layer) stages and driven by hand through F / B / W
// in several orders gives bitwise the same losses, boundary activations, boundary input gradients, weight
// gradients and trained parameters as the one-stage model; B then W (deferred, reordered) equals a fused
// backward; misuse is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {
namespace {

// Every layer kind, small dims: Embedding, Attention, Mlp, Moe, Mamba, Attention, Mlp, LmHead (8 layers).
NetConfig all_kinds_config() {
  NetConfig c = make_net_config({LayerType::Attention, LayerType::Mlp, LayerType::Moe, LayerType::Mamba,
                                 LayerType::Attention, LayerType::Mlp});
  c.name = "split-test";
  c.vocab = 64;
  c.hidden = 16;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 24;
  c.experts = 4;
  c.top_k = 2;
  c.expert_ffn = 12;
  c.shared_experts = 1;
  c.mamba_state = 4;
  c.mamba_conv = 3;
  c.seq = 8;
  c.micro_batch = 2;
  c.seed = 4242;
  return c;
}

// When each micro-batch's W runs relative to its B.
enum class WOrder {
  Fused,        // W right after its B (a BW)
  DeferredFifo, // every B first, then W in micro-batch order (ZB-H1 style)
  DeferredLifo, // every B first, then W in reverse micro-batch order
  Shuffled,     // W's of all stages and micro-batches in a fixed pseudo-random order after all B's
  Interleaved,  // W of micro-batch k-1 runs after B of micro-batch k, with F's in between (1F1B-like)
};
const char* w_order_name(WOrder o) {
  switch (o) {
    case WOrder::Fused: return "fused";
    case WOrder::DeferredFifo: return "deferred-fifo";
    case WOrder::DeferredLifo: return "deferred-lifo";
    case WOrder::Shuffled: return "shuffled";
    case WOrder::Interleaved: return "interleaved";
  }
  return "?";
}

// What a pipelined step exposes, keyed so runs with different cuts can be compared.
struct StepCapture {
  std::vector<double> mb_loss;
  std::map<std::string, std::vector<float>> grads;            // by tensor name
  std::map<std::pair<int, int>, std::vector<float>> acts;     // (boundary layer, mb) -> input of that layer
  std::map<std::pair<int, int>, std::vector<float>> in_grads; // (boundary layer, mb) -> grad of that input
};

struct SplitRun {
  std::vector<StepCapture> steps;
  std::map<std::string, std::vector<float>> params;  // after the last AdamW step
  std::map<std::string, std::vector<float>> init_params;
};

std::map<std::string, std::vector<float>> named(const StageCompute& s, std::span<const float> arena) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : s.tensors()) out[t.name].assign(arena.begin() + t.offset, arena.begin() + t.offset + t.size);
  return out;
}

// Drives stages [bounds[i], bounds[i+1]) by hand: F of micro-batch mb through every stage, then B back
// (micro-batches in the given order), W per `order`, finish_backward, AdamW.
SplitRun run_split(const NetConfig& cfg, const std::vector<int>& bounds, int m, int steps, WOrder order,
                   const std::vector<int32_t>& corpus = {}, bool reverse_b = false) {
  const int S = static_cast<int>(bounds.size()) - 1;
  std::vector<std::unique_ptr<StageCompute>> stages;
  for (int s = 0; s < S; ++s) stages.push_back(StageCompute::create(cfg, bounds[s], bounds[s + 1], m));
  SplitRun run;
  for (const auto& s : stages) run.init_params.merge(named(*s, s->params()));
  const size_t n = cfg.activation_floats();
  AdamW opt;
  opt.lr = 0.01f;
  for (int step = 0; step < steps; ++step) {
    for (auto& s : stages) s->zero_grad();
    std::vector<MicroBatchData> data;
    for (int mb = 0; mb < m; ++mb) data.push_back(make_microbatch(cfg, corpus, step, mb));
    // act[s][mb]: output of stage s; grad[s][mb]: gradient of stage s's input.
    std::vector<std::vector<std::vector<float>>> act(S, std::vector<std::vector<float>>(m, std::vector<float>(n)));
    std::vector<std::vector<std::vector<float>>> grad = act;
    std::vector<std::pair<int, int>> pending_w;  // (stage, mb)

    auto forward = [&](int mb) {
      for (int s = 0; s < S; ++s)
        stages[s]->forward(mb, data[mb], s > 0 ? act[s - 1][mb].data() : nullptr,
                           s + 1 < S ? act[s][mb].data() : nullptr);
    };
    auto backward = [&](int mb) {
      for (int s = S - 1; s >= 0; --s) {
        stages[s]->backward_input(mb, data[mb], s + 1 < S ? grad[s + 1][mb].data() : nullptr,
                                  s > 0 ? grad[s][mb].data() : nullptr);
        if (order == WOrder::Fused) stages[s]->backward_weight(mb);
        else pending_w.emplace_back(s, mb);
      }
    };
    auto run_pending = [&](std::vector<std::pair<int, int>> ws) {
      for (auto [s, mb] : ws) stages[s]->backward_weight(mb);
    };

    std::vector<int> b_order(m);
    std::iota(b_order.begin(), b_order.end(), 0);
    if (reverse_b) std::reverse(b_order.begin(), b_order.end());
    if (order == WOrder::Interleaved) {
      // F0; then for k: F(k+1), B(k), W(k-1); W of the last micro-batch at the very end.
      forward(b_order[0]);
      for (int i = 0; i < m; ++i) {
        if (i + 1 < m) forward(b_order[i + 1]);
        const size_t before = pending_w.size();
        backward(b_order[i]);
        std::vector<std::pair<int, int>> ready(pending_w.begin(), pending_w.begin() + static_cast<long>(before));
        pending_w.erase(pending_w.begin(), pending_w.begin() + static_cast<long>(before));
        run_pending(ready);
      }
      run_pending(pending_w);
    } else {
      for (int mb : b_order) forward(mb);
      for (int mb : b_order) backward(mb);
      if (order == WOrder::DeferredFifo) {
        std::stable_sort(pending_w.begin(), pending_w.end(),
                         [](auto a, auto b) { return a.second < b.second; });
      } else if (order == WOrder::DeferredLifo) {
        std::stable_sort(pending_w.begin(), pending_w.end(),
                         [](auto a, auto b) { return a.second > b.second; });
      } else if (order == WOrder::Shuffled) {
        std::mt19937 rng(static_cast<unsigned>(7 + step));
        std::shuffle(pending_w.begin(), pending_w.end(), rng);
      }
      run_pending(pending_w);
    }
    for (auto& s : stages) s->finish_backward();

    StepCapture cap;
    std::vector<const StageCompute*> in_order;
    for (const auto& s : stages) in_order.push_back(s.get());
    for (int mb = 0; mb < m; ++mb) cap.mb_loss.push_back(microbatch_loss(in_order, mb));
    for (const auto& s : stages) cap.grads.merge(named(*s, s->grads()));
    for (int s = 1; s < S; ++s)
      for (int mb = 0; mb < m; ++mb) {
        cap.acts[{bounds[s], mb}] = act[s - 1][mb];
        cap.in_grads[{bounds[s], mb}] = grad[s][mb];
      }
    run.steps.push_back(std::move(cap));
    for (auto& s : stages) s->step(opt, step);
    for (const auto& s : stages) EXPECT_EQ(s->saved_bytes(), 0u) << "saved state left after the step";
  }
  for (const auto& s : stages) run.params.merge(named(*s, s->params()));
  return run;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_same_tensors(const std::map<std::string, std::vector<float>>& got,
                         const std::map<std::string, std::vector<float>>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (const auto& [name, values] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << what << ": missing " << name;
    EXPECT_TRUE(bitwise_equal(it->second, values)) << what << ": " << name << " differs";
  }
}

// `got` against the one-stage run, and its boundaries against the run cut at every layer.
void expect_matches(const SplitRun& got, const SplitRun& one_stage, const SplitRun& every_layer,
                    const std::string& what) {
  expect_same_tensors(got.init_params, one_stage.init_params, what + " initial params");
  ASSERT_EQ(got.steps.size(), one_stage.steps.size());
  for (size_t st = 0; st < got.steps.size(); ++st) {
    const std::string at = what + " step " + std::to_string(st);
    const StepCapture& g = got.steps[st];
    const StepCapture& r = one_stage.steps[st];
    ASSERT_EQ(g.mb_loss.size(), r.mb_loss.size());
    for (size_t mb = 0; mb < g.mb_loss.size(); ++mb) EXPECT_EQ(g.mb_loss[mb], r.mb_loss[mb]) << at << " mb " << mb;
    expect_same_tensors(g.grads, r.grads, at + " grads");
    for (const auto& [key, values] : g.acts) {
      const std::string b = at + " boundary " + std::to_string(key.first) + " mb " + std::to_string(key.second);
      ASSERT_TRUE(every_layer.steps[st].acts.count(key)) << b;
      EXPECT_TRUE(bitwise_equal(values, every_layer.steps[st].acts.at(key))) << b << " activation differs";
      EXPECT_TRUE(bitwise_equal(g.in_grads.at(key), every_layer.steps[st].in_grads.at(key)))
          << b << " input gradient differs";
    }
  }
  expect_same_tensors(got.params, one_stage.params, what + " params after training");
}

std::string cut_name(const std::vector<int>& bounds) {
  std::string s;
  for (int b : bounds) {
    if (!s.empty()) s += ',';
    s += std::to_string(b);
  }
  return "[" + s + "]";
}

TEST(StageSplit, TwoThreeFourStageSplitsMatchOneStageBitwiseForEveryWOrder) {
  const NetConfig cfg = all_kinds_config();
  const int L = cfg.num_layers();
  ASSERT_EQ(L, 8);
  const int m = 3, steps = 2;
  const SplitRun one = run_split(cfg, {0, L}, m, steps, WOrder::Fused);
  std::vector<int> every(L + 1);
  std::iota(every.begin(), every.end(), 0);
  const SplitRun each = run_split(cfg, every, m, steps, WOrder::Fused);
  expect_matches(each, one, each, "every-layer cut");

  // The training actually moved: non-zero gradients in every tensor, a loss near log(vocab), params changed.
  for (const auto& [name, g] : one.steps[0].grads)
    EXPECT_TRUE(std::any_of(g.begin(), g.end(), [](float v) { return v != 0.0f; })) << name << " has a zero gradient";
  EXPECT_NEAR(one.steps[0].mb_loss[0], std::log(64.0), 1.0);
  EXPECT_NE(one.params.at("layers.1.attn.wq"), one.init_params.at("layers.1.attn.wq"));

  const std::vector<std::vector<int>> cuts = {
      {0, 4, L},           // 2 stages
      {0, 1, L},           // embedding alone
      {0, 7, L},           // LM head alone
      {0, 3, 5, L},        // 3 stages, MoE and Mamba split apart
      {0, 2, 4, 6, L},     // 4 even stages
      {0, 1, 2, 7, L},     // 4 uneven stages
  };
  for (const auto& cut : cuts)
    for (WOrder order : {WOrder::Fused, WOrder::DeferredFifo, WOrder::DeferredLifo, WOrder::Shuffled,
                         WOrder::Interleaved}) {
      const std::string what = cut_name(cut) + " " + w_order_name(order);
      SCOPED_TRACE(what);
      expect_matches(run_split(cfg, cut, m, steps, order), one, each, what);
    }
}

TEST(StageSplit, BackwardMicroBatchOrderDoesNotMatter) {
  const NetConfig cfg = all_kinds_config();
  const int L = cfg.num_layers();
  const SplitRun one = run_split(cfg, {0, L}, 4, 1, WOrder::Fused);
  std::vector<int> every(L + 1);
  std::iota(every.begin(), every.end(), 0);
  const SplitRun each = run_split(cfg, every, 4, 1, WOrder::Fused);
  expect_matches(run_split(cfg, {0, 3, 6, L}, 4, 1, WOrder::Shuffled, {}, /*reverse_b=*/true), one, each,
                 "reversed B order");
}

TEST(StageSplit, SplitBackwardEqualsFusedOnEveryLayerKindAlone) {
  // One stage per layer kind: B then (much later, after other micro-batches' F and B) W equals BW.
  const NetConfig cfg = all_kinds_config();
  for (int l = 0; l < cfg.num_layers(); ++l) {
    SCOPED_TRACE(std::string("layer ") + std::to_string(l) + " " + layer_type_name(cfg.layers[l]));
    std::vector<int> cut = {0};
    if (l > 0) cut.push_back(l);
    if (l + 1 < cfg.num_layers()) cut.push_back(l + 1);
    cut.push_back(cfg.num_layers());
    const SplitRun fused = run_split(cfg, cut, 3, 1, WOrder::Fused);
    for (WOrder order : {WOrder::DeferredLifo, WOrder::Interleaved}) {
      const SplitRun split = run_split(cfg, cut, 3, 1, order);
      expect_same_tensors(split.steps[0].grads, fused.steps[0].grads, w_order_name(order));
      for (const auto& [key, g] : fused.steps[0].in_grads)
        EXPECT_TRUE(bitwise_equal(split.steps[0].in_grads.at(key), g)) << "input gradient at " << key.first;
    }
  }
}

TEST(StageSplit, TinyModelSamplesSplitBitwise) {
  // The bundled tiny model spec (LLaMA-style), cut four ways, on the bundled corpus.
  const NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  const auto corpus = load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR));
  const int L = cfg.num_layers();
  const SplitRun one = run_split(cfg, {0, L}, 2, 1, WOrder::Fused, corpus);
  std::vector<int> cut = {0};
  for (int s = 1; s < 4; ++s) cut.push_back(s * L / 4);
  cut.push_back(L);
  const SplitRun four = run_split(cfg, cut, 2, 1, WOrder::DeferredLifo, corpus);
  expect_matches(four, one, four, cut_name(cut));
}

TEST(StageSplit, OneStageDriverMatchesReferenceTrainer) {
  const NetConfig cfg = all_kinds_config();
  ReferenceOptions ro;
  ro.steps = 2;
  ro.microbatches = 3;
  ro.opt.lr = 0.01f;
  std::vector<std::vector<float>> ref_grads;
  ReferenceRun ref = train_reference(cfg, ro, [&](int, const StageCompute& s) {
    ref_grads.emplace_back(s.grads().begin(), s.grads().end());
  });
  const SplitRun mine = run_split(cfg, {0, 2, cfg.num_layers()}, 3, 2, WOrder::Shuffled);
  for (int st = 0; st < 2; ++st) {
    double sum = 0;
    for (double l : mine.steps[st].mb_loss) sum += l;
    EXPECT_EQ(sum / 3, ref.steps[st].loss) << "step " << st;
    expect_same_tensors(mine.steps[st].grads, named(*ref.model, ref_grads[st]), "grads step " + std::to_string(st));
  }
  expect_same_tensors(mine.params, named(*ref.model, ref.model->params()), "params");
}

TEST(StageSplit, SpecLayersMapOntoExecutorLayers) {
  const std::string dir = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/";
  // tiny-llama: embedding, 4 transformer blocks (attention + mlp each), lm_head.
  const NetConfig llama = load_net_config(dir + "tiny-llama.json");
  EXPECT_EQ(llama.spec_layers.bounds, (std::vector<int>{0, 1, 3, 5, 7, 9, 10}));
  EXPECT_EQ(llama.spec_layers.names.front(), "embedding");
  EXPECT_EQ(llama.spec_layers.kinds[1], "transformer");
  const LayerUnits units = plan_layer_units(llama, false);
  EXPECT_EQ(units.count(), 6);
  const LayerUnits split = plan_layer_units(llama, true);
  EXPECT_EQ(split.count(), llama.num_layers());
  EXPECT_EQ(split.kinds[1], "attention");
  // tiny-nemotron-h: a hybrid pattern, one executor layer per pattern symbol.
  const NetConfig hybrid = load_net_config(dir + "tiny-nemotron-h.json");
  const LayerUnits hu = plan_layer_units(hybrid, false);
  ASSERT_GE(hu.count(), 3);
  EXPECT_EQ(hu.bounds.front(), 0);
  EXPECT_EQ(hu.bounds.back(), hybrid.num_layers());
  for (int i = 0; i < hu.count(); ++i) EXPECT_LT(hu.bounds[i], hu.bounds[i + 1]);
  // A config not built from a spec has one unit per layer.
  EXPECT_EQ(plan_layer_units(all_kinds_config(), false).count(), all_kinds_config().num_layers());
}

TEST(StageCompute, MisuseIsRefused) {
  const NetConfig cfg = all_kinds_config();
  EXPECT_THROW(StageCompute::create(cfg, 3, 3, 2), InputError);
  EXPECT_THROW(StageCompute::create(cfg, 0, cfg.num_layers() + 1, 2), InputError);
  EXPECT_THROW(StageCompute::create(cfg, 0, 2, 0), InputError);
  auto s = StageCompute::create(cfg, 0, cfg.num_layers(), 2);
  const MicroBatchData d = make_microbatch(cfg, {}, 0, 0);
  EXPECT_THROW(s->backward_input(0, d, nullptr, nullptr), std::logic_error);  // B before F
  EXPECT_THROW(s->forward(2, d, nullptr, nullptr), std::logic_error);         // micro-batch out of range
  s->forward(0, d, nullptr, nullptr);
  EXPECT_THROW(s->backward_weight(0), std::logic_error);  // W before B
  s->backward_input(0, d, nullptr, nullptr);
  s->backward_weight(0);
  EXPECT_THROW(s->finish_backward(), std::logic_error);  // micro-batch 1 has no W
  // A middle stage needs its input and output buffers.
  auto mid = StageCompute::create(cfg, 2, 4, 1);
  EXPECT_THROW(mid->forward(0, d, nullptr, nullptr), std::logic_error);
  // Targets outside the vocabulary are bad input, found before any layer runs.
  MicroBatchData bad = d;
  bad.targets[0] = cfg.vocab;
  auto whole = StageCompute::create(cfg, 0, cfg.num_layers(), 1);
  EXPECT_THROW(whole->forward(0, bad, nullptr, nullptr), InputError);
}

}  // namespace
}  // namespace adaptis::exec
