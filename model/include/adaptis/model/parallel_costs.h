#pragma once
// Per-GPU layer costs of one pipeline replica under a parallel configuration (parallel_config.h):
// what the simulator and the optimizer plan with once tensor, context, expert and data parallelism
// surround the pipeline.
//
// One GPU of a layer's tensor-parallel group of t, context-parallel group of c:
// - Work: the layer with its heads, query groups, FFN / expert / Mamba widths and vocabulary
//   divided by t (Megatron's column/row-parallel split; attention's q_down/kv_down, norms, routers
//   and residuals stay whole), its tokens divided by c (load-balanced causal ring attention splits
//   the attention pairs evenly too), its experts divided by ep. With sequence parallelism the
//   norms and residual adds also run on 1/t of the tokens.
// - GEMM efficiency: a GEMM whose smallest dimension shrinks from x to x' runs at
//   f(x') / f(x) of its unsplit rate, f(x) = x / (x + gemm_shape_knee) (KernelEfficiency).
// - Tensor-parallel collectives, timed on the intra-node fabric (cluster_topology.h): per micro-batch
//   one all-reduce of the layer's b*s/c x h activation (bf16) in F and one in B for each attention,
//   MLP, MoE and Mamba block (with sequence parallelism a reduce-scatter + all-gather of the same
//   total time); the embedding all-reduces its output in F, the LM head its input gradient in B.
//   They block the compute stream, so they are added to F and B; W (weight gradients) has none.
// - Context parallelism: ring attention passes each rank's K/V chunk c-1 times in F (K/V and their
//   gradients in B); each step overlaps one step of attention, only the excess is added.
// - Expert parallelism: each MoE block does an all-to-all dispatch and combine of its routed tokens
//   (b*s/c * top_k x h, divided by t with sequence parallelism) in F and again in B.
// - Recomputation: selective re-runs the attention core inside B and drops the attention scores it
//   saved; full re-runs the whole forward (its collectives too) inside B and keeps only the layer's
//   input from F to B.
// - Memory: activations from the split layer (all of them / t with sequence parallelism, / c);
//   static state = resident parameters x zero_bytes_per_param (ZeRO-3 adds the gathered weights of
//   the layer in flight); the boundary activation sent to the next stage / t (Megatron's
//   scatter/gather of pipeline sends).
// - Data parallelism: grad_bytes (this GPU's gradients, fp32 or bf16 as configured) for the
//   simulator's gradient sync, gather_bytes for ZeRO-3, and the optimizer step time (Adam moves
//   about 30 bytes per parameter of the GPU's optimizer shard through HBM).
// A config with every degree 1, no recomputation and ZeRO 0 gives exactly analytical_costs().
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/model/parallel_config.h"

namespace adaptis {

// The layer as one tensor-parallel rank (and expert-parallel rank) holds it.
LayerSpec shard_layer(const LayerSpec& layer, int tp, int ep);

// Per-GPU costs of every layer for config `p` on `cluster` (its first device is the reference;
// times are expressed on a speed-1.0 device, as load_model_costs does). The table's microbatches,
// tokens_per_microbatch and model_flops_per_microbatch describe one replica's micro-batches.
// Validates `p` against the model and the cluster first (InputError naming the field).
CostTable parallel_costs(const ModelSpec& model, const Cluster& cluster, const ParallelConfig& p);

// Re-derives the data-parallel parts of per-GPU costs made by parallel_costs() (static state,
// gradient and gather bytes, optimizer time) for p's ZeRO level and data-parallel degree, from the
// per-layer parameters (LayerCost::Parallel::params): what parallel_costs() does last, so a search
// can reuse one split for every (zero, dp).
void apply_data_parallel(CostTable& costs, const ModelSpec& model, const Cluster& cluster, const ParallelConfig& p);

// The devices one pipeline replica runs on, one per pipeline rank: the first GPU of rank k's
// tensor-parallel group (global rank k * tp * cp * dp), so pipeline sends cross nodes exactly when
// the real ranks do. Keeps the cluster's links, topology and efficiencies.
Cluster replica_cluster(const Cluster& cluster, const ParallelConfig& p);

// F + B + W FLOPs of the whole model for one micro-batch of `micro_batch_size` sequences, without
// recomputation or parallelism (what MFU counts).
double model_flops_per_microbatch(const ModelSpec& model, int micro_batch_size);

}  // namespace adaptis
