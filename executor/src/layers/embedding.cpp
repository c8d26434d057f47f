// Token embedding F / B / W.
#include "adaptis/executor/layers/embedding.h"

#include <cstddef>
#include <string>

#include "adaptis/model/error.h"

namespace adaptis::exec {

template <typename T>
EmbeddingLayer<T>::EmbeddingLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Embedding, cfg, num_microbatches), state_(size_t(num_microbatches)) {
  this->add_param("wte", cfg.vocab, cfg.hidden, true);
}

template <typename T>
void EmbeddingLayer<T>::init_params(T* params, Rng& rng) const {
  // Unit-scale rows: every block starts with an RMSNorm, so the residual stream's scale is what the block
  // outputs are measured against.
  init_normal(params, this->num_params(), rng, 1.0);
}

template <typename T>
void EmbeddingLayer<T>::do_forward(int mb, const MicroBatchData& data, const T* params, const T*, T* y) {
  const int n = this->tokens(mb), h = this->cfg_.hidden, vocab = this->cfg_.vocab;
  if (static_cast<int>(data.tokens.size()) != n)
    throw InputError("micro-batch " + std::to_string(mb) + ": " + std::to_string(data.tokens.size()) +
                     " tokens, expected micro_batch * seq = " + std::to_string(n));
  State& s = state_[mb];
  s.tokens = data.tokens;
  for (int t = 0; t < n; ++t) {
    const int32_t id = data.tokens[t];
    if (id < 0 || id >= vocab)
      throw InputError("micro-batch " + std::to_string(mb) + ": token id " + std::to_string(id) + " at position " +
                       std::to_string(t) + " outside the vocabulary [0, " + std::to_string(vocab) + ")");
    const T* row = params + size_t(id) * h;
    T* yt = y + size_t(t) * h;
    for (int i = 0; i < h; ++i) yt[i] = row[i];
  }
}

template <typename T>
void EmbeddingLayer<T>::do_backward_input(int mb, const T*, const T* dy, T*) {
  // No input gradient (tokens are discrete); keep dy for the deferred scatter-add.
  state_[mb].dy.assign(dy, dy + size_t(this->tokens(mb)) * this->cfg_.hidden);
}

template <typename T>
void EmbeddingLayer<T>::do_backward_weight(int mb, T* grads) {
  State& s = state_[mb];
  const int h = this->cfg_.hidden;
  for (int t = 0; t < this->tokens(mb); ++t) {
    T* row = grads + size_t(s.tokens[t]) * h;
    const T* g = s.dy.data() + size_t(t) * h;
    for (int i = 0; i < h; ++i) row[i] += g[i];
  }
  release(s.tokens);
  release(s.dy);
}

template <typename T>
size_t EmbeddingLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_) n += vector_bytes(s.tokens, s.dy);
  return n;
}

template <typename T>
void EmbeddingLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                const typename Layer<T>::IntVisitor& g) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.dy}) f(*v);
  g(s.tokens);
}

template class EmbeddingLayer<float>;
template class EmbeddingLayer<double>;

}  // namespace adaptis::exec
