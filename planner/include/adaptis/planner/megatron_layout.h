#pragma once
// Megatron-LM partition/placement flags, both ways.
//
// Megatron expresses a pipeline split with `--pipeline-model-parallel-layout`: one group of
// layer symbols per stage, stages separated by '|', listed vpp-major (flat stage k runs on
// pipeline rank k mod p as its virtual stage k div p, i.e. a looped placement). Symbols:
// E embedding, t decoder layer, m MTP layer, L loss (final norm + output layer + loss);
// "x*n" and "(...)*n" repeat, commas are cosmetic. Example: "Et*3|(tt|)*29,m|L".
// Simpler splits also fit in `--decoder-first/last-pipeline-num-layers`.
//
// Symbols of our layers come from CostTable::layers[i].kind: "embedding" -> E, "lm_head" or
// "loss" -> L (an lm_head followed by a loss is one L), "mtp" -> m, anything else -> t; the
// AdaPtis profile types carry fused extras: "M+E" -> E then t, "-+H" -> t then L.
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

// Layout symbols of one layer given the previous layer's kind ("" for the first layer).
std::string megatron_layer_symbols(const std::string& kind, const std::string& prev_kind);

struct MegatronExport {
  std::string layout;      // always valid, e.g. "Et*14|t*14|t*14|t*14L"
  int pipeline_size = 0;   // p
  int virtual_stages = 1;  // v (stages per rank)
  int num_layers = 0;      // decoder layers (t)
  int mtp_layers = 0;      // m
  int microbatches = 0;
  int group_size = 0;      // Megatron micro-batch group size reproducing the plan's order; 0 = none
  bool order_matches = false;  // the plan's per-device order is what Megatron itself would run
  // The smallest flag set that gives Megatron this partition (layout only when needed).
  std::vector<std::pair<std::string, std::string>> flags;
  // The same split spelled with --pipeline-model-parallel-layout (always possible).
  std::vector<std::pair<std::string, std::string>> layout_flags;
  std::vector<std::string> notes;  // what Megatron will do differently, implicit E/L, ...
};

// The batch a Megatron run uses, for --micro-batch-size / --global-batch-size / --seq-length.
struct MegatronRunOptions {
  int micro_batch_size = 1;  // sequences per micro-batch
  int data_parallel = 1;     // data-parallel size: global batch = micro-batches x micro-batch size x this
  long long seq_length = 0;  // 0 = not written
};

// Throws InputError when Megatron cannot express the plan: placements other than sequential or
// looped (stage s on device s mod p, local chunks in ascending order), or layer kinds in an order
// Megatron forbids (embedding not first, loss not last, decoder layers after MTP).
MegatronExport export_megatron(const Plan& plan, const CostTable& costs, const MegatronRunOptions& run = {});

// Readable block: recommended flags, the layout equivalent, notes (lines starting with '#').
std::string format_megatron_export(const MegatronExport& e);

struct MegatronLayout {
  Partition partition;  // our layers per stage
  Placement placement;  // looped over pipeline_size ranks
  int pipeline_size = 0;
  int virtual_stages = 1;
};

// Expands a layout string into stages of symbols (grammar superset: nested parentheses, spaces).
// Throws InputError naming the position of a bad character.
std::vector<std::string> expand_megatron_layout(const std::string& layout);

// Parses `layout` for `pipeline_size` ranks into our partition and placement. With `layer_kinds`
// (the cost table's kinds) every layer of the model must be covered exactly once, in order, and
// fused profile layers ("M+E") must not be split across stages; without them each t or m symbol
// is one layer and E/L ride along with their stage. Throws InputError on a malformed string, a
// stage count not divisible by pipeline_size, E/L misplaced, a layout not covering the model, or
// a stage holding no layer.
MegatronLayout parse_megatron_layout(const std::string& layout, int pipeline_size,
                                     const std::vector<std::string>& layer_kinds = {});

std::vector<std::string> layer_kinds(const CostTable& costs);

}  // namespace adaptis
