// Mixture-of-experts block (top-k softmax router, SwiGLU experts, Switch aux loss), F / B / W.
#include "adaptis/executor/layers/moe.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>

#include "adaptis/executor/layers/linear.h"
#include "adaptis/executor/layers/rmsnorm.h"

namespace adaptis::exec {

template <typename T>
MoeLayer<T>::MoeLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Moe, cfg, num_microbatches),
      hidden_(cfg.hidden),
      experts_(cfg.experts),
      top_k_(cfg.top_k),
      expert_ffn_(cfg.expert_ffn),
      shared_ffn_(cfg.shared_ffn()),
      state_(size_t(num_microbatches)) {
  this->add_param("norm", 1, hidden_, false);
  this->add_param("router", experts_, hidden_, true);
  for (int e = 0; e < experts_; ++e) {
    const std::string pre = "experts." + std::to_string(e) + ".";
    this->add_param(pre + "w1", expert_ffn_, hidden_, true);
    this->add_param(pre + "w3", expert_ffn_, hidden_, true);
    this->add_param(pre + "w2", hidden_, expert_ffn_, true);
  }
  if (shared_ffn_ > 0) {
    this->add_param("shared.w1", shared_ffn_, hidden_, true);
    this->add_param("shared.w3", shared_ffn_, hidden_, true);
    this->add_param("shared.w2", hidden_, shared_ffn_, true);
  }
}

template <typename T>
void MoeLayer<T>::init_params(T* p, Rng& rng) const {
  const double in_std = 1.0 / std::sqrt(double(hidden_));
  init_constant(p + this->offset(kGain), size_t(hidden_), 1.0);
  init_normal(p + this->offset(kRouter), size_t(experts_) * hidden_, rng, in_std);
  const int blocks = experts_ + (shared_ffn_ > 0 ? 1 : 0);
  for (int e = 0; e < blocks; ++e) {
    const int f = e < experts_ ? expert_ffn_ : shared_ffn_;
    const size_t base = kFirstExpert + size_t(3) * e;
    init_normal(p + this->offset(base + 0), size_t(f) * hidden_, rng, in_std);
    init_normal(p + this->offset(base + 1), size_t(f) * hidden_, rng, in_std);
    init_normal(p + this->offset(base + 2), size_t(hidden_) * f, rng, 0.5 / std::sqrt(double(f)));
  }
}

// Expert e for e < experts; e == experts is the shared expert.
template <typename T>
SwigluWeights<T> MoeLayer<T>::expert_weights(const T* p, int e) const {
  const size_t base = kFirstExpert + size_t(3) * e;
  return {p + this->offset(base + 0), p + this->offset(base + 1), p + this->offset(base + 2)};
}

template <typename T>
std::vector<int> MoeLayer<T>::expert_load(int mb) const {
  std::vector<int> load(size_t(experts_), 0);
  for (int e : state_.at(mb).slot_expert) ++load[e];
  return load;
}

