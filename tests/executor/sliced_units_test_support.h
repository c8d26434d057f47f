#pragma once
// The sliced-units test case shared by the executor's slice and per-unit checkpointing tests: a model
// slices can run through, a unit builder and a unit list with rows cut into slices.
#include <utility>
#include <vector>

#include "adaptis/executor/net_config.h"
#include "adaptis/planner/unit.h"

namespace adaptis::exec::test {

// Attention and MLP blocks only (slices cannot cross Mamba or MoE layers); one document of at most 16
// positions per micro-batch buffer of 16 tokens.
inline NetConfig sliced_model() {
  NetConfig c = make_net_config({LayerType::Attention, LayerType::Mlp, LayerType::Attention, LayerType::Mlp});
  c.name = "sliced-units-test";
  c.vocab = 256;
  c.hidden = 16;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 24;
  c.seq = 16;
  c.micro_batch = 1;
  c.seed = 31;
  return c;
}

// A unit of `docs`; a slice of row `row` (>= 0) at index `slice`, its first document `offset` tokens in.
inline WorkUnit unit(std::vector<long long> docs, int row = -1, int slice = 0, long long offset = 0) {
  WorkUnit u;
  u.docs = std::move(docs);
  u.row = row;
  u.slice = slice;
  u.first_doc_offset = offset;
  return u;
}

// Row 0: one document of 14 tokens in three slices (units 0..2); a packed unit (3); row 1: documents of 4
// and 9 tokens cut after 7 tokens, the second continuing in slice 1 (units 4, 5). The rows' last slices
// are units 2 and 5.
inline std::vector<WorkUnit> sliced_units() {
  return {unit({5}, 0, 0), unit({5}, 0, 1, 5), unit({4}, 0, 2, 10), unit({3, 6}), unit({4, 3}, 1, 0), unit({6}, 1, 1, 3)};
}

}  // namespace adaptis::exec::test
