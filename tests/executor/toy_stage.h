#pragma once
// A small deterministic StageCompute for runtime tests that must not depend on the real layer math:
// every layer is y = x + tanh(w*x + b) elementwise over the activation buffer, with the loss
// 0.5 * mean((y - target)^2) on the last layer. Parameters depend only on the global layer index, weight
// gradients are kept per micro-batch and summed in micro-batch order, so any schedule and partition must
// reproduce the single-stage results bit for bit. Misuse (B before F, W before B, repeated F) throws,
// which turns runtime ordering bugs into test failures.
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "adaptis/executor/runtime.h"
#include "adaptis/executor/stage_compute.h"

namespace adaptis::exec::testing {

struct ToyConfig {
  size_t width = 24;     // activation floats per micro-batch
  int fail_forward_mb = -1;  // F of this micro-batch throws (failure-path tests)
};

inline float toy_init(int layer, size_t j, int which) {
  uint64_t x = (static_cast<uint64_t>(layer) * 1000003u + j * 7919u + static_cast<uint64_t>(which) * 104729u) ^ 0x9e3779b97f4a7c15ull;
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 29;
  return static_cast<float>(static_cast<double>(x % 2001) / 1000.0 - 1.0) * (which == 0 ? 0.9f : 0.2f);
}

class ToyStage final : public StageCompute {
 public:
  ToyStage(ToyConfig cfg, int first, int last, int num_layers, int m)
      : cfg_(cfg), first_(first), last_(last), L_(num_layers), m_(m) {
    const size_t n = cfg_.width, k = static_cast<size_t>(last - first);
    params_.resize(2 * n * k);
    grads_.assign(params_.size(), 0.f);
    for (int l = first; l < last; ++l) {
      size_t off = 2 * n * static_cast<size_t>(l - first);
      for (size_t j = 0; j < n; ++j) {
        params_[off + j] = toy_init(l, j, 0);
        params_[off + n + j] = toy_init(l, j, 1);
      }
      tensors_.push_back({"layers." + std::to_string(l) + ".w", off, n});
      tensors_.push_back({"layers." + std::to_string(l) + ".b", off + n, n});
    }
    mb_.resize(m);
  }

  bool is_first() const override { return first_ == 0; }
  bool is_last() const override { return last_ == L_; }
  size_t activation_floats() const override { return cfg_.width; }

  void forward(int mb, const MicroBatchData& data, const float* input, float* output) override {
    check_mb(mb);
    if (mb == cfg_.fail_forward_mb) throw std::runtime_error("toy stage: injected failure in F mb " + std::to_string(mb));
    State& st = mb_[mb];
    if (st.phase != 0) throw std::logic_error("toy stage: F twice for mb " + std::to_string(mb));
    const size_t n = cfg_.width, k = static_cast<size_t>(last_ - first_);
    std::vector<float> x(n);
    for (size_t j = 0; j < n; ++j) x[j] = is_first() ? token_value(data.tokens, j) : input[j];
    st.x.assign(k * n, 0.f);
    st.t.assign(k * n, 0.f);
    for (size_t l = 0; l < k; ++l) {
      const float* w = &params_[2 * n * l];
      const float* b = w + n;
      for (size_t j = 0; j < n; ++j) {
        st.x[l * n + j] = x[j];
        float t = std::tanh(w[j] * x[j] + b[j]);
        st.t[l * n + j] = t;
        x[j] = x[j] + t;
      }
    }
    if (is_last()) {
      double loss = 0;
      st.dy_top.resize(n);
      for (size_t j = 0; j < n; ++j) {
        float d = x[j] - token_value(data.targets, j);
        loss += 0.5 * static_cast<double>(d) * d;
        st.dy_top[j] = d / static_cast<float>(n) / static_cast<float>(m_);
      }
      st.loss = loss / static_cast<double>(n);
    } else {
      for (size_t j = 0; j < n; ++j) output[j] = x[j];
    }
    st.phase = 1;
  }

  void backward_input(int mb, const MicroBatchData&, const float* grad_output, float* grad_input) override {
    check_mb(mb);
    State& st = mb_[mb];
    if (st.phase != 1) throw std::logic_error("toy stage: B before F for mb " + std::to_string(mb));
    const size_t n = cfg_.width, k = static_cast<size_t>(last_ - first_);
    std::vector<float> dy(n);
    for (size_t j = 0; j < n; ++j) dy[j] = is_last() ? st.dy_top[j] : grad_output[j];
    st.dz.assign(k * n, 0.f);
    for (size_t l = k; l-- > 0;) {
      const float* w = &params_[2 * n * l];
      for (size_t j = 0; j < n; ++j) {
        float t = st.t[l * n + j];
        float dz = dy[j] * (1.f - t * t);
        st.dz[l * n + j] = dz;
        dy[j] = dy[j] + dz * w[j];
      }
    }
    if (!is_first())
      for (size_t j = 0; j < n; ++j) grad_input[j] = dy[j];
    st.t.clear();
    st.phase = 2;
  }

