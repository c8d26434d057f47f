// The CPU profile's split of attention time into a token part and a causal-pair part (what variable-length
// units are predicted with): only rows holding attention get one, it stays within the row's time, W has
// none, and on a long sequence it is most of the attention row's forward.
#include <gtest/gtest.h>

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
  for (int i = 0; i < units.count(); ++i) {
    const LayerCost& c = table.layers[size_t(i)];
    SCOPED_TRACE(c.name + " (" + c.kind + ")");
    EXPECT_EQ(c.w_pair_ms, 0.0);
    EXPECT_LE(c.f_pair_ms, c.f_ms);
    EXPECT_LE(c.b_pair_ms, c.b_ms);
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

TEST(AttentionPairs, ATableOfAnotherModelIsRefused) {
  const NetConfig cfg = long_attention();
  CostTable table;
  table.layers.resize(2);
  EXPECT_THROW(prof::split_attention_pairs(table, cfg, {}), InputError);
}

}  // namespace
}  // namespace adaptis::exec
