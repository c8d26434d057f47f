#pragma once
// What one layer does per micro-batch, device-independent: the kernels of its forward (F),
// input-gradient (B) and weight-gradient (W) passes with their FLOPs and HBM bytes, its parameter
// count, and the activation memory it keeps between passes. cost_model.h turns this into time on a
// device; tests check it against closed-form formulas.
//
// Conventions:
// - A GEMM Y[m,n] = X[m,k] W[k,n] is 2mkn FLOPs; its B (dX = dY W^T) and W (dW = X^T dY) are the
//   same FLOPs again. Norm-weight and bias gradients are cheap and run in B (as in Megatron-ZB).
// - Attention is causal flash attention: QK^T and PV over the keys each query sees ((s+1)/2 on average),
//   the backward 2.5x the forward FLOPs, all of it B (no weights). flash_attention = false: Megatron's
//   unfused core (the whole s x s square; softmax and dropout passes through HBM; unfused_attention).
// - Elementwise kernels (norms, activations, rotary, softmax/cross-entropy, residual adds, MoE
//   permutes, convolutions) are counted as HBM bytes only; their backward moves about twice the bytes.
// - Activations (bf16 unless noted, dropout masks 1 byte; no recomputation or tensor/sequence parallelism):
//   every tensor a backward kernel reads is kept from F. The linear-layer inputs (X) are kept until
//   W; everything else is freed by B. B also creates the output gradients dY of each linear, which W
//   needs (the Zero Bubble paper's "W needs 32sbh" for a GPT layer = 7h of X + 9h of dY per token).
// - The LM head keeps the fp32 softmax of the logits from F to B (Megatron's cross-entropy saves
//   it; mbs * seq * vocab * 4 bytes) and its dlogits from B to W.
//
// Recomputation. With flash attention, Korthikanti et al.'s per-layer sbh(34 + 5as/h) (the unfused core
// with dropout gives it) has no 5as/h term: flash keeps only q, k, v, its output and the row
// statistics, and already recomputes the attention matrix in its backward; recomputing the
// attention core ("selective" in Megatron's original sense) would save nothing. Selective
// recompute is therefore defined on this saved-tensor inventory as checkpointing every MLP / MoE
// block at its input:
//   - dense MLP: drops the pre-norm's statistics and output (the up/gate projections' X), the
//     up/gate projection output (the activation's input) and the activation output (the down
//     projection's X); keeps the block input;
//   - MoE: drops the pre-norm's statistics and output, the router probabilities and routing
//     indices, the permuted tokens, every routed and shared expert's up/gate and activation
//     outputs and the expert outputs; keeps the block input;
//   - with flash_attention = false it also drops what the unfused core keeps (softmax output, dropout
//     mask and output; re-created by the core's forward kernels), the term flash attention removes.
// R (the recompute action) re-runs those blocks' forward kernels (`selective`). Attention, Mamba,
// embedding and LM head tensors are kept. Full recompute keeps only the input of the first layer
// of the recomputed block (`input_bytes`: the residual stream, or the token ids of an embedding)
// and re-runs the whole forward.
#include <string>
#include <vector>

#include "adaptis/model/model_spec.h"

namespace adaptis {

enum class KernelClass {
  Gemm,           // dense matrix multiply on tensor cores
  GroupedGemm,    // MoE expert GEMMs over per-expert token slices
  AttentionFwd,   // flash-attention forward core
  AttentionBwd,   // flash-attention backward core
  ScanFwd,        // selective scan / SSD forward
  ScanBwd,        // selective scan / SSD backward
  Memory,         // elementwise / data movement: bytes only
};

const char* kernel_class_name(KernelClass c);

struct Kernel {
  std::string name;  // "attention.qkv", "mlp.down", ...
  KernelClass cls = KernelClass::Memory;
  double flops = 0;
  double bytes = 0;  // HBM traffic (reads + writes)
  // GEMM shape Y[m, n] = X[m, k] W[k, n] (0 for other kernels): parallel_costs.h scores the
  // efficiency lost when tensor/context parallelism shrinks it.
  double m = 0, n = 0, k = 0;
};

struct PassWork {
  std::vector<Kernel> kernels;
  double flops() const;
  double bytes() const;
};

struct LayerWork {
  PassWork f, b, w;
  double params = 0;           // parameters (elements), counted once: a tied LM head counts 0
  double resident_params = 0;  // parameters held on the layer's device (a tied head keeps a copy)
  // Bytes per micro-batch, matching LayerCost (cost_table.h).
  double act_b_bytes = 0;   // kept from F until B ends
  double act_w_bytes = 0;   // kept from F until W ends (the linear layers' inputs)
  double w_grad_bytes = 0;  // created by B and kept until W ends (the linear layers' output grads)
  double out_bytes = 0;     // output sent to the next layer / stage
  // Recomputation (see above): what selective recompute drops and the kernels that re-create it,
  // and the layer's input (what full recompute keeps).
  double selective_dropped_bytes = 0;
  PassWork selective;
  double input_bytes = 0;
  // Keys and values as the attention core reads them (what later slices of a sequence attend to).
  double kv_bytes = 0;
  // Of act_b_bytes: the scores an unfused attention core keeps for B (they grow with the square of the
  // sequence; 0 with flash attention). Selective recompute drops exactly these.
  double score_bytes = 0;
};

LayerWork layer_work(const LayerSpec& layer, const ModelSpec& model);

// Parameters (elements) of one component, with its norm weights: what layer_work sums.
double component_params(const Component& c);

}  // namespace adaptis
