#pragma once
// Mixture-of-experts block: y = x + sum_{e in topk(p)} p_e * expert_e(xn) [+ shared(xn)], xn = rmsnorm(x) * g.
//   Router: p = softmax(xn Wr^T) over `experts` (Wr: experts x hidden, no bias).
//   Top-k: the k largest p, ties broken by the lowest expert index (deterministic everywhere); slot 0 holds
//   the largest. Gate = p_e itself (no renormalisation over the top-k, as Switch / DeepSeek-V2), so the
//   router receives gradient from the main loss even with k = 1.
//   Experts: SwiGLU MLPs of width expert_ffn, run on their tokens gathered in token order; outputs combined
//   per token in slot order (fixed order, no atomics). Optional shared experts: one always-on SwiGLU of width
//   shared_experts * expert_ffn with gate 1.
//   Aux (Switch load-balancing) loss per micro-batch: aux = coef * E * sum_i f_i * P_i with
//   f_i = (#slots routed to i) / (tokens * k) (a constant for the gradient) and P_i = mean_t p_i(t).
//   It is this layer's loss term, scaled by 1/num_microbatches in the backward pass like the main loss.
#include <vector>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/layers/swiglu.h"

namespace adaptis::exec {

template <typename T>
class MoeLayer final : public Layer<T> {
 public:
  MoeLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;
  bool has_loss() const override { return true; }

  // Routing of micro-batch mb (from its F until its W): expert of (token t, slot s) at [t * top_k + s].
  const std::vector<int>& routed_experts(int mb) const { return state_.at(mb).slot_expert; }
  // Tokens per expert for micro-batch mb (from its F until its W).
  std::vector<int> expert_load(int mb) const;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  // Tensor indices: gain, router, then 3 per expert (w1, w3, w2), then 3 for the shared expert if any.
  static constexpr int kGain = 0, kRouter = 1, kFirstExpert = 2;
  struct Expert {
    std::vector<int> tokens;  // tokens routed here, ascending (F -> W)
    std::vector<T> out;       // expert output per routed token (F -> B)
    SwigluSaved<T> ffn;
    SwigluCarry<T> carry;
    std::vector<T> xin;       // gathered inputs, built in F for the expert GEMMs, released after F
  };
  struct State {
    std::vector<T> x, rstd, probs, load_frac;  // F -> B (probs: tokens x experts; load_frac: f_i)
    std::vector<T> xn;                         // F -> W
    std::vector<int> slot_expert, slot_row;    // (tokens x top_k): expert and row in that expert's batch
    std::vector<Expert> experts;
    SwigluSaved<T> shared;
    SwigluCarry<T> shared_carry;
    std::vector<T> drouter, dgain;             // B -> W: router logits gradient, reduced gain gradient
  };
  SwigluWeights<T> expert_weights(const T* params, int e) const;
  int hidden_, experts_, top_k_, expert_ffn_, shared_ffn_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
