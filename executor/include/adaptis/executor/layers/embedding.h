#pragma once
// Token embedding: y[t] = wte[token[t]] (untied from the LM head, as Zero-Bubble recommends, so no
// cross-stage gradient all-reduce is needed). It has no input gradient: B only keeps dy for W, whose
// scatter-add dwte[token[t]] += dy[t] runs in token order (deterministic, no atomics).
#include <cstdint>
#include <vector>

#include "adaptis/executor/layers/layer.h"

namespace adaptis::exec {

template <typename T>
class EmbeddingLayer final : public Layer<T> {
 public:
  EmbeddingLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  struct State {
    std::vector<int32_t> tokens;  // F -> W
    std::vector<T> dy;            // B -> W
  };
  std::vector<State> state_;
};

}  // namespace adaptis::exec
