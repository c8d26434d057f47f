// Every layer's B (input gradient) and W (weight gradients) against central finite differences of the
// layer's objective, in double precision: J = <y, r> + loss_scale * loss_term, where r plays the output
// gradient and loss_term is the layer's own loss (LM head cross-entropy, MoE aux loss).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "adaptis/executor/layers/layer.h"

namespace adaptis::exec {
namespace {

NetConfig tiny_dims() {
  NetConfig c;
  c.vocab = 11;
  c.hidden = 8;
  c.heads = 2;
  c.kv_heads = 1;
  c.ffn = 12;
  c.experts = 4;
  c.top_k = 2;
  c.expert_ffn = 6;
  c.shared_experts = 1;
  c.aux_loss_coef = 0.3;  // large so the aux gradient is visible next to <y, r>
  c.mamba_state = 3;
  c.mamba_expand = 2;
  c.mamba_conv = 3;
  c.mamba_dt_rank = 2;
  c.seq = 5;
  c.micro_batch = 2;
  c.seed = 77;
  return c;
}

struct Case {
  std::string label;
  LayerType type;
  NetConfig cfg;
  // A packed micro-batch (MicroBatchData::seq_lens) with this loss weight; empty = micro_batch rows of seq.
  std::vector<int> seq_lens = {};
  double loss_weight = 0;
};

// A layer with random parameters (init + noise, so no gradient is trivially zero), a random input,
// random "output gradient" r and random tokens/targets.
struct Probe {
  Case c;
  int microbatches = 3;  // loss_scale = 1/3 exercises the scaling
  std::vector<double> params, x, r;
  MicroBatchData data;
  size_t n_act = 0;

  explicit Probe(const Case& cs) : c(cs) {
    auto layer = make_layer<double>(c.type, c.cfg, microbatches);
    params.resize(layer->num_params());
    Rng rng(c.cfg.seed);
    layer->init_params(params.data(), rng);
    for (double& p : params) p += 0.1 * rng.normal();
    n_act = c.cfg.activation_floats();
    x.resize(n_act);
    r.resize(n_act);
    for (double& v : x) v = rng.normal();
    for (double& v : r) v = rng.normal();
    int tokens = c.cfg.micro_batch * c.cfg.seq;
    if (!c.seq_lens.empty()) {
      tokens = 0;
      for (int len : c.seq_lens) tokens += len;
      data.seq_lens = c.seq_lens;
      data.loss_weight = c.loss_weight;
    }
    for (int t = 0; t < tokens; ++t) {
      data.tokens.push_back(int32_t(rng.below(uint64_t(c.cfg.vocab))));
      data.targets.push_back(int32_t(rng.below(uint64_t(c.cfg.vocab))));
    }
  }

  double objective(const std::vector<double>& p, const std::vector<double>& xin) const {
    auto layer = make_layer<double>(c.type, c.cfg, microbatches);
    std::vector<double> y(n_act, 0.0);
    layer->forward(0, data, p.data(), xin.data(), y.data());
    double j = 0;
    if (c.type != LayerType::LmHead)
      for (size_t i = 0; i < n_act; ++i) j += y[i] * r[i];
    return j + layer->loss(0) * (c.loss_weight > 0 ? c.loss_weight : 1.0 / microbatches);
  }

