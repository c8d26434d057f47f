#pragma once
// The contract between the executor's runtime (threads, instruction lists, transports) and its layer
// math: one pipeline stage = a contiguous range of a small real model's layers with their parameters,
// runnable per micro-batch as F (forward), B (input gradient) and W (weight gradient).
//
// Layout (llm.c style): every boundary activation is a flat float buffer of
// micro_batch * seq * hidden floats; the first stage reads token ids instead, the last stage produces the
// loss. Parameters of a stage live in one float arena, gradients in a twin arena.
//
// Determinism: parameters are initialised from NetConfig::seed per *global layer index*, so a stage built
// over layers [a, b) holds bit-identical parameters to the same layers of a single-device model. W of
// micro-batch k computes that micro-batch's weight gradient into its own buffer; `finish_backward()` adds the
// per-micro-batch gradients in micro-batch order 0..m-1, so the final gradients are bitwise identical whatever
// order the schedule ran the W's in (and identical to a single-device run).
//
// B/W split: B computes only the gradient of the stage input plus what W needs (the output gradients of
// every linear, and the already-reduced gradients of small parameters: norm gains, conv, scan A/D, biases).
// W computes every weight gradient (the GEMM ones from the carried output gradients and saved inputs) into
// the micro-batch's gradient buffer. B-then-W equals a fused BW bitwise, whatever runs in between.
//
// Objective: the mean over micro-batches of (mean token cross-entropy + the MoE layers' aux losses), so the
// gradients are scaled by 1/num_microbatches; packed units (MicroBatchData::seq_lens) weigh each unit's terms
// by its loss_weight instead (tokens / tokens of the iteration: the iteration's mean token loss). Misuse (B before F, W before B, an out-of-range micro-batch,
// finish_backward with a micro-batch missing its W) throws std::logic_error naming the layer and micro-batch;
// bad inputs (layer range, token ids) throw adaptis::InputError.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/planner/plan.h"

namespace adaptis::exec {

struct AdamW {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.95f, eps = 1e-8f, weight_decay = 0.1f;
};

class StageCompute {
 public:
  // Layers [first_layer, last_layer) of the model; num_microbatches sizes per-micro-batch state and the
  // loss scaling (the loss is the mean over micro-batches). Validates cfg (InputError).
  static std::unique_ptr<StageCompute> create(const NetConfig& cfg, int first_layer, int last_layer,
                                              int num_microbatches);
  virtual ~StageCompute() = default;

  virtual bool is_first() const = 0;  // holds the embedding: forward reads tokens
  virtual bool is_last() const = 0;   // holds the LM head: forward produces the loss
  virtual size_t activation_floats() const = 0;

  // F: `input` is the previous stage's output (ignored for the first stage, which reads data.tokens);
  // writes `output` (ignored for the last stage, which computes the loss from data.targets). Saves what
  // B and W need for this micro-batch.
  virtual void forward(int mb, const MicroBatchData& data, const float* input, float* output) = 0;
  // B: from the gradient of this stage's output (ignored for the last stage, which starts from the loss),
  // writes the gradient of its input (ignored for the first stage). Frees what only B needed.
  virtual void backward_input(int mb, const MicroBatchData& data, const float* grad_output, float* grad_input) = 0;
  // W: this micro-batch's weight gradients. Frees the rest of the micro-batch's saved state.
  virtual void backward_weight(int mb) = 0;

  // This stage's share of micro-batch mb's loss (unscaled by 1/m), valid from its forward on: the
  // cross-entropy on the last stage plus the aux losses of this stage's MoE layers (0 for a stage with
  // neither). A micro-batch's loss is the sum over stages; use microbatch_loss() below for a value bitwise
  // equal to a single-stage model's loss(mb).
  virtual double loss(int mb) const = 0;
  // The same share as one term per loss-producing layer, in layer order (default: {loss(mb)}).
  virtual std::vector<double> loss_terms(int mb) const { return {loss(mb)}; }
  virtual void zero_grad() = 0;
  virtual void finish_backward() = 0;  // adds per-micro-batch weight grads, in micro-batch order, to grads()
  virtual void step(const AdamW& opt, int step_index) = 0;  // step_index counts from 0 (bias correction)

  virtual std::span<const float> params() const = 0;
  virtual std::span<const float> grads() const = 0;  // valid after finish_backward()
  // Names and [offset, size) of each parameter tensor in params()/grads(), e.g. "layers.3.attn.wq".
  struct Tensor {
    std::string name;
    size_t offset, size;
  };
  virtual const std::vector<Tensor>& tensors() const = 0;
  // Bytes held for saved activations (and B->W carried gradients) right now (for memory reporting).
  virtual size_t saved_bytes() const = 0;

