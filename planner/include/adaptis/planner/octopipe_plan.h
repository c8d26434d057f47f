#pragma once
// The AdaPtis/OctoPipe authors' plan formats (their Megatron-LM fork, `--octopipe`), both ways.
//
// YAML plan:
//   schedule: octopipe
//   partition: [2, 3, 4, 3]          # layers per stage (sid)
//   placement: [[0, 2], [1, 3]]      # placement[did] = the stages on that pipeline rank
//   scheduling:                      # (type, mid, sid, did, start, end)
//   - (f, 0, 0, 0, 0, 695)
//   - (b, 0, 3, 1, 3000, 3600)
//
// Legacy triple: result.txt with one "<type>_<mid>_<sid>,<start>,<end>" line per action (older
// files add "_<did>"), beside partition.txt ("[2, 3, 4, 3]") and placement.txt ("[[0, 2], ...]").
//
// Types: f forward, b backward, w weight gradient. A b without a w for the same (mid, sid) is a
// full backward (our BW); with one it is our B. Each device runs its actions in start-time order.
// OctoPipe has no overlapped F&B pairs: such pairs are written as consecutive actions.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

struct OctopipeExport {
  // Times are written as integers or short decimals in this unit (default: microseconds).
  double time_unit_ms = 0.001;
};

// Both need the simulated (or measured) timeline for start/end times; InputError when the
// simulation deadlocked.
std::string format_octopipe_yaml(const Plan& plan, const SimResult& sim, const OctopipeExport& opt = {});
std::string format_octopipe_result_txt(const Plan& plan, const SimResult& sim, const OctopipeExport& opt = {});
std::string format_octopipe_partition_txt(const Plan& plan);  // "[2, 3, 4, 3]"
std::string format_octopipe_placement_txt(const Plan& plan);  // "[[0, 2], [1, 3]]"

void save_octopipe_yaml(const Plan& plan, const SimResult& sim, const std::string& path,
                        const OctopipeExport& opt = {});
// Writes DIR/partition.txt, DIR/placement.txt and DIR/result.txt (creating DIR).
void save_octopipe_legacy(const Plan& plan, const SimResult& sim, const std::string& dir,
                          const OctopipeExport& opt = {});

struct OctopipeImport {
  std::vector<int> partition;  // layers per stage; overrides the file's; needed by a bare result.txt
  Placement placement;         // overrides the file's; needed by a result.txt without device ids
  int devices = 0;             // else: a looped placement over this many devices
  int num_layers = -1;         // the model's layer count (checks; even split when no partition)
  std::string name = "octopipe";
};

// Malformed lines throw InputError "ORIGIN:LINE: ..."; the plan is validated (deadlocks reported).
Plan parse_octopipe_yaml(const std::string& text, const OctopipeImport& opt, const std::string& origin);
Plan parse_octopipe_result_txt(const std::string& text, const OctopipeImport& opt, const std::string& origin);

// By path: a directory -> its partition.txt/placement.txt/result.txt; "*.txt" -> a result.txt
// (reading partition.txt and placement.txt beside it when present and not overridden); anything
// else -> the YAML plan.
Plan load_octopipe_plan(const std::string& path, const OctopipeImport& opt);

}  // namespace adaptis
