#pragma once
// One layer of the executor's model with its per-micro-batch state, split into F / B / W.
//
// A layer owns no parameters: the stage keeps all of them in one arena and hands each layer its slice
// (`params`, laid out as param_specs() in order), the same for gradients. What a layer owns is the state a
// micro-batch carries between its passes: activations saved by F, and the B -> W carry (output gradients of
// the linears, reduced gradients of small parameters). F fills it, B frees what only B needed, W frees the
// rest. Passes out of order throw std::logic_error naming the layer and micro-batch.
//
// The layers are templates on the float type: float is what the executor runs; double is the reference
// the finite-difference tests check B and W against (llm.c keeps a CPU reference beside each kernel; here it
// is the same code at higher precision).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/layers/rng.h"
#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/net_config.h"

namespace adaptis::exec {

// One parameter tensor of a layer: (rows x cols), row-major. `decay`: AdamW weight decay applies
// (matrices yes; norm gains, biases, scan parameters no).
struct ParamSpec {
  std::string name;
  int rows = 1, cols = 1;
  bool decay = true;
  size_t size() const { return size_t(rows) * size_t(cols); }
};

// Short name used in tensor names: "embed", "attn", "mlp", "moe", "mamba", "head".
const char* layer_param_prefix(LayerType t);
// Seed of global layer `index`: parameters depend on (seed, index) only, never on the stage cut.
inline uint64_t layer_seed(uint64_t seed, int index) { return mix_seed(seed, uint64_t(index) + 1); }

template <typename T>
class Layer {
 public:
  Layer(LayerType type, const NetConfig& cfg, int num_microbatches);
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  LayerType type() const { return type_; }
  const std::vector<ParamSpec>& param_specs() const { return specs_; }
  size_t num_params() const;
  int num_microbatches() const { return static_cast<int>(phase_.size()); }
  // Micro-batch mb as its F saw it (valid from its F until its next F): its tokens (micro_batch * seq for
  // equal micro-batches, the unit's tokens for a packed one), its independent sequences (attention and
  // scans stay inside each; positions restart at each), and the scale of its loss terms in the backward
  // pass: MicroBatchData::loss_weight, or 1/num_microbatches (the objective is the mean over micro-batches).
  int tokens(int mb) const { return shape_[size_t(mb)].tokens; }
  const std::vector<SequenceSpan>& spans(int mb) const { return shape_[size_t(mb)].spans; }
  T loss_scale(int mb) const { return shape_[size_t(mb)].loss_scale; }

  // Draws this layer's initial parameters from `rng` in a fixed order (same draws for float and double).
  virtual void init_params(T* params, Rng& rng) const = 0;

  // F. x: (tokens x hidden) input, unused by the embedding (reads data.tokens); y: output, unused by the LM
  // head (reads data.targets and records the loss).
  void forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y);
  // B. dy: gradient of y (unused by the LM head, which starts from its loss); writes dx (unused by the
  // embedding). Touches no parameter gradient.
  void backward_input(int mb, const T* params, const T* dy, T* dx);
  // W. Adds this micro-batch's gradients of every parameter into `grads` (this layer's slice).
  void backward_weight(int mb, T* grads);

  // This layer's loss term for micro-batch mb, unscaled (cross-entropy for the LM head, aux loss for MoE).
  virtual bool has_loss() const { return false; }
  double loss(int mb) const;
  // Bytes of saved activations and carried gradients held right now, over all micro-batches.
  virtual size_t saved_bytes() const = 0;

  // Recomputation and offload (driven by the stage, stage_compute.h). discard(mb), between F and B,
  // drops everything F saved for micro-batch mb and lets F run again: a second F on the same input
  // re-creates the same state bit for bit (no randomness, same parameters), which is what R does.
  // for_each_saved(mb, ...) visits every buffer mb holds now, float and integer ones apart, in a fixed
  // order; the offload engine moves their contents to host memory and back. saved_bytes(mb) is their
  // total.
  void discard(int mb);
  using FloatVisitor = std::function<void(std::vector<T>&)>;
  using IntVisitor = std::function<void(std::vector<int32_t>&)>;
  virtual void for_each_saved(int mb, const FloatVisitor& f, const IntVisitor& g) = 0;
  // What an offload may move to host memory while mb waits for its backward: what for_each_saved visits,
  // less what other micro-batches read or write meanwhile (a slice's keys and values its later slices
  // attend to, and the gradient carries their backwards add into).
  virtual void for_each_offloadable(int mb, const FloatVisitor& f, const IntVisitor& g) { for_each_saved(mb, f, g); }
  size_t saved_bytes(int mb);
  // Gradient carries held right now for micro-batches other than mb: the B of a slice adds the gradients of
  // the keys and values it read into carries of the earlier slices, so it changes their saved bytes as well
  // as its own. Never touched by an offload (for_each_offloadable leaves them out).
  virtual size_t carried_bytes_besides(int) const { return 0; }

 protected:
  virtual void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) = 0;
  virtual void do_backward_input(int mb, const T* params, const T* dy, T* dx) = 0;
  virtual void do_backward_weight(int mb, T* grads) = 0;
  // Releases everything micro-batch mb holds (discard() resets its phase).
  virtual void drop_state(int mb) = 0;

  // Subclasses declare their tensors once (in the constructor); offset(i) is tensor i's start in the slice.
  void add_param(std::string name, int rows, int cols, bool decay);
  size_t offset(size_t i) const { return offsets_[i]; }
  void check_mb(int mb, const char* pass) const;

  NetConfig cfg_;
  std::vector<double> loss_;

 private:
  enum class Phase : unsigned char { Idle, Forwarded, InputGradDone };
  struct Shape {
    int tokens = 0;
    std::vector<SequenceSpan> spans;
    T loss_scale = T(0);
  };
  LayerType type_;
  std::vector<Shape> shape_;
  std::vector<ParamSpec> specs_;
  std::vector<size_t> offsets_;
  std::vector<Phase> phase_;
};

// Builds a layer of `type` for cfg's dims (cfg is expected valid: validate_net_config).
template <typename T>
std::unique_ptr<Layer<T>> make_layer(LayerType type, const NetConfig& cfg, int num_microbatches);

// Parameter init helpers: one normal draw per element in index order, converted to T (so a float model
// is the double model rounded). Fan-in scaled std keeps activations O(1) at any width.
template <typename T>
void init_normal(T* p, size_t n, Rng& rng, double stddev) {
  for (size_t i = 0; i < n; ++i) p[i] = T(rng.normal() * stddev);
}
template <typename T>
void init_constant(T* p, size_t n, double value) {
  for (size_t i = 0; i < n; ++i) p[i] = T(value);
}

// Byte size of a set of saved vectors (for saved_bytes()).
template <typename V>
size_t vector_bytes(const V& v) {
  return v.size() * sizeof(typename V::value_type);
}
template <typename V, typename... Rest>
size_t vector_bytes(const V& v, const Rest&... rest) {
  return vector_bytes(v) + vector_bytes(rest...);
}
// Releases a vector's memory (clear() keeps capacity).
template <typename V>
void release(V& v) {
  V().swap(v);
}

}  // namespace adaptis::exec
