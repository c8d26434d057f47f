// Per-layer recompute defaults and the closed forms of recompute.h.
#include "adaptis/model/recompute.h"

#include <algorithm>

#include "adaptis/model/error.h"

namespace adaptis {

LayerRecompute layer_recompute(const CostTable& costs, int layer) {
  const LayerCost& c = costs.layers[static_cast<size_t>(layer)];
  LayerRecompute r;
  r.kept_none = c.act_b_bytes + c.act_w_bytes;
  if (c.kept_selective_bytes >= 0) {
    r.kept_selective = std::min(c.kept_selective_bytes, r.kept_none);
    r.selective_ms = c.recompute_selective_ms >= 0 ? c.recompute_selective_ms : c.f_ms;
  } else {
    r.kept_selective = r.kept_none;
    r.selective_ms = c.recompute_selective_ms >= 0 ? c.recompute_selective_ms : 0.0;
  }
  double input = c.kept_full_bytes;
  if (input < 0) {
    const double prev_out = layer > 0 ? costs.layers[static_cast<size_t>(layer) - 1].out_bytes : 0.0;
    input = prev_out > 0 ? prev_out : c.out_bytes > 0 ? c.out_bytes : r.kept_none;
  }
  r.kept_full = std::min(input, r.kept_none);
  r.kv = c.kv_bytes >= 0 ? std::min(c.kv_bytes, r.kept_none) : r.kept_none;
  r.score_none = std::clamp(c.act_score_bytes, 0.0, c.act_b_bytes);
  r.score_selective = std::min(c.kept_selective_score_bytes >= 0 ? c.kept_selective_score_bytes : r.score_none,
                               std::min(r.score_none, r.kept_selective));
  return r;
}

CostTable attach_memory(const CostTable& times, const CostTable& memory) {
  CostTable out = times;
  size_t next = 0;
  for (size_t i = 0; i < out.layers.size(); ++i) {
    LayerCost& l = out.layers[i];
    const size_t parts = 1 + static_cast<size_t>(std::count(l.kind.begin(), l.kind.end(), '+'));
    if (next + parts > memory.layers.size())
      throw InputError("attach memory: '" + times.model + "' layer " + std::to_string(i) + " ('" + l.kind + "') needs " +
                       std::to_string(parts) + " layers of '" + memory.model + "' but only " +
                       std::to_string(memory.layers.size() - next) + " are left (it has " +
                       std::to_string(memory.layers.size()) + ")");
    double f = 0, sel_ms = 0, kept_sel = 0, kv = 0, score_sel = 0;
    l.param_bytes = l.state_bytes = l.act_b_bytes = l.act_w_bytes = l.w_grad_bytes = l.act_score_bytes = 0;
    for (size_t k = 0; k < parts; ++k) {
      const size_t j = next + k;
      const LayerCost& m = memory.layers[j];
      const LayerRecompute r = layer_recompute(memory, static_cast<int>(j));
      l.param_bytes += m.param_bytes;
      l.state_bytes += m.state_bytes;
      l.act_b_bytes += m.act_b_bytes;
      l.act_w_bytes += m.act_w_bytes;
      l.w_grad_bytes += m.w_grad_bytes;
      l.act_score_bytes += r.score_none;
      score_sel += r.score_selective;
      l.recurrent = l.recurrent || m.recurrent;  // the structure the type symbol alone does not say
      kept_sel += r.kept_selective;
      kv += r.kv;
      sel_ms += r.selective_ms;
      f += m.f_ms;
      if (k == 0) l.kept_full_bytes = r.kept_full;
      if (k + 1 == parts) l.out_bytes = m.out_bytes;
    }
    l.kept_selective_bytes = kept_sel;
    l.kv_bytes = kv;
    l.kept_selective_score_bytes = score_sel;
    l.recompute_selective_ms = f > 0 ? l.f_ms * sel_ms / f : 0.0;
    next += parts;
  }
  if (next != memory.layers.size())
    throw InputError("attach memory: '" + times.model + "' covers " + std::to_string(next) + " layers of '" +
                     memory.model + "' but it has " + std::to_string(memory.layers.size()));
  out.source = times.source + " + memory:" + memory.source;
  return out;
}

double korthikanti_activation_bytes(const TransformerDims& d, RecomputeGranularity g) {
  const double sbh = d.s * d.b * d.h;
  const double attn = 5.0 * d.a * d.s / d.h;  // the materialised softmax and its dropout mask
  const double t = d.t > 0 ? d.t : 1.0;
  switch (g) {
    case RecomputeGranularity::Full: return 2.0 * sbh;
    case RecomputeGranularity::Selective: return d.sequence_parallel || t == 1 ? 34.0 * sbh / t : sbh * (10.0 + 24.0 / t);
    case RecomputeGranularity::None:
      return d.sequence_parallel || t == 1 ? sbh / t * (34.0 + attn) : sbh * (10.0 + 24.0 / t + attn / t);
  }
  return 0;
}

double selective_recompute_flops_overhead(double s, double h) { return s / (6.0 * h); }

double full_recompute_time_factor(double f_ms, double b_ms) { return (2.0 * f_ms + b_ms) / (f_ms + b_ms); }

double layer_time_ratio(double f_ms, double b_ms, double base_f_ms, double base_b_ms) {
  return (f_ms + b_ms) / (base_f_ms + base_b_ms);
}

double pipeoffload_ratio(double h, double s, double flops_per_s, double host_bytes_per_s) {
  return 10.0 / (3.0 * (6.0 * h + s)) * flops_per_s / host_bytes_per_s;
}

}  // namespace adaptis
