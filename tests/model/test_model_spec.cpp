// Model spec files: every sample loads with the published parameter counts, repeats and patterns
// expand as written, and each kind of bad input is rejected with a message naming the file, the
// JSON path and the problem.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>

#include "adaptis/model.h"

using namespace adaptis;
using nlohmann::json;

namespace {

std::string sample(const std::string& name) { return std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/" + name; }

double total_params(const ModelSpec& m) {
  double p = 0;
  for (const auto& l : m.layers) p += layer_work(l, m).params;
  return p;
}

int count_kind(const ModelSpec& m, const std::string& kind) {
  int n = 0;
  for (const auto& l : m.layers) n += l.kind == kind;
  return n;
}

// A small valid spec that each error case below breaks in one place.
json base_spec() {
  return json::parse(R"({
    "name": "t", "seq_len": 16, "micro_batch_size": 2, "global_batch_size": 8,
    "defaults": {"hidden": 32, "heads": 4, "ffn_hidden": 64, "vocab": 100},
    "layers": [{"kind": "embedding"}, {"repeat": 2, "kind": "transformer"}, {"kind": "lm_head"}]
  })");
}

// The InputError message of parsing `doc`, or "" when it parses.
std::string error_of(const json& doc) {
  try {
    parse_model_spec(doc, "m.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ModelSpec, LlamaSampleMatchesPublishedConfig) {
  ModelSpec m = load_model_spec(sample("llama-2-7b.json"));
  EXPECT_EQ(m.name, "llama-2-7b");
  ASSERT_EQ(m.num_layers(), 34);
  EXPECT_EQ(m.layers.front().name, "embedding");
  EXPECT_EQ(m.layers[1].name, "layers.0");
  EXPECT_EQ(m.layers[32].name, "layers.31");
  EXPECT_EQ(m.layers.back().name, "lm_head");
  EXPECT_EQ(count_kind(m, "transformer"), 32);
  EXPECT_EQ(m.microbatches(), 32);
  const Component& attn = m.layers[1].parts[0];
  EXPECT_EQ(attn.kind, ComponentKind::Attention);
  EXPECT_EQ(attn.heads, 32);
  EXPECT_EQ(attn.kv_heads, 32);
  EXPECT_EQ(attn.head_dim, 128);
  EXPECT_EQ(m.layers[1].parts[1].ffn_hidden, 11008);
  // Hugging Face's count for meta-llama/Llama-2-7b-hf.
  EXPECT_DOUBLE_EQ(total_params(m), 6738415616.0);
}

TEST(ModelSpec, GemmaSampleMatchesPublishedConfig) {
  ModelSpec m = load_model_spec(sample("gemma-7b.json"));
  ASSERT_EQ(m.num_layers(), 30);
  EXPECT_EQ(m.layers[1].parts[0].head_dim, 256);  // wider than hidden / heads = 192
  EXPECT_EQ(m.layers[1].parts[1].activation, Activation::GeGLU);
  EXPECT_TRUE(m.layers.back().parts[0].tied);
  // google/gemma-7b: 8.54B parameters, the tied output matrix counted once.
  EXPECT_DOUBLE_EQ(total_params(m), 8537680896.0);
}

TEST(ModelSpec, DeepSeekSampleIsDenseThenMoeWithMla) {
  ModelSpec m = load_model_spec(sample("deepseek-v2-lite.json"));
  ASSERT_EQ(m.num_layers(), 29);
  EXPECT_EQ(m.layers[1].kind, "transformer");
  EXPECT_EQ(count_kind(m, "moe_transformer"), 26);
  const Component& attn = m.layers[2].parts[0];
  EXPECT_TRUE(attn.is_mla());
  EXPECT_EQ(attn.qk_head_dim(), 192);
  EXPECT_EQ(attn.value_head_dim(), 128);
  const Component& moe = m.layers[2].parts[1];
  EXPECT_EQ(moe.kind, ComponentKind::Moe);
  EXPECT_EQ(moe.experts, 64);
  EXPECT_EQ(moe.top_k, 6);
  EXPECT_EQ(moe.shared_experts, 2);
  EXPECT_EQ(moe.shared_ffn_hidden, 1408);
  // deepseek-ai/DeepSeek-V2-Lite: 15.7B parameters ("16B").
  EXPECT_NEAR(total_params(m), 15.706e9, 0.01e9);
}

TEST(ModelSpec, NemotronSamplePatternExpands) {
  ModelSpec m = load_model_spec(sample("nemotron-h-8b.json"));
  ASSERT_EQ(m.num_layers(), 54);
  EXPECT_EQ(count_kind(m, "mamba"), 24);
  EXPECT_EQ(count_kind(m, "mlp"), 24);
  EXPECT_EQ(count_kind(m, "attention"), 4);
  const std::string pattern = "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-";
  for (size_t i = 0; i < pattern.size(); ++i) EXPECT_EQ(m.layers[i + 1].symbol, std::string(1, pattern[i])) << i;
  const Component& mamba = m.layers[1].parts[0];
  EXPECT_EQ(mamba.mamba_version, 2);
  EXPECT_EQ(mamba.d_inner, 8192);
  EXPECT_EQ(mamba.mamba_heads, 128);
  EXPECT_EQ(mamba.groups, 8);
  EXPECT_EQ(mamba.chunk, 128);
  EXPECT_EQ(m.layers[2].parts[0].activation, Activation::ReLU2);
  // nvidia/Nemotron-H-8B-Base-8K: 8.1B parameters.
  EXPECT_NEAR(total_params(m), 8.10e9, 0.01e9);
}

TEST(ModelSpec, TinySamplesKeepTheirFamilyStructure) {
  struct Case {
    const char* file;
    std::vector<std::string> kinds;
  };
  std::vector<Case> cases = {
      {"tiny-llama.json", {"embedding", "transformer", "transformer", "transformer", "transformer", "lm_head"}},
      {"tiny-gemma.json", {"embedding", "transformer", "transformer", "transformer", "transformer", "lm_head"}},
      {"tiny-deepseek.json",
       {"embedding", "transformer", "moe_transformer", "moe_transformer", "moe_transformer", "lm_head"}},
      {"tiny-nemotron-h.json",
       {"embedding", "mamba", "mlp", "mamba", "attention", "mlp", "mamba", "mlp", "lm_head"}},
  };
  for (const auto& c : cases) {
    ModelSpec m = load_model_spec(sample(c.file));
    std::vector<std::string> kinds;
    for (const auto& l : m.layers) kinds.push_back(l.kind);
    EXPECT_EQ(kinds, c.kinds) << c.file;
    for (const auto& l : m.layers)
      for (const auto& p : l.parts) {
        EXPECT_GE(p.hidden, 32) << c.file;
        EXPECT_LE(p.hidden, 64) << c.file;
        if (p.vocab) {
          EXPECT_TRUE(p.vocab >= 256 && p.vocab <= 512) << c.file;
        }
      }
    EXPECT_TRUE(m.seq_len >= 16 && m.seq_len <= 32) << c.file;
    EXPECT_GT(m.microbatches(), 0) << c.file;
  }
  // The tiny DeepSeek keeps MLA and shared experts; the tiny Gemma its tied, wide vocabulary.
  ModelSpec ds = load_model_spec(sample("tiny-deepseek.json"));
  EXPECT_TRUE(ds.layers[2].parts[0].is_mla());
  EXPECT_GT(ds.layers[2].parts[1].shared_experts, 0);
  ModelSpec gm = load_model_spec(sample("tiny-gemma.json"));
  EXPECT_TRUE(gm.layers.back().parts[0].tied);
}

TEST(ModelSpec, RepeatGroupsPatternsAndOverrides) {
  json doc = base_spec();
  doc["legend"] = {{"A", {{"kind", "attention"}}}};
  doc["layers"] = json::parse(R"([
    {"kind": "embedding"},
    {"repeat": 2, "layers": [{"kind": "mlp", "ffn_hidden": 128}, {"pattern": "AM", "legend": {"M": {"kind": "mamba"}}}]},
    {"kind": "block", "name": "hybrid", "parts": [{"kind": "mamba", "state": 8}, {"kind": "moe", "experts": 4, "top_k": 2, "expert_ffn_hidden": 16}]},
    {"kind": "attention", "kv_heads": 2, "window": 4},
    {"kind": "lm_head", "tied": true}
  ])");
  ModelSpec m = parse_model_spec(doc, "m.json");
  std::vector<std::string> kinds;
  for (const auto& l : m.layers) kinds.push_back(l.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"embedding", "mlp", "attention", "mamba", "mlp", "attention", "mamba",
                                             "block", "attention", "lm_head"}));
  EXPECT_EQ(m.layers[1].parts[0].ffn_hidden, 128);  // layer field beats the default 64
  EXPECT_EQ(m.layers[3].symbol, "M");
  EXPECT_EQ(m.layers[3].parts[0].d_inner, 64);  // expand 2 * hidden 32
  EXPECT_EQ(m.layers[3].parts[0].mamba_heads, 1);
  EXPECT_EQ(m.layers[7].name, "hybrid");
  ASSERT_EQ(m.layers[7].parts.size(), 2u);
  EXPECT_EQ(m.layers[7].parts[0].state, 8);
  EXPECT_EQ(m.layers[7].parts[1].experts, 4);
  EXPECT_EQ(m.layers[8].parts[0].window, 4);
  EXPECT_EQ(m.layers[8].parts[0].head_dim, 8);  // hidden / heads
  EXPECT_EQ(m.layers[8].name, "layers.7");
  EXPECT_EQ(m.microbatches(), 4);
}