  // --- Data parallelism (data_parallel.h). The CPU stage implements these; others throw logic_error. ---
  // grads() = `partial` + the per-micro-batch weight gradients of micro-batches [first_mb, first_mb + count),
  // added in micro-batch order: one link of a chained all-reduce whose summation order is a single-device
  // run's. Every one of those micro-batches must have run W.
  virtual void finish_backward_onto(std::span<const float> partial, int first_mb, int count);
  // Overwrites grads() (the broadcast half of the all-reduce).
  virtual void load_grads(std::span<const float> grads);
  // AdamW on parameter elements [begin, end) with the moment buffers `m`, `v` (end - begin elements each):
  // step() is this over every element with the stage's own moments, so a ZeRO-1 shard steps bitwise alike.
  virtual void step_shard(const AdamW& opt, int step_index, size_t begin, size_t end, std::span<float> m,
                          std::span<float> v);
  // Overwrites parameter elements [begin, begin + values.size()) (ZeRO-1's all-gather of updated shards).
  virtual void load_params(size_t begin, std::span<const float> values);
  // Memory policies (Plan::memory; the runtime sets them before the first F). With recompute, F drops the
  // saved state of some layers right after running them, keeping only the input of each run of dropped
  // layers (none for a run starting at the embedding: the tokens are the micro-batch's data; for a packed
  // unit, its own tokens x hidden, not the whole micro-batch buffer), and R
  // (recompute) re-runs those layers from the kept inputs, re-creating their state bit for bit: Full drops
  // the stage's layers [first_layer, full_end) (full_end < 0 = all of them), Selective drops its MLP and MoE
  // layers (the cost model's selective recompute), None drops nothing. `microbatches` (per-unit
  // checkpointing, ascending): only these micro-batches drop and recompute, the others keep everything;
  // empty = every one. The default stage cannot recompute (std::logic_error for anything but None).
  virtual void set_recompute(Recompute policy, int full_end, const std::vector<int>& microbatches);
  void set_recompute(Recompute policy, int full_end) { set_recompute(policy, full_end, {}); }  // every micro-batch
  // R: re-creates what F dropped for micro-batch mb (after its F, before its B). std::logic_error for a
  // micro-batch the stage does not recompute.
  virtual void recompute(int mb, const MicroBatchData& data);
  // What micro-batch mb holds right now: saved activations, carried gradients and kept inputs (0 by default).
  virtual size_t saved_bytes(int mb) const;
  // Key/value gradient carries held right now for micro-batches other than mb (Layer::carried_bytes_besides):
  // what a slice's B adds to the earlier slices it read, beside its own saved_bytes(mb). 0 by default.
  virtual size_t carried_bytes_besides(int mb) const;
  // Every buffer micro-batch mb holds right now that an offload may move to host memory, float and integer
  // ones apart, largest concerns first (kept inputs, then layer by layer; not a slice's keys and values that
  // later slices read, nor their gradient carries: Layer::for_each_offloadable). Nothing by default.
  using FloatVisitor = std::function<void(std::vector<float>&)>;
  using IntVisitor = std::function<void(std::vector<int32_t>&)>;
  virtual void for_each_saved(int mb, const FloatVisitor& f, const IntVisitor& g);
};

// What a recompute policy drops in a stage over layers [first, last) of cfg, stage-local: per layer whether F
// drops its state (Full: the layers before full_end, every layer when full_end < 0; Selective: the MLP and MoE
// blocks; None: nothing), and the runs [begin, end) of consecutive dropped layers, each of which keeps its
// input for R. The CPU stage and the GPU stage drop the same layers.
struct DroppedLayers {
  std::vector<char> drop;
  std::vector<std::pair<int, int>> runs;
};
DroppedLayers dropped_layers(const NetConfig& cfg, int first, int last, Recompute policy, int full_end);

// Micro-batch mb's loss from all stages of a pipeline (given in stage order): the loss terms summed in
// global layer order, so the result is bitwise equal to a single-stage model's loss(mb).
double microbatch_loss(const std::vector<const StageCompute*>& stages_in_order, int mb);

// A step's loss from its micro-batch losses: sum of weights[i] * mb_losses[i] in micro-batch order
// (Program::mb_loss_weight, unit_loss_weights), or their mean when `weights` is empty. std::logic_error
// when the sizes differ.
double step_loss(const std::vector<double>& mb_losses, const std::vector<double>& weights);

}  // namespace adaptis::exec
