#pragma once
// A torchtitan job config (TOML) that runs a plan: the pipeline degree, the modules of every stage
// (`module_fqns_per_model_part`, torchtitan's names: tok_embeddings, layers.<i>, norm, output), the
// micro-batch size and count, and `pipeline_parallel_schedule_csv` pointing at the plan's PyTorch
// CSV (pytorch_csv.h), which torchtitan loads into PyTorch's `_PipelineScheduleRuntime`.
//
// The keys are those torchtitan's TOML job configs read ([parallelism] pipeline_parallel_degree,
// pipeline_parallel_schedule, pipeline_parallel_schedule_csv, pipeline_parallel_microbatch_size,
// module_fqns_per_model_part; [training] local_batch_size, seq_len). torchtitan builds a rank's
// stages itself: looped (stage s on rank s mod p, the same number on every rank) for every schedule
// name but the V ones (ZBVZeroBubble, DualPipeV: two stages per rank, rank r holding r and 2p-1-r),
// so only those placements can be exported; `pipeline_parallel_schedule` is set to a name that
// makes torchtitan build the plan's placement (the order itself comes from the CSV).
//
// Our layers map to torchtitan modules by kind (as for Megatron, megatron_layout.h): an embedding
// layer is tok_embeddings, an lm_head (or loss) is norm + output, every other layer is the next
// layers.<i>; the AdaPtis profile types carry fused extras ("M+E": tok_embeddings and a layer,
// "-+H": a layer, norm and output). A table without an embedding or head gets them in the first
// and last stage.
//
// Memory policies (Plan::memory) become the [activation_checkpoint] section (recompute_exports.h:
// one setting for every stage, the strongest the plan has; notes say what is approximated). The CSV
// carries no R actions: torchtitan recomputes inside the backward of each checkpointed module.
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

struct TorchtitanOptions {
  std::string csv_path;           // pipeline_parallel_schedule_csv, as written (relative to where torchrun runs)
  int microbatch_size = 1;        // pipeline_parallel_microbatch_size (sequences per micro-batch)
  long long seq_len = 0;          // training.seq_len; 0 = leave torchtitan's (or the base config's)
  std::string description;        // [job] description
};

struct TorchtitanConfig {
  std::string toml;
  std::string style;                                   // "loop" or "v"
  std::string schedule;                                // pipeline_parallel_schedule
  std::vector<std::vector<std::string>> module_names;  // per stage
  int local_batch_size = 0;                            // micro-batches x micro-batch size
  std::vector<std::string> notes;                      // also written as comments
  // [activation_checkpoint] keys for a plan with memory policies (recompute_exports.h); empty without.
  std::vector<std::pair<std::string, std::string>> activation_checkpoint;
};

// torchtitan module names of each stage of `plan`.
std::vector<std::vector<std::string>> torchtitan_module_names(const Plan& plan, const CostTable& costs,
                                                              std::vector<std::string>* notes = nullptr);

// Throws InputError when torchtitan cannot build the plan's placement, or the options are invalid.
TorchtitanConfig export_torchtitan(const Plan& plan, const CostTable& costs, const TorchtitanOptions& opt);

}  // namespace adaptis
