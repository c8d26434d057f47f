#pragma once
// Where a variable-length plan's units came from: one iteration's sequence lengths (as the user gave
// them, and as read or drawn) and the sequence processing that turned them into units. The explorers
// keep it so the Data view can show the lengths, re-packing can rebuild the units from them, and a
// saved session can reopen them (lengths_json.h).
//
// Re-packing: units_for() is the one place the explorer turns lengths into units, so the units a
// session reopens and the ones a re-pack makes are built alike.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit.h"
#include "adaptis/planner/unit_slicing.h"  // slicing_blocker, which the explorers show

namespace adaptis::explorer {

struct LengthsSource {
  // --lengths as given: a distribution, or a lengths/histogram file (absolute path). "" = unknown.
  std::string spec;
  // --context / --global-batch-tokens as given (0 = the data's own).
  LengthOptions options;
  // The lengths as read or drawn (null when the units came with a plan file: nothing is known).
  std::shared_ptr<const SequenceLengths> data;
  // The processing that made the starting units (nullopt when they did not come from `data` by a known
  // processing, e.g. a plan file's units shown beside lengths).
  std::optional<SequenceProcessing> processing;
};

// The options in a few words for messages and undo labels: "context 8192 tokens, global batch 131072
// tokens", "context 8192 tokens, the data's own global batch".
std::string describe(const LengthOptions& o);

// The most units the explorers plan over when the context or the global batch is changed from inside
// them (one micro-batch each: every edit re-simulates them all). Larger iterations are for
// `adaptis simulate --lengths`.
constexpr int kMaxExplorerUnits = 4096;

// The units `p` makes of `data`, costed with `costs`' unit cost model (its reference micro-batch).
// Throws InputError with the reason (process_sequences: an option out of range, a sequence longer than
// the budget or slices made with slicing off; no reference micro-batch) and refuses slices the model's
// layers cannot run on (slices_problem, adaptis/planner/unit_slicing.h).
std::vector<WorkUnit> units_for(const SequenceLengths& data, const CostTable& costs, const SequenceProcessing& p);

// The next or previous value of each processing knob, as the explorers step through them. Each keeps
// the rest of `p`; the token budget doubles or halves within [1, context] (0 = the context).
SequenceProcessing next_packing_mode(SequenceProcessing p, int dir);
SequenceProcessing next_unit_order(SequenceProcessing p, int dir);
SequenceProcessing step_unit_tokens(SequenceProcessing p, int dir, long long context);
SequenceProcessing step_slices(SequenceProcessing p, int dir);
// The least unit count (pack, elastic) doubles or halves from `current` (the plan's count) when unset.
SequenceProcessing step_min_units(SequenceProcessing p, int dir, int current);

}  // namespace adaptis::explorer
