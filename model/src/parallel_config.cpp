// Parallel configurations: validation against the model and the machine, JSON, ZeRO memory.
#include "adaptis/model/parallel_config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "adaptis/model/cluster_topology.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_spec.h"

namespace adaptis {

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::None: return "none";
    case Recompute::Selective: return "selective";
    case Recompute::Full: return "full";
  }
  return "?";
}

Recompute parse_recompute(const std::string& text, const std::string& where) {
  for (Recompute r : {Recompute::None, Recompute::Selective, Recompute::Full})
    if (text == recompute_name(r)) return r;
  throw InputError(where + ": unknown recompute policy '" + text + "' (use none, selective or full)");
}

double ParallelConfig::bucket_size_params() const {
  if (bucket_params > 0) return bucket_params;
  return std::max(40e6, 1e6 * data_parallel_ranks());
}

std::string describe(const ParallelConfig& p) {
  std::string s = "pp" + std::to_string(p.pp) + " tp" + std::to_string(p.tp) + " dp" + std::to_string(p.dp);
  if (p.cp > 1) s += " cp" + std::to_string(p.cp);
  if (p.ep > 1) s += " ep" + std::to_string(p.ep);
  if (p.distributed_optimizer) s += " distopt";
  else if (p.zero > 0) s += " zero" + std::to_string(p.zero);
  if (p.sequence_parallel) s += " sp";
  s += " mbs" + std::to_string(p.micro_batch_size) + " m" + std::to_string(p.microbatches);
  if (p.recompute != Recompute::None) s += std::string(" rc-") + recompute_name(p.recompute);
  return s;
}

double zero_bytes_per_param(int zero_level, int data_parallel, double w, double g, double k) {
  const double d = std::max(1, data_parallel);
  switch (zero_level) {
    case 0: return w + g + k;
    case 1: return w + g + k / d;
    case 2: return w + (g + k) / d;
    default: return (w + g + k) / d;
  }
}

namespace {

std::string str(long long v) { return std::to_string(v); }

void require_divides(long long degree, long long value, const std::string& field, const std::string& what) {
  if (degree > 1 && value % degree != 0)
    throw InputError("parallel." + field + ": " + str(degree) + " does not divide " + what + " (" + str(value) + ")");
}

}  // namespace

