#pragma once
// Per-layer F / B / W times of micro-batches of several shapes (token counts and sequence lengths), the
// measurements behind the CPU profile's variable-length split (split_attention_pairs).
#include <array>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/profiler/cpu_profiler.h"

namespace adaptis::prof {

// A micro-batch shape: its sequence lengths (they sum to its tokens).
struct BatchShape {
  std::vector<int> seq_lens;
  double tokens() const;
  double pairs() const;  // causal attention pairs: s^2 / 2 per sequence of s tokens
};

// The shapes the split is fitted to, for cfg's reference micro-batch of micro_batch rows of seq tokens:
// [0] the reference itself, then the reference tokens as one-token sequences, then half and a quarter of
// the tokens as sequences of up to seq tokens and as one-token sequences (each only when it has >= 1
// token and differs from the shapes before it).
std::vector<BatchShape> split_shapes(const exec::NetConfig& cfg);

// cfg's synthetic micro-batch (make_microbatch) cut to the shape's tokens and packed as its sequences.
exec::MicroBatchData shaped_microbatch(const exec::NetConfig& cfg, const BatchShape& shape, int step);

// out[shape][layer] = {F, B, W} median in ms (thread CPU time, or wall time with opt.wall_clock) over
// opt.repeats repetitions after opt.warmup untimed ones. Each repetition runs one training iteration
// (F of every layer, B in reverse, W) per shape, the shapes interleaved in a rotating order so a slow
// moment of a shared machine falls on every shape alike rather than on one. The shapes are one micro-batch
// each of the same stages, all in flight until the repetition's finish_backward as in a run, and timed on
// a thread of its own like a run's device.
std::vector<std::vector<std::array<double, 3>>> time_shapes(const exec::NetConfig& cfg, int num_layers,
                                                            const exec::StageFactory& make,
                                                            const std::vector<BatchShape>& shapes,
                                                            const CpuProfileOptions& opt);

}  // namespace adaptis::prof
