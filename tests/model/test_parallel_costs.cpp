// Cluster topology, parallel configurations and the per-GPU cost derivation: the closed-form
// vectors (ZeRO bytes per parameter, ring collectives, tensor-parallel time per layer, parameter
// count), the invariants of the split (every degree 1 = the plain analytical model; sequence
// parallelism divides activations by t) and every bad configuration named by its field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"

namespace adaptis {
namespace {

namespace fs = std::filesystem;
const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
  }
}

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("adaptis-par-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

// A GPT-style model spec: `layers` transformer layers of width h between an embedding and a head.
ModelSpec gpt(long long h, long long heads, long long kv_heads, long long ffn, long long layers, long long seq,
              long long vocab, bool tied = true, const std::string& act = "gelu", bool flash = true) {
  nlohmann::json j = {{"name", "gpt"},
                      {"seq_len", seq},
                      {"micro_batch_size", 1},
                      {"flash_attention", flash},
                      {"defaults",
                       {{"hidden", h},
                        {"heads", heads},
                        {"kv_heads", kv_heads},
                        {"ffn_hidden", ffn},
                        {"activation", act},
                        {"norm", "layernorm"},
                        {"qkv_bias", true},
                        {"vocab", vocab}}},
                      {"layers",
                       {{{"kind", "embedding"}},
                        {{"repeat", layers}, {"kind", "transformer"}},
                        {{"kind", "lm_head"}, {"tied", tied}}}}};
  return parse_model_spec(j, "gpt.json");
}

ParallelConfig config(int pp, int tp, int dp, int mbs = 1, int m = 1) {
  ParallelConfig p;
  p.pp = pp;
  p.tp = tp;
  p.dp = dp;
  p.micro_batch_size = mbs;
  p.microbatches = m;
  p.global_batch_size = 1LL * mbs * m * dp;
  return p;
}

// One node of `gpus` H100s whose collectives run at exactly `bus_gbs` GB/s with no latency.
Cluster node(int gpus, double bus_gbs) {
  Cluster c = make_uniform_cluster(gpus);
  c.topology.gpus_per_node = gpus;
  c.topology.nodes = 1;
  c.topology.intra_bandwidth = bus_gbs * 1e9;
  c.topology.collective_efficiency = 1.0;
  c.topology.intra_latency_ms = 0;
  return c;
}

// --- T1, T2: ZeRO static memory ---------------------------------------------------------------

TEST(ZeroMemory, ZeroPaperFigure1) {
  // 7.5B parameters, mixed-precision Adam (fp16 weights and gradients, 12 bytes of optimizer state),
  // 64 data-parallel ranks: 120 / 31.4 / 16.6 / 1.875 GB.
  const double psi = 7.5e9;
  const double published[4] = {120e9, 31.4e9, 16.6e9, 1.875e9};
  for (int level = 0; level < 4; ++level)
    EXPECT_NEAR(psi * zero_bytes_per_param(level, 64, 2, 2, 12), published[level], 0.05e9) << "ZeRO-" << level;
}

TEST(ZeroMemory, MegatronDistributedOptimizer) {
  // bf16 weights, fp32 gradients: 6 + 12/d bytes per parameter with the distributed optimizer, 18 without.
  EXPECT_DOUBLE_EQ(zero_bytes_per_param(1, 8, 2, 4, 12), 7.5);
  EXPECT_DOUBLE_EQ(zero_bytes_per_param(0, 8, 2, 4, 12), 18.0);
  EXPECT_DOUBLE_EQ(zero_bytes_per_param(3, 8, 2, 4, 12), 18.0 / 8);
  // Through the cost model: every layer's static state is its parameters x 7.5.
  ModelSpec m = gpt(1024, 16, 16, 4096, 4, 2048, 32000);
  Cluster c = node(8, 300);
  ParallelConfig p = config(1, 1, 8);
  p.zero = 1;
  p.distributed_optimizer = true;
  CostTable t = parallel_costs(m, c, p);
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerWork w = layer_work(m.layers[i], m);
    EXPECT_NEAR(t.layers[i].state_bytes, w.resident_params * 7.5, 1e-6 * w.resident_params) << m.layers[i].name;
  }
}

