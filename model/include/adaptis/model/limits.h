#pragma once
// Hard limits on what an input may describe, checked where files are read (before anything is
// allocated from the numbers in them). Each is far above any real training job and low enough that
// the tool's memory stays bounded and no sum over an input can overflow to inf.
#include <cstddef>

namespace adaptis {

// Layers in a model spec, cost table or partition.
constexpr long long kMaxLayers = 100000;
// Micro-batches per iteration (a plan file, a CSV, a cost file's "microbatches").
constexpr long long kMaxMicrobatches = 1000000;
// Devices in a cluster or a plan, and stages of a plan.
constexpr long long kMaxDevices = 1 << 20;
constexpr long long kMaxStages = kMaxLayers;
// Actions (F, B, W, BW) in one imported or loaded plan: ~12 bytes each in the plan, ~100 in the
// simulator, so the largest plan stays within a few GB.
constexpr long long kMaxPlanActions = 20000000;

// One layer's pass time in ms (~11.6 days) and any byte count (2^60) after unit scaling: larger
// values are typos, and keeping every value below them keeps sums over kMaxLayers layers x
// kMaxMicrobatches micro-batches finite.
// Variable-length data (sequence_lengths.h, Plan::units): tokens of one sequence (2^32, far past any
// context) and sequences in one iteration.
constexpr long long kMaxSequenceTokens = 1LL << 32;
constexpr long long kMaxSequences = 10000000;
constexpr long long kMaxBatchTokens = 1LL << 40;  // tokens in one iteration's global batch

constexpr double kMaxLayerTimeMs = 1e9;
constexpr double kMaxBytes = 1152921504606846976.0;  // 2^60

}  // namespace adaptis