void validate_parallel_config(const ParallelConfig& p, const ModelSpec& model, const ClusterTopology& topo, int gpus) {
  const std::pair<const char*, int> degrees[] = {{"pp", p.pp}, {"tp", p.tp}, {"dp", p.dp}, {"cp", p.cp}, {"ep", p.ep}};
  for (auto [name, v] : degrees)
    if (v < 1 || v > (1 << 20))
      throw InputError(std::string("parallel.") + name + ": must be an integer in [1, 1048576], got " + str(v));
  if (p.zero < 0 || p.zero > 3) throw InputError("parallel.zero: must be 0, 1, 2 or 3, got " + str(p.zero));
  if (p.distributed_optimizer && p.zero != 1)
    throw InputError("parallel.distributed_optimizer: is ZeRO level 1; it cannot be combined with zero " + str(p.zero));
  if (p.micro_batch_size < 1) throw InputError("parallel.micro_batch_size: must be >= 1, got " + str(p.micro_batch_size));
  if (p.microbatches < 1) throw InputError("parallel.microbatches: must be >= 1, got " + str(p.microbatches));
  if (!(p.bucket_params >= 0) || !std::isfinite(p.bucket_params))
    throw InputError("parallel.bucket_params: must be >= 0 (0 = Megatron's default)");
  const long long per_iteration = 1LL * p.micro_batch_size * p.microbatches * p.dp;
  if (p.global_batch_size != per_iteration)
    throw InputError("parallel.global_batch_size: " + str(p.global_batch_size) + " sequences is not micro_batch_size (" +
                     str(p.micro_batch_size) + ") x microbatches (" + str(p.microbatches) + ") x dp (" + str(p.dp) +
                     ") = " + str(per_iteration));

  // Tensor parallelism stays inside a node: its collectives run on every layer.
  const int gpn = std::max(1, topo.gpus_per_node);
  if (p.tp > gpn)
    throw InputError("parallel.tp: " + str(p.tp) + " GPUs would span nodes (a node has " + str(gpn) +
                     " GPUs); tensor parallelism must stay inside a node");
  if (gpn % p.tp != 0)
    throw InputError("parallel.tp: " + str(p.tp) + " does not divide the " + str(gpn) +
                     " GPUs of a node, so some tensor-parallel groups would span nodes");
  const long long used = 1LL * p.pp * p.tp * p.cp * p.dp;
  if (gpus > 0 && used != gpus)
    throw InputError("parallel: pp (" + str(p.pp) + ") x tp (" + str(p.tp) + ") x cp (" + str(p.cp) + ") x dp (" +
                     str(p.dp) + ") = " + str(used) + " GPUs, but " + str(gpus) + " are to be used");
  if (used > topo.num_gpus())
    throw InputError("parallel: pp x tp x cp x dp = " + str(used) + " GPUs, but the cluster has " +
                     str(topo.num_gpus()));
  if (p.pp > model.num_layers())
    throw InputError("parallel.pp: " + str(p.pp) + " pipeline stages but the model has only " +
                     str(model.num_layers()) + " layers");

  if (p.sequence_parallel && p.tp < 2)
    throw InputError("parallel.sequence_parallel: needs tp > 1 (it shards over the tensor-parallel group)");
  if (p.sequence_parallel) require_divides(p.tp, model.seq_len, "tp", "seq_len with sequence_parallel");
  if (p.cp > 1 && model.seq_len % (2LL * p.cp) != 0)
    throw InputError("parallel.cp: seq_len (" + str(model.seq_len) + ") must be a multiple of 2 x cp (" +
                     str(2LL * p.cp) + ") for load-balanced causal ring attention");
  if (p.ep > 1 && (p.dp * p.cp) % p.ep != 0)
    throw InputError("parallel.ep: " + str(p.ep) + " does not divide dp x cp (" + str(1LL * p.dp * p.cp) +
                     "); expert-parallel groups are carved out of the data-parallel ranks");

  bool has_moe = false;
  for (const auto& layer : model.layers) {
    for (const auto& c : layer.parts) {
      const std::string at = " of layer '" + layer.name + "'";
      switch (c.kind) {
        case ComponentKind::Attention:
          require_divides(p.tp, c.heads, "tp", "the attention heads" + at);
          if (!c.is_mla()) require_divides(p.tp, c.kv_heads, "tp", "the key/value heads (query groups)" + at);
          break;
        case ComponentKind::Mlp:
          require_divides(p.tp, c.ffn_hidden, "tp", "ffn_hidden" + at);
          break;
        case ComponentKind::Moe:
          has_moe = true;
          require_divides(p.tp, c.expert_ffn_hidden, "tp", "expert_ffn_hidden" + at);
          if (c.shared_experts > 0) require_divides(p.tp, c.shared_ffn_hidden * c.shared_experts, "tp", "the shared experts' width" + at);
          require_divides(p.ep, c.experts, "ep", "the experts" + at);
          break;
        case ComponentKind::Mamba:
          require_divides(p.tp, c.mamba_version == 2 ? c.mamba_heads : c.d_inner, "tp",
                          std::string(c.mamba_version == 2 ? "the Mamba heads" : "the Mamba inner width") + at);
          if (c.mamba_version == 2) require_divides(p.tp, c.groups, "tp", "the Mamba groups" + at);
          break;
        case ComponentKind::Embedding:
        case ComponentKind::LmHead:
          break;  // the vocabulary is padded to a multiple of tp, as Megatron does
      }
    }
  }
  if (p.ep > 1 && !has_moe)
    throw InputError("parallel.ep: " + str(p.ep) + " but model '" + model.name + "' has no MoE layers");
}

nlohmann::json parallel_config_to_json(const ParallelConfig& p) {
  return {{"pp", p.pp},
          {"tp", p.tp},
          {"dp", p.dp},
          {"cp", p.cp},
          {"ep", p.ep},
          {"zero", p.zero},
          {"distributed_optimizer", p.distributed_optimizer},
          {"sequence_parallel", p.sequence_parallel},
          {"micro_batch_size", p.micro_batch_size},
          {"microbatches", p.microbatches},
          {"global_batch_size", p.global_batch_size},
          {"recompute", recompute_name(p.recompute)},
          {"overlap_grad_reduce", p.overlap_grad_reduce},
          {"overlap_param_gather", p.overlap_param_gather},
          {"grad_reduce_dtype", p.grad_reduce_fp32 ? "fp32" : "bf16"},
          {"bucket_params", p.bucket_params},
          {"gpus", p.gpus()}};
}

