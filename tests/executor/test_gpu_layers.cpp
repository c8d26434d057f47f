// Every GPU layer against its CPU reference (executor/src/layers/): F output, loss terms, B input gradient and
// the W weight gradients, for two micro-batches in flight, in fp32 and bf16, with the tolerances gpu.h states.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/layers/rng.h"
#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/model/error.h"
#include "gpu_test_util.h"

using namespace adaptis;
using namespace adaptis::exec;
using namespace adaptis::exec::testing;

namespace {

// Every layer kind, small dims; GQA (4 heads, 2 kv heads), a shared MoE expert, top-2 of 4 experts.
NetConfig all_kinds() {
  NetConfig cfg = make_net_config({LayerType::Attention, LayerType::Mlp, LayerType::Moe, LayerType::Mamba});
  cfg.shared_experts = 1;
  cfg.seq = 16;
  cfg.micro_batch = 2;
  validate_net_config(cfg);
  return cfg;
}

std::vector<float> random_floats(size_t n, uint64_t seed, double scale) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.normal() * scale);
  return v;
}

// Runs layer `l` as a one-layer stage on CPU and GPU through F, B, W for m micro-batches and compares
// everything the stage exposes.
void check_layer(const NetConfig& cfg, int l, GpuPrecision precision) {
  const int m = 2;
  SCOPED_TRACE(std::string(layer_type_name(cfg.layers[l])) + " layer " + std::to_string(l) + " " +
               gpu_precision_name(precision));
  const GpuTolerance tol = gpu_reference_tolerance(precision);
  auto cpu = StageCompute::create(cfg, l, l + 1, m);
  auto gpu = make_gpu_stage(cfg, l, l + 1, m, {precision, 0});
  // Same parameters, bit for bit (drawn on the host by the same code, then uploaded).
  {
    auto pc = cpu->params();
    auto pg = gpu->params();
    ASSERT_EQ(pc.size(), pg.size());
    ASSERT_EQ(0, std::memcmp(pc.data(), pg.data(), pc.size_bytes()));
  }
  ASSERT_EQ(cpu->tensors().size(), gpu->tensors().size());
  const size_t n = cpu->activation_floats();
  cpu->zero_grad();
  gpu->zero_grad();
  std::vector<std::vector<float>> inputs, grad_outs;
  for (int mb = 0; mb < m; ++mb) {
    MicroBatchData data = make_microbatch(cfg, {}, 0, mb);
    inputs.push_back(random_floats(n, 100 + mb, 1.0));
    std::vector<float> out_c(n), out_g(n);
    cpu->forward(mb, data, inputs[mb].data(), out_c.data());
    gpu->forward(mb, data, inputs[mb].data(), out_g.data());
    if (!cpu->is_last()) {
      EXPECT_EQ(compare_to_reference(out_g, out_c, tol, "F output mb " + std::to_string(mb)), "");
    }
    const auto lc = cpu->loss_terms(mb), lg = gpu->loss_terms(mb);
    ASSERT_EQ(lc.size(), lg.size());
    for (size_t t = 0; t < lc.size(); ++t)
      EXPECT_NEAR(lg[t], lc[t], tol.rtol * std::fabs(lc[t]) + 1e-6) << "loss term " << t << " mb " << mb;
  }
  // B in reverse micro-batch order, W in forward order: state must be per micro-batch.
  for (int mb = m - 1; mb >= 0; --mb) {
    MicroBatchData data = make_microbatch(cfg, {}, 0, mb);
    grad_outs.push_back(random_floats(n, 200 + mb, 1e-2));
    std::vector<float> gin_c(n), gin_g(n);
    cpu->backward_input(mb, data, grad_outs.back().data(), gin_c.data());
    gpu->backward_input(mb, data, grad_outs.back().data(), gin_g.data());
    if (!cpu->is_first()) {
      EXPECT_EQ(compare_to_reference(gin_g, gin_c, tol, "B input gradient mb " + std::to_string(mb)), "");
    }
  }
  for (int mb = 0; mb < m; ++mb) {
    cpu->backward_weight(mb);
    gpu->backward_weight(mb);
  }
  EXPECT_EQ(gpu->saved_bytes(), 0u) << "W must free the micro-batch's state";
  cpu->finish_backward();
  gpu->finish_backward();
  auto gc = cpu->grads();
  const auto gg_span = gpu->grads();  // one call: the GPU stage refreshes its host copy on every call
  std::vector<float> gg(gg_span.begin(), gg_span.end());
  for (const auto& t : cpu->tensors())
    EXPECT_EQ(compare_to_reference(std::span<const float>(gg).subspan(t.offset, t.size), gc.subspan(t.offset, t.size),
                                   tol, "grad " + t.name),
              "");
  // One AdamW step from those gradients.
  AdamW opt;
  cpu->step(opt, 0);
  gpu->step(opt, 0);
  const auto pg_span = gpu->params();
  std::vector<float> pg(pg_span.begin(), pg_span.end());
  EXPECT_EQ(compare_to_reference(pg, cpu->params(), tol, "params after AdamW"), "");
}

}  // namespace