// --- T6: ring collectives ---------------------------------------------------------------------

TEST(Collectives, RingAllReduceAndReduceScatter) {
  CollectiveGroup g;
  g.size = 8;
  g.bus_bandwidth = 100e9;
  g.latency_ms = 0;
  EXPECT_NEAR(all_reduce_ms(3.5e9, g), 61.25, 1e-9);
  EXPECT_NEAR(reduce_scatter_ms(3.5e9, g), 30.625, 1e-9);
  EXPECT_NEAR(all_gather_ms(3.5e9, g), 30.625, 1e-9);
  // Latency: 2(n-1) hops for an all-reduce.
  g.latency_ms = 0.01;
  EXPECT_NEAR(all_reduce_ms(3.5e9, g), 61.25 + 14 * 0.01, 1e-9);
  g.size = 1;
  EXPECT_EQ(all_reduce_ms(3.5e9, g), 0.0);
}

TEST(Collectives, GroupsInsideAndAcrossNodes) {
  Cluster c = load_cluster(kSamples + "/clusters/h100-64nodes.json");
  ASSERT_EQ(c.num_devices(), 512);
  EXPECT_EQ(c.topology.nodes, 64);
  EXPECT_EQ(c.topology.gpus_per_node, 8);
  // Tensor-parallel group of 8 adjacent GPUs: NVSwitch at 80% of 450 GB/s.
  CollectiveGroup tp = collective_group(c.topology, 8, 1);
  EXPECT_FALSE(tp.inter_node);
  EXPECT_NEAR(tp.bus_bandwidth, 360e9, 1);
  // Data-parallel group of 64 with stride 8: one GPU per node, each with its own 400 Gb/s NIC.
  CollectiveGroup dp = collective_group(c.topology, 64, 8);
  EXPECT_TRUE(dp.inter_node);
  EXPECT_NEAR(dp.bus_bandwidth, 50e9 * 0.8, 1);
  // Stride 2, size 16: four per node, sharing the node's 8 NICs with the other stride-2 group.
  CollectiveGroup mid = collective_group(c.topology, 16, 2);
  EXPECT_TRUE(mid.inter_node);
  EXPECT_NEAR(mid.bus_bandwidth, 8 * 50e9 * 0.8 * 4 / 8, 1);
}

// --- Topology files -----------------------------------------------------------------------------

TEST(ClusterTopologyFile, ExistingFilesDeriveTheirTopology) {
  Cluster c = load_cluster(kSamples + "/clusters/h100x16.json");
  EXPECT_EQ(c.topology.nodes, 2);
  EXPECT_EQ(c.topology.gpus_per_node, 8);
  EXPECT_FALSE(c.topology.from_file);
  EXPECT_DOUBLE_EQ(c.topology.intra_bus_bandwidth(), c.intra_node.bandwidth);
  Cluster mixed = load_cluster(kSamples + "/clusters/mixed-h100-a100.json");
  EXPECT_EQ(mixed.topology.nodes, 2);
  EXPECT_EQ(mixed.topology.gpus_per_node, 4);
}

TEST(ClusterTopologyFile, SamplesDescribeTheirMachines) {
  Cluster h = load_cluster(kSamples + "/clusters/dgx-h100.json");
  EXPECT_EQ(h.num_devices(), 8);
  EXPECT_TRUE(h.topology.from_file);
  EXPECT_EQ(h.topology.intra_fabric, "nvswitch");
  EXPECT_EQ(h.topology.nics_per_node, 8);
  EXPECT_DOUBLE_EQ(h.topology.nic_bandwidth, 50e9);  // 400 Gb/s
  EXPECT_DOUBLE_EQ(h.topology.host_bandwidth, 64e9);
  EXPECT_EQ(h.topology.gpus_per_host_switch, 2);
  EXPECT_NEAR(h.devices[0].memory_limit(), 0.9 * 80 * 1024.0 * 1024 * 1024, 1);
  Cluster a = load_cluster(kSamples + "/clusters/selene-a100.json");
  EXPECT_EQ(a.devices[0].name, "A100-SXM-80GB");
  EXPECT_EQ(a.topology.gpus_per_node, 8);
  EXPECT_GE(a.num_devices(), 3072);
  EXPECT_TRUE(a.has_efficiency);
  for (int r : {0, 7, 8, 3071}) EXPECT_EQ(a.devices[r].node, r / 8);
}

