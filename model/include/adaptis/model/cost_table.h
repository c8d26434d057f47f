#pragma once
// Per-layer costs: the only thing the planner needs to know about a model.
// They come from the analytical roofline model (cost_model.h), a profiler run, or a cost file
// (our own format, or the AdaPtis authors' per-layer profiles as found in shared/peer-profiles).
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace adaptis {

struct LayerCost {
  std::string name;  // e.g. "layers.3" or the profile's type symbol ("M", "-", "*", "M+E")
  std::string kind;  // layer kind ("attention", "mamba", ...) or the profile's type symbol
  // Times in milliseconds on a device of speed 1.0.
  double f_ms = 0;  // forward
  double b_ms = 0;  // backward, input gradient (the full backward when w_ms == 0: not split)
  double w_ms = 0;  // backward, weight gradient
  // Memory in bytes.
  double param_bytes = 0;   // weights only (what is exported / counted as parameters)
  double state_bytes = 0;   // static: weights + gradients + optimizer state, resident all iteration
  double act_b_bytes = 0;   // activations kept from F until B (freed when B ends)
  double act_w_bytes = 0;   // activations kept from F until W (freed when W ends)
  double out_bytes = 0;     // output activation of this layer: what is sent to the next stage (and its grad back)
  // Output gradients created by B and kept until W when B and W run as separate actions (the dY
  // of each linear that the weight gradient needs); 0 when unknown. Transient in a fused BW.
  double w_grad_bytes = 0;
  // Variable-length units (planner/units.h): how each time above splits for a micro-batch that is not
  // the reference one. Of f_ms, the part f_pair_ms grows with the causal attention pairs Q of the
  // micro-batch, f_fixed_ms is paid once per micro-batch whatever its size (kernel launches), and the
  // rest grows with its tokens T; the same for b and w. All 0 (a cost file without the split) = every
  // time linear in tokens. Bytes above grow with tokens, except the attention scores below.
  double f_pair_ms = 0, b_pair_ms = 0, w_pair_ms = 0;
  double f_fixed_ms = 0, b_fixed_ms = 0, w_fixed_ms = 0;
  // Of act_b_bytes: attention scores F keeps for B (the softmax output of an attention that materialises
  // it, its dropout mask) for the reference micro-batch. They grow with the unit's attention area, the
  // query x key rectangle of each piece (s^2 for a whole sequence of s tokens, l * (o + l) for a slice of
  // l tokens after o earlier ones; WorkUnit::attention_area), not with its tokens. 0 for a flash attention,
  // which keeps no scores, and for a layer without attention.
  double act_score_bytes = 0;
  // Of kept_selective_bytes (when given): the scores selective recompute keeps (0 when it re-creates the
  // attention core; all of act_score_bytes when it recomputes only other blocks). Negative = not given:
  // as much of act_score_bytes as fits in kept_selective_bytes (layer_recompute.h).
  double kept_selective_score_bytes = -1;

  // Under a parallel configuration (parallel_costs.h): what one GPU of the layer's tensor/context
  // group communicates and reduces. All zero for a bare pipeline. The *_ms parts are already inside
  // f_ms / b_ms (the layer waits for them); they are listed so the simulator can show them on their
  // own lanes.
  struct Parallel {
    double tp_f_ms = 0, tp_b_ms = 0;  // tensor-parallel all-reduce (reduce-scatter + all-gather with SP)
    double cp_f_ms = 0, cp_b_ms = 0;  // context-parallel ring KV exchange not hidden by attention
    double ep_f_ms = 0, ep_b_ms = 0;  // expert-parallel all-to-all dispatch + combine
    double recompute_ms = 0;          // recomputed forward inside b_ms
    double params = 0;                // parameters this GPU holds for the layer (before ZeRO sharding)
    double grad_bytes = 0;            // gradient bytes reduced over data parallelism per iteration
    double gather_bytes = 0;          // ZeRO-3: weight bytes all-gathered before each F and B
    double optimizer_ms = 0;          // the optimizer step over this GPU's share of the layer's states
  } parallel;
  // What activation recomputation needs (optional; negative = not given, resolved conservatively by
  // layer_recompute.h). Without recomputation a layer keeps act_b_bytes + act_w_bytes from F.
  double kept_selective_bytes = -1;    // kept from F under selective recompute; R re-creates the rest
  double recompute_selective_ms = -1;  // F time of what selective recomputes (full recompute costs f_ms)
  double kept_full_bytes = -1;         // the layer's input: what a recomputed block starting here keeps
  // Keys and values the layer's attention produces for the reference micro-batch (0 for a layer without
  // attention; negative = not given). A slice of a sequence whose later slices attend to it keeps these
  // from its F until its B even when its stage recomputes it (memory_policy.h); unknown counts as
  // everything F keeps (no saving).
  double kv_bytes = -1;
  // The layer carries state from one token to the next (a Mamba scan; any block with a Mamba mixer,
  // whatever its name): its work over a sequence cannot be cut into slices (planner/unit_slicing.h).
  // Set from the model's structure (a model spec's components, the executor's layer types); a profile that
  // only gives a type symbol leaves it false. Cost files: optional field "recurrent" (absent = false).
  bool recurrent = false;
};

struct CostTable {
  std::string model;   // model name
  std::string source;  // where the numbers came from: "analytical:H100", "profile:FILE", "cpu-profile", ...
  std::vector<LayerCost> layers;
  int microbatches = 0;  // micro-batches per iteration (global batch / micro-batch size); 0 = unknown
  // The micro-batch the times and bytes are for: its tokens (also used for throughput and MFU) and
  // causal attention pairs (sequences of length s contribute s^2/2 each); 0 = unknown. Per-unit
  // costs (planner/units.h) scale from them.
  double tokens_per_microbatch = 0;
  double pairs_per_microbatch = 0;
  double model_flops_per_microbatch = 0;  // F + B + W FLOPs of the whole model, no recomputation

  int num_layers() const { return static_cast<int>(layers.size()); }
  // True when any layer has a separate weight-gradient time (B/W split profiled).
  bool split_backward() const;
};

// Reads a cost file. Accepts our format ("format": "adaptis-costs/1") and the AdaPtis authors'
// per-layer profile format ({"model", "time_unit_ms", "layers": [{"type","f","b","w"}]}).
// Throws InputError naming the file and field on any problem (negative times or bytes, missing
// fields, ...). The recompute fields (kept_selective_bytes, recompute_selective_ms, kept_full_bytes)
// are optional; absent ones stay negative (not given). "recurrent" is optional (a boolean, absent = false).
CostTable load_cost_table(const std::string& path);

// Checks every time is finite and in [0, kMaxLayerTimeMs] and every byte count in [0, kMaxBytes]
// (limits.h), the optional fields likewise unless negative (not given), and the table's micro-batch
// counts, tokens, pairs and FLOPs; throws InputError "ORIGIN: layers[i] ('name'): field 'f' (ms): ..."
// otherwise. For costs that were derived (the analytical model) or stored (a database) rather than read
// from a file.
void validate_cost_table(const CostTable& costs, const std::string& origin);
// Checks what load_cost_table checks between a layer's fields: act_score_bytes within act_b_bytes,
// kept_selective_score_bytes (when given) within act_score_bytes and kept_selective_bytes, and each
// pass's pair + fixed parts within its time; InputError "ORIGIN: layers[i] ('name'): field ..." otherwise.
// For stored costs (a database), which must read back as their cost file would.
void validate_cost_parts(const CostTable& costs, const std::string& origin);

// Our format as JSON ("format": "adaptis-costs/1", times in ms, bytes in bytes): what save_cost_table
// writes, what the run store keeps and what `--json` prints.
nlohmann::json cost_table_json(const CostTable& costs);
// Writes cost_table_json to `path`.
void save_cost_table(const CostTable& costs, const std::string& path);

}  // namespace adaptis
