// The CPU profile's split of each row's time into a fixed part, a token part and a causal-pair part (what
// variable-length units are predicted with): only rows holding attention get a pair part, W has none, the
// parts stay non-negative within the row's time, on a long sequence the pair part is most of the
// attention row's forward, and tiny-llama's rows pay a fixed part per micro-batch. (The fit itself is
// tested on synthetic timings in test_cost_split_fit.cpp.)
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"
#include "adaptis/profiler/cpu_profiler.h"

namespace adaptis::exec {
namespace {

// Attention dominated by its core: 96 positions, narrow projections.
NetConfig long_attention() {
  NetConfig c = make_net_config({LayerType::Attention, LayerType::Mlp});
  c.name = "pair-split-test";
  c.hidden = 16;
  c.heads = 2;
  c.kv_heads = 1;
  c.ffn = 16;
  c.seq = 96;
  c.micro_batch = 1;
  return c;
}

// Every part of every pass is >= 0 and the fixed and pair parts fit within the pass's time (the token
// part is the rest).
void expect_parts_within_times(const CostTable& table) {
  for (const LayerCost& c : table.layers) {
    SCOPED_TRACE(c.name + " (" + c.kind + ")");
    for (auto [total, fixed, pair] : {std::array{c.f_ms, c.f_fixed_ms, c.f_pair_ms}, std::array{c.b_ms, c.b_fixed_ms, c.b_pair_ms},
                                      std::array{c.w_ms, c.w_fixed_ms, c.w_pair_ms}}) {
      EXPECT_GE(fixed, 0.0);
      EXPECT_GE(pair, 0.0);
      EXPECT_LE(fixed + pair, total * (1 + 1e-12));
    }
  }
}

TEST(AttentionPairs, OnlyAttentionRowsGetAPairPartWithinTheirTime) {
  const NetConfig cfg = long_attention();
  prof::CpuProfileOptions po;
  po.repeats = 3;
  po.split_blocks = true;  // one row per executor layer: embedding, attention, mlp, lm_head
  CostTable table = prof::profile_cpu(cfg, po);
  const int rows = prof::split_attention_pairs(table, cfg, po);
  EXPECT_EQ(rows, 1);
  EXPECT_EQ(table.tokens_per_microbatch, 96.0);
  EXPECT_EQ(table.pairs_per_microbatch, 96.0 * 96.0 / 2);
  const LayerUnits units = plan_layer_units(cfg, true);
  ASSERT_EQ(table.num_layers(), units.count());
  expect_parts_within_times(table);
  for (int i = 0; i < units.count(); ++i) {
    const LayerCost& c = table.layers[size_t(i)];
    SCOPED_TRACE(c.name + " (" + c.kind + ")");
    EXPECT_EQ(c.w_pair_ms, 0.0);
    const bool attention = cfg.layers[size_t(units.bounds[size_t(i)])] == LayerType::Attention;
    if (!attention) {
      EXPECT_EQ(c.f_pair_ms, 0.0);
      EXPECT_EQ(c.b_pair_ms, 0.0);
    } else {
      // 4608 pairs against 48 with one-token sequences: the core is most of the forward.
      EXPECT_GT(c.f_pair_ms, 0.2 * c.f_ms);
      EXPECT_GT(c.b_pair_ms, 0.0);
    }
  }
  // A unit of 96 one-token documents is predicted far cheaper than one 96-token sequence of the same tokens.
  const UnitCostModel m = unit_cost_model(table);
  EXPECT_LT(m.ms(96, 48), 0.8 * m.ms(96, 4608));
}

// Structure only: how large the fixed part comes out is a timing (noise on a loaded machine can fit it to
// zero); the fit itself is checked on known splits in test_cost_split_fit.cpp.
TEST(AttentionPairs, TinyLlamaRowsSplitIntoPartsWithinTheirTimes) {
  const NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  prof::CpuProfileOptions po;
  po.repeats = 3;
  CostTable table = prof::profile_cpu(cfg, po);
  const CostTable profiled = table;
  EXPECT_EQ(prof::split_attention_pairs(table, cfg, po), 4);  // the four transformer blocks
  ASSERT_EQ(table.num_layers(), profiled.num_layers());
  expect_parts_within_times(table);
  for (int i = 0; i < table.num_layers(); ++i) {
    const LayerCost& c = table.layers[size_t(i)];
    SCOPED_TRACE(c.name + " (" + c.kind + ")");
    // The split keeps the profiled times: it only says how they scale.
    EXPECT_EQ(c.f_ms, profiled.layers[size_t(i)].f_ms);
    EXPECT_EQ(c.b_ms, profiled.layers[size_t(i)].b_ms);
    EXPECT_EQ(c.w_ms, profiled.layers[size_t(i)].w_ms);
    EXPECT_GE(c.f_fixed_ms, 0.0);
    EXPECT_GE(c.b_fixed_ms, 0.0);
    EXPECT_GE(c.w_fixed_ms, 0.0);
  }
  const UnitCostModel m = unit_cost_model(table);
  EXPECT_GE(m.fixed_ms, 0.0);
  EXPECT_GT(m.per_token_ms, 0.0);
  // Two micro-batches of half the tokens never cost less than one of all of them (same pairs per token).
  EXPECT_GE(2 * m.ms(32, 512), m.ms(64, 1024) * (1 - 1e-12));
}

TEST(AttentionPairs, OneTokenMicroBatchesHaveNothingToSplit) {
  NetConfig cfg = long_attention();
  cfg.seq = 1;
  prof::CpuProfileOptions po;
  po.repeats = 1;
  CostTable table = prof::profile_cpu(cfg, po);
  EXPECT_EQ(prof::split_attention_pairs(table, cfg, po), 0);
  EXPECT_EQ(table.tokens_per_microbatch, 1.0);
  for (const LayerCost& c : table.layers) EXPECT_EQ(c.f_pair_ms + c.b_pair_ms + c.w_pair_ms, 0.0);
}

TEST(AttentionPairs, ATableOfAnotherModelIsRefused) {
  const NetConfig cfg = long_attention();
  CostTable table;
  table.layers.resize(2);
  EXPECT_THROW(prof::split_attention_pairs(table, cfg, {}), InputError);
}

}  // namespace
}  // namespace adaptis::exec
