#pragma once
// Internal to the optimizer: the search behind `OptimizeOptions::target = Megatron`.
//
// Megatron-LM fixes the placement (looped: stage s on rank s mod p) and the per-device order
// (1F1B with one stage per rank; interleaved 1F1B with v stages per rank and a micro-batch group
// size g otherwise), so what a Megatron user can choose is v, g and the layers of every stage (any
// uneven --pipeline-model-parallel-layout). The search enumerates every valid (v, g), each with its
// one order generated exactly as Megatron runs it, scores each with balanced and even partitions,
// then improves the partitions of the most promising structures by hill-climbing over layer
// boundaries, every step judged by the simulator. Deterministic: no randomness, and the budgets are
// checked between fixed units of work (a time-cut result says so).
#include <atomic>

#include "adaptis/planner/optimizer.h"

namespace adaptis::opt {

OptimizeResult megatron_optimize(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o,
                                 const OptimizeCallback& on_progress, const std::atomic<bool>* cancel);

}  // namespace adaptis::opt
