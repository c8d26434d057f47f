#pragma once
// --lengths FILE|DIST and the sequence-processing flags shared by `lengths`, `simulate`, `compare`,
// `optimize` and `run`: one iteration's sequence lengths (model/sequence_lengths.h) turned into the
// units the pipeline runs (planner/sequence_processor.h).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/simulator.h"
#include "cli/inputs.h"

namespace adaptis::cli {

struct LengthsOptions {
  std::string lengths;            // file (lengths or histogram JSON) or distribution
  long long context = 0;          // --context
  long long global_batch_tokens = 0;
  std::string pack;               // --pack MODE ("" = the command's default)
  long long unit_tokens = 0;      // --unit-tokens
  int units = 0;                  // --units
  int slices = 2;                 // --slices
  long long slice_multiple = 1;   // --slice-multiple
  std::string order = "as-built"; // --unit-order
  bool no_slicing = false;        // --no-slicing
  std::string units_file;         // --units-out FILE: the units' documents for the training stack

  bool given() const { return !lengths.empty(); }
};

// `positional`: the lengths are the command's positional argument (`adaptis lengths FILE`) instead of
// --lengths.
void add_lengths_options(CLI::App* cmd, LengthsOptions& o, bool positional = false);

// The iteration's lengths, checked against slicing being allowed.
SequenceLengths load_lengths(const LengthsOptions& o);
// The processing the flags ask for; `default_mode` when --pack is not given.
SequenceProcessing processing_from(const LengthsOptions& o, PackingMode default_mode);

// Cost tables without a reference micro-batch (a profile that does not state its tokens per
// micro-batch) get the context as one, with every time linear in tokens; returns the note to print
// ("" when the table had one).
std::string ensure_cost_reference(CostTable& costs, long long context);

// --lengths on a command with model inputs: loads the lengths, gives the costs a reference when they
// have none, and sets in.units to the processed units. Returns the notes to print (may be empty).
struct LoadedLengths {
  SequenceLengths data;
  SequenceProcessing processing;
  UnitCostModel cost;
  std::vector<std::string> notes;
};
LoadedLengths apply_lengths(const LengthsOptions& o, Inputs& in, PackingMode default_mode);
// The same for lengths already read (`data`, from load_lengths(o)).
LoadedLengths apply_lengths(SequenceLengths data, const LengthsOptions& o, Inputs& in, PackingMode default_mode);

// Report pieces: the histogram table and the units (one line each, or a summary past `max_lines`).
std::string histogram_table(const SequenceLengths& data);
std::string units_table(const std::vector<WorkUnit>& units, const UnitCostModel& cost, size_t max_lines = 40);
nlohmann::json histogram_json(const SequenceLengths& data);
nlohmann::json units_json(const std::vector<WorkUnit>& units, const UnitCostModel& cost);

// The variable-length part of a simulated plan's report: the data, the processing, every unit with its
// cost (and its whole-model time in the simulation), tokens and tokens/s.
nlohmann::json varlen_json(const LoadedLengths& l, const std::vector<WorkUnit>& units, const SimResult& sim);
std::string varlen_summary(const LoadedLengths& l, const std::vector<WorkUnit>& units, const SimResult& sim);

// What training stacks can take (the --units-out side file): per unit in pipeline order, its documents
// as cu_seqlens (cumulative offsets, what flash-attention varlen kernels and packed-sequence loaders
// read), its slice of a row (row, slice, offset into the first document), tokens and padding.
nlohmann::json units_side_file(const std::vector<WorkUnit>& units);
void write_units_side_file(const std::string& path, const std::vector<WorkUnit>& units);

}  // namespace adaptis::cli
