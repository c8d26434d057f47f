// Activation recomputation in the model library: the published closed forms (Korthikanti et al.,
// PipeOffload) on their test vectors, the analytical model's saved-tensor inventory under each
// recompute policy, the conservative defaults for cost files without recompute fields, and the
// cost file's optional fields (round trip, bad values named).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;
const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

// T3: GPT-3 175B sizes with TP = 8 and sequence parallelism: selective recompute drops the
// 5as/h = 80 term of 34 + 80, i.e. 70.2% of a layer's activations; it costs s/6h = 2.78% more FLOPs.
TEST(RecomputeFormulas, T3SelectiveSavesTheAttentionTermOfGpt3) {
  TransformerDims d{2048, 1, 12288, 96, 8, true};
  const double none = korthikanti_activation_bytes(d, RecomputeGranularity::None);
  const double sel = korthikanti_activation_bytes(d, RecomputeGranularity::Selective);
  EXPECT_NEAR(1.0 - sel / none, 80.0 / 114.0, 1e-12);
  EXPECT_NEAR(1.0 - sel / none, 0.702, 5e-4);
  EXPECT_NEAR(selective_recompute_flops_overhead(2048, 12288), 0.0278, 5e-5);
  // Without tensor parallelism the ratio is the same, and the bytes are t times larger.
  TransformerDims d1 = d;
  d1.t = 1;
  EXPECT_NEAR(korthikanti_activation_bytes(d1, RecomputeGranularity::None), 8 * none, 1e-3);
  EXPECT_NEAR(korthikanti_activation_bytes(d1, RecomputeGranularity::None), 2048.0 * 12288 * 114, 1e-3);
  // TP without SP replicates the 10sbh of LayerNorm/dropout inputs on every rank.
  TransformerDims no_sp = d;
  no_sp.sequence_parallel = false;
  EXPECT_NEAR(korthikanti_activation_bytes(no_sp, RecomputeGranularity::None), 2048.0 * 12288 * (10 + 3 + 10), 1e-3);
  EXPECT_NEAR(korthikanti_activation_bytes(no_sp, RecomputeGranularity::Selective), 2048.0 * 12288 * 13, 1e-3);
}

