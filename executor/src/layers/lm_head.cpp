// LM head (final RMSNorm + output projection + cross-entropy), F / B / W.
#include "adaptis/executor/layers/lm_head.h"

#include <cmath>
#include <cstddef>
#include <string>

#include "adaptis/executor/layers/linear.h"
#include "adaptis/executor/layers/rmsnorm.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

template <typename T>
LmHeadLayer<T>::LmHeadLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::LmHead, cfg, num_microbatches), hidden_(cfg.hidden), vocab_(cfg.vocab),
      state_(size_t(num_microbatches)) {
  this->add_param("norm", 1, hidden_, false);
  this->add_param("wout", vocab_, hidden_, true);
}

template <typename T>
void LmHeadLayer<T>::init_params(T* p, Rng& rng) const {
  init_constant(p + this->offset(kGain), size_t(hidden_), 1.0);
  // Small logits at init: the first loss is close to log(vocab).
  init_normal(p + this->offset(kWout), size_t(vocab_) * hidden_, rng, 0.5 / std::sqrt(double(hidden_)));
}

template <typename T>
void LmHeadLayer<T>::do_forward(int mb, const MicroBatchData& data, const T* p, const T* x, T*) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, v = vocab_;
  if (static_cast<int>(data.targets.size()) != n)
    throw InputError("micro-batch " + std::to_string(mb) + ": " + std::to_string(data.targets.size()) +
                     " targets, expected one per token: " + std::to_string(n));
  for (int t = 0; t < n; ++t)
    if (data.targets[t] < 0 || data.targets[t] >= v)
      throw InputError("micro-batch " + std::to_string(mb) + ": target id " + std::to_string(data.targets[t]) +
                       " at position " + std::to_string(t) + " outside the vocabulary [0, " + std::to_string(v) +
                       ")");
  s.targets = data.targets;
  s.x.assign(x, x + size_t(n) * h);
  s.rstd.resize(n);
  s.xn.resize(size_t(n) * h);
  rmsnorm_forward(s.xn.data(), s.rstd.data(), x, p + this->offset(kGain), n, h, this->cfg_.norm_eps);
  s.probs.resize(size_t(n) * v);
  linear_forward(s.probs.data(), s.xn.data(), p + this->offset(kWout), n, h, v);
  // Softmax in place over each row of logits; the loss accumulates -log p[target] in double, in token order.
  double loss = 0;
  for (int t = 0; t < n; ++t) {
    T* row = s.probs.data() + size_t(t) * v;
    T mx = row[0];
    for (int j = 1; j < v; ++j)
      if (row[j] > mx) mx = row[j];
    const T target_shifted = row[s.targets[t]] - mx;  // log-softmax = shifted logit - log(sum)
    T sum = 0;
    for (int j = 0; j < v; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    loss += double(std::log(sum)) - double(target_shifted);
    const T inv = T(1) / sum;
    for (int j = 0; j < v; ++j) row[j] *= inv;
  }
  this->loss_[mb] = loss / n;
}

template <typename T>
void LmHeadLayer<T>::do_backward_input(int mb, const T* p, const T*, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, v = vocab_;
  // d(objective)/d(logit) = (p - onehot(target)) / (tokens * num_microbatches).
  const T scale = this->loss_scale(mb) / T(n);
  s.dlogits.resize(size_t(n) * v);
  for (int t = 0; t < n; ++t) {
    const T* pr = s.probs.data() + size_t(t) * v;
    T* dr = s.dlogits.data() + size_t(t) * v;
    for (int j = 0; j < v; ++j) dr[j] = pr[j] * scale;
    dr[s.targets[t]] -= scale;
  }
  std::vector<T> dxn(size_t(n) * h);
  linear_backward_input(dxn.data(), s.dlogits.data(), p + this->offset(kWout), n, h, v, false);
  // No residual: the head's output is the logits, not x plus something.
  prenorm_backward<T>(dx, nullptr, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h, s.dgain);
  release(s.x);
  release(s.rstd);
  release(s.probs);
  release(s.targets);
}

template <typename T>
void LmHeadLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  for (int i = 0; i < hidden_; ++i) g[this->offset(kGain) + i] += s.dgain[i];
  linear_backward_weight(g + this->offset(kWout), s.dlogits.data(), s.xn.data(), this->tokens(mb), hidden_, vocab_);
  state_[mb] = State{};
}

template <typename T>
size_t LmHeadLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_) n += vector_bytes(s.x, s.rstd, s.probs, s.targets, s.xn, s.dlogits, s.dgain);
  return n;
}

template <typename T>
void LmHeadLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                const typename Layer<T>::IntVisitor& g) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.x, &s.rstd, &s.probs, &s.xn, &s.dlogits, &s.dgain}) f(*v);
  g(s.targets);
}

template class LmHeadLayer<float>;
template class LmHeadLayer<double>;

}  // namespace adaptis::exec
