#pragma once
// How a training run is spread over a cluster around its pipeline: tensor (tp), data (dp, with a
// ZeRO level or Megatron's distributed optimizer), context (cp) and expert (ep) parallel degrees,
// sequence parallelism, the micro-batch size and count, activation recomputation and the overlap
// switches Megatron-LM exposes.
//
// Rank layout (Megatron's default order tp-cp-dp-pp, tensor-parallel ranks adjacent): GPU rank
//   r = tp_rank + tp * (cp_rank + cp * (dp_rank + dp * pp_rank)),
// so tensor-parallel groups are consecutive GPUs (inside a node), context-parallel groups have
// stride tp, data-parallel groups stride tp*cp, and pipeline neighbours are tp*cp*dp apart.
// Expert parallelism is carved out of the data-parallel ranks (ep divides dp) and does not add
// GPUs: the run uses pp * tp * cp * dp GPUs.
//
// ZeRO static memory per parameter, with w bytes of weights, g of gradients and k of optimizer
// state (mixed-precision Adam: fp32 master + m + v = 12), over d = dp * cp data-parallel ranks:
//   level 0                    w + g + k
//   level 1 / distributed opt  w + g + k/d
//   level 2                    w + (g + k)/d
//   level 3                    (w + g + k)/d  (+ the gathered weights of the layers in flight)
// With bf16 weights and fp32 gradients (Megatron's default) this is 18, 6 + 12/d, 2 + 16/d, 18/d.
//
// File / JSON form (a plan file's "parallel" section, `adaptis plan --json`):
//   {"pp": 8, "tp": 8, "dp": 24, "cp": 1, "ep": 1, "zero": 1, "distributed_optimizer": true,
//    "sequence_parallel": true, "micro_batch_size": 1, "microbatches": 96, "global_batch_size": 2304,
//    "recompute": "selective", "overlap_grad_reduce": true, "overlap_param_gather": true,
//    "grad_reduce_dtype": "fp32", "bucket_params": 40000000}
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace adaptis {

struct ModelSpec;
struct ClusterTopology;

// Activation recomputation. As ParallelConfig::recompute it is applied uniformly to every layer by
// the cost derivation: selective recomputes the attention core (its saved scores are dropped); full
// keeps only each layer's input and re-runs the layer's forward (with its tensor-parallel
// collectives) inside B. As a stage's memory policy (Plan::memory, memory_policy.h) it is done by
// R actions of their own instead.
enum class Recompute : uint8_t { None, Selective, Full };
const char* recompute_name(Recompute r);  // "none", "selective", "full"
// InputError naming `where` and the accepted names for anything else.
Recompute parse_recompute(const std::string& text, const std::string& where);

struct ParallelConfig {
  int pp = 1, tp = 1, dp = 1, cp = 1, ep = 1;
  // ZeRO level over the data-parallel ranks: 0 none, 1 optimizer states, 2 + gradients,
  // 3 + parameters. distributed_optimizer is Megatron's ZeRO-1 (requires zero == 1).
  int zero = 0;
  bool distributed_optimizer = false;
  bool sequence_parallel = false;  // norms/dropout/residuals sharded over tp; RS + AG instead of AR
  int micro_batch_size = 1;        // sequences per micro-batch
  int microbatches = 1;            // micro-batches per pipeline replica per iteration
  long long global_batch_size = 0; // sequences per iteration = micro_batch_size * microbatches * dp
  Recompute recompute = Recompute::None;
  bool overlap_grad_reduce = true;   // DP gradient buckets launched as their gradients complete
  bool overlap_param_gather = true;  // ZeRO-1/distributed optimizer: the weight all-gather hides
                                     // under the next iteration's forward
  bool grad_reduce_fp32 = true;      // gradients reduced in fp32 (Megatron's default for bf16)
  double bucket_params = 0;          // DP bucket size in parameters; 0 = max(40M, 1M * dp)

  int gpus() const { return pp * tp * cp * dp; }
  int data_parallel_ranks() const { return dp * cp; }  // gradients are reduced over dp and cp
  double bucket_size_params() const;
  bool operator==(const ParallelConfig&) const = default;
};

// "pp8 tp8 dp24 cp1 ep1 zero1(distopt) sp mbs1 m96 rc=selective"
std::string describe(const ParallelConfig& p);

// Static bytes per parameter of one GPU for a ZeRO level over `data_parallel` ranks (formulas above).
double zero_bytes_per_param(int zero_level, int data_parallel, double weight_bytes, double grad_bytes,
                            double optimizer_bytes);

// Checks the config on its own and against the model and the machine; every problem is an
// InputError naming the field ("parallel.tp: ...") and what is wrong:
//   degrees >= 1; zero in 0..3; distributed_optimizer only with zero 1;
//   tp within a node (tp <= gpus_per_node and divides it); pp * tp * cp * dp = `gpus` when gpus > 0
//   and <= the cluster's GPUs; tp divides every attention layer's heads and query groups (kv_heads),
//   Mamba heads and groups, MLP/expert widths and the vocabulary; sequence_parallel needs tp > 1 and
//   seq_len % tp == 0; seq_len % (2 cp) == 0 (load-balanced causal ring attention); ep divides dp
//   and every MoE layer's experts, and ep > 1 needs MoE layers; pp <= number of layers;
//   global_batch_size = micro_batch_size * microbatches * dp.
void validate_parallel_config(const ParallelConfig& p, const ModelSpec& model, const ClusterTopology& topo,
                              int gpus = 0);

nlohmann::json parallel_config_to_json(const ParallelConfig& p);
// Reads the JSON form; `where` names it in errors. Fields not given keep their defaults;
// global_batch_size, when absent, is micro_batch_size * microbatches * dp.
ParallelConfig parallel_config_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace adaptis