// T4: a GEMM-only layer with B = 2F (W inside B): full recompute makes F + B 4/3 as long.
TEST(RecomputeFormulas, T4FullRecomputeAddsOneForward) {
  EXPECT_NEAR(full_recompute_time_factor(1.0, 2.0), 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(full_recompute_time_factor(3.5, 7.0), 4.0 / 3.0, 1e-12);
}

// T5: s = 2048, b = 1, h = 6144, t = 8: TP + SP + selective keeps 34sbh/t = 53.5 MB, full 2sbh = 25.2 MB.
TEST(RecomputeFormulas, T5PerLayerBytesWithTensorParallelism) {
  TransformerDims d{2048, 1, 6144, 48, 8, true};
  EXPECT_NEAR(korthikanti_activation_bytes(d, RecomputeGranularity::Selective) / 1e6, 53.5, 0.05);
  EXPECT_NEAR(korthikanti_activation_bytes(d, RecomputeGranularity::Full) / 1e6, 25.2, 0.05);
  EXPECT_DOUBLE_EQ(korthikanti_activation_bytes(d, RecomputeGranularity::Selective), 34.0 * 2048 * 6144 / 8);
}

// T8: PipeOffload's k for h = 8192, s = 4096 on 220 TFLOP/s with 15 GB/s to the host: 0.918 <= 1,
// so every activation can be offloaded for free; the other rows of its table.
TEST(RecomputeFormulas, T8PipeOffloadRatio) {
  EXPECT_NEAR(pipeoffload_ratio(8192, 4096, 220e12, 15e9), 0.918, 5e-4);
  EXPECT_LE(pipeoffload_ratio(8192, 4096, 220e12, 15e9), 1.0);
  EXPECT_NEAR(pipeoffload_ratio(4096, 4096, 220e12, 15e9), 1.705, 5e-4);
  EXPECT_NEAR(pipeoffload_ratio(4096, 4096, 440e12, 21e9), 2.436, 5e-4);
  EXPECT_NEAR(pipeoffload_ratio(12288, 2048, 440e12, 21e9), 0.922, 5e-4);
}

// T11: Korthikanti's Table 4 (22B model, ms per layer): selective + SP costs 1.036x and full
// recompute 1.388x the baseline F + B; one extra forward predicts the full case within 0.5%.
TEST(RecomputeFormulas, T11MeasuredLayerTimeRatios) {
  const double f = 7.7, b = 11.9;
  EXPECT_NEAR(layer_time_ratio(7.2, 13.1, f, b), 1.036, 5e-4);
  EXPECT_NEAR(layer_time_ratio(7.7, 19.5, f, b), 1.388, 5e-4);
  EXPECT_NEAR(full_recompute_time_factor(f, b) / layer_time_ratio(7.7, 19.5, f, b), 1.0, 5e-3);
}

// The analytical model's inventory for a LLaMA-2 7B block (h 4096, SwiGLU f 11008, seq 4096, bf16):
// selective drops the MLP's norm statistics and output, the gate/up output and the activation output.
TEST(AnalyticalRecompute, SelectiveDropsTheMlpInternalsOfATransformerBlock) {
  ModelSpec llama = load_model_spec(kSamples + "/models/llama-2-7b.json");
  CostTable t = analytical_costs(llama, Device{});
  const double T = 4096, h = 4096, f = 11008, e = 2;
  const LayerCost& block = t.layers[5];
  const double none = block.act_b_bytes + block.act_w_bytes;
  EXPECT_DOUBLE_EQ(none - block.kept_selective_bytes, T * (h * e + 4) + T * 2 * f * e + T * f * e);
  EXPECT_DOUBLE_EQ(block.kept_full_bytes, T * h * e);  // the residual stream entering the block
  // Recomputing the MLP costs its forward only: most of the block's F (the MLP has 2/3 of the
  // GEMM FLOPs at this size), not more.
  EXPECT_GT(block.recompute_selective_ms, 0.4 * block.f_ms);
  EXPECT_LT(block.recompute_selective_ms, 0.8 * block.f_ms);
  // Selective saves a real share (the MLP internals are ~half of the block's activations), full keeps one
  // residual-stream tensor.
  EXPECT_LT(block.kept_selective_bytes, 0.7 * none);
  EXPECT_LT(block.kept_full_bytes, 0.1 * none);
  // Keys and values: 32 key/value heads of 128 dims each, bf16 (what a later slice attends to). The MLP
  // half of the block has none; embedding and head have none.
  EXPECT_DOUBLE_EQ(block.kv_bytes, T * 32 * (128 + 128) * e);
  EXPECT_LT(block.kv_bytes, block.kept_selective_bytes);  // selective keeps q, k, v anyway

  // Embedding: full recompute keeps the token ids; nothing selective. LM head: nothing selective.
  const LayerCost& emb = t.layers.front();
  EXPECT_DOUBLE_EQ(emb.kept_full_bytes, std::min(T * 4, emb.act_b_bytes + emb.act_w_bytes));
  EXPECT_DOUBLE_EQ(emb.kept_selective_bytes, emb.act_b_bytes + emb.act_w_bytes);
  EXPECT_DOUBLE_EQ(emb.recompute_selective_ms, 0.0);
  EXPECT_DOUBLE_EQ(emb.kv_bytes, 0.0);
  const LayerCost& head = t.layers.back();
  EXPECT_DOUBLE_EQ(head.kv_bytes, 0.0);
  EXPECT_DOUBLE_EQ(head.kept_selective_bytes, head.act_b_bytes + head.act_w_bytes);
  EXPECT_DOUBLE_EQ(head.recompute_selective_ms, 0.0);
}

// Mamba and attention-only layers keep everything under selective; MoE blocks drop their internals.
TEST(AnalyticalRecompute, SelectiveTouchesOnlyMlpAndMoeBlocks) {
  for (const char* name : {"nemotron-h-8b", "deepseek-v2-lite"}) {
    ModelSpec m = load_model_spec(kSamples + "/models/" + name + ".json");
    CostTable t = analytical_costs(m, Device{});
    int dropped = 0;
    for (size_t i = 0; i < m.layers.size(); ++i) {
      const LayerCost& c = t.layers[i];
      const bool block = m.layers[i].has(ComponentKind::Mlp) || m.layers[i].has(ComponentKind::Moe);
      const double none = c.act_b_bytes + c.act_w_bytes;
      if (block) {
        EXPECT_LT(c.kept_selective_bytes, none) << name << " " << c.name;
        EXPECT_GT(c.recompute_selective_ms, 0) << name << " " << c.name;
        ++dropped;
      } else {
        EXPECT_DOUBLE_EQ(c.kept_selective_bytes, none) << name << " " << c.name;
        EXPECT_DOUBLE_EQ(c.recompute_selective_ms, 0) << name << " " << c.name;
      }
      EXPECT_LE(c.kept_full_bytes, none) << name << " " << c.name;
      EXPECT_LE(c.recompute_selective_ms, c.f_ms + 1e-12) << name << " " << c.name;
    }
    EXPECT_GT(dropped, 0) << name;
  }
}

// Without flash attention the materialised scores (the 5as/h term) are what selective drops too.
TEST(AnalyticalRecompute, WithoutFlashSelectiveAlsoDropsTheScores) {
  ModelSpec llama = load_model_spec(kSamples + "/models/llama-2-7b.json");
  CostTable flash = analytical_costs(llama, Device{});
  llama.flash_attention = false;
  CostTable plain = analytical_costs(llama, Device{});
  const LayerCost &a = flash.layers[5], &b = plain.layers[5];
  const double scores = 1.0 * 32 * 4096 * 4096 * 2;  // b * a * s * s * e
  const double lse = 4096.0 * 32 * 4;                  // flash's fp32 row statistics, not kept without it
  EXPECT_DOUBLE_EQ((b.act_b_bytes + b.act_w_bytes) - (a.act_b_bytes + a.act_w_bytes), scores - lse);
  EXPECT_DOUBLE_EQ(b.kept_selective_bytes, a.kept_selective_bytes - lse);
  EXPECT_GT(b.recompute_selective_ms, a.recompute_selective_ms);
  // The kept scores are stated as such (units scale them with the attention area); selective keeps none.
  EXPECT_DOUBLE_EQ(a.act_score_bytes, 0.0);
  EXPECT_DOUBLE_EQ(b.act_score_bytes, scores);
  EXPECT_DOUBLE_EQ(b.kept_selective_score_bytes, 0.0);
  EXPECT_DOUBLE_EQ(layer_recompute(plain, 5).score_none, scores);
  EXPECT_DOUBLE_EQ(layer_recompute(plain, 5).score_selective, 0.0);
  EXPECT_DOUBLE_EQ(plain.pairs_per_microbatch, 4096.0 * 4096 / 2);
  for (int l : {0, plain.num_layers() - 1}) EXPECT_DOUBLE_EQ(plain.layers[size_t(l)].act_score_bytes, 0.0) << l;
}

// Megatron-LM's unfused attention with its default dropout (0.1 on the probabilities and before
// each residual add) on a GPT-3 175B layer: the analytical inventory is Korthikanti et al.'s
// sbh(34 + 5as/h) (LayerNorm's fp32 statistics aside), the batched GEMMs compute the whole s x s
// square (the papers' 4bs^2h forward FLOPs, causal or not), and the softmax and dropout passes are
// HBM traffic of their own, which selective recompute (Korthikanti's) re-runs with the GEMMs.
TEST(AnalyticalRecompute, UnfusedAttentionWithDropoutKeepsKorthikantisActivations) {
  const double s = 2048, h = 12288, a = 96;
  nlohmann::json j = {{"name", "gpt-3"},
                      {"seq_len", 2048},
                      {"micro_batch_size", 1},
                      {"flash_attention", false},
                      {"attention_dropout", 0.1},
                      {"hidden_dropout", 0.1},
                      {"defaults",
                       {{"hidden", 12288},
                        {"heads", 96},
                        {"kv_heads", 96},
                        {"ffn_hidden", 49152},
                        {"activation", "gelu"},
                        {"norm", "layernorm"},
                        {"qkv_bias", true},
                        {"vocab", 51200}}},
                      {"layers", {{{"kind", "embedding"}}, {{"kind", "transformer"}}, {{"kind", "lm_head"}}}}};
  const ModelSpec m = parse_model_spec(j, "gpt-3.json");
  const LayerWork w = layer_work(m.layers[1], m);
  const double kept = w.act_b_bytes + w.act_w_bytes;
  const double stats = 2 * 2 * s * 4;  // two LayerNorms' fp32 mean and rstd
  EXPECT_NEAR(kept, korthikanti_activation_bytes({2048, 1, 12288, 96, 1, false}, RecomputeGranularity::None) + stats,
              1.0);
  double core_f = 0, core_b = 0, core_f_bytes = 0;
  for (const auto& k : w.f.kernels)
    if (k.name.rfind("attention.core", 0) == 0) core_f += k.flops, core_f_bytes += k.bytes;
  for (const auto& k : w.b.kernels)
    if (k.name.rfind("attention.core", 0) == 0) core_b += k.flops;
  EXPECT_DOUBLE_EQ(core_f, 4 * s * s * h);
  EXPECT_DOUBLE_EQ(core_b, 2 * core_f);
  // Scores written (2), softmax read + write (4), dropout read + write + mask (5), read by the
  // context GEMM (2): 13 bytes per score element besides q, k, v and the output.
  EXPECT_DOUBLE_EQ(core_f_bytes, 13 * a * s * s + 4 * s * h * 2);
  // Without dropout: no dropout pass, and only the softmax output (2as^2b) is kept for B.
  ModelSpec plain = m;
  plain.attention_dropout = 0;
  plain.hidden_dropout = 0;
  const LayerWork p = layer_work(plain.layers[1], plain);
  EXPECT_NEAR(kept - (p.act_b_bytes + p.act_w_bytes), 3 * a * s * s + 2 * s * h, 1.0);
  EXPECT_EQ(w.f.kernels.size(), p.f.kernels.size() + 1);
  // Selective recompute re-creates the whole core: all its forward kernels are in `selective`.
  int core_kernels = 0;
  for (const auto& k : w.selective.kernels) core_kernels += k.name.rfind("attention.core", 0) == 0;
  EXPECT_EQ(core_kernels, 4);  // scores, softmax, dropout, context
}

// Cost files without the fields: selective is the same as none, full keeps the previous layer's output.
TEST(LayerRecompute, DefaultsAreConservative) {
  CostTable t;
  for (int i = 0; i < 3; ++i) {
    LayerCost c;
    c.f_ms = 2, c.b_ms = 3;
    c.act_b_bytes = 600, c.act_w_bytes = 400;
    c.out_bytes = i == 1 ? 0 : 100 + i;
    t.layers.push_back(c);
  }
  LayerRecompute r0 = layer_recompute(t, 0);
  EXPECT_DOUBLE_EQ(r0.kept_none, 1000);
  EXPECT_DOUBLE_EQ(r0.kept_selective, 1000);
  EXPECT_DOUBLE_EQ(r0.selective_ms, 0);
  EXPECT_DOUBLE_EQ(r0.kept_full, 100);  // no previous layer: its own output
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).kept_full, 100);   // the previous layer's output
  EXPECT_DOUBLE_EQ(layer_recompute(t, 2).kept_full, 102);   // previous output unknown: its own
  t.layers[2].out_bytes = 0;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 2).kept_full, 1000);  // nothing known: no saving
  // Given fields win, capped at what F keeps; a selective figure without a time costs all of F.
  t.layers[1].kept_selective_bytes = 250;
  t.layers[1].kept_full_bytes = 5000;
  LayerRecompute r1 = layer_recompute(t, 1);
  EXPECT_DOUBLE_EQ(r1.kept_selective, 250);
  EXPECT_DOUBLE_EQ(r1.selective_ms, 2);
  EXPECT_DOUBLE_EQ(r1.kept_full, 1000);
  t.layers[1].recompute_selective_ms = 0.5;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).selective_ms, 0.5);
  // Keys and values unknown: everything (a read slice saves nothing); given: capped at what F keeps.
  EXPECT_DOUBLE_EQ(r1.kv, 1000);
  t.layers[1].kv_bytes = 120;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).kv, 120);
  t.layers[1].kv_bytes = 1e6;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).kv, 1000);
  // Scores: none by default; given, capped at act_b; selective's unknown share is what fits in what it keeps.
  EXPECT_DOUBLE_EQ(r1.score_none, 0);
  EXPECT_DOUBLE_EQ(r1.score_selective, 0);
  t.layers[1].act_score_bytes = 400;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).score_none, 400);
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).score_selective, 250);
  t.layers[1].kept_selective_score_bytes = 100;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).score_selective, 100);
  t.layers[1].act_score_bytes = 9000;
  EXPECT_DOUBLE_EQ(layer_recompute(t, 1).score_none, 600);
}

