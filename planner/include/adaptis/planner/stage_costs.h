#pragma once
// Layer costs summed per stage of a partition: what the simulator, optimizer and executor
// reason about.
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"

namespace adaptis {

struct StageCost {
  double f_ms = 0, b_ms = 0, w_ms = 0;  // on a speed-1.0 device
  double state_bytes = 0;               // static memory (weights, grads, optimizer)
  double param_bytes = 0;
  double act_b_bytes = 0;  // per micro-batch, held from F until B
  double act_w_bytes = 0;  // per micro-batch, held from F until W
  // Per micro-batch, created by a separate B and held until its W ends (LayerCost::w_grad_bytes: the output
  // gradients the weight gradient reads). No memory policy touches them: F does not make them. A fused BW
  // frees them as it goes.
  double w_grad_bytes = 0;
  double out_bytes = 0;    // activation sent to the next stage (and gradient received back)
  double in_bytes = 0;     // activation received from the previous stage
  LayerCost::Parallel parallel;  // the layers' parallel-configuration costs, summed (zero without one)
  // The stage's memory policy resolved (memory_policy.h); the defaults are no recompute, no offload.
  bool recompute = false;     // F keeps kept_bytes; R(s, mb) re-creates the rest before B
  double kept_bytes = 0;      // held from F until R when recompute (see kept())
  // What F keeps instead for a unit whose keys and values later slices of its row read (planner/units.h):
  // kept_bytes plus the keys and values of the layers the policy would otherwise drop.
  double kept_read_bytes = 0;
  double recompute_ms = 0;    // R's duration on a speed-1.0 device
  // Keys and values per micro-batch (LayerCost::kv_bytes summed, unknown counted as 0): the size of the
  // key/value gradient carry a slice read by later slices holds (planner/units.h).
  double kv_bytes = 0;
  // Attention scores (LayerCost::act_score_bytes summed): of act_b_bytes, and of what F keeps under the
  // policy (kept_score_bytes of kept_bytes, kept_read_score_bytes of kept_read_bytes). Per-unit costs scale
  // them with the unit's attention area instead of its tokens (planner/units.h).
  double act_score_bytes = 0;
  double kept_score_bytes = 0, kept_read_score_bytes = 0;
  double offload_bytes = 0;   // copied to host after F and back before R / B
  double offload_fraction = 0;  // of what F keeps (offload_bytes = offload_fraction * kept()); units scale it alike

  // Bytes F keeps per micro-batch until R (or until B/W frees them when the stage does not recompute).
  double kept() const { return recompute ? kept_bytes : act_b_bytes + act_w_bytes; }
  // Of f_ms / b_ms / w_ms: the parts that grow with attention pairs and that every micro-batch pays
  // once (LayerCost's split, summed); per-unit costs scale the rest with tokens (planner/units.h).
  double f_pair_ms = 0, b_pair_ms = 0, w_pair_ms = 0;
  double f_fixed_ms = 0, b_fixed_ms = 0, w_fixed_ms = 0;
  // Of recompute_ms likewise: a full recompute re-runs forwards, so it splits as their F does; the
  // selective set (MLP/MoE blocks) grows with tokens only.
  double recompute_pair_ms = 0, recompute_fixed_ms = 0;
};

// The layer's keys and values as StageCost::kv_bytes counts them: 0 when not given, at most what F keeps.
double known_kv_bytes(const LayerCost& c);
// The layer's attention scores as StageCost::act_score_bytes counts them: at most act_b_bytes.
double known_score_bytes(const LayerCost& c);

// Throws InputError when the partition does not cover exactly the table's layers. No memory policy
// (memory_policy.h has the overload that applies one).
std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition);

}  // namespace adaptis