  void backward_weight(int mb) override {
    check_mb(mb);
    State& st = mb_[mb];
    if (st.phase != 2) throw std::logic_error("toy stage: W before B for mb " + std::to_string(mb));
    const size_t n = cfg_.width, k = static_cast<size_t>(last_ - first_);
    st.g.assign(params_.size(), 0.f);
    for (size_t l = 0; l < k; ++l)
      for (size_t j = 0; j < n; ++j) {
        float dz = st.dz[l * n + j];
        st.g[2 * n * l + j] = dz * st.x[l * n + j];
        st.g[2 * n * l + n + j] = dz;
      }
    st.x.clear();
    st.dz.clear();
    st.phase = 3;
  }

  double loss(int mb) const override { return is_last() ? mb_[mb].loss : 0.0; }
  void zero_grad() override {
    std::fill(grads_.begin(), grads_.end(), 0.f);
    for (auto& s : mb_) s = State{};
  }
  void finish_backward() override {
    for (int mb = 0; mb < m_; ++mb) {
      if (mb_[mb].phase != 3) throw std::logic_error("toy stage: finish_backward with mb " + std::to_string(mb) + " missing its W");
      for (size_t i = 0; i < grads_.size(); ++i) grads_[i] += mb_[mb].g[i];
    }
  }
  void step(const AdamW& opt, int) override {
    for (size_t i = 0; i < params_.size(); ++i) params_[i] -= opt.lr * grads_[i];
  }
  std::span<const float> params() const override { return params_; }
  std::span<const float> grads() const override { return grads_; }
  const std::vector<Tensor>& tensors() const override { return tensors_; }
  size_t saved_bytes() const override {
    size_t b = 0;
    for (const auto& s : mb_) b += (s.x.size() + s.t.size() + s.dz.size()) * sizeof(float);
    return b;
  }

 private:
  struct State {
    int phase = 0;  // 0 none, 1 after F, 2 after B, 3 after W
    std::vector<float> x, t, dz, dy_top, g;
    double loss = 0;
  };
  void check_mb(int mb) const {
    if (mb < 0 || mb >= m_) throw std::logic_error("toy stage: micro-batch " + std::to_string(mb) + " out of range");
  }
  float token_value(const std::vector<int32_t>& v, size_t j) const {
    return v.empty() ? 0.f : static_cast<float>(v[j % v.size()] % 31) * 0.05f - 0.7f;
  }

  ToyConfig cfg_;
  int first_, last_, L_, m_;
  std::vector<float> params_, grads_;
  std::vector<Tensor> tensors_;
  std::vector<State> mb_;
};

inline StageFactory toy_factory(int num_layers, ToyConfig cfg = {}) {
  return [=](int a, int b, int m) { return std::make_unique<ToyStage>(cfg, a, b, num_layers, m); };
}

inline DataSource toy_data(size_t tokens = 12) {
  return [tokens](int step, int mb) {
    MicroBatchData d;
    for (size_t i = 0; i < tokens; ++i) {
      uint32_t x = static_cast<uint32_t>(step * 7919 + mb * 104729 + static_cast<int>(i) * 31337) * 2654435761u;
      d.tokens.push_back(static_cast<int32_t>(x >> 24));
      d.targets.push_back(static_cast<int32_t>((x >> 16) & 255));
    }
    return d;
  };
}

// Single-device reference: all forwards, then all fused backwards, in micro-batch order.
struct ReferenceResult {
  std::vector<double> losses;  // per step: mean micro-batch loss
  std::vector<std::vector<float>> grads;  // per step
  std::vector<float> params;  // after the last step
  std::vector<StageCompute::Tensor> tensors;
};

inline ReferenceResult run_reference(const StageFactory& make, int num_layers, int m, int steps,
                                     const DataSource& data, const AdamW& opt) {
  ReferenceResult r;
  auto st = make(0, num_layers, m);
  for (int step = 0; step < steps; ++step) {
    st->zero_grad();
    std::vector<MicroBatchData> d;
    for (int mb = 0; mb < m; ++mb) d.push_back(data(step, mb));
    for (int mb = 0; mb < m; ++mb) st->forward(mb, d[mb], nullptr, nullptr);
    for (int mb = 0; mb < m; ++mb) {
      st->backward_input(mb, d[mb], nullptr, nullptr);
      st->backward_weight(mb);
    }
    st->finish_backward();
    double sum = 0;
    for (int mb = 0; mb < m; ++mb) {
      double l = 0;
      for (double t : st->loss_terms(mb)) l += t;
      sum += l;
    }
    r.losses.push_back(sum / m);
    r.grads.emplace_back(st->grads().begin(), st->grads().end());
    st->step(opt, step);
  }
  r.params.assign(st->params().begin(), st->params().end());
  r.tensors = st->tensors();
  return r;
}

}  // namespace adaptis::exec::testing
