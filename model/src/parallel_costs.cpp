// Per-GPU layer costs under tensor / context / expert / data parallelism (see parallel_costs.h).
// The split layer is costed by the same kernel-by-kernel model as the whole one (layer_work.h), so
// every kernel of the split layer has a twin in the whole layer: that is how the GEMM shape loss and
// the sequence-parallel elementwise savings are found kernel by kernel.
#include "adaptis/model/parallel_costs.h"

#include <algorithm>
#include <stdexcept>

#include "adaptis/model/cost_model.h"
#include "adaptis/model/error.h"
#include "adaptis/model/layer_work.h"

namespace adaptis {

namespace {

long long ceil_div(long long a, long long b) { return (a + b - 1) / b; }

bool ends_with(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// Elementwise kernels every tensor-parallel rank repeats on the whole activation unless sequence
// parallelism shards them: the pre-norms, the final norm and the residual adds.
bool replicated_elementwise(const Kernel& k) {
  if (k.cls != KernelClass::Memory) return false;
  for (const char* s : {".norm", ".norm.bwd", "final_norm", "final_norm.bwd", ".residual", ".residual.bwd", ".add",
                        ".add.bwd"})
    if (ends_with(k.name, s)) return true;
  return false;
}

bool is_gemm(const Kernel& k) { return k.cls == KernelClass::Gemm || k.cls == KernelClass::GroupedGemm; }

double shape_rate(const Kernel& k, double knee) {
  const double x = std::min({k.m, k.n, k.k});
  return x > 0 ? x / (x + knee) : 1.0;
}

struct PassTimes {
  double total_ms = 0;
  double attention_core_ms = 0;  // the attention core's kernels (what selective recompute re-runs)
};

// Time of one pass of the split layer on `device`, kernel by kernel against its whole twin.
PassTimes pass_times(const PassWork& split, const PassWork& whole, const ParallelConfig& p, const Device& device,
                     const KernelEfficiency& eff, DType dtype) {
  if (split.kernels.size() != whole.kernels.size())
    throw std::logic_error("parallel_costs: split and whole layer have different kernels");
  PassTimes t;
  const double c = p.cp;
  for (size_t i = 0; i < split.kernels.size(); ++i) {
    Kernel k = split.kernels[i];
    if (p.sequence_parallel && replicated_elementwise(k)) k.bytes /= p.tp;
    k.flops /= c;
    k.bytes /= c;
    k.m /= c;
    if (is_gemm(k) && eff.gemm_shape_knee > 0) {
      const double rate = shape_rate(k, eff.gemm_shape_knee) / shape_rate(whole.kernels[i], eff.gemm_shape_knee);
      if (rate > 0 && rate < 1) k.flops /= rate;  // same time as the FLOPs at the lower rate
    }
    const double ms = kernel_time_ms(k, device, eff, dtype);
    t.total_ms += ms;
    if (k.name.rfind("attention.core", 0) == 0) t.attention_core_ms += ms;  // with an unfused core's softmax/dropout
  }
  return t;
}

// Tensor-parallel collectives of one component per micro-batch: {forward, backward} counts of
// activation-sized all-reduces (or reduce-scatter + all-gather pairs with sequence parallelism),
// and halves for the embedding / LM head ends that need only one of the pair.
struct TpCounts {
  double f = 0, b = 0;  // in all-reduce equivalents
};

TpCounts tp_counts(const Component& c, bool sp) {
  switch (c.kind) {
    case ComponentKind::Attention:
    case ComponentKind::Mlp:
    case ComponentKind::Moe:
    case ComponentKind::Mamba:
      return {1, 1};
    case ComponentKind::Embedding:
      return {sp ? 0.5 : 1.0, 0};  // output all-reduce (reduce-scatter into the sequence shards)
    case ComponentKind::LmHead:
      return {sp ? 0.5 : 0.0, sp ? 0.5 : 1.0};  // input all-gather with SP; input-gradient reduction in B
  }
  return {};
}

}  // namespace

LayerSpec shard_layer(const LayerSpec& layer, int tp, int ep) {
  LayerSpec s = layer;
  const long long t = std::max(1, tp), e = std::max(1, ep);
  for (Component& c : s.parts) {
    switch (c.kind) {
      case ComponentKind::Attention:
        c.heads = ceil_div(c.heads, t);
        c.kv_heads = ceil_div(c.kv_heads, t);
        break;
      case ComponentKind::Mlp:
        c.ffn_hidden = ceil_div(c.ffn_hidden, t);
        break;
      case ComponentKind::Moe:
        c.expert_ffn_hidden = ceil_div(c.expert_ffn_hidden, t);
        c.shared_ffn_hidden = ceil_div(c.shared_ffn_hidden, t);
        c.experts = ceil_div(c.experts, e);
        c.top_k = std::min(c.top_k, c.experts);
        break;
      case ComponentKind::Mamba:
        if (c.mamba_version == 2) {
          c.mamba_heads = ceil_div(c.mamba_heads, t);
          c.groups = ceil_div(c.groups, t);
          c.d_inner = c.mamba_heads * c.mamba_head_dim;
        } else {
          c.d_inner = ceil_div(c.d_inner, t);
        }
        break;
      case ComponentKind::Embedding:
      case ComponentKind::LmHead:
        c.vocab = ceil_div(c.vocab, t);  // vocabulary-parallel, padded to a multiple of tp
        break;
    }
  }
  return s;
}

double model_flops_per_microbatch(const ModelSpec& model, int micro_batch_size) {
  ModelSpec m = model;
  m.micro_batch_size = micro_batch_size;
  double flops = 0;
  for (const auto& l : m.layers) {
    LayerWork w = layer_work(l, m);
    flops += w.f.flops() + w.b.flops() + w.w.flops();
  }
  return flops;
}

Cluster replica_cluster(const Cluster& cluster, const ParallelConfig& p) {
  Cluster r;  // field by field: the cluster's own device list may hold thousands of GPUs
  r.intra_node = cluster.intra_node;
  r.inter_node = cluster.inter_node;
  r.topology = cluster.topology;
  r.has_efficiency = cluster.has_efficiency;
  r.efficiency = cluster.efficiency;
  const long long stride = 1LL * p.tp * p.cp * p.dp;
  for (int k = 0; k < p.pp; ++k) {
    const long long rank = k * stride;
    if (rank >= cluster.num_devices())
      throw InputError("cluster '" + cluster.name + "': pipeline rank " + std::to_string(k) + " needs GPU " +
                       std::to_string(rank) + " but the cluster has " + std::to_string(cluster.num_devices()));
    r.devices.push_back(cluster.devices[static_cast<size_t>(rank)]);
  }
  r.name = cluster.name + " [one pipeline replica: " + std::to_string(p.pp) + " stages of tp" + std::to_string(p.tp) +
           (p.cp > 1 ? " x cp" + std::to_string(p.cp) : std::string()) + "]";
  return r;
}

CostTable parallel_costs(const ModelSpec& model, const Cluster& cluster, const ParallelConfig& p) {
  if (cluster.devices.empty()) throw InputError("cluster '" + cluster.name + "' has no devices");
  validate_parallel_config(p, model, cluster.topology);
  for (const auto& l : model.layers)
    if (p.cp > 1 && l.has(ComponentKind::Mamba))
      throw InputError("parallel.cp: context parallelism of Mamba layers (layer '" + l.name + "') is not modelled");

  ModelSpec m = model;
  m.micro_batch_size = p.micro_batch_size;
  const Device& device = cluster.devices.front();
  const KernelEfficiency eff = machine_efficiency(model, cluster);
  const ClusterTopology& topo = cluster.topology;
  const double e = dtype_bytes(m.dtype);
  const double tokens = double(m.micro_batch_size) * double(m.seq_len) / p.cp;  // per context-parallel rank
  const bool sp = p.sequence_parallel;

  const CollectiveGroup tp_group = collective_group(topo, p.tp, 1);
  const CollectiveGroup cp_group = collective_group(topo, p.cp, p.tp);
  const CollectiveGroup ep_group = collective_group(topo, p.ep, p.tp * p.cp);

  CostTable t;
  t.model = model.name;
  t.source = "analytical:" + device.name + " [" + describe(p) + "]";
  t.microbatches = p.microbatches;
  t.tokens_per_microbatch = double(m.micro_batch_size) * double(m.seq_len);
  t.pairs_per_microbatch = t.tokens_per_microbatch * double(m.seq_len) / 2;  // whole sequences: s^2 / 2 each
  t.model_flops_per_microbatch = model_flops_per_microbatch(model, p.micro_batch_size);
  t.layers.reserve(m.layers.size());

  ModelSpec flash = m;
  flash.flash_attention = true;

  for (size_t li = 0; li < m.layers.size(); ++li) {
    const LayerSpec& layer = m.layers[li];
    const LayerSpec split = shard_layer(layer, p.tp, p.ep);
    const LayerWork whole = layer_work(layer, m);
    const LayerWork part = layer_work(split, m);

    LayerCost c;
    c.name = layer.name;
    c.kind = layer.kind;
    c.recurrent = layer.has(ComponentKind::Mamba);
    PassTimes f = pass_times(part.f, whole.f, p, device, eff, m.dtype);
    PassTimes b = pass_times(part.b, whole.b, p, device, eff, m.dtype);
    PassTimes w = pass_times(part.w, whole.w, p, device, eff, m.dtype);
    LayerCost::Parallel& par = c.parallel;

    // Collectives of each component.
    for (const Component& comp : layer.parts) {
      const double act = tokens * double(comp.hidden) * e;  // one rank's b*s/c x h activation
      if (p.tp > 1) {
        TpCounts n = tp_counts(comp, sp);
        const double ar = all_reduce_ms(act, tp_group);
        par.tp_f_ms += n.f * ar;
        par.tp_b_ms += n.b * ar;
      }
      if (p.cp > 1 && comp.kind == ComponentKind::Attention) {
        // One rank's K/V chunk, passed around the ring c-1 times; each hop hides under one step of
        // the attention core (1/c of it).
        const double kv_heads = comp.is_mla() ? double(comp.heads) : double(comp.kv_heads);
        const double chunk = tokens * std::ceil(kv_heads / p.tp) * double(comp.qk_head_dim() + comp.value_head_dim()) * e;
        const double hop = cp_group.bus_bandwidth > 0 ? chunk / cp_group.bus_bandwidth * 1e3 + cp_group.latency_ms
                                                      : cp_group.latency_ms;
        const double steps = p.cp - 1;
        par.cp_f_ms += steps * std::max(0.0, hop - f.attention_core_ms / p.cp);
        par.cp_b_ms += steps * std::max(0.0, 2 * hop - b.attention_core_ms / p.cp);
      }
      if (p.ep > 1 && comp.kind == ComponentKind::Moe) {
        const double routed = tokens / (sp ? p.tp : 1) * double(comp.top_k) * double(comp.hidden) * e;
        const double a2a = all_to_all_ms(routed, ep_group);
        par.ep_f_ms += 2 * a2a;  // dispatch + combine
        par.ep_b_ms += 2 * a2a;
      }
    }

    // Activations one GPU keeps: the split layer's, all sharded with sequence parallelism.
    double act_b = sp ? whole.act_b_bytes / p.tp : part.act_b_bytes;
    double act_w = sp ? whole.act_w_bytes / p.tp : part.act_w_bytes;
    double w_grad = sp ? whole.w_grad_bytes / p.tp : part.w_grad_bytes;
    double score = sp ? whole.score_bytes / p.tp : part.score_bytes;  // an unfused core's, part of act_b
    const double out = whole.out_bytes / p.cp;  // the boundary activation of one context rank
    switch (p.recompute) {
      case Recompute::None:
        break;
      case Recompute::Selective: {
        // Re-run the attention core in B; keep what a flash-attention layer keeps (no scores).
        par.recompute_ms = f.attention_core_ms;
        const LayerWork lean = layer_work(sp ? layer : split, flash);
        act_b = sp ? lean.act_b_bytes / p.tp : lean.act_b_bytes;
        score = 0;
        break;
      }
      case Recompute::Full: {
        // Keep only the layer's input; re-run the forward, collectives included, inside B.
        par.recompute_ms = f.total_ms;
        par.tp_b_ms += par.tp_f_ms;
        par.cp_b_ms += par.cp_f_ms;
        par.ep_b_ms += par.ep_f_ms;
        const double input = layer.has(ComponentKind::Embedding)
                                 ? 0.0  // token ids only
                                 : double(m.micro_batch_size) * double(m.seq_len) * double(layer.parts.front().hidden) * e;
        act_b = input / (sp ? p.tp : 1);
        act_w = 0;
        score = 0;
        break;
      }
    }
    const double f_ms = f.total_ms + par.tp_f_ms + par.cp_f_ms + par.ep_f_ms;
    const double b_ms = b.total_ms + par.tp_b_ms + par.cp_b_ms + par.ep_b_ms + par.recompute_ms;
    act_b /= p.cp;
    act_w /= p.cp;
    w_grad /= p.cp;
    score /= p.cp;

    c.param_bytes = part.params * e;
    par.params = part.resident_params;
    c.f_ms = f_ms;
    c.b_ms = b_ms;
    c.w_ms = w.total_ms;
    c.act_b_bytes = act_b;
    c.act_w_bytes = act_w;
    c.w_grad_bytes = w_grad;
    c.act_score_bytes = std::min(score, act_b);
    // One GPU's keys and values: its tensor-parallel share of the heads, its context-parallel share of tokens.
    c.kv_bytes = std::min(part.kv_bytes / p.cp, act_b + act_w);
    c.out_bytes = out / p.tp;  // scatter/gather: each tensor-parallel rank sends 1/t

    // Express on a speed-1.0 device (the simulator divides by each device's speed).
    const double s = device.speed;
    for (double* x : {&c.f_ms, &c.b_ms, &c.w_ms, &par.tp_f_ms, &par.tp_b_ms, &par.cp_f_ms, &par.cp_b_ms, &par.ep_f_ms,
                      &par.ep_b_ms, &par.recompute_ms})
      *x *= s;
    t.layers.push_back(std::move(c));
  }
  apply_data_parallel(t, model, cluster, p);
  return t;
}

void apply_data_parallel(CostTable& t, const ModelSpec& model, const Cluster& cluster, const ParallelConfig& p) {
  const Device& device = cluster.devices.front();
  const KernelEfficiency eff = machine_efficiency(model, cluster);
  const bool fp32 = model.dtype == DType::FP32;
  const double weight_b = fp32 ? 4 : 2, grad_b = 4, optim_b = fp32 ? 8 : 12;
  const int d = p.data_parallel_ranks();
  const double state_per_param = zero_bytes_per_param(p.zero, d, weight_b, grad_b, optim_b);
  for (LayerCost& c : t.layers) {
    LayerCost::Parallel& par = c.parallel;
    const double resident = par.params;
    // ZeRO-3 keeps one gathered copy of the layer's weights while it runs.
    c.state_bytes = resident * state_per_param + (p.zero >= 3 ? resident * weight_b : 0.0);
    par.grad_bytes = resident * (p.grad_reduce_fp32 ? 4.0 : 2.0);
    par.gather_bytes = p.zero >= 3 ? resident * weight_b : 0.0;
    // Adam over the GPU's optimizer shard: reads gradient, master weight, m, v (16 bytes), writes
    // master, m, v (12) and the bf16 weight (2).
    const double shard = p.zero >= 1 ? resident / d : resident;
    par.optimizer_ms = resident > 0 ? (shard * 30.0 / (device.hbm_bandwidth * eff.hbm) * 1e3 +
                                       eff.launch_overhead_us * 1e-3) * device.speed
                                    : 0.0;
  }
}

}  // namespace adaptis
