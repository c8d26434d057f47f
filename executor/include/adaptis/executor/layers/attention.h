#pragma once
// Causal multi-head self-attention block with grouped-query attention and rotary positions:
//   xn = rmsnorm(x) * g;  q = xn Wq^T, k = xn Wk^T, v = xn Wv^T;  q, k rotated (RoPE);
//   per head h (kv head h / (heads / kv_heads)): P = softmax(q k^T / sqrt(d), causal);  o = P v;
//   y = x + o Wo^T.
// Wq, Wo: (hidden x hidden); Wk, Wv: (kv_heads * head_dim x hidden). No biases.
// B: attention core and norm backward (they have no weights); carries dy, dq, dk, dv and the reduced gain
// gradient. W: the four GEMM weight gradients.
#include <vector>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/layers/rope.h"

namespace adaptis::exec {

template <typename T>
class AttentionLayer final : public Layer<T> {
 public:
  AttentionLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  enum Tensor { kGain, kWq, kWk, kWv, kWo };
  struct State {
    // F -> B only
    std::vector<T> x, rstd, q, k, v, probs;  // q, k after rotation; probs: (heads, len, len) per sequence
    // F -> W
    std::vector<T> xn, o;
    // B -> W
    std::vector<T> dy, dq, dk, dv, dgain;
  };
  int hidden_, heads_, kv_heads_, head_dim_;
  RopeTable<T> rope_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
