#pragma once
// The sequence processor: from one iteration's sequence lengths to the units the pipeline runs
// (unit.h). It packs short sequences into units up to a token budget, slices long ones into pieces
// of equal cost, or mixes both (elastic: token-level pipelining for the long tail, batch-level for
// the rest), then orders the units.
//
// Costs are the whole-model unit costs of units.h (fixed + per_token * T + per_pair * Q), so packing
// balances time, not tokens: two packs of equal tokens differ by their sum of s^2/2. Slices of a row
// are cut so that each costs the same; since slice k's queries also attend to every earlier slice,
// later slices are shorter (the equal-FLOP split of Seq1F1B, solved from the last slice backwards, each
// slice rounded down to `slice_multiple` tokens, the first taking what is left).
//
// Modes:
//   pad          one sequence per unit, padded to the context (what training without packing runs)
//   pack-tokens  first-fit decreasing by tokens into units of at most `unit_tokens` (equal tokens)
//   pack         cost-balanced packing: each sequence (costliest first) into the unit with the least
//                cost that has room, over at least `units` units
//   slice        pack-tokens, then every packed row cut into `slices` equal-cost slices (Seq1F1B)
//   elastic      sequences costing more than the target unit cost (total / units) or longer than
//                `unit_tokens` are sliced into equal-cost slices near that target; the rest are packed
//                cost-balanced into the remaining units
// A sequence longer than `unit_tokens` is sliced in every mode when slicing is allowed; with slicing off
// it is an error naming its file line (check_sequence_lengths).
#include <string>
#include <vector>

#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/unit.h"
#include "adaptis/planner/units.h"

namespace adaptis {

enum class PackingMode { Pad, PackTokens, Pack, Slice, Elastic };
const char* packing_mode_name(PackingMode m);  // "pad", "pack-tokens", "pack", "slice", "elastic"
PackingMode parse_packing_mode(const std::string& name);  // InputError listing the names

// The order units enter the pipeline (the slices of a row always stay together, in slice order).
enum class UnitOrder {
  AsBuilt,      // the order the mode built them in
  LongFirst,    // costliest first
  ShortFirst,   // cheapest first
  Interleaved,  // costliest, cheapest, second costliest, second cheapest, ...
};
const char* unit_order_name(UnitOrder o);  // "as-built", "long-first", "short-first", "interleaved"
UnitOrder parse_unit_order(const std::string& name);

struct SequenceProcessing {
  PackingMode mode = PackingMode::Elastic;
  long long unit_tokens = 0;     // most tokens per unit; 0 = the context
  int units = 0;                 // pack / elastic: at least this many units (0 = as few as the budget allows)
  int slices = 2;                // slice: slices per packed row
  long long slice_multiple = 1;  // slice lengths rounded down to a multiple of this (e.g. the TP degree)
  UnitOrder order = UnitOrder::AsBuilt;
  bool allow_slicing = true;     // false: a sequence longer than unit_tokens is an error

  bool operator==(const SequenceProcessing&) const = default;
};
std::string describe(const SequenceProcessing& p);  // "elastic, <=8192 tok/unit, 64 units, long-first"

// The units for `data`. Throws InputError for bad options (unit_tokens above the context, slices < 1,
// ...), for a sequence that cannot be placed (longer than the budget with slicing off), and for slice or
// elastic processing with slicing off when they cut a row (they slice by design, not only what is too long).
std::vector<WorkUnit> process_sequences(const SequenceLengths& data, const UnitCostModel& cost,
                                    const SequenceProcessing& p);

// Equal-cost slices of a row of documents (token counts in order): k lengths, in slice order, adding up
// to the row, each slice costing alpha * tokens + beta * pairs (pairs within documents, a slice's queries
// seeing the earlier part of their document) about the same, later slices shorter. Solved from the last
// slice backwards; each length rounded down to `multiple`, the first slice takes the rest. Throws
// InputError when the row has fewer tokens than k.
std::vector<long long> equal_cost_split(const std::vector<long long>& docs, int k, double alpha, double beta,
                                        long long multiple = 1);

// Cuts a row of documents into consecutive units of the given lengths (slices of row `row`).
std::vector<WorkUnit> slice_row(const std::vector<long long>& docs, const std::vector<long long>& lengths, int row);

// Reorders units (slices of a row stay together in slice order) by `order` under `cost`.
void order_units(std::vector<WorkUnit>& units, const UnitCostModel& cost, UnitOrder order);

}  // namespace adaptis