ParallelConfig parallel_config_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": expected an object of parallel degrees");
  static const std::set<std::string> known = {
      "pp", "tp", "dp", "cp", "ep", "zero", "distributed_optimizer", "sequence_parallel", "micro_batch_size",
      "microbatches", "global_batch_size", "recompute", "overlap_grad_reduce", "overlap_param_gather",
      "grad_reduce_dtype", "bucket_params", "gpus"};
  for (auto& [key, value] : j.items())
    if (!known.count(key)) {
      std::string names;
      for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
      throw InputError(where + ": unknown field '" + key + "' (known: " + names + ")");
    }
  auto integer = [&](const char* key, long long fallback, long long lo, long long hi) {
    if (!j.contains(key)) return fallback;
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<long long>() < lo || v.get<long long>() > hi)
      throw InputError(where + ": field '" + key + "' must be an integer in [" + str(lo) + ", " + str(hi) + "], got " +
                       v.dump());
    return v.get<long long>();
  };
  auto boolean = [&](const char* key, bool fallback) {
    if (!j.contains(key)) return fallback;
    if (!j[key].is_boolean()) throw InputError(where + ": field '" + key + "' must be true or false, got " + j[key].dump());
    return j[key].get<bool>();
  };
  ParallelConfig p;
  p.pp = static_cast<int>(integer("pp", 1, 1, 1 << 20));
  p.tp = static_cast<int>(integer("tp", 1, 1, 1 << 20));
  p.dp = static_cast<int>(integer("dp", 1, 1, 1 << 20));
  p.cp = static_cast<int>(integer("cp", 1, 1, 1 << 20));
  p.ep = static_cast<int>(integer("ep", 1, 1, 1 << 20));
  p.distributed_optimizer = boolean("distributed_optimizer", false);
  p.zero = static_cast<int>(integer("zero", p.distributed_optimizer ? 1 : 0, 0, 3));
  p.sequence_parallel = boolean("sequence_parallel", false);
  p.micro_batch_size = static_cast<int>(integer("micro_batch_size", 1, 1, 1 << 20));
  const long long global = integer("global_batch_size", 0, 1, 1LL << 40);
  if (j.contains("microbatches")) {
    p.microbatches = static_cast<int>(integer("microbatches", 1, 1, 1000000));
  } else if (global > 0) {
    const long long per = 1LL * p.micro_batch_size * p.dp;
    if (global % per != 0)
      throw InputError(where + ": field 'global_batch_size' (" + str(global) +
                       ") is not divisible by micro_batch_size x dp (" + str(per) + ")");
    if (global / per > 1000000) throw InputError(where + ": more than 1000000 micro-batches per pipeline");
    p.microbatches = static_cast<int>(global / per);
  }
  p.global_batch_size = global > 0 ? global : 1LL * p.micro_batch_size * p.microbatches * p.dp;
  if (j.contains("recompute")) {
    if (!j["recompute"].is_string()) throw InputError(where + ": field 'recompute' must be a string");
    p.recompute = parse_recompute(j["recompute"].get<std::string>(), where + ": field 'recompute'");
  }
  p.overlap_grad_reduce = boolean("overlap_grad_reduce", true);
  p.overlap_param_gather = boolean("overlap_param_gather", true);
  if (j.contains("grad_reduce_dtype")) {
    const auto& v = j["grad_reduce_dtype"];
    if (v != "fp32" && v != "bf16")
      throw InputError(where + ": field 'grad_reduce_dtype' must be \"fp32\" or \"bf16\", got " + v.dump());
    p.grad_reduce_fp32 = v == "fp32";
  }
  if (j.contains("bucket_params")) {
    if (!j["bucket_params"].is_number() || !(j["bucket_params"].get<double>() >= 0))
      throw InputError(where + ": field 'bucket_params' must be a number >= 0");
    p.bucket_params = j["bucket_params"].get<double>();
  }
  if (j.contains("gpus") && integer("gpus", 0, 1, 1 << 30) != p.gpus())
    throw InputError(where + ": field 'gpus' (" + j["gpus"].dump() + ") is not pp x tp x cp x dp (" + str(p.gpus()) + ")");
  return p;
}

}  // namespace adaptis
