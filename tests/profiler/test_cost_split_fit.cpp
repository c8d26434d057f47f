// The fit behind the CPU profile's variable-length split (cost_split_fit.h), on synthetic timings: it
// recovers a known fixed / token / pair split, keeps the parts non-negative and summing to the reference
// time, and stays close under timing noise.
#include <gtest/gtest.h>

#include <random>

#include "adaptis/model/error.h"
#include "adaptis/profiler/cost_split_fit.h"

namespace adaptis::prof {
namespace {

// The shapes the CPU profile times, for a reference micro-batch of 2 rows of 32 tokens: the reference,
// the same tokens as one-token sequences, and 32 and 16 tokens as whole sequences and as one-token ones.
struct Shape {
  double tokens, pairs;
};
const std::vector<Shape> kShapes = {{64, 1024}, {64, 32}, {32, 512}, {16, 128}, {32, 16}, {16, 8}};
constexpr double kRefTokens = 64, kRefPairs = 1024;

std::vector<ShapeTime> timed(double fixed, double per_token, double per_pair, double noise = 0, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> jitter(-noise, noise);
  std::vector<ShapeTime> out;
  for (const Shape& s : kShapes)
    out.push_back({s.tokens, s.pairs, (fixed + per_token * s.tokens + per_pair * s.pairs) * (1 + jitter(rng))});
  return out;
}

TEST(CostSplitFit, RecoversAKnownSplit) {
  const double fixed = 0.05, per_token = 0.004, per_pair = 0.0002;
  const double ref = fixed + per_token * kRefTokens + per_pair * kRefPairs;
  const CostSplit s = fit_cost_split(timed(fixed, per_token, per_pair), kRefTokens, kRefPairs, ref, true);
  EXPECT_NEAR(s.fixed_ms, fixed, 1e-9);
  EXPECT_NEAR(s.token_ms, per_token * kRefTokens, 1e-9);
  EXPECT_NEAR(s.pair_ms, per_pair * kRefPairs, 1e-9);
  EXPECT_NEAR(s.total(), ref, 1e-12);
}

TEST(CostSplitFit, WithoutPairsSplitsFixedFromTokens) {
  const double fixed = 0.2, per_token = 0.01;
  const double ref = fixed + per_token * kRefTokens;
  const CostSplit s = fit_cost_split(timed(fixed, per_token, 0), kRefTokens, 0, ref, false);
  EXPECT_EQ(s.pair_ms, 0.0);
  EXPECT_NEAR(s.fixed_ms, fixed, 1e-9);
  EXPECT_NEAR(s.token_ms, per_token * kRefTokens, 1e-9);
}

TEST(CostSplitFit, StaysCloseUnderFivePercentNoise) {
  const double fixed = 0.05, per_token = 0.004, per_pair = 0.0002;
  const double ref = fixed + per_token * kRefTokens + per_pair * kRefPairs;  // 0.51 ms: 0.256 tokens, 0.2048 pairs
  for (unsigned seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const CostSplit s = fit_cost_split(timed(fixed, per_token, per_pair, 0.05, seed), kRefTokens, kRefPairs, ref, true);
    EXPECT_NEAR(s.total(), ref, 1e-12);
    EXPECT_NEAR(s.fixed_ms, fixed, 0.02);  // 0.007 at worst over these seeds
    EXPECT_NEAR(s.pair_ms, per_pair * kRefPairs, 0.03);  // 0.013 at worst
    EXPECT_GE(s.fixed_ms, 0.0);
    EXPECT_GE(s.token_ms, 0.0);
    EXPECT_GE(s.pair_ms, 0.0);
  }
}

TEST(CostSplitFit, PartsStayNonNegativeAndSumToTheReference) {
  // Small shapes dearer per token than the line through the reference allows without a fixed part.
  std::vector<ShapeTime> superlinear;
  for (const Shape& s : kShapes) superlinear.push_back({s.tokens, s.pairs, 0.001 * s.tokens * s.tokens});
  const double ref = 0.001 * kRefTokens * kRefTokens;
  CostSplit s = fit_cost_split(superlinear, kRefTokens, kRefPairs, ref, true);
  EXPECT_EQ(s.fixed_ms, 0.0);  // the unconstrained fit wants a negative fixed part
  EXPECT_GE(s.token_ms, 0.0);
  EXPECT_GE(s.pair_ms, 0.0);
  EXPECT_NEAR(s.total(), ref, 1e-12);

  // Shapes with more pairs are cheaper: the pair part stays 0 rather than negative.
  std::vector<ShapeTime> fewer_pairs_dearer;
  for (const Shape& s : kShapes) fewer_pairs_dearer.push_back({s.tokens, s.pairs, 0.1 + 0.01 * s.tokens - 0.0001 * s.pairs});
  const double ref2 = 0.1 + 0.01 * kRefTokens - 0.0001 * kRefPairs;
  s = fit_cost_split(fewer_pairs_dearer, kRefTokens, kRefPairs, ref2, true);
  EXPECT_EQ(s.pair_ms, 0.0);
  EXPECT_GT(s.fixed_ms, 0.0);
  EXPECT_NEAR(s.total(), ref2, 1e-12);

  // Every shape as slow as the reference: all of it is paid per micro-batch.
  std::vector<ShapeTime> flat;
  for (const Shape& s : kShapes) flat.push_back({s.tokens, s.pairs, 1.0});
  s = fit_cost_split(flat, kRefTokens, kRefPairs, 1.0, true);
  EXPECT_NEAR(s.fixed_ms, 1.0, 1e-12);
  EXPECT_NEAR(s.token_ms + s.pair_ms, 0.0, 1e-12);
}

TEST(CostSplitFit, UnusableShapesLeaveEverythingToTokens) {
  CostSplit s = fit_cost_split({}, kRefTokens, kRefPairs, 0.7, true);
  EXPECT_EQ(s.token_ms, 0.7);
  EXPECT_EQ(s.fixed_ms + s.pair_ms, 0.0);
  s = fit_cost_split({{32, 512, 0.0}, {16, 128, -1.0}}, kRefTokens, kRefPairs, 0.7, true);
  EXPECT_EQ(s.token_ms, 0.7);
  s = fit_cost_split(timed(0.1, 0.01, 0), kRefTokens, kRefPairs, 0.0, true);
  EXPECT_EQ(s.total(), 0.0);
}

TEST(CostSplitFit, ABadReferenceIsRefused) {
  EXPECT_THROW(fit_cost_split(timed(0.1, 0.01, 0), 0, kRefPairs, 1.0, true), InputError);
  EXPECT_THROW(fit_cost_split(timed(0.1, 0.01, 0), kRefTokens, 0, 1.0, true), InputError);
  EXPECT_NO_THROW(fit_cost_split(timed(0.1, 0.01, 0), kRefTokens, 0, 1.0, false));
}

}  // namespace
}  // namespace adaptis::prof