TEST(ClusterTopologyFile, BadTopologyIsNamed) {
  auto bad = [](const std::string& text, std::initializer_list<std::string> frags) {
    fs::path p = temp_file("topo.json", text);
    expect_input_error([&] { load_cluster(p.string()); }, frags);
    fs::remove(p);
  };
  bad(R"({"topology": {"nodes": 2, "gpus_per_node": 8}})", {"topology", "device"});
  bad(R"({"topology": {"nodes": 0, "gpus_per_node": 8, "device": "H100-SXM"}})", {"topology", "nodes"});
  bad(R"({"topology": {"nodes": 1, "gpus_per_node": 8, "device": "Z9000"}})", {"topology", "Z9000"});
  bad(R"({"devices": [{"type": "H100-SXM", "count": 8}], "topology": {"nodes": 2, "gpus_per_node": 8}})",
      {"topology", "16", "8 devices"});
  bad(R"({"topology": {"nodes": 1, "gpus_per_node": 8, "device": "H100-SXM", "intra_node": {"fabric": "smoke"}}})",
      {"intra_node", "fabric"});
  bad(R"({"topology": {"nodes": 1, "gpus_per_node": 8, "device": "H100-SXM", "inter_node": {"nic_gbps": -1}}})",
      {"inter_node", "nic_gbps"});
  bad(R"({"topology": {"nodes": 1, "gpus_per_node": 8, "device": "H100-SXM", "collective_efficency": 0.5}})",
      {"topology", "collective_efficency"});
  bad(R"({"topology": {"nodes": 1, "gpus_per_node": 8, "device": "H100-SXM"}, "efficiency": {"gemm": 1.5}})",
      {"efficiency", "gemm"});
}

// --- T7, T10 and the split ----------------------------------------------------------------------

TEST(TensorParallelCost, FourAllReducesPerLayer) {
  // b = 1, s = 4096, h = 8192, t = 8, bus bandwidth 300 GB/s: 4 x 0.391 ms per layer per micro-batch.
  ModelSpec m = gpt(8192, 64, 8, 28672, 2, 4096, 32000, false, "swiglu");
  Cluster c = node(8, 300);
  CostTable t = parallel_costs(m, c, config(1, 8, 1));
  const LayerCost& layer = t.layers[1];
  const double one = 2.0 * 7 / 8 * (4096.0 * 8192 * 2) / 300e9 * 1e3;
  EXPECT_NEAR(one, 0.391, 0.0005);
  EXPECT_NEAR(layer.parallel.tp_f_ms, 2 * one, 1e-9);
  EXPECT_NEAR(layer.parallel.tp_b_ms, 2 * one, 1e-9);
  EXPECT_NEAR(layer.parallel.tp_f_ms + layer.parallel.tp_b_ms, 1.566, 0.002);
  // W carries no collective; F and B include theirs.
  CostTable whole = parallel_costs(m, c, config(1, 1, 1));
  const LayerCost& w1 = whole.layers[1];
  EXPECT_LT(layer.w_ms, w1.w_ms / 8 * 1.25);
  EXPECT_GE(layer.w_ms, w1.w_ms / 8 * 0.999);
  const double f_compute = layer.f_ms - layer.parallel.tp_f_ms;
  EXPECT_GE(f_compute, w1.f_ms / 8 * 0.999);  // norms and residuals are not split without SP
  EXPECT_LT(f_compute, w1.f_ms / 8 * 1.6);
  // The split loses GEMM efficiency (smaller shapes): more than the ideal 1/8.
  EXPECT_GT(layer.w_ms, w1.w_ms / 8 * 1.001);
}

