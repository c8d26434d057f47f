#pragma once
// A whole-cluster plan (Plan::parallel) as the training stacks take it: the full Megatron-LM
// command line (every parallel degree, micro-batching, ZeRO / distributed optimizer, sequence
// parallelism, recomputation, overlap switches and the pipeline layout), and the torchtitan config
// keys ([parallelism], [training], [activation_checkpoint]).
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cluster_topology.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

struct MegatronCommand {
  std::vector<std::string> launcher;                       // torchrun --nnodes ... pretrain_gpt.py
  std::vector<std::pair<std::string, std::string>> flags;  // value "" for switches
  std::vector<std::string> notes;                          // what Megatron will do differently
};

// `model` (may be null) adds the model-shape flags; `topo` (may be null) sizes torchrun's nodes.
// The pipeline part is export_megatron()'s (InputError when Megatron cannot express the placement).
// Without Plan::parallel the degrees are 1 and the batch is the plan's micro-batches.
MegatronCommand megatron_command(const Plan& plan, const CostTable& costs, const ModelSpec* model = nullptr,
                                 const ClusterTopology* topo = nullptr);
// One shell command, a flag per line (backslash continued), then the notes as '#' lines.
std::string format_megatron_command(const MegatronCommand& c);

struct TorchtitanKeys {
  std::vector<std::pair<std::string, std::string>> parallelism;  // TOML values, strings already quoted
  std::vector<std::pair<std::string, std::string>> training;
  std::vector<std::pair<std::string, std::string>> activation_checkpoint;
  std::vector<std::string> notes;
};

// torchtitan's keys for the plan's configuration: data_parallel_replicate/shard_degree from dp and
// the ZeRO level (0 = DDP; 3 = FSDP; 1 and 2 have no torchtitan equivalent, FSDP without resharding
// after forward is the nearest, noted), tensor/pipeline/context/expert degrees, the pipeline schedule
// (its torchtitan name, or a CSV schedule for plans it has no name for), micro-batch size,
// local/global batch and sequence length (seq_len 0 = leave out), recomputation mode.
TorchtitanKeys torchtitan_parallelism(const Plan& plan, long long seq_len = 0);
std::string format_torchtitan_toml(const TorchtitanKeys& k);

}  // namespace adaptis
