// SwiGLU MLP block, F / B / W.
#include "adaptis/executor/layers/mlp.h"

#include <cmath>
#include <cstddef>

#include "adaptis/executor/layers/rmsnorm.h"

namespace adaptis::exec {

template <typename T>
MlpLayer<T>::MlpLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Mlp, cfg, num_microbatches), hidden_(cfg.hidden), ffn_(cfg.ffn),
      state_(size_t(num_microbatches)) {
  this->add_param("norm", 1, hidden_, false);
  this->add_param("w1", ffn_, hidden_, true);
  this->add_param("w3", ffn_, hidden_, true);
  this->add_param("w2", hidden_, ffn_, true);
}

template <typename T>
void MlpLayer<T>::init_params(T* p, Rng& rng) const {
  init_constant(p + this->offset(kGain), size_t(hidden_), 1.0);
  init_normal(p + this->offset(kW1), size_t(ffn_) * hidden_, rng, 1.0 / std::sqrt(double(hidden_)));
  init_normal(p + this->offset(kW3), size_t(ffn_) * hidden_, rng, 1.0 / std::sqrt(double(hidden_)));
  init_normal(p + this->offset(kW2), size_t(hidden_) * ffn_, rng, 0.5 / std::sqrt(double(ffn_)));
}

template <typename T>
SwigluWeights<T> MlpLayer<T>::weights(const T* p) const {
  return {p + this->offset(kW1), p + this->offset(kW3), p + this->offset(kW2)};
}

template <typename T>
void MlpLayer<T>::do_forward(int mb, const MicroBatchData&, const T* p, const T* x, T* y) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_;
  s.x.assign(x, x + size_t(n) * h);
  s.rstd.resize(n);
  s.xn.resize(size_t(n) * h);
  rmsnorm_forward(s.xn.data(), s.rstd.data(), x, p + this->offset(kGain), n, h, this->cfg_.norm_eps);
  swiglu_forward(y, s.xn.data(), weights(p), n, h, ffn_, s.ffn);
  for (size_t i = 0; i < size_t(n) * h; ++i) y[i] += s.x[i];
}

template <typename T>
void MlpLayer<T>::do_backward_input(int mb, const T* p, const T* dy, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_;
  std::vector<T> dxn(size_t(n) * h);
  swiglu_backward_input(dxn.data(), false, dy, weights(p), n, h, ffn_, s.ffn, s.carry);
  prenorm_backward(dx, dy, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h, s.dgain);
  release(s.x);
  release(s.rstd);
}

template <typename T>
void MlpLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  for (int i = 0; i < hidden_; ++i) g[this->offset(kGain) + i] += s.dgain[i];
  swiglu_backward_weight(g + this->offset(kW1), g + this->offset(kW3), g + this->offset(kW2), s.xn.data(),
                         this->tokens(mb), hidden_, ffn_, s.ffn, s.carry);
  state_[mb] = State{};
}

template <typename T>
size_t MlpLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_)
    n += vector_bytes(s.x, s.rstd, s.xn, s.ffn.a, s.ffn.b, s.ffn.u, s.carry.dout, s.carry.da, s.carry.db, s.dgain);
  return n;
}

template <typename T>
void MlpLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                const typename Layer<T>::IntVisitor& g) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.x, &s.rstd, &s.xn, &s.ffn.a, &s.ffn.b, &s.ffn.u, &s.carry.dout, &s.carry.da, &s.carry.db, &s.dgain}) f(*v);
  (void)g;
}

template class MlpLayer<float>;
template class MlpLayer<double>;

}  // namespace adaptis::exec