template <typename T>
void MoeLayer<T>::do_forward(int mb, const MicroBatchData&, const T* p, const T* x, T* y) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, E = experts_, k = top_k_;
  s.x.assign(x, x + size_t(n) * h);
  s.rstd.resize(n);
  s.xn.resize(size_t(n) * h);
  rmsnorm_forward(s.xn.data(), s.rstd.data(), x, p + this->offset(kGain), n, h, this->cfg_.norm_eps);

  // Router softmax.
  s.probs.resize(size_t(n) * E);
  linear_forward(s.probs.data(), s.xn.data(), p + this->offset(kRouter), n, h, E);
  for (int t = 0; t < n; ++t) {
    T* row = s.probs.data() + size_t(t) * E;
    T mx = row[0];
    for (int e = 1; e < E; ++e)
      if (row[e] > mx) mx = row[e];
    T sum = 0;
    for (int e = 0; e < E; ++e) {
      row[e] = std::exp(row[e] - mx);
      sum += row[e];
    }
    for (int e = 0; e < E; ++e) row[e] /= sum;
  }

  // Top-k by repeated arg-max with a strict '>' scan in index order: on equal probabilities the lowest
  // expert index wins, the same on every platform.
  s.slot_expert.assign(size_t(n) * k, -1);
  s.slot_row.assign(size_t(n) * k, -1);
  s.experts.assign(size_t(E), Expert{});
  std::vector<char> taken(static_cast<size_t>(E));
  for (int t = 0; t < n; ++t) {
    const T* row = s.probs.data() + size_t(t) * E;
    std::fill(taken.begin(), taken.end(), 0);
    for (int slot = 0; slot < k; ++slot) {
      int best = -1;
      for (int e = 0; e < E; ++e)
        if (!taken[e] && (best < 0 || row[e] > row[best])) best = e;
      taken[best] = 1;
      s.slot_expert[size_t(t) * k + slot] = best;
      s.slot_row[size_t(t) * k + slot] = static_cast<int>(s.experts[best].tokens.size());
      s.experts[best].tokens.push_back(t);
    }
  }

  // Experts on their gathered tokens.
  for (int e = 0; e < E; ++e) {
    Expert& ex = s.experts[e];
    const int rows = static_cast<int>(ex.tokens.size());
    ex.xin.resize(size_t(rows) * h);
    for (int r = 0; r < rows; ++r)
      std::copy_n(s.xn.data() + size_t(ex.tokens[r]) * h, h, ex.xin.data() + size_t(r) * h);
    ex.out.resize(size_t(rows) * h);
    swiglu_forward(ex.out.data(), ex.xin.data(), expert_weights(p, e), rows, h, expert_ffn_, ex.ffn);
    release(ex.xin);
  }

  // Combine per token in a fixed order: shared expert, then slots 0..k-1; then the residual.
  std::vector<T> mix(size_t(n) * h, T(0));
  if (shared_ffn_ > 0) swiglu_forward(mix.data(), s.xn.data(), expert_weights(p, E), n, h, shared_ffn_, s.shared);
  for (int t = 0; t < n; ++t) {
    T* mt = mix.data() + size_t(t) * h;
    for (int slot = 0; slot < k; ++slot) {
      const int e = s.slot_expert[size_t(t) * k + slot], r = s.slot_row[size_t(t) * k + slot];
      const T gate = s.probs[size_t(t) * E + e];
      const T* o = s.experts[e].out.data() + size_t(r) * h;
      for (int i = 0; i < h; ++i) mt[i] += gate * o[i];
    }
  }
  for (size_t i = 0; i < size_t(n) * h; ++i) y[i] = s.x[i] + mix[i];

  // Load-balancing aux loss: coef * E * sum_i f_i P_i.
  s.load_frac.assign(size_t(E), T(0));
  std::vector<int> load(size_t(E), 0);
  for (int e : s.slot_expert) ++load[e];
  double aux = 0;
  for (int e = 0; e < E; ++e) {
    s.load_frac[e] = T(load[e]) / T(n * k);
    double mean_p = 0;
    for (int t = 0; t < n; ++t) mean_p += double(s.probs[size_t(t) * E + e]);
    aux += double(s.load_frac[e]) * (mean_p / n);
  }
  this->loss_[mb] = this->cfg_.aux_loss_coef * E * aux;
}

