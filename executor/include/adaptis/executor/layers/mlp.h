#pragma once
// SwiGLU MLP block: y = x + swiglu(rmsnorm(x) * g) with W1, W3 (ffn x hidden), W2 (hidden x ffn).
#include <vector>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/layers/swiglu.h"

namespace adaptis::exec {

template <typename T>
class MlpLayer final : public Layer<T> {
 public:
  MlpLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  enum Tensor { kGain, kW1, kW3, kW2 };
  struct State {
    std::vector<T> x, rstd;  // F -> B
    std::vector<T> xn;       // F -> W
    SwigluSaved<T> ffn;
    SwigluCarry<T> carry;    // B -> W
    std::vector<T> dgain;
  };
  SwigluWeights<T> weights(const T* params) const;
  int hidden_, ffn_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
