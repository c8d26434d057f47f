#pragma once
// LM head: final RMSNorm, output projection to the vocabulary (untied from the embedding) and
// cross-entropy, the mean over the micro-batch's tokens. The loss term is that mean; the backward pass
// starts from d(objective)/d(loss) = 1 / num_microbatches (the objective is the mean over micro-batches).
// B: dlogits = (softmax - onehot) / (tokens * m), dx through the norm; carries dlogits (tokens x vocab) and
// the reduced gain gradient. W: dWout += dlogits^T xn.
#include <cstdint>
#include <vector>

#include "adaptis/executor/layers/layer.h"

namespace adaptis::exec {

template <typename T>
class LmHeadLayer final : public Layer<T> {
 public:
  LmHeadLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;
  bool has_loss() const override { return true; }

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  enum Tensor { kGain, kWout };
  struct State {
    std::vector<T> x, rstd, probs;   // F -> B (probs: tokens x vocab softmax)
    std::vector<int32_t> targets;    // F -> B
    std::vector<T> xn;               // F -> W
    std::vector<T> dlogits, dgain;   // B -> W
  };
  int hidden_, vocab_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
