#pragma once
// How one layer pass's time splits for variable-length units (planner/units.h prices a unit of T tokens and
// Q causal pairs as fixed + token_part * T / T_ref + pair_part * Q / Q_ref): a least-squares fit of that
// line to the pass timed on micro-batches of several shapes.
//
// The fit passes through the reference micro-batch (the parts sum to its time) and keeps every part
// non-negative: with t = T / T_ref and q = Q / Q_ref it minimises, over the shapes,
//     sum_i ((ms_i - (fixed + token_part * t_i + pair_part * q_i)) / ms_i)^2
// subject to fixed + token_part + pair_part = ref_ms and all three >= 0. The residuals are relative
// because timing noise grows with the time: the small shapes, which tell the fixed part from the token
// part, would otherwise count for little. A two-variable problem over a triangle, solved exactly.
#include <vector>

namespace adaptis::prof {

// One shape's measured time (ms) of the pass: tokens T and causal attention pairs Q of the micro-batch.
struct ShapeTime {
  double tokens = 0, pairs = 0, ms = 0;
};

// The pass's time at the reference micro-batch, split in three (ms, summing to the reference time).
struct CostSplit {
  double fixed_ms = 0, token_ms = 0, pair_ms = 0;
  double total() const { return fixed_ms + token_ms + pair_ms; }
};

// Fits the split of `ref_ms` (the pass at ref_tokens, ref_pairs) to `shapes`. With pairs == false the pair
// part stays 0 (a pass no work of which grows with pairs: a difference would be noise). Shapes with a
// non-positive or non-finite time are ignored; with none left (or ref_ms <= 0) everything is the token part.
// Throws InputError when ref_tokens <= 0, or when pairs is true and ref_pairs <= 0.
CostSplit fit_cost_split(const std::vector<ShapeTime>& shapes, double ref_tokens, double ref_pairs, double ref_ms,
                         bool pairs);

}  // namespace adaptis::prof
