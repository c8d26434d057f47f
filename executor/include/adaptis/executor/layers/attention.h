#pragma once
// Causal multi-head self-attention block with grouped-query attention and rotary positions:
//   xn = rmsnorm(x) * g;  q = xn Wq^T, k = xn Wk^T, v = xn Wv^T;  q, k rotated (RoPE);
//   per head h (kv head h / (heads / kv_heads)): P = softmax(q k^T / sqrt(d), causal);  o = P v;
//   y = x + o Wo^T.
// Wq, Wo: (hidden x hidden); Wk, Wv: (kv_heads * head_dim x hidden). No biases.
// B: attention core and norm backward (they have no weights); carries dy, dq, dk, dv and the reduced gain
// gradient. W: the four GEMM weight gradients.
//
// Variable-length units (MicroBatchData::docs): each document attends only within itself (causal), with
// positions from 0 in the document. A slice of a row (MicroBatchData::row) keeps its keys/values in the
// row's cache for the later slices: their first document's queries also attend to the cached keys of
// that document, and their backward adds the gradient of those keys/values into the cache, which the
// earlier slice adds to its own when its backward runs (the rows' backwards run last slice first). The
// cache lives until slice 0's backward.
#include <map>
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

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;

 private:
  enum Tensor { kGain, kWq, kWk, kWv, kWo };
  struct State {
    // F -> B only
    std::vector<T> x, rstd, q, k, v, probs;  // q, k after rotation; probs: per document, head, query, key
    std::vector<int> docs, pos;              // documents (pieces) and each token's position
    int first_offset = 0;                    // keys of docs[0]'s document held by earlier slices
    int row = -1, slice = 0, row_base = 0;   // a slice: its row, index and first token within the row
    // F -> W
    std::vector<T> xn, o;
    // B -> W
    std::vector<T> dy, dq, dk, dv, dgain;
  };
  // Keys/values (after rotation) of a row's slices so far, and the gradients later slices sent back.
  struct RowCache {
    std::vector<T> k, v, dk, dv;
    int tokens = 0;
  };
  int hidden_, heads_, kv_heads_, head_dim_, batch_, seq_;
  RopeTable<T> rope_;
  std::vector<State> state_;
  std::map<int, RowCache> rows_;
};

}  // namespace adaptis::exec
