#pragma once
// Training data for variable-length plans (Plan::units): one packed micro-batch per unit, its documents
// laid out one after another (MicroBatchData::seq_lens), each document's tokens a pure function of
// (cfg.seed, step, unit, document, corpus), so a pipelined run and the single-device reference see the
// same documents whatever order the schedule runs the units in.
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
// (unit_problems), a padded unit, a slice of a longer row, a document longer than the model's seq
// positions, a unit with more tokens than a micro-batch buffer holds (micro_batch * seq), or a corpus
// (non-empty) shorter than a document + 1 tokens.
void check_units_runnable(const NetConfig& cfg, const std::vector<WorkUnit>& units,
                          const std::vector<int32_t>& corpus);

// Unit `unit_index` of iteration `step`: per document a window of len + 1 corpus tokens at a pseudo-random
// offset (tokens = window[0..len), targets = window[1..len]), or, with an empty corpus, a learnable
// arithmetic progression as make_microbatch draws them; seq_lens = the documents; loss_weight as given.
MicroBatchData make_unit_microbatch(const NetConfig& cfg, const std::vector<int32_t>& corpus, int step,
                                    int unit_index, const WorkUnit& unit, double loss_weight);

}  // namespace adaptis::exec