TEST(GpuLayers, EveryLayerMatchesTheCpuReferenceFp32) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = all_kinds();
  for (int l = 0; l < cfg.num_layers(); ++l) check_layer(cfg, l, GpuPrecision::Fp32);
}

TEST(GpuLayers, EveryLayerMatchesTheCpuReferenceBf16) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = all_kinds();
  for (int l = 0; l < cfg.num_layers(); ++l) check_layer(cfg, l, GpuPrecision::Bf16);
}

TEST(GpuLayers, WholeModelTrainsLikeTheCpuAndIsDeterministic) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = all_kinds();
  const int L = cfg.num_layers(), m = 2;
  auto run = [&](std::unique_ptr<StageCompute> s, std::vector<float>* grads_out) {
    std::vector<double> losses;
    for (int step = 0; step < 3; ++step) {
      s->zero_grad();
      double loss = 0;
      for (int mb = 0; mb < m; ++mb) {
        MicroBatchData d = make_microbatch(cfg, {}, step, mb);
        s->forward(mb, d, nullptr, nullptr);
        loss += s->loss(mb);
        s->backward_input(mb, d, nullptr, nullptr);
        s->backward_weight(mb);
      }
      s->finish_backward();
      if (step == 0 && grads_out) {
        const auto g = s->grads();
        grads_out->assign(g.begin(), g.end());
      }
      s->step(AdamW{}, step);
      losses.push_back(loss / m);
    }
    return losses;
  };
  std::vector<float> g1, g2, gc;
  const auto cpu = run(StageCompute::create(cfg, 0, L, m), &gc);
  const auto gpu1 = run(make_gpu_stage(cfg, 0, L, m), &g1);
  const auto gpu2 = run(make_gpu_stage(cfg, 0, L, m), &g2);
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_NEAR(gpu1[i], cpu[i], 1e-4 * std::fabs(cpu[i])) << "step " << i;
    EXPECT_EQ(gpu1[i], gpu2[i]) << "step " << i << ": two GPU runs differ";
  }
  ASSERT_EQ(g1.size(), g2.size());
  EXPECT_EQ(0, std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float))) << "GPU gradients are not reproducible";
  EXPECT_EQ(compare_to_reference(g1, gc, gpu_reference_tolerance(GpuPrecision::Fp32), "model grads"), "");
}

TEST(GpuLayers, BadTokensAreInputErrorsBeforeAnyKernelRuns) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = all_kinds();
  auto gpu = make_gpu_stage(cfg, 0, 1, 1);
  MicroBatchData d = make_microbatch(cfg, {}, 0, 0);
  d.tokens[3] = cfg.vocab + 5;
  std::vector<float> out(gpu->activation_floats());
  EXPECT_THROW(gpu->forward(0, d, nullptr, out.data()), InputError);
  d = make_microbatch(cfg, {}, 0, 0);
  EXPECT_NO_THROW(gpu->forward(0, d, nullptr, out.data()));
  EXPECT_THROW(gpu->forward(0, d, nullptr, out.data()), std::logic_error) << "F twice without B and W";
}

TEST(GpuLayers, UnknownDeviceIsAnInputError) {
  ADAPTIS_REQUIRE_GPU();
  EXPECT_THROW(make_gpu_stage(all_kinds(), 0, 1, 1, {GpuPrecision::Fp32, 999}), InputError);
}