  // Analytic gradients through F, B, W.
  void analytic(std::vector<double>& dx, std::vector<double>& dparams) const {
    auto layer = make_layer<double>(c.type, c.cfg, microbatches);
    std::vector<double> y(n_act, 0.0);
    layer->forward(0, data, params.data(), x.data(), y.data());
    dx.assign(n_act, 0.0);
    layer->backward_input(0, params.data(), r.data(), dx.data());
    dparams.assign(params.size(), 0.0);
    layer->backward_weight(0, dparams.data());
  }
};

// Central difference with a step relative to the value; errors are O(h^2) + roundoff / h.
double numeric(const std::function<double(double)>& f, double at) {
  const double h = 1e-6 * std::max(1.0, std::fabs(at));
  return (f(at + h) - f(at - h)) / (2 * h);
}

void expect_close(double analytic, double fd, const std::string& what) {
  const double tol = 2e-6 + 2e-5 * std::fabs(fd);
  EXPECT_NEAR(analytic, fd, tol) << what;
}

void check_case(const Case& cs) {
  SCOPED_TRACE(cs.label);
  Probe probe(cs);
  std::vector<double> dx, dparams;
  probe.analytic(dx, dparams);

  // Input gradient (the embedding has none: its input is discrete tokens).
  if (cs.type != LayerType::Embedding) {
    double max_abs = 0;
    for (size_t i = 0; i < probe.x.size(); ++i) {
      std::vector<double> xin = probe.x;
      const double fd = numeric(
          [&](double v) {
            xin[i] = v;
            return probe.objective(probe.params, xin);
          },
          probe.x[i]);
      expect_close(dx[i], fd, "dx[" + std::to_string(i) + "]");
      max_abs = std::max(max_abs, std::fabs(fd));
    }
    EXPECT_GT(max_abs, 1e-4) << "input gradient is trivially zero";
  }

  // Every parameter of every tensor.
  auto layer = make_layer<double>(cs.type, cs.cfg, probe.microbatches);
  size_t offset = 0;
  for (const ParamSpec& spec : layer->param_specs()) {
    double max_abs = 0;
    for (size_t k = 0; k < spec.size(); ++k) {
      const size_t i = offset + k;
      std::vector<double> p = probe.params;
      const double fd = numeric(
          [&](double v) {
            p[i] = v;
            return probe.objective(p, probe.x);
          },
          probe.params[i]);
      expect_close(dparams[i], fd, spec.name + "[" + std::to_string(k) + "]");
      max_abs = std::max(max_abs, std::fabs(fd));
    }
    // Embedding rows of tokens absent from the batch are legitimately zero; every other tensor moves J.
    EXPECT_GT(max_abs, 1e-6) << spec.name << " gradient is trivially zero";
    offset += spec.size();
  }
}

TEST(LayerGradcheck, Embedding) { check_case({"embedding", LayerType::Embedding, tiny_dims()}); }

TEST(LayerGradcheck, AttentionGqa) { check_case({"attention gqa", LayerType::Attention, tiny_dims()}); }

TEST(LayerGradcheck, AttentionMhaWithExplicitHeadDim) {
  NetConfig c = tiny_dims();
  c.heads = 3;
  c.kv_heads = 3;
  c.attn_head_dim = 4;  // q width 12 != hidden 8
  check_case({"attention mha head_dim 4", LayerType::Attention, c});
}

TEST(LayerGradcheck, AttentionMqaSingleSequence) {
  NetConfig c = tiny_dims();
  c.heads = 4;
  c.kv_heads = 1;
  c.micro_batch = 1;
  c.seq = 7;
  check_case({"attention mqa", LayerType::Attention, c});
}

TEST(LayerGradcheck, SwigluMlp) { check_case({"mlp", LayerType::Mlp, tiny_dims()}); }

TEST(LayerGradcheck, MoeWithSharedExpertAndAuxLoss) { check_case({"moe", LayerType::Moe, tiny_dims()}); }

TEST(LayerGradcheck, MoeTop1NoShared) {
  NetConfig c = tiny_dims();
  c.top_k = 1;
  c.shared_experts = 0;
  c.experts = 3;
  check_case({"moe top1", LayerType::Moe, c});
}

TEST(LayerGradcheck, MambaSelectiveScan) { check_case({"mamba", LayerType::Mamba, tiny_dims()}); }

TEST(LayerGradcheck, MambaWideConvLongerSequence) {
  NetConfig c = tiny_dims();
  c.mamba_conv = 4;
  c.seq = 8;
  c.micro_batch = 1;
  c.mamba_d_inner = 10;  // not a multiple of hidden
  c.mamba_dt_rank = 0;   // auto: ceil(8 / 16) = 1
  check_case({"mamba conv4", LayerType::Mamba, c});
}

TEST(LayerGradcheck, LmHeadCrossEntropy) { check_case({"lm_head", LayerType::LmHead, tiny_dims()}); }

// Packed micro-batches: three documents (9 of the 10 tokens a buffer holds) attending and scanning only
// within themselves, positions restarting at each, the loss weighted by the unit's share of tokens.
Case packed(const std::string& label, LayerType type) {
  return {label + " packed {3, 5, 1}", type, tiny_dims(), {3, 5, 1}, 0.37};
}

TEST(LayerGradcheck, PackedAttention) { check_case(packed("attention", LayerType::Attention)); }

TEST(LayerGradcheck, PackedMamba) { check_case(packed("mamba", LayerType::Mamba)); }

TEST(LayerGradcheck, PackedMoeAuxLossWeighted) { check_case(packed("moe", LayerType::Moe)); }

TEST(LayerGradcheck, PackedLmHeadWeighted) { check_case(packed("lm_head", LayerType::LmHead)); }

TEST(LayerGradcheck, PackedEmbedding) { check_case(packed("embedding", LayerType::Embedding)); }

}  // namespace
}  // namespace adaptis::exec