TEST(TensorParallelCost, EveryDegreeOneIsThePlainModel) {
  ModelSpec m = load_model_spec(kSamples + "/models/nemotron-h-8b.json");
  Cluster c = load_cluster(kSamples + "/clusters/h100x8.json");
  m.micro_batch_size = 2;
  CostTable plain = analytical_costs(m, c.devices[0]);
  CostTable par = parallel_costs(m, c, config(1, 1, 1, 2, 4));
  ASSERT_EQ(plain.num_layers(), par.num_layers());
  for (int i = 0; i < plain.num_layers(); ++i) {
    const LayerCost &a = plain.layers[i], &b = par.layers[i];
    EXPECT_DOUBLE_EQ(a.f_ms, b.f_ms) << a.name;
    EXPECT_DOUBLE_EQ(a.b_ms, b.b_ms) << a.name;
    EXPECT_DOUBLE_EQ(a.w_ms, b.w_ms) << a.name;
    EXPECT_DOUBLE_EQ(a.act_b_bytes, b.act_b_bytes) << a.name;
    EXPECT_DOUBLE_EQ(a.act_w_bytes, b.act_w_bytes) << a.name;
    EXPECT_DOUBLE_EQ(a.out_bytes, b.out_bytes) << a.name;
    EXPECT_DOUBLE_EQ(a.kv_bytes, b.kv_bytes) << a.name;
    EXPECT_NEAR(a.state_bytes, b.state_bytes, 1e-6 * a.state_bytes) << a.name;
    EXPECT_EQ(b.parallel.tp_f_ms + b.parallel.tp_b_ms, 0.0);
  }
  EXPECT_EQ(par.microbatches, 4);
  EXPECT_EQ(par.tokens_per_microbatch, 2.0 * 8192);
}

TEST(TensorParallelCost, SequenceParallelShardsEveryActivation) {
  ModelSpec m = gpt(4096, 32, 32, 16384, 4, 2048, 51200);
  Cluster c = node(8, 300);
  CostTable whole = parallel_costs(m, c, config(1, 1, 1));
  ParallelConfig p = config(1, 8, 1);
  CostTable tp = parallel_costs(m, c, p);
  p.sequence_parallel = true;
  CostTable sp = parallel_costs(m, c, p);
  const LayerCost &w = whole.layers[2], &t = tp.layers[2], &s = sp.layers[2];
  EXPECT_NEAR(s.act_b_bytes + s.act_w_bytes, (w.act_b_bytes + w.act_w_bytes) / 8, 1);
  // Without SP the norm inputs and linear inputs of width h stay whole on every rank.
  EXPECT_GT(t.act_b_bytes + t.act_w_bytes, (w.act_b_bytes + w.act_w_bytes) / 8 * 1.5);
  // Same communication time (RS + AG = AR), less elementwise work.
  EXPECT_NEAR(s.parallel.tp_f_ms, t.parallel.tp_f_ms, 1e-12);
  EXPECT_LT(s.f_ms, t.f_ms);
  // Pipeline sends: 1/t of the boundary activation per rank.
  EXPECT_DOUBLE_EQ(t.out_bytes, w.out_bytes / 8);
  // Keys and values: each rank holds its 32 / 8 heads' share, with or without SP.
  EXPECT_GT(w.kv_bytes, 0);
  EXPECT_DOUBLE_EQ(t.kv_bytes, w.kv_bytes / 8);
  EXPECT_DOUBLE_EQ(s.kv_bytes, w.kv_bytes / 8);
}

