#pragma once
// Per-layer F / B / W timing of the executor's real layers on this machine's CPU, as a CostTable the planner
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
// come from the stage's own accounting: parameters, and saved bytes after F and after B.
#include <string>
#include <vector>

#include "adaptis/executor/runtime.h"
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/simulator.h"

namespace adaptis::exec {

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
CostTable profile_layers(int num_layers, const StageFactory& make, const DataSource& data,
                         const CpuProfileOptions& opt, const std::vector<std::string>& kinds = {},
                         std::vector<LayerSamples>* samples = nullptr);

// The real layers of `cfg`, one row per plan layer unit (plan_layer_units(cfg, opt.split_blocks)): each
// row is timed as one stage over that unit's layers. Source "cpu-profile:<host>", model cfg.name.
CostTable profile_cpu(const NetConfig& cfg, const CpuProfileOptions& opt = {}, std::vector<LayerSamples>* samples = nullptr);

// The same with the per-unit split (LayerCost's *_pair_ms, CostTable::ref_tokens / ref_pairs) that plans over
// variable-length units need: the rows are timed on one document of micro_batch * seq tokens (the reference)
// and again on the same tokens packed as 4 documents (a quarter of the attention pairs, the same token work);
// the time difference per pair is each pass's pair part. Layers without attention come out with a pair
// part near 0 (measurement noise is clamped at 0 and at the pass's time).
CostTable profile_cpu_units(const NetConfig& cfg, const CpuProfileOptions& opt = {});

// The machine a CPU run executes on, as the simulator sees it: `devices` identical threads (speed 1, the
// profile's times as measured), sharing this machine's memory, linked by in-process copies (latency of a
// mailbox hand-over, bandwidth of memcpy).
Cluster cpu_thread_cluster(int devices);
// Simulator settings for CPU runs: a SEND is a copy done by the sending thread (no overlap with its compute).
SimOptions cpu_sim_options();

}  // namespace adaptis::exec
