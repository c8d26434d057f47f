#pragma once
// Causal multi-head self-attention block with grouped-query attention and rotary positions:
//   xn = rmsnorm(x) * g;  q = xn Wq^T, k = xn Wk^T, v = xn Wv^T;  q, k rotated (RoPE);
//   per head h (kv head h / (heads / kv_heads)): P = softmax(q k^T / sqrt(d), causal);  o = P v;
//   y = x + o Wo^T.
// Wq, Wo: (hidden x hidden); Wk, Wv: (kv_heads * head_dim x hidden). No biases.
// B: attention core and norm backward (they have no weights); carries dy, dq, dk, dv and the reduced gain
// gradient. W: the four GEMM weight gradients.
// Packed micro-batches attend within each sequence; a slice continuing a document (MicroBatchData::
// first_pos) also attends to the keys and values its earlier slices computed on this layer, and its B adds
// their gradients into those slices' carry, which their own B (run later) folds in.
// Recompute of a slice a later slice reads (MicroBatchData::next_slice_mb): dropping its state keeps its
// keys and values (rotated), what the later slices' F and B read from it and send back to it, and drops the
// rest; its R computes the same keys and values again (bit for bit) along with everything else.
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
  size_t carried_bytes_besides(int mb) const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;
  void for_each_offloadable(int mb, const typename Layer<T>::FloatVisitor& f,
                            const typename Layer<T>::IntVisitor& g) override;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  // Undoes what F registered with the earlier slices (their readers) as well, so a later F (R) of this
  // micro-batch registers again exactly once. A micro-batch a later slice reads keeps k, v, tail, readers and
  // the carries.
  void drop_state(int mb) override;

 private:
  // Visits mb's state buffers in a fixed order; `shared_too` = false leaves out the keys, values and
  // carries that later slices read and write while mb waits.
  void visit_state(int mb, bool shared_too, const typename Layer<T>::FloatVisitor& f);
  enum Tensor { kGain, kWq, kWk, kWv, kWo };
  // Rows [start, start + count) of micro-batch mb's keys and values.
  struct KeyChunk {
    int mb = 0, start = 0, count = 0;
  };
  struct State {
    // F -> B only
    std::vector<T> x, rstd, q, k, v, probs;  // q, k after rotation; probs: (heads, len, pre + len) per sequence
    // F -> W
    std::vector<T> xn, o;
    // B -> W
    std::vector<T> dy, dq, dk, dv, dgain;
    // Slices. prefix: the earlier slices' key rows the first sequence's queries also attend to, in
    // position order; tail: the key rows of the document this micro-batch ends with (what a next slice
    // attends to); readers: later slices whose B has not yet sent back the gradient of this one's keys
    // and values, which they add into dk_carry / dv_carry (folded into dk / dv by this one's B).
    std::vector<KeyChunk> prefix, tail;
    int readers = 0;
    std::vector<T> dk_carry, dv_carry;
    // MicroBatchData::next_slice_mb as F saw it: a later slice will read this micro-batch's keys.
    int next_slice = -1;
  };
  // Key / value row of position j of span `sp` (j < its prefix: an earlier slice's row).
  void span_rows(int mb, const SequenceSpan& sp, int pre, std::vector<int>& row_mb, std::vector<int>& row) const;
  int hidden_, heads_, kv_heads_, head_dim_;
  RopeTable<T> rope_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
