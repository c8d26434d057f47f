#pragma once
// Per-layer costs: the only thing the planner needs to know about a model.
// They come from the analytical roofline model (cost_model.h), a profiler run, or a cost file
// (our own format, or the AdaPtis authors' per-layer profiles as found in shared/peer-profiles).
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
  // time linear in tokens. Bytes above grow with tokens.
  double f_pair_ms = 0, b_pair_ms = 0, w_pair_ms = 0;
  double f_fixed_ms = 0, b_fixed_ms = 0, w_fixed_ms = 0;
};

struct CostTable {
  std::string model;   // model name
  std::string source;  // where the numbers came from: "analytical:H100", "profile:FILE", "cpu-profile", ...
  std::vector<LayerCost> layers;
  int microbatches = 0;  // micro-batches per iteration (global batch / micro-batch size); 0 = unknown
  // The micro-batch the times and bytes are for: its tokens and causal attention pairs (sequences of
  // length s contribute s^2/2 each). 0 = not stated (a profile without them); per-unit costs then need a
  // reference from the caller (see planner/units.h).
  double ref_tokens = 0;
  double ref_pairs = 0;

  int num_layers() const { return static_cast<int>(layers.size()); }
  // True when any layer has a separate weight-gradient time (B/W split profiled).
  bool split_backward() const;
};

// Reads a cost file. Accepts our format ("format": "adaptis-costs/1") and the AdaPtis authors'
// per-layer profile format ({"model", "time_unit_ms", "layers": [{"type","f","b","w"}]}).
// Throws InputError naming the file and field on any problem (negative times, missing fields, ...).
CostTable load_cost_table(const std::string& path);

// Writes our format (times in ms, bytes in bytes).
void save_cost_table(const CostTable& costs, const std::string& path);

}  // namespace adaptis
