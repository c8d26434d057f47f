#pragma once
// The single-device reference: one StageCompute spanning every layer, micro-batches run one after another
// (F, B, W of micro-batch 0, then 1, ...), gradients finished in micro-batch order, then one AdamW step.
// Pipelined runs of the same NetConfig, corpus and AdamW settings must match it bitwise (loss per step,
// every gradient, the parameters after each step).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "adaptis/executor/stage_compute.h"
#include "adaptis/planner/unit.h"

namespace adaptis::exec {

struct ReferenceOptions {
  int steps = 1;
  int microbatches = 4;
  AdamW opt;
  std::vector<int32_t> corpus;  // byte tokens (load_text_corpus); empty = synthetic data
  // Variable-length data: micro-batch u is unit u packed (unit_data), `microbatches` is then units.size()
  // and a step's loss the iteration's mean token loss (step_loss with unit_loss_weights). The slices of a
  // row run F in slice order, then B and W from the last slice to the first.
  std::vector<WorkUnit> units;
};

struct ReferenceStep {
  double loss = 0;                   // step_loss of the micro-batch losses (cross-entropy + aux)
  std::vector<double> microbatch_loss;
  double grad_norm = 0;              // L2 norm of the gradients before the AdamW step
};

struct ReferenceRun {
  std::vector<ReferenceStep> steps;
  // The trained model: params() after the last step; grads() the last step's gradients.
  std::unique_ptr<StageCompute> model;
};

// Runs opts.steps steps; `on_step(step_index, model)`, when given, is called after finish_backward() and
// before the AdamW step (e.g. to snapshot step 0's gradients). Throws InputError on a bad config or corpus.
ReferenceRun train_reference(const NetConfig& cfg, const ReferenceOptions& opts,
                             const std::function<void(int, const StageCompute&)>& on_step = {});

// L2 norm of a float span, accumulated in double in index order.
double l2_norm(std::span<const float> values);

}  // namespace adaptis::exec
