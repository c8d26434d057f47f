#pragma once
// Variable-length data as both explorers show it: the iteration's length histogram (what the data
// looks like) and the plan's units (how it was packed or sliced), each unit with its cost through the
// whole model and the time the simulation gave it. Plain data derived from the plan, its simulation
// and the lengths; the TUI and the GUI only draw it.
#include <memory>
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "explorer/lengths_source.h"

namespace adaptis::explorer {

struct LengthBinRow {
  long long lo = 0, hi = 0;  // [lo, hi) tokens
  long long sequences = 0, tokens = 0;
  double token_share = 0;  // of all tokens, 0..1
  double pair_share = 0;   // of all attention pairs (sum of s^2/2), 0..1
};

struct UnitRow {
  int unit = 0;            // = the micro-batch index of its actions
  std::string what;        // describe_unit: "3 docs, 8192 tok", "slice 1/4 of row 2, 4238 tok"
  int docs = 0;            // documents (or pieces) in it
  long long tokens = 0;    // tokens it runs (padding included)
  double pairs = 0;        // causal attention pairs
  double cost_ms = 0;      // its F + B + W through the whole model by the cost model (0 = unknown)
  double simulated_ms = 0; // the same in the simulation (SimResult::unit_work_ms; 0 = not simulated)
  bool slice = false;
};

struct VarlenView {
  bool has_units = false;    // the plan runs variable-length units (otherwise nothing else is set)
  std::string data_line;     // "412 sequences, 1048576 tokens, context 8192, longest 31000 (FILE)" or why unknown
  std::string processing;    // how they were made ("" when unknown)
  bool can_repack = false;   // the lengths are known, so the units can be made again another way
  // The iteration's context and global batch (tokens), and whether they can be changed here (the
  // lengths' source is known: Explorer::set_length_options).
  long long context = 0, global_batch_tokens = 0;
  std::string settings_line;  // "context 4096 tokens, global batch 65536 tokens (the whole file)"
  bool can_set_lengths = false;
  std::string units_line;    // "24 units (6 slices), 1048576 tokens; cost 12.1..48.3 ms (max/mean 1.62)"
  std::vector<LengthBinRow> bins;  // empty when the lengths are unknown (a plan file's units)
  std::vector<UnitRow> units;
  double max_cost_ms = 0;          // of the rows' cost_ms (else simulated_ms): bars scale to it
  long long max_bin_sequences = 0;
  std::string cost_note;           // why costs are missing ("" when they are there)
};

// `lengths.processing`: the processing that made the plan's units (nullopt when unknown).
VarlenView varlen_view(const Plan& plan, const SimResult& sim, const CostTable& costs, const LengthsSource& lengths);

// The unit of micro-batch `mb` in a few words for detail lines and tooltips ("unit 3: 3 docs, 8192 tok");
// "" when the plan has no units or `mb` is not one of them.
std::string unit_text(const Plan& plan, int mb);

}  // namespace adaptis::explorer
