// Roofline timing of layer work on a device, and the per-layer cost table built from it.
#include "adaptis/model/cost_model.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace adaptis {

namespace {

double efficiency_of(KernelClass c, const KernelEfficiency& eff) {
  switch (c) {
    case KernelClass::Gemm: return eff.gemm;
    case KernelClass::GroupedGemm: return eff.grouped_gemm;
    case KernelClass::AttentionFwd: return eff.attention_fwd;
    case KernelClass::AttentionBwd: return eff.attention_bwd;
    case KernelClass::ScanFwd: return eff.scan_fwd;
    case KernelClass::ScanBwd: return eff.scan_bwd;
    case KernelClass::Memory: return 1.0;  // no FLOPs counted
  }
  return 1.0;
}

// The parts of a pass's time that do not grow with tokens (planner/units.h): kernel launches, paid
// once per micro-batch, and the causal attention core, which grows with the attention pairs. A
// sliding window caps the keys per query, so windowed attention grows with tokens instead.
void split_pass(const PassWork& pass, const Device& device, const KernelEfficiency& eff, DType dtype, bool pairs_scale,
                double* pair_ms, double* fixed_ms) {
  *pair_ms = 0;
  *fixed_ms = 0;
  for (const auto& k : pass.kernels) {
    const double launch = eff.launch_overhead_us * 1e-3;
    *fixed_ms += launch;
    if (pairs_scale && (k.cls == KernelClass::AttentionFwd || k.cls == KernelClass::AttentionBwd))
      *pair_ms += kernel_time_ms(k, device, eff, dtype) - launch;
  }
}

}  // namespace

double kernel_time_ms(const Kernel& k, const Device& device, const KernelEfficiency& eff, DType dtype) {
  double peak = device.peak_tflops * 1e12 * (dtype == DType::FP32 ? 0.5 : 1.0);
  double compute_s = k.flops > 0 ? k.flops / (peak * efficiency_of(k.cls, eff)) : 0.0;
  double memory_s = k.bytes > 0 ? k.bytes / (device.hbm_bandwidth * eff.hbm) : 0.0;
  return std::max(compute_s, memory_s) * 1e3 + eff.launch_overhead_us * 1e-3;
}

double pass_time_ms(const PassWork& pass, const Device& device, const KernelEfficiency& eff, DType dtype) {
  double t = 0;
  for (const auto& k : pass.kernels) t += kernel_time_ms(k, device, eff, dtype);
  return t;
}

KernelEfficiency machine_efficiency(const ModelSpec& model, const Cluster& cluster) {
  if (!cluster.has_efficiency) return model.efficiency;
  if (model.efficiency_overrides.is_object())
    return parse_kernel_efficiency(model.efficiency_overrides, model.origin + ": efficiency", cluster.efficiency);
  return cluster.efficiency;
}

double state_bytes_per_param(const ModelSpec& model) {
  bool fp32 = model.dtype == DType::FP32;
  double weights = fp32 ? 4 : 2;
  double grads = 4;
  double optimizer = fp32 ? 8 : 12;  // (fp32 master +) Adam m, v
  if (model.distributed_optimizer) optimizer /= double(model.data_parallel);
  return weights + grads + optimizer;
}

LayerCost layer_cost(const LayerSpec& layer, const ModelSpec& model, const Device& device) {
  LayerWork w = layer_work(layer, model);
  LayerCost c;
  c.name = layer.name;
  c.kind = layer.kind;
  c.recurrent = layer.has(ComponentKind::Mamba);  // by its components, whatever the block is named
  c.f_ms = pass_time_ms(w.f, device, model.efficiency, model.dtype);
  c.b_ms = pass_time_ms(w.b, device, model.efficiency, model.dtype);
  c.w_ms = pass_time_ms(w.w, device, model.efficiency, model.dtype);
  c.param_bytes = w.params * dtype_bytes(model.dtype);
  c.state_bytes = w.resident_params * state_bytes_per_param(model);
  c.act_b_bytes = w.act_b_bytes;
  c.act_w_bytes = w.act_w_bytes;
  c.w_grad_bytes = w.w_grad_bytes;
  c.out_bytes = w.out_bytes;
  bool windowed = false;
  for (const Component& part : layer.parts)
    windowed = windowed || (part.kind == ComponentKind::Attention && part.window > 0 && part.window < model.seq_len);
  split_pass(w.f, device, model.efficiency, model.dtype, !windowed, &c.f_pair_ms, &c.f_fixed_ms);
  split_pass(w.b, device, model.efficiency, model.dtype, !windowed, &c.b_pair_ms, &c.b_fixed_ms);
  split_pass(w.w, device, model.efficiency, model.dtype, !windowed, &c.w_pair_ms, &c.w_fixed_ms);
  c.kept_selective_bytes = std::max(0.0, w.act_b_bytes + w.act_w_bytes - w.selective_dropped_bytes);
  c.recompute_selective_ms =
      w.selective.kernels.empty() ? 0.0 : pass_time_ms(w.selective, device, model.efficiency, model.dtype);
  c.kept_full_bytes = std::min(w.input_bytes, w.act_b_bytes + w.act_w_bytes);
  c.kv_bytes = std::min(w.kv_bytes, w.act_b_bytes + w.act_w_bytes);
  c.act_score_bytes = std::min(w.score_bytes, w.act_b_bytes);
  // Selective re-creates the unfused core, scores and all (selective_dropped_bytes holds them).
  if (c.act_score_bytes > 0) c.kept_selective_score_bytes = std::max(0.0, c.act_score_bytes - w.selective_dropped_bytes);
  return c;
}

CostTable analytical_costs(const ModelSpec& model, const Device& reference) {
  CostTable t;
  t.model = model.name;
  t.source = "analytical:" + reference.name;
  t.microbatches = model.microbatches();
  t.tokens_per_microbatch = double(model.tokens_per_microbatch());
  t.pairs_per_microbatch = double(model.micro_batch_size) * double(model.seq_len) * double(model.seq_len) / 2;
  t.layers.reserve(model.layers.size());
  for (const auto& l : model.layers) t.layers.push_back(layer_cost(l, model, reference));
  // Dimensions and efficiencies each pass their own range checks, yet their products can still
  // leave any sane range (an efficiency of 1e-300 makes every GEMM take forever).
  validate_cost_table(t, (model.origin.empty() ? "model '" + model.name + "'" : model.origin) +
                             ": analytical costs on " + reference.name);
  return t;
}

}  // namespace adaptis