template <typename T>
void MoeLayer<T>::do_backward_input(int mb, const T* p, const T* dy, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, E = experts_, k = top_k_;
  std::vector<T> dxn(size_t(n) * h, T(0));
  if (shared_ffn_ > 0)
    swiglu_backward_input(dxn.data(), false, dy, expert_weights(p, E), n, h, shared_ffn_, s.shared, s.shared_carry);

  // Experts: d(out) = gate * dy on each routed token; d(gate) = <dy, out> goes to the router probabilities.
  std::vector<T> dprobs(size_t(n) * E, T(0));
  std::vector<std::vector<T>> dxin(static_cast<size_t>(E));
  for (int e = 0; e < E; ++e) {
    Expert& ex = s.experts[e];
    const int rows = static_cast<int>(ex.tokens.size());
    std::vector<T> dout(size_t(rows) * h);
    for (int r = 0; r < rows; ++r) {
      const int t = ex.tokens[r];
      const T gate = s.probs[size_t(t) * E + e];
      const T* dyt = dy + size_t(t) * h;
      const T* o = ex.out.data() + size_t(r) * h;
      T dgate = 0;
      for (int i = 0; i < h; ++i) {
        dout[size_t(r) * h + i] = gate * dyt[i];
        dgate += dyt[i] * o[i];
      }
      dprobs[size_t(t) * E + e] = dgate;
    }
    dxin[e].resize(size_t(rows) * h);
    swiglu_backward_input(dxin[e].data(), false, dout.data(), expert_weights(p, e), rows, h, expert_ffn_, ex.ffn,
                          ex.carry);
    release(ex.out);
  }
  for (int t = 0; t < n; ++t) {
    T* d = dxn.data() + size_t(t) * h;
    for (int slot = 0; slot < k; ++slot) {
      const int e = s.slot_expert[size_t(t) * k + slot], r = s.slot_row[size_t(t) * k + slot];
      const T* src = dxin[e].data() + size_t(r) * h;
      for (int i = 0; i < h; ++i) d[i] += src[i];
    }
  }

  // Aux loss gradient (f_i constant): d(aux)/d p_i(t) = coef * E * f_i / tokens, scaled like the main loss.
  const T aux_scale = this->loss_scale(mb) * T(this->cfg_.aux_loss_coef) * T(E) / T(n);
  s.drouter.resize(size_t(n) * E);
  for (int t = 0; t < n; ++t) {
    T* dp = dprobs.data() + size_t(t) * E;
    const T* pr = s.probs.data() + size_t(t) * E;
    for (int e = 0; e < E; ++e) dp[e] += aux_scale * s.load_frac[e];
    // Softmax backward: dr = p * (dp - <dp, p>).
    T dot = 0;
    for (int e = 0; e < E; ++e) dot += dp[e] * pr[e];
    for (int e = 0; e < E; ++e) s.drouter[size_t(t) * E + e] = pr[e] * (dp[e] - dot);
  }
  linear_backward_input(dxn.data(), s.drouter.data(), p + this->offset(kRouter), n, h, E, true);

  prenorm_backward(dx, dy, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h, s.dgain);
  release(s.x);
  release(s.rstd);
  release(s.probs);
  release(s.load_frac);
}

template <typename T>
void MoeLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, E = experts_;
  for (int i = 0; i < h; ++i) g[this->offset(kGain) + i] += s.dgain[i];
  linear_backward_weight(g + this->offset(kRouter), s.drouter.data(), s.xn.data(), n, h, E);
  std::vector<T> xin;
  for (int e = 0; e < E; ++e) {
    const Expert& ex = s.experts[e];
    const int rows = static_cast<int>(ex.tokens.size());
    xin.resize(size_t(rows) * h);
    for (int r = 0; r < rows; ++r) std::copy_n(s.xn.data() + size_t(ex.tokens[r]) * h, h, xin.data() + size_t(r) * h);
    const size_t base = kFirstExpert + size_t(3) * e;
    swiglu_backward_weight(g + this->offset(base), g + this->offset(base + 1), g + this->offset(base + 2), xin.data(),
                           rows, h, expert_ffn_, ex.ffn, ex.carry);
  }
  if (shared_ffn_ > 0) {
    const size_t base = kFirstExpert + size_t(3) * E;
    swiglu_backward_weight(g + this->offset(base), g + this->offset(base + 1), g + this->offset(base + 2),
                           s.xn.data(), n, h, shared_ffn_, s.shared, s.shared_carry);
  }
  state_[mb] = State{};
}

template <typename T>
size_t MoeLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_) {
    n += vector_bytes(s.x, s.rstd, s.probs, s.load_frac, s.xn, s.slot_expert, s.slot_row, s.drouter, s.dgain);
    n += vector_bytes(s.shared.a, s.shared.b, s.shared.u, s.shared_carry.dout, s.shared_carry.da, s.shared_carry.db);
    for (const Expert& ex : s.experts)
      n += vector_bytes(ex.tokens, ex.out, ex.ffn.a, ex.ffn.b, ex.ffn.u, ex.carry.dout, ex.carry.da, ex.carry.db,
                        ex.xin);
  }
  return n;
}

template <typename T>
void MoeLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                 const typename Layer<T>::IntVisitor& g) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.x, &s.rstd, &s.probs, &s.load_frac, &s.xn, &s.drouter, &s.dgain, &s.shared.a, &s.shared.b,
                            &s.shared.u, &s.shared_carry.dout, &s.shared_carry.da, &s.shared_carry.db})
    f(*v);
  g(s.slot_expert);
  g(s.slot_row);
  for (Expert& ex : s.experts) {
    for (std::vector<T>* v : {&ex.out, &ex.ffn.a, &ex.ffn.b, &ex.ffn.u, &ex.carry.dout, &ex.carry.da, &ex.carry.db, &ex.xin})
      f(*v);
    g(ex.tokens);
  }
}

template class MoeLayer<float>;
template class MoeLayer<double>;

}  // namespace adaptis::exec
