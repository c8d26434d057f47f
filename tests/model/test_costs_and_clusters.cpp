// Cost tables (ours and the AdaPtis authors' profile format), cluster files, and the analytical
// roofline model's basic laws: every bad field is named, round-trips are exact, and the model's
// times move the way the hardware says they must.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "adaptis/model.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/model_spec.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;

const std::string kShared = ADAPTIS_SHARED_DIR;
const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("adaptis-model-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
  }
}

TEST(CostTable, ReadsEveryPeerProfileAsIs) {
  struct Expect {
    const char* file;
    int layers;
    double first_f, last_b;
  };
  for (const Expect& e : {Expect{"nemotron-nano-v2-9B", 56, 3.4, 19.8}, Expect{"deepseek-16B", 28, 5.8, 20.3},
                          Expect{"gpt-13B", 40, 7.0, 17.8}, Expect{"gpt-oss-20B", 24, 28.8, 39.8}}) {
    CostTable t = load_cost_table(kShared + "/peer-profiles/" + e.file + ".json");
    EXPECT_EQ(t.model, e.file);
    ASSERT_EQ(t.num_layers(), e.layers) << e.file;
    EXPECT_NEAR(t.layers.front().f_ms, e.first_f, 1e-9) << e.file;  // time_unit_ms = 0.1
    EXPECT_NEAR(t.layers.back().b_ms, e.last_b, 1e-9) << e.file;
    EXPECT_FALSE(t.split_backward()) << e.file;  // their w is 0: backward not split
  }
}