TEST(ModelSpec, BadInputNamesFileFieldAndProblem) {
  struct Case {
    std::string what;
    std::function<void(json&)> edit;
    std::vector<std::string> expect;  // substrings of the message
  };
  std::vector<Case> cases = {
      {"unknown kind", [](json& d) { d["layers"][1]["kind"] = "transfomer"; },
       {"m.json: layers[1]", "unknown layer kind 'transfomer'", "transformer"}},
      {"missing dimension", [](json& d) { d["defaults"].erase("heads"); },
       {"m.json: layers[1]", "kind 'attention' needs field 'heads'"}},
      {"negative dimension", [](json& d) { d["layers"][1]["ffn_hidden"] = -64; },
       {"m.json: layers[1]", "'ffn_hidden' must be in [1,", "got -64"}},
      {"dimension not an integer", [](json& d) { d["defaults"]["hidden"] = 32.5; },
       {"m.json: defaults", "'hidden' must be an integer"}},
      {"misspelt field", [](json& d) { d["layers"][1]["ffn_hiden"] = 64; },
       {"m.json: layers[1]", "unknown field 'ffn_hiden'"}},
      {"field of another kind", [](json& d) { d["layers"][1]["experts"] = 4; },
       {"m.json: layers[1]", "field 'experts' does not apply to kind 'transformer'"}},
      {"unknown default", [](json& d) { d["defaults"]["hiddn"] = 4; }, {"m.json: defaults", "unknown field 'hiddn'"}},
      {"unknown top-level field", [](json& d) { d["seq_length"] = 4; }, {"m.json", "unknown field 'seq_length'"}},
      {"missing seq_len", [](json& d) { d.erase("seq_len"); }, {"m.json", "missing field 'seq_len'"}},
      {"zero micro-batch", [](json& d) { d["micro_batch_size"] = 0; }, {"m.json", "'micro_batch_size' must be"}},
      {"global batch not a multiple", [](json& d) { d["global_batch_size"] = 7; },
       {"m.json", "'global_batch_size' (7) must be a multiple"}},
      {"bad dtype", [](json& d) { d["dtype"] = "int8"; }, {"m.json", "'dtype'", "int8"}},
      {"kv heads do not divide heads", [](json& d) { d["defaults"]["kv_heads"] = 3; },
       {"m.json: defaults", "'heads' (4) must be a multiple of 'kv_heads' (3)"}},
      {"top_k above experts",
       [](json& d) { d["layers"][1] = {{"kind", "moe"}, {"experts", 2}, {"top_k", 3}, {"expert_ffn_hidden", 8}}; },
       {"m.json: layers[1]", "'top_k' (3) exceeds 'experts' (2)"}},
      {"MLA dims without the latent rank", [](json& d) { d["layers"][1]["v_head_dim"] = 8; },
       {"m.json: layers[1]", "'v_head_dim'", "kv_lora_rank"}},
      {"embedding not first", [](json& d) { d["layers"][1] = {{"kind", "embedding"}}; },
       {"m.json", "layer 1 is an embedding"}},
      {"lm_head not last", [](json& d) { d["layers"][1] = {{"kind", "lm_head"}}; }, {"m.json", "layer 1 is an lm_head"}},
      {"repeat of zero", [](json& d) { d["layers"][1]["repeat"] = 0; }, {"m.json: layers[1]", "'repeat' must be"}},
      {"pattern symbol without legend",
       [](json& d) { d["layers"][1] = {{"pattern", "MX"}, {"legend", {{"M", {{"kind", "mamba"}}}}}}; },
       {"m.json: layers[1].pattern", "symbol 'X' at position 1", "legend has: M"}},
      {"bad legend entry",
       [](json& d) { d["layers"][1] = {{"pattern", "M"}, {"legend", {{"M", {{"kind", "mamba"}, {"state", 0}}}}}}; },
       {"m.json: layers[1].legend.M", "'state' must be in [1,"}},
      {"two forms in one item", [](json& d) { d["layers"][1]["pattern"] = "M"; }, {"m.json: layers[1]", "exactly one of"}},
      {"parts outside a block", [](json& d) { d["layers"][1]["parts"] = json::array(); },
       {"m.json: layers[1]", "'parts' is only for kind 'block'"}},
      {"block of an embedding",
       [](json& d) { d["layers"][1] = {{"kind", "block"}, {"parts", {{{"kind", "embedding"}}}}}; },
       {"m.json: layers[1].parts[0]", "part kind 'embedding' is not allowed"}},
      {"empty layers", [](json& d) { d["layers"] = json::array(); }, {"m.json", "'layers' is empty"}},
      {"bad activation", [](json& d) { d["defaults"]["activation"] = "swish"; },
       {"m.json: defaults", "'activation' must be one of", "swish"}},
      {"mamba v1 with v2 field", [](json& d) { d["layers"][1] = {{"kind", "mamba"}, {"mamba_version", 1}, {"groups", 2}}; },
       {"m.json: layers[1]", "'groups' applies to mamba_version 2 only"}},
      {"dropout of 1", [](json& d) { d["attention_dropout"] = 1; },
       {"m.json", "'attention_dropout' must be a probability in [0, 1)", "got an integer 1"}},
      {"dropout not a number", [](json& d) { d["hidden_dropout"] = "0.1"; },
       {"m.json", "'hidden_dropout' must be a probability"}},
      {"efficiency above 1", [](json& d) { d["efficiency"] = {{"gemm", 1.5}}; },
       {"m.json: efficiency.gemm", "in (0, 1]"}},
      {"imbalance above E/k",
       [](json& d) {
         d["layers"][1] = {{"kind", "moe"}, {"experts", 4}, {"top_k", 2}, {"expert_ffn_hidden", 8}, {"imbalance", 3}};
       },
       {"m.json: layers[1]", "'imbalance' must be in [1, 2]"}},
  };
  for (const auto& c : cases) {
    json doc = base_spec();
    c.edit(doc);
    std::string msg = error_of(doc);
    ASSERT_FALSE(msg.empty()) << c.what << ": accepted";
    for (const auto& s : c.expect) EXPECT_NE(msg.find(s), std::string::npos) << c.what << ": '" << msg << "' lacks '" << s << "'";
  }
  EXPECT_EQ(error_of(base_spec()), "");
}

TEST(ModelSpec, FileErrorsNameTheFile) {
  std::string path = ::testing::TempDir() + "adaptis_bad_model.json";
  {
    std::ofstream out(path);
    out << "{\n  \"seq_len\": 16,\n  \"layers\": [\n    {\"kind\": \"mlp\",}\n  ]\n}\n";
  }
  try {
    load_model_spec(path);
    FAIL() << "malformed JSON accepted";
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path + ":4:"), std::string::npos) << msg;  // file:line:column
    EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
  }
  std::remove(path.c_str());
  try {
    load_model_spec("/nonexistent/model.json");
    FAIL() << "missing file accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.json: cannot open file"), std::string::npos);
  }
}
