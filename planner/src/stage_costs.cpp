#include "adaptis/planner/stage_costs.h"

#include <algorithm>

#include "adaptis/model/error.h"

namespace adaptis {

namespace {
void add_parallel_costs(LayerCost::Parallel& a, const LayerCost::Parallel& b) {
  a.tp_f_ms += b.tp_f_ms;
  a.tp_b_ms += b.tp_b_ms;
  a.cp_f_ms += b.cp_f_ms;
  a.cp_b_ms += b.cp_b_ms;
  a.ep_f_ms += b.ep_f_ms;
  a.ep_b_ms += b.ep_b_ms;
  a.recompute_ms += b.recompute_ms;
  a.params += b.params;
  a.grad_bytes += b.grad_bytes;
  a.gather_bytes += b.gather_bytes;
  a.optimizer_ms += b.optimizer_ms;
}
}  // namespace

double known_kv_bytes(const LayerCost& c) {
  // F keeps the keys and values among its activations: no more than those.
  return c.kv_bytes > 0 ? std::min(c.kv_bytes, c.act_b_bytes + c.act_w_bytes) : 0.0;
}

double known_score_bytes(const LayerCost& c) { return std::clamp(c.act_score_bytes, 0.0, c.act_b_bytes); }

std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition) {
  if (partition.num_stages() < 1) throw InputError("partition: no stages");
  if (partition.bounds.front() != 0 || partition.num_layers() != costs.num_layers())
    throw InputError("partition: covers layers [" + std::to_string(partition.bounds.front()) + ", " +
                     std::to_string(partition.num_layers()) + ") but the model has " +
                     std::to_string(costs.num_layers()) + " layers");
  std::vector<StageCost> out(partition.num_stages());
  for (int s = 0; s < partition.num_stages(); ++s) {
    if (partition.stage_size(s) < 1)
      throw InputError("partition: stage " + std::to_string(s) + " has no layers");
    StageCost& c = out[s];
    for (int l = partition.bounds[s]; l < partition.bounds[s + 1]; ++l) {
      const LayerCost& lc = costs.layers[l];
      c.f_ms += lc.f_ms;
      c.b_ms += lc.b_ms;
      c.w_ms += lc.w_ms;
      c.state_bytes += lc.state_bytes;
      c.param_bytes += lc.param_bytes;
      c.act_b_bytes += lc.act_b_bytes;
      c.act_w_bytes += lc.act_w_bytes;
      c.w_grad_bytes += lc.w_grad_bytes;
      c.kv_bytes += known_kv_bytes(lc);
      c.act_score_bytes += known_score_bytes(lc);
      c.f_pair_ms += lc.f_pair_ms;
      c.b_pair_ms += lc.b_pair_ms;
      c.w_pair_ms += lc.w_pair_ms;
      c.f_fixed_ms += lc.f_fixed_ms;
      c.b_fixed_ms += lc.b_fixed_ms;
      c.w_fixed_ms += lc.w_fixed_ms;
      add_parallel_costs(c.parallel, lc.parallel);
    }
    c.out_bytes = costs.layers[partition.bounds[s + 1] - 1].out_bytes;
    c.in_bytes = partition.bounds[s] > 0 ? costs.layers[partition.bounds[s] - 1].out_bytes : 0.0;
  }
  return out;
}

}  // namespace adaptis