TEST(TensorParallelCost, RecomputationTradesTimeForMemory) {
  ModelSpec m = gpt(6144, 64, 64, 24576, 4, 2048, 51200, true, "gelu", false);  // stored attention scores
  Cluster c = node(8, 300);
  ParallelConfig p = config(1, 8, 1);
  p.sequence_parallel = true;
  CostTable none = parallel_costs(m, c, p);
  p.recompute = Recompute::Selective;
  CostTable sel = parallel_costs(m, c, p);
  p.recompute = Recompute::Full;
  CostTable full = parallel_costs(m, c, p);
  const LayerCost &n = none.layers[2], &s = sel.layers[2], &f = full.layers[2];
  EXPECT_LT(s.act_b_bytes, n.act_b_bytes);
  EXPECT_GT(s.b_ms, n.b_ms);
  EXPECT_NEAR(s.b_ms - n.b_ms, s.parallel.recompute_ms, 1e-9);
  EXPECT_LT(s.parallel.recompute_ms, 0.2 * n.f_ms);  // the attention core only
  // Full: keeps only the layer input (2 s b h bytes / t with SP), re-runs F with its collectives.
  EXPECT_NEAR(f.act_b_bytes + f.act_w_bytes, 2.0 * 2048 * 6144 / 8, 1);
  EXPECT_NEAR(f.b_ms - n.b_ms, n.f_ms, 1e-9);
  EXPECT_NEAR(f.parallel.tp_b_ms, 2 * n.parallel.tp_f_ms, 1e-12);
  // The stored scores (what units scale by attention area): each rank's 1/8 of the heads' scores without
  // recompute, none kept under selective (it re-runs the core) or full recompute (it keeps the input).
  const CostTable one = parallel_costs(m, c, config(1, 1, 1));
  EXPECT_GT(one.layers[2].act_score_bytes, 0);
  EXPECT_LE(one.layers[2].act_score_bytes, one.layers[2].act_b_bytes);
  EXPECT_NEAR(n.act_score_bytes, one.layers[2].act_score_bytes / 8, 1);
  EXPECT_DOUBLE_EQ(s.act_score_bytes, 0);
  EXPECT_DOUBLE_EQ(f.act_score_bytes, 0);
  EXPECT_DOUBLE_EQ(none.pairs_per_microbatch, none.tokens_per_microbatch * 2048 / 2);
}

TEST(ParameterCount, Gpt145BillionOfNarayananTable1) {
  // h = 12288, l = 80, V = 51200, s = 2048: 12lh^2 (1 + 13/12h + (V+s)/12lh) = 145.6e9.
  const double h = 12288, l = 80, V = 51200, s = 2048;
  const double formula = 12 * l * h * h * (1 + 13 / (12 * h) + (V + s) / (12 * l * h));
  EXPECT_NEAR(formula, 145.6e9, 0.05e9);
  // The model spec's own count (no learned positions or MLP biases: within 0.05% of the formula).
  ModelSpec m = gpt(12288, 96, 96, 49152, 80, 2048, 51200);
  double params = 0;
  for (const auto& layer : m.layers) params += layer_work(layer, m).params;
  EXPECT_NEAR(params, formula, 5e-4 * formula);
  EXPECT_NEAR(params, 145.6e9, 0.05e9);
}

// --- Bad configurations ---------------------------------------------------------------------------