// The authors' times-only profiles get the bytes of their model specs: fused layers ("M+E") take two
// spec layers, every byte is accounted once, times stay the profile's.
TEST(LayerRecompute, AttachMemoryCompletesTheTimesOnlyPeerProfiles) {
  for (const char* name : {"nemotron-nano-v2-9B", "deepseek-16B", "gpt-13B", "gpt-oss-20B"}) {
    CostTable times = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/" + name + ".json");
    ModelSpec spec = load_model_spec(kSamples + "/models/peer/" + name + ".json");
    CostTable mem = analytical_costs(spec, Device{});
    CostTable both = attach_memory(times, mem);
    ASSERT_EQ(both.num_layers(), times.num_layers()) << name;
    EXPECT_EQ(mem.num_layers(), times.num_layers() + 2) << name;  // embedding and head fused
    double state = 0, act = 0, mstate = 0, mact = 0;
    for (int i = 0; i < both.num_layers(); ++i) {
      EXPECT_DOUBLE_EQ(both.layers[i].f_ms, times.layers[i].f_ms);
      EXPECT_DOUBLE_EQ(both.layers[i].b_ms, times.layers[i].b_ms);
      EXPECT_GT(both.layers[i].act_b_bytes + both.layers[i].act_w_bytes, 0) << name << " " << i;
      EXPECT_LE(both.layers[i].recompute_selective_ms, both.layers[i].f_ms + 1e-12);
      state += both.layers[i].state_bytes, act += both.layers[i].act_b_bytes + both.layers[i].act_w_bytes;
    }
    for (const auto& l : mem.layers) mstate += l.state_bytes, mact += l.act_b_bytes + l.act_w_bytes;
    EXPECT_NEAR(state, mstate, 1e-6 * mstate) << name;
    EXPECT_NEAR(act, mact, 1e-6 * mact) << name;
    double kv = 0, mkv = 0;
    for (const auto& l : both.layers) kv += l.kv_bytes;
    for (const auto& l : mem.layers) mkv += l.kv_bytes;
    EXPECT_GT(mkv, 0) << name;
    EXPECT_NEAR(kv, mkv, 1e-6 * mkv) << name;
    EXPECT_EQ(both.layers.back().out_bytes, 0) << name;  // the head sends nothing on
  }
  CostTable times = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/gpt-13B.json");
  CostTable wrong = analytical_costs(load_model_spec(kSamples + "/models/llama-2-7b.json"), Device{});
  try {
    attach_memory(times, wrong);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("gpt-13B"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("llama-2-7b"), std::string::npos) << e.what();
  }
}

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("adaptis-recompute-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

TEST(CostFile, RecomputeFieldsRoundTripAndStayOptional) {
  ModelSpec tiny = load_model_spec(kSamples + "/models/tiny-llama.json");
  CostTable t = analytical_costs(tiny, Device{});
  t.layers[0].kept_selective_bytes = -1;  // not given: must stay absent
  fs::path p = temp_file("rt.json", "");
  save_cost_table(t, p.string());
  CostTable u = load_cost_table(p.string());
  fs::remove(p);
  ASSERT_EQ(u.num_layers(), t.num_layers());
  EXPECT_LT(u.layers[0].kept_selective_bytes, 0);
  for (int i = 1; i < t.num_layers(); ++i) {
    EXPECT_DOUBLE_EQ(u.layers[i].kept_selective_bytes, t.layers[i].kept_selective_bytes);
    EXPECT_DOUBLE_EQ(u.layers[i].recompute_selective_ms, t.layers[i].recompute_selective_ms);
    EXPECT_DOUBLE_EQ(u.layers[i].kept_full_bytes, t.layers[i].kept_full_bytes);
    EXPECT_DOUBLE_EQ(u.layers[i].kv_bytes, t.layers[i].kv_bytes);
  }
  // Score bytes: written when given, read back; absent ones stay 0 / not given.
  t.layers[1].act_score_bytes = 0.25 * t.layers[1].act_b_bytes;
  t.layers[1].kept_selective_score_bytes = 0.5 * t.layers[1].act_score_bytes;
  t.layers[2].act_score_bytes = 0;
  t.layers[2].kept_selective_score_bytes = -1;
  save_cost_table(t, p.string());
  CostTable v = load_cost_table(p.string());
  fs::remove(p);
  EXPECT_DOUBLE_EQ(v.layers[1].act_score_bytes, t.layers[1].act_score_bytes);
  EXPECT_DOUBLE_EQ(v.layers[1].kept_selective_score_bytes, t.layers[1].kept_selective_score_bytes);
  EXPECT_DOUBLE_EQ(v.layers[2].act_score_bytes, 0);
  EXPECT_LT(v.layers[2].kept_selective_score_bytes, 0);
  EXPECT_FALSE(cost_table_json(v)["layers"][2].contains("act_score_bytes"));
  // A profile without them (the AdaPtis authors' format) loads with them absent.
  fs::path q = temp_file("peer.json", R"({"model":"x","time_unit_ms":0.1,"layers":[{"type":"T","f":10,"b":20,"w":0}]})");
  CostTable peer = load_cost_table(q.string());
  fs::remove(q);
  EXPECT_LT(peer.layers[0].kept_selective_bytes, 0);
  EXPECT_LT(peer.layers[0].recompute_selective_ms, 0);
  EXPECT_LT(peer.layers[0].kept_full_bytes, 0);
  EXPECT_LT(peer.layers[0].kv_bytes, 0);
}

TEST(CostFile, NegativeRecomputeFieldsNameTheField) {
  for (const char* field :
       {"kept_selective_bytes", "recompute_selective_ms", "kept_full_bytes", "kv_bytes", "act_score_bytes", "kept_selective_score_bytes"}) {
    std::string text = std::string(R"({"model":"x","layers":[{"name":"a","f":1,"b":1},{"name":"b","f":1,"b":1,")") +
                       field + "\":-5}]}";
    fs::path p = temp_file(std::string("neg-") + field + ".json", text);
    try {
      load_cost_table(p.string());
      ADD_FAILURE() << field << ": expected InputError";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("layers[1]"), std::string::npos) << msg;
      EXPECT_NE(msg.find(field), std::string::npos) << msg;
      EXPECT_NE(msg.find("must be in [0,"), std::string::npos) << msg;
      EXPECT_NE(msg.find("got -5"), std::string::npos) << msg;
    }
    fs::remove(p);
  }
}

// Score bytes are parts of other fields: more scores than F keeps for B, or than selective keeps, is an error.
TEST(CostFile, ScoreBytesBeyondTheBytesTheyArePartOfNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("act_b_bytes":100,"act_score_bytes":150)", "field 'act_score_bytes' (150"},
      {R"("act_b_bytes":100,"act_score_bytes":50,"kept_selective_score_bytes":60)", "exceeds 'act_score_bytes'"},
      {R"("act_b_bytes":100,"act_score_bytes":50,"kept_selective_bytes":20,"kept_selective_score_bytes":30)",
       "exceeds 'kept_selective_bytes'"},
  };
  for (const auto& [fields, expected] : cases) {
    const std::string text = std::string(R"({"model":"x","layers":[{"name":"a","f":1,"b":1,)") + fields + "}]}";
    fs::path p = temp_file("score.json", text);
    try {
      load_cost_table(p.string());
      ADD_FAILURE() << fields << ": expected InputError";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("layers[0]"), std::string::npos) << msg;
      EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    }
    fs::remove(p);
  }
}

}  // namespace
}  // namespace adaptis
