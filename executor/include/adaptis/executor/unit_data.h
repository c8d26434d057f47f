#pragma once
// Training data for plans over variable-length units (the planner's Plan::units): micro-batch i of an
// iteration is unit i, holding its documents (packed, with no attention across them) or a slice of a row
// (continuing the documents of the row's earlier slices).
//
// Every document is a deterministic token stream of (seed, step, document): a window of the corpus at a
// pseudo-random offset, or a synthetic progression (as make_microbatch). A document cut into slices gives
// each slice its own part of the same stream, so a sliced run trains on exactly the tokens an unsliced one
// would. Targets are each token's successor in its document's stream.
#include <cstdint>
#include <vector>

#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/planner/unit.h"

namespace adaptis::exec {

// The executor's view of the units: each piece's document id (a document continued by a later slice keeps
// its id), and each unit's loss weight (units x its tokens / all tokens). Throws InputError naming the unit
// when a padded unit is given (the executor runs packed documents, not padding), the list is malformed, or
// a row's slices do not come in slice order.
struct UnitLayout {
  std::vector<WorkUnit> units;
  std::vector<std::vector<int>> doc_ids;   // per unit, per piece
  std::vector<long long> doc_length;       // per document id: its full length
  std::vector<double> loss_weight;         // per unit
  long long longest_unit = 0;              // most tokens in one unit
  long long longest_doc = 0;               // longest document (positions go up to it)
};
UnitLayout unit_layout(const std::vector<WorkUnit>& units);

// `cfg` reshaped for the units: one row per micro-batch (micro_batch 1) of up to the longest unit's
// tokens, with rotary positions up to the longest document (seq = the larger of the two). Buffers between
// stages are sized by it; each unit uses its own prefix.
NetConfig unit_net_config(NetConfig cfg, const UnitLayout& layout);

// Micro-batch mb of iteration `step`: unit mb's tokens and targets, its documents, row / slice / offset and
// loss weight. InputError when the corpus is shorter than a document + 1 or holds an id outside the
// vocabulary.
MicroBatchData make_unit_microbatch(const NetConfig& cfg, const UnitLayout& layout, const std::vector<int32_t>& corpus,
                                    int step, int mb);
DataSource unit_data(const NetConfig& cfg, UnitLayout layout, std::vector<int32_t> corpus = {});

}  // namespace adaptis::exec