TEST(ParallelConfigValidation, EveryProblemNamesItsField) {
  ModelSpec m = gpt(4096, 32, 8, 16384, 8, 4096, 51200);
  Cluster c = load_cluster(kSamples + "/clusters/h100-64nodes.json");
  auto check = [&](ParallelConfig p, int gpus, std::initializer_list<std::string> frags) {
    expect_input_error([&] { validate_parallel_config(p, m, c.topology, gpus); }, frags);
  };
  check(config(1, 16, 32), 512, {"parallel.tp", "16", "node"});           // TP across nodes
  check(config(1, 3, 1), 0, {"parallel.tp", "3", "does not divide"});      // not a divisor of the node
  check(config(2, 8, 16), 512, {"parallel", "256", "512"});                // degrees do not give the GPU count
  check(config(1, 8, 128), 0, {"parallel", "1024", "512"});                // more GPUs than the cluster
  ParallelConfig heads = config(1, 8, 1);
  ModelSpec odd = gpt(4800, 12, 12, 16384, 4, 4096, 51200);  // 12 heads
  expect_input_error([&] { validate_parallel_config(heads, odd, c.topology, 0); }, {"parallel.tp", "heads", "12"});
  ModelSpec gqa = gpt(4096, 32, 4, 16384, 4, 4096, 51200);  // 4 query groups
  expect_input_error([&] { validate_parallel_config(heads, gqa, c.topology, 0); }, {"parallel.tp", "query groups"});
  ParallelConfig batch = config(1, 1, 4, 2, 8);
  batch.global_batch_size = 60;
  check(batch, 0, {"parallel.global_batch_size", "60", "64"});
  check(config(16, 1, 1), 0, {"parallel.pp", "16", "10 layers"});
  ParallelConfig ep = config(1, 1, 4);
  ep.ep = 2;
  check(ep, 0, {"parallel.ep", "no MoE"});
  ParallelConfig sp = config(1, 1, 4);
  sp.sequence_parallel = true;
  check(sp, 0, {"parallel.sequence_parallel", "tp > 1"});
  ParallelConfig cp = config(1, 1, 1);
  cp.cp = 3;
  check(cp, 0, {"parallel.cp", "4096"});
  ParallelConfig zero = config(1, 1, 4);
  zero.zero = 2;
  zero.distributed_optimizer = true;
  check(zero, 0, {"parallel.distributed_optimizer", "zero 2"});
  zero.distributed_optimizer = false;
  zero.zero = 4;
  check(zero, 0, {"parallel.zero", "4"});
}

TEST(ParallelConfigJson, RoundTripsAndNamesBadFields) {
  ParallelConfig p = config(8, 8, 24, 1, 96);
  p.zero = 1;
  p.distributed_optimizer = true;
  p.sequence_parallel = true;
  p.recompute = Recompute::Selective;
  p.overlap_grad_reduce = false;
  EXPECT_EQ(parallel_config_from_json(parallel_config_to_json(p), "x"), p);
  // microbatches derived from the global batch.
  ParallelConfig q = parallel_config_from_json({{"pp", 4}, {"dp", 8}, {"micro_batch_size", 2}, {"global_batch_size", 512}}, "x");
  EXPECT_EQ(q.microbatches, 32);
  expect_input_error([] { parallel_config_from_json({{"dp", 3}, {"global_batch_size", 1000}}, "plan.json: parallel"); },
                     {"plan.json: parallel", "global_batch_size", "1000", "3"});
  expect_input_error([] { parallel_config_from_json({{"tp", 0}}, "w"); }, {"w", "'tp'"});
  expect_input_error([] { parallel_config_from_json({{"tensor_parallel", 2}}, "w"); }, {"w", "tensor_parallel"});
  expect_input_error([] { parallel_config_from_json({{"recompute", "half"}}, "w"); }, {"w", "recompute", "half"});
  expect_input_error([] { parallel_config_from_json({{"tp", 2}, {"dp", 2}, {"gpus", 8}}, "w"); }, {"w", "gpus", "4"});
}

TEST(ReplicaCluster, PipelineRanksSitWhereMegatronPutsThem) {
  Cluster c = load_cluster(kSamples + "/clusters/h100-64nodes.json");
  ParallelConfig p = config(8, 8, 8);  // 512 GPUs: each pipeline rank's 64 GPUs span 8 nodes
  Cluster r = replica_cluster(c, p);
  ASSERT_EQ(r.num_devices(), 8);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(r.devices[k].node, k * 8);
  ParallelConfig small = config(4, 2, 1);  // 8 GPUs: the whole pipeline in one node
  Cluster s = replica_cluster(c, small);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(s.devices[k].node, 0);
}

}  // namespace
}  // namespace adaptis
