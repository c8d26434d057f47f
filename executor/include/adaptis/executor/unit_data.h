#pragma once
// Training data for variable-length plans (Plan::units): one micro-batch per unit, its documents laid out
// one after another (MicroBatchData::seq_lens). Documents are numbered over the iteration in unit order
// (a slice continuing a document counts it once), and each document's tokens are a pure function of
// (cfg.seed, step, document number, its length, corpus): a pipelined run and the single-device reference
// see the same documents whatever order the schedule runs the units in, and a row cut into slices holds
// exactly the tokens of the same row unsliced.
//
// The objective over units is the iteration's mean token loss: unit u's mean token cross-entropy weighs
// tokens(u) / tokens of the iteration (its MoE aux losses too), so a unit of 900 tokens counts nine times
// a unit of 100, as when the iteration's documents are trained on as one batch.
#include <cstdint>
#include <vector>

#include "adaptis/executor/microbatch_data.h"
#include "adaptis/planner/unit.h"

namespace adaptis::exec {

// tokens(u) / sum of tokens(u), per unit. InputError when a unit has no tokens.
std::vector<double> unit_loss_weights(const std::vector<WorkUnit>& units);

// Throws InputError naming units[i] and what the executor cannot run: an empty list, a malformed one
// (unit_problems), a padded unit, a document whose positions run past the model's seq, a unit with more
// tokens than a micro-batch buffer holds (micro_batch * seq), a (non-empty) corpus shorter than a
// document + 1 tokens, or slices on a model with layers that cannot be sliced: Mamba (the scan state would
// have to cross slices) and MoE (its load-balancing loss is per micro-batch, so slices would train another
// objective than the unsliced rows).
void check_units_runnable(const NetConfig& cfg, const std::vector<WorkUnit>& units,
                          const std::vector<int32_t>& corpus);

// Micro-batch `u` of iteration `step` (check_units_runnable first): per document piece its tokens and
// next-token targets (a window of corpus tokens at a pseudo-random offset per document, or with an empty
// corpus a learnable arithmetic progression as make_microbatch draws them), seq_lens = the pieces,
// loss_weight = unit_loss_weights, for a slice continuing a document first_pos / prev_slice_mb, and for a
// slice whose last document the next slice of its row continues next_slice_mb.
MicroBatchData make_unit_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step,
                                    const std::vector<WorkUnit>& units, int u);

}  // namespace adaptis::exec
