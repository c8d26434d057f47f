#pragma once
// Activation recomputation and offload in closed form: each layer's recompute costs with their
// defaults when a cost file does not give them, and the published per-layer formulas the analytical
// model is checked against.
#include "adaptis/model/cost_table.h"

namespace adaptis {

// What recomputing one layer keeps and costs, every field resolved.
struct LayerRecompute {
  double kept_none = 0;       // act_b_bytes + act_w_bytes: everything F keeps
  double kept_selective = 0;  // kept under selective recompute
  double selective_ms = 0;    // F time of what selective recomputes
  double kept_full = 0;       // kept when a fully recomputed block starts at this layer (its input)
  double kv = 0;              // keys and values (LayerCost::kv_bytes), everything F keeps when unknown
  // Of kept_none and kept_selective: the attention scores (LayerCost::act_score_bytes), which grow with a
  // unit's attention area rather than its tokens. A full recompute block keeps its input: no scores.
  double score_none = 0;
  double score_selective = 0;
};

// The layer's recompute fields, with conservative defaults for those a cost file leaves out (a
// profile that only has times, such as the AdaPtis authors', or a file from an older version):
//   - kept_selective_bytes unknown: selective drops nothing (kept = everything) and, unless
//     recompute_selective_ms is given, costs nothing, so it is the same as no recompute; given
//     without a time, it costs the layer's whole F;
//   - kept_full_bytes unknown: the previous layer's output (this layer's input) when known, else
//     this layer's own output (a residual-stream layer reads what it writes), else everything F
//     keeps (no saving);
//   - kv_bytes unknown: everything F keeps (a slice read by later slices saves nothing by recomputing);
//   - kept_selective_score_bytes unknown: as much of the scores as fits in kept_selective;
// and every kept figure capped at kept_none (a checkpoint never keeps more than F does).
LayerRecompute layer_recompute(const CostTable& costs, int layer);

// A times-only profile (the AdaPtis authors' format gives F/B/W and nothing else) completed with the
// memory figures of an analytical table of the same model: profile layer i takes the bytes of as many
// consecutive `memory` layers as its kind has '+'-joined parts ("M+E" = the embedding and a Mamba layer,
// "-+H" = an MLP and the LM head), summed (kv_bytes and the score bytes too; out_bytes and kept_full_bytes from the last and the first
// of them; recurrent when any of them is); selective recompute time is the profiled F scaled by the analytical
// share of F it recomputes. Times stay the profile's. InputError naming both tables when the layers do not add up.
CostTable attach_memory(const CostTable& times, const CostTable& memory);

// --- Korthikanti et al., "Reducing activation recomputation in large transformer models" --------
// Bytes of activations one transformer layer keeps per micro-batch, 16-bit activations, with
// dropout and a materialised attention matrix (the 5as/h term), s sequence length, b micro-batch
// size, h hidden size, a heads, t tensor-parallel size (sequence parallel or not).
struct TransformerDims {
  double s = 0, b = 0, h = 0, a = 0;
  double t = 1;
  bool sequence_parallel = false;
};
enum class RecomputeGranularity { None, Selective, Full };

// None: sbh(34 + 5as/h) (t = 1), sbh(10 + 24/t + 5as/(ht)) with TP, sbh/t (34 + 5as/h) with TP + SP;
// selective: 34sbh, sbh(10 + 24/t), 34sbh/t; full: 2sbh (the layer input only).
double korthikanti_activation_bytes(const TransformerDims& d, RecomputeGranularity g);

// Fraction of extra FLOPs selective recompute costs: the recomputed QK^T and attention over V
// (4bs^2h per layer) over the layer's forward and backward (72bsh^2 to first order), s / (6h).
double selective_recompute_flops_overhead(double s, double h);

// Time of F + B with the layer's forward recomputed before B, over F + B: (2f + b) / (f + b)
// (4/3 for a GEMM-only layer with B = 2F).
double full_recompute_time_factor(double f_ms, double b_ms);

// One configuration's F + B time over a baseline's (measured ratios such as Korthikanti's Table 4).
double layer_time_ratio(double f_ms, double b_ms, double base_f_ms, double base_b_ms);

// PipeOffload's feasibility ratio k = T_offload / T_compute = 10 / (3 (6h + s)) * B_compute / B_host
// (round-trip copy of a layer's activations over its F + B compute); k <= 1 means every activation
// can be offloaded with no throughput cost.
double pipeoffload_ratio(double h, double s, double flops_per_s, double host_bytes_per_s);

}  // namespace adaptis