TEST(CostTable, OurFormatRoundTripsExactly) {
  CostTable t;
  t.model = "toy";
  t.source = "test";
  t.microbatches = 8;
  for (int i = 0; i < 3; ++i) {
    LayerCost c;
    c.name = "layers." + std::to_string(i);
    c.kind = i == 2 ? "lm_head" : "mamba";
    c.f_ms = 1.25 + i;
    c.b_ms = 2.5 / 3.0;
    c.w_ms = 0.1 * i;
    c.param_bytes = 1e6 * (i + 1);
    c.state_bytes = 9e6 * (i + 1);
    c.act_b_bytes = 12345;
    c.act_w_bytes = 678;
    c.out_bytes = 4096;
    c.w_grad_bytes = 99;
    t.layers.push_back(c);
  }
  fs::path p = temp_file("roundtrip.json", "");
  save_cost_table(t, p.string());
  CostTable u = load_cost_table(p.string());
  fs::remove(p);
  EXPECT_EQ(u.model, t.model);
  EXPECT_EQ(u.microbatches, 8);
  ASSERT_EQ(u.num_layers(), 3);
  for (int i = 0; i < 3; ++i) {
    const LayerCost &a = t.layers[i], &b = u.layers[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_DOUBLE_EQ(a.f_ms, b.f_ms);
    EXPECT_DOUBLE_EQ(a.b_ms, b.b_ms);
    EXPECT_DOUBLE_EQ(a.w_ms, b.w_ms);
    EXPECT_DOUBLE_EQ(a.param_bytes, b.param_bytes);
    EXPECT_DOUBLE_EQ(a.state_bytes, b.state_bytes);
    EXPECT_DOUBLE_EQ(a.act_b_bytes, b.act_b_bytes);
    EXPECT_DOUBLE_EQ(a.act_w_bytes, b.act_w_bytes);
    EXPECT_DOUBLE_EQ(a.out_bytes, b.out_bytes);
    EXPECT_DOUBLE_EQ(a.w_grad_bytes, b.w_grad_bytes);
  }
  EXPECT_TRUE(u.split_backward());
}

TEST(CostTable, BadProfilesNameTheField) {
  auto load = [](const std::string& name, const std::string& text) {
    return [=] { load_cost_table(temp_file(name, text).string()); };
  };
  expect_input_error(load("neg.json", R"({"model":"x","time_unit_ms":0.1,"layers":[{"type":"T","f":-1,"b":2,"w":0}]})"),
                     {"neg.json", "layers[0]", "f"});
  expect_input_error(load("nob.json", R"({"model":"x","time_unit_ms":0.1,"layers":[{"type":"T","f":1,"w":0}]})"),
                     {"nob.json", "layers[0]", "b"});
  expect_input_error(load("empty.json", R"({"model":"x","time_unit_ms":0.1,"layers":[]})"), {"empty.json", "layers"});
  expect_input_error(load("unit.json", R"({"model":"x","time_unit_ms":0,"layers":[{"type":"T","f":1,"b":1,"w":0}]})"),
                     {"unit.json", "time_unit_ms"});
  expect_input_error(load("syntax.json", "{\"model\": \"x\",\n \"layers\": [}"), {"syntax.json:2:"});
  expect_input_error([] { load_cost_table("/nonexistent/dir/costs.json"); }, {"/nonexistent/dir/costs.json"});
}

TEST(Cluster, SamplesLoadWithTheirDevices) {
  Cluster c8 = load_cluster(kSamples + "/clusters/h100x8.json");
  EXPECT_EQ(c8.num_devices(), 8);
  for (const Device& d : c8.devices) {
    EXPECT_EQ(d.name, "H100-SXM");
    EXPECT_DOUBLE_EQ(d.speed, 1.0);
    EXPECT_GT(d.memory_limit(), 60.0 * (1ull << 30));
    EXPECT_LE(d.memory_limit(), d.hbm_bytes);
  }
  EXPECT_EQ(load_cluster(kSamples + "/clusters/h100x4.json").num_devices(), 4);
  Cluster c16 = load_cluster(kSamples + "/clusters/h100x16.json");
  ASSERT_EQ(c16.num_devices(), 16);
  // Two nodes of 8: crossing nodes uses the slower link.
  EXPECT_NE(c16.devices[0].node, c16.devices[15].node);
  EXPECT_GT(c16.link(7, 8).transfer_ms(1e9), c16.link(0, 1).transfer_ms(1e9));

  Cluster mixed = load_cluster(kSamples + "/clusters/mixed-h100-a100.json");
  ASSERT_EQ(mixed.num_devices(), 8);
  EXPECT_DOUBLE_EQ(mixed.devices[0].speed, 1.0);
  EXPECT_NEAR(mixed.devices[7].speed, 312.0 / 989.0, 1e-3);
  EXPECT_NE(mixed.devices[0].node, mixed.devices[7].node);
}

TEST(Cluster, LinkTimeIsLatencyPlusBytesOverBandwidth) {
  Link l{0.005, 200e9};
  EXPECT_DOUBLE_EQ(l.transfer_ms(0), 0.005);
  EXPECT_NEAR(l.transfer_ms(200e6), 0.005 + 1.0, 1e-12);
  Link latency_only{0.01, 0};
  EXPECT_DOUBLE_EQ(latency_only.transfer_ms(1e12), 0.01);
}

TEST(Cluster, BadClustersNameTheField) {
  expect_input_error([] { load_cluster(temp_file("c1.json", R"({"devices":[]})").string()); }, {"c1.json", "devices"});
  expect_input_error(
      [] { load_cluster(temp_file("c2.json", R"({"devices":[{"type":"TPU-v9","count":2}]})").string()); },
      {"c2.json", "TPU-v9"});
  expect_input_error(
      [] { load_cluster(temp_file("c3.json", R"({"devices":[{"type":"H100-SXM","count":-2}]})").string()); },
      {"c3.json", "count"});
}

// The roofline: GEMM-bound layers speed up with peak FLOP/s, memory-bound ones with bandwidth,
// and B/W of a linear layer cost as much as its F (same FLOPs).
TEST(CostModel, RooflineLaws) {
  ModelSpec llama = load_model_spec(kSamples + "/models/llama-2-7b.json");
  Device h100;
  CostTable t = analytical_costs(llama, h100);
  ASSERT_EQ(t.num_layers(), 34);
  const LayerCost& block = t.layers[5];
  EXPECT_EQ(block.kind, "transformer");
  // Backward (B + W) of a transformer block is about twice the forward.
  EXPECT_GT(block.b_ms + block.w_ms, 1.6 * block.f_ms);
  EXPECT_LT(block.b_ms + block.w_ms, 2.6 * block.f_ms);
  EXPECT_GT(block.w_ms, 0);

  Device fast = h100;
  fast.peak_tflops *= 2;
  CostTable t2 = analytical_costs(llama, fast);
  EXPECT_LT(t2.layers[5].f_ms, block.f_ms * 0.7);  // GEMM-bound: close to 2x faster
  EXPECT_GT(t2.layers[5].f_ms, block.f_ms * 0.45);

  // LLaMA-2 7B parameters: 6.74e9 in total.
  double params = 0;
  for (const auto& l : t.layers) params += l.param_bytes / 2;  // bf16 weights
  EXPECT_NEAR(params / 1e9, 6.74, 0.05);

  // Gemma's 256k-vocabulary head is the heaviest layer, far above a transformer block.
  CostTable g = analytical_costs(load_model_spec(kSamples + "/models/gemma-7b.json"), h100);
  const LayerCost& head = g.layers.back();
  EXPECT_EQ(head.kind, "lm_head");
  EXPECT_GT(head.f_ms + head.b_ms + head.w_ms, 1.5 * (g.layers[3].f_ms + g.layers[3].b_ms + g.layers[3].w_ms));
}

TEST(CostModel, ModelCostsOnAClusterUseItsFirstDevice) {
  CostTable tiny = load_model_costs(kSamples + "/models/tiny-nemotron-h.json", make_uniform_cluster(2));
  EXPECT_GT(tiny.num_layers(), 3);
  for (const auto& l : tiny.layers) {
    EXPECT_GT(l.f_ms, 0) << l.name;
    EXPECT_GE(l.b_ms, 0) << l.name;
  }
  Cluster mixed = load_cluster(kSamples + "/clusters/mixed-h100-a100.json");
  CostTable on_mixed = load_model_costs(kSamples + "/models/tiny-nemotron-h.json", mixed);
  ASSERT_EQ(on_mixed.num_layers(), tiny.num_layers());
  // Times are for a speed-1.0 device (the simulator divides by each device's speed).
  EXPECT_DOUBLE_EQ(on_mixed.layers[1].f_ms, tiny.layers[1].f_ms);
  // On a slower first device every time scales alike, the per-unit parts and selective's R too, so the parts
  // stay the same share of their pass.
  Cluster slow_first = mixed;
  std::swap(slow_first.devices.front(), slow_first.devices.back());
  const Device& a100 = slow_first.devices.front();
  ASSERT_LT(a100.speed, 0.5);
  ModelSpec spec = load_model_spec(kSamples + "/models/tiny-nemotron-h.json");
  spec.efficiency = machine_efficiency(spec, slow_first);
  const CostTable own = analytical_costs(spec, a100);
  const CostTable at_one = load_model_costs(kSamples + "/models/tiny-nemotron-h.json", slow_first);
  double pairs = 0;
  for (int i = 0; i < own.num_layers(); ++i) {
    const LayerCost &a = own.layers[size_t(i)], &b = at_one.layers[size_t(i)];
    for (auto [x, y] : {std::pair{a.f_ms, b.f_ms}, std::pair{a.f_pair_ms, b.f_pair_ms}, std::pair{a.b_pair_ms, b.b_pair_ms},
                        std::pair{a.f_fixed_ms, b.f_fixed_ms}, std::pair{a.w_fixed_ms, b.w_fixed_ms},
                        std::pair{a.recompute_selective_ms, b.recompute_selective_ms}})
      EXPECT_NEAR(y, x * a100.speed, 1e-12 * (1 + x)) << a.name;
    EXPECT_LE(b.f_pair_ms + b.f_fixed_ms, b.f_ms * (1 + 1e-12)) << a.name;
    pairs += b.f_pair_ms;
  }
  EXPECT_GT(pairs, 0);
}

}  // namespace
}  // namespace adaptis
