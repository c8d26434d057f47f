#pragma once
// Per-layer F / B / W timing of the executor's real layers on this machine's CPU (the GPU twin is
// gpu_profiler.h), as a CostTable the planner
// reads like any other cost file: `adaptis profile --backend cpu --model M --out costs.json`, then
// `adaptis simulate --costs costs.json` predicts what `adaptis run --backend cpu` measures.
//
// Method: every layer becomes its own one-layer stage; each repetition runs one training iteration through
// the chain (F of every layer in order, feeding each the previous layer's real output; then B in reverse
// order with real output gradients; then W), timing each call on the steady clock. Warm-up repetitions are
// dropped and the median of the rest is kept. Each call is timed twice: on the steady clock (wall) and by the
// thread's CPU clock. The costs are the CPU-time medians by default: on a shared machine a call's wall time
// includes the time the thread sat preempted, which says how busy the machine was, not what the layer costs;
// the CPU time is what the layer costs on a core of its own (on an idle machine both agree). Memory figures
// come from the stage's own accounting: parameters, and saved bytes after F and after B; and for recompute, the
// bytes F keeps under selective and under full recompute and the time selective's R takes (each layer run
// again with that policy on the same inputs). profile_cpu also measures each row's kv_bytes: the keys and values
// a recomputed slice that later slices read keeps from its F until its B.
#include <string>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/cost_table.h"

namespace adaptis::prof {

struct CpuProfileOptions {
  int repeats = 7;  // timed repetitions per layer (the median is kept)
  int warmup = 1;   // untimed repetitions first
  // Rows: one per model spec layer (a transformer block = one row, as `simulate --model` counts), or with
  // split_blocks one per executor layer (attention and mlp apart). See plan_layer_units.
  bool split_blocks = false;
  bool wall_clock = false;  // costs from the wall-time medians instead of the thread CPU time
};

// Raw samples of one layer, in ms (for reports and tests).
struct LayerSamples {
  std::vector<double> f_ms, b_ms, w_ms;              // wall time
  std::vector<double> f_cpu_ms, b_cpu_ms, w_cpu_ms;  // thread CPU time
};

// Profiles layers [0, num_layers) built by `make` on data from `data`. `names`/`kinds` label the rows (may be
// empty). `samples`, when given, receives every timed sample. InputError on bad options.
CostTable profile_layers(int num_layers, const exec::StageFactory& make, const exec::DataSource& data,
                         const CpuProfileOptions& opt, const std::vector<std::string>& kinds = {},
                         std::vector<LayerSamples>* samples = nullptr);

// The real layers of `cfg`, one row per plan layer unit (plan_layer_units(cfg, opt.split_blocks)): each
// row is timed as one stage over that unit's layers. Source "cpu-profile:<host>", model cfg.name. kv_bytes
// per row: what that stage keeps after F of the reference micro-batch under full recompute when a later
// slice reads it, minus what it keeps when none does (0 for rows without attention). act_score_bytes (and,
// where the stage can recompute, kept_selective_score_bytes) per row: the attention probabilities F keeps,
// from what F of the reference micro-batch keeps beside F of its tokens as one-token sequences. Sets the
// reference tokens_per_microbatch and pairs_per_microbatch (micro_batch rows of seq tokens).
CostTable profile_cpu(const exec::NetConfig& cfg, const CpuProfileOptions& opt = {}, std::vector<LayerSamples>* samples = nullptr);

// Variable-length units: splits each row's F / B / W time of `table` (profile_cpu of the same cfg and
// options) into a part every micro-batch pays once (loops, allocation, per-call overheads), a part that grows
// with tokens and one that grows with causal attention pairs. Every row is timed again on micro-batches of
// several shapes: the reference tokens as micro_batch rows of seq and as one-token sequences, and half and a
// quarter of them as sequences of up to seq tokens and as one-token sequences, the shapes interleaved
// (shape_timing.h); per row and pass, fit_cost_split (cost_split_fit.h) fits fixed + a T + b Q to them by
// least squares through the reference, every part >= 0, and the parts are scaled to the table's time.
// Only rows holding attention get a pair part, and not in W (its weight GEMMs run over tokens). Costs
// (warmup + repeats) training iterations of the model per shape, about 3.5 reference iterations' work
// per repetition. Sets the table's reference tokens_per_microbatch and pairs_per_microbatch. Returns the rows
// that got a pair part fitted (those holding attention; 0 for seq 1, where pairs grow like tokens).
int split_attention_pairs(CostTable& table, const exec::NetConfig& cfg, const CpuProfileOptions& opt = {});

}  // namespace adaptis::prof
