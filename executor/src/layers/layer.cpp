// Layer base: parameter bookkeeping, the per-micro-batch F -> B -> W phase check, and the factory.
#include "adaptis/executor/layers/layer.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "adaptis/executor/layers/attention.h"
#include "adaptis/executor/layers/embedding.h"
#include "adaptis/executor/layers/lm_head.h"
#include "adaptis/executor/layers/mamba.h"
#include "adaptis/executor/layers/mlp.h"
#include "adaptis/executor/layers/moe.h"

namespace adaptis::exec {

const char* layer_param_prefix(LayerType t) {
  switch (t) {
    case LayerType::Embedding: return "embed";
    case LayerType::Attention: return "attn";
    case LayerType::Mlp: return "mlp";
    case LayerType::Moe: return "moe";
    case LayerType::Mamba: return "mamba";
    case LayerType::LmHead: return "head";
  }
  return "?";
}

template <typename T>
Layer<T>::Layer(LayerType type, const NetConfig& cfg, int num_microbatches)
    : cfg_(cfg),
      loss_(size_t(num_microbatches), 0.0),
      type_(type),
      shape_(size_t(std::max(num_microbatches, 0))),
      phase_(size_t(num_microbatches), Phase::Idle) {
  if (num_microbatches < 1) throw std::invalid_argument("Layer: num_microbatches must be >= 1");
}

template <typename T>
size_t Layer<T>::num_params() const {
  size_t n = 0;
  for (const ParamSpec& s : specs_) n += s.size();
  return n;
}

template <typename T>
void Layer<T>::add_param(std::string name, int rows, int cols, bool decay) {
  offsets_.push_back(num_params());
  specs_.push_back(ParamSpec{std::move(name), rows, cols, decay});
}

template <typename T>
void Layer<T>::check_mb(int mb, const char* pass) const {
  if (mb < 0 || mb >= num_microbatches())
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer: " + pass + " of micro-batch " +
                           std::to_string(mb) + " out of range [0, " + std::to_string(num_microbatches()) + ")");
}

template <typename T>
void Layer<T>::forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) {
  check_mb(mb, "F");
  if (phase_[mb] != Phase::Idle)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer: F of micro-batch " + std::to_string(mb) +
                           " while its previous F has not finished B and W");
  Shape& shape = shape_[size_t(mb)];
  shape.spans = sequence_spans(cfg_, data, mb);
  shape.tokens = microbatch_tokens(cfg_, data);
  shape.loss_scale = data.loss_weight > 0 ? T(data.loss_weight) : T(1) / T(num_microbatches());
  do_forward(mb, data, params, x, y);
  phase_[mb] = Phase::Forwarded;
}

template <typename T>
void Layer<T>::discard(int mb) {
  check_mb(mb, "discard");
  if (phase_[mb] != Phase::Forwarded)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer: discarding micro-batch " + std::to_string(mb) +
                           (phase_[mb] == Phase::Idle ? " before its F" : " after its B"));
  drop_state(mb);
  phase_[mb] = Phase::Idle;
}

template <typename T>
size_t Layer<T>::saved_bytes(int mb) {
  check_mb(mb, "saved_bytes");
  size_t n = 0;
  for_each_saved(
      mb, [&](std::vector<T>& v) { n += vector_bytes(v); }, [&](std::vector<int32_t>& v) { n += vector_bytes(v); });
  return n;
}

template <typename T>
void Layer<T>::backward_input(int mb, const T* params, const T* dy, T* dx) {
  check_mb(mb, "B");
  if (phase_[mb] != Phase::Forwarded)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer: B of micro-batch " + std::to_string(mb) +
                           (phase_[mb] == Phase::Idle ? " before its F" : " twice"));
  do_backward_input(mb, params, dy, dx);
  phase_[mb] = Phase::InputGradDone;
}

template <typename T>
void Layer<T>::backward_weight(int mb, T* grads) {
  check_mb(mb, "W");
  if (phase_[mb] != Phase::InputGradDone)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer: W of micro-batch " + std::to_string(mb) +
                           (phase_[mb] == Phase::Idle ? " before its F and B" : " before its B"));
  do_backward_weight(mb, grads);
  phase_[mb] = Phase::Idle;
}

template <typename T>
double Layer<T>::loss(int mb) const {
  check_mb(mb, "loss");
  return loss_[mb];
}

template <typename T>
std::unique_ptr<Layer<T>> make_layer(LayerType type, const NetConfig& cfg, int num_microbatches) {
  switch (type) {
    case LayerType::Embedding: return std::make_unique<EmbeddingLayer<T>>(cfg, num_microbatches);
    case LayerType::Attention: return std::make_unique<AttentionLayer<T>>(cfg, num_microbatches);
    case LayerType::Mlp: return std::make_unique<MlpLayer<T>>(cfg, num_microbatches);
    case LayerType::Moe: return std::make_unique<MoeLayer<T>>(cfg, num_microbatches);
    case LayerType::Mamba: return std::make_unique<MambaLayer<T>>(cfg, num_microbatches);
    case LayerType::LmHead: return std::make_unique<LmHeadLayer<T>>(cfg, num_microbatches);
  }
  throw std::invalid_argument("make_layer: unknown layer type");
}

template class Layer<float>;
template class Layer<double>;
template std::unique_ptr<Layer<float>> make_layer<float>(LayerType, const NetConfig&, int);
template std::unique_ptr<Layer<double>> make_layer<double>(LayerType, const NetConfig&, int);

}  // namespace adaptis::exec
