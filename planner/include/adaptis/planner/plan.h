#pragma once
// The one IR for every pipeline plan: partition (layers -> stages), placement (stages -> devices)
// and schedule (per device, an ordered list of actions). Built-in schedules, imported CSVs,
// the optimizer and the GUI editor all produce this; the validator, simulator, exporters and
// executor all consume it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/parallel_config.h"
#include "adaptis/planner/unit.h"

namespace adaptis {

// F = forward, B = backward for the input gradient, W = backward for the weight gradient,
// BW = both backward halves fused into one action (what 1F1B/GPipe run when B/W is not split),
// R = recompute: re-creates the activations a recomputing stage dropped after F; it runs after F
// and before the B/BW of the same (stage, mb), anywhere in between (in a bubble ahead of B).
// PyTorch pipelining calls our B "I" and our BW "B".
enum class Op : uint8_t { F = 0, B = 1, W = 2, BW = 3, R = 4 };
constexpr int kNumOps = 5;

const char* op_name(Op op);  // "F", "B", "W", "BW", "R"
// The op named by op_name; false (and `op` untouched) for any other text.
bool op_from_name(const std::string& name, Op& op);
// One character per op for text timelines: F forward, B input-grad, W weight-grad, X fused backward,
// R recompute.
char op_letter(Op op);

struct Action {
  Op op = Op::F;
  int32_t stage = 0;
  int32_t mb = 0;  // micro-batch
  // True when this action runs overlapped with the previous action on the same device (DualPipe's
  // F&B pairs): both start together once both are ready.
  bool overlap_prev = false;

  bool operator==(const Action& o) const {
    return op == o.op && stage == o.stage && mb == o.mb && overlap_prev == o.overlap_prev;
  }
};

std::string to_string(const Action& a);  // "F s3 mb1" (and "&" prefix when overlapped)

// Stage s holds layers [bounds[s], bounds[s+1]) of the model, in model order.
struct Partition {
  std::vector<int> bounds;  // size = num_stages + 1, bounds[0] = 0, bounds.back() = num_layers

  int num_stages() const { return bounds.empty() ? 0 : static_cast<int>(bounds.size()) - 1; }
  int num_layers() const { return bounds.empty() ? 0 : bounds.back(); }
  int stage_size(int s) const { return bounds[s + 1] - bounds[s]; }
  std::vector<int> sizes() const;
  static Partition from_sizes(const std::vector<int>& sizes);
};

// Layer counts as even as possible over `num_stages`; the first (num_layers % num_stages) stages
// take one extra layer. Throws InputError when num_stages > num_layers.
Partition even_partition(int num_layers, int num_stages);

// Placement: device -> the stages it holds, in its local chunk order.
struct Placement {
  std::vector<std::vector<int>> device_stages;

  int num_devices() const { return static_cast<int>(device_stages.size()); }
  int num_stages() const;
  // stage -> device; -1 for a stage no device holds.
  std::vector<int> stage_device() const;
};

// Placement styles of the built-in schedules.
Placement sequential_placement(int num_devices);                      // stage d on device d
Placement looped_placement(int num_devices, int stages_per_device);  // stage s on s mod p
Placement v_placement(int num_devices);                              // device d holds d and 2p-1-d
Placement wave_placement(int num_devices, int stages_per_device);    // zig-zag: 0..p-1, p-1..0, 0..p-1, ...

// What a stage does with the activations F keeps (memory_policy.h has the rules and helpers):
// drop part of them and recompute them with R before B, and/or copy a fraction of what it keeps to
// host memory after F and back before R/B over its device's host link.
// Recompute (adaptis/model/parallel_config.h) per stage:
//   None       keep everything F saves until B / W
//   Selective  keep each MLP/MoE block's input only (the cost model's saved-tensor inventory)
//   Full       keep the stage input only; with full_layers = k, only the first k layers are recomputed
// With variable-length units (Plan::units) a stage can recompute some units only (per-unit
// checkpointing): units costs differ, so dropping a long unit's activations saves much memory where
// recomputing a short one saves little and still costs its launch overheads.
struct StageMemoryPolicy {
  Recompute recompute = Recompute::None;
  int full_layers = 0;          // Full: recompute the stage's first k layers (0 = all of them)
  double offload_fraction = 0;  // of the bytes kept after F, in [0, 1]
  // Plans with units only: the units (micro-batch indices, ascending, each once) this stage recomputes;
  // empty = every unit. The others keep all their activations and have no R.
  std::vector<int> units;

  bool operator==(const StageMemoryPolicy&) const = default;
};

struct Plan {
  std::string name;  // schedule name, e.g. "1f1b", "zb-v", "optimized", "custom"
  int num_microbatches = 0;
  Partition partition;
  Placement placement;
  std::vector<std::vector<Action>> schedule;  // per device, in execution order
  // The whole-cluster configuration around this pipeline (tensor/data/context/expert degrees,
  // ZeRO, micro-batching): the plan's devices are one pipeline replica of parallel->pp ranks, each
  // a tensor x context-parallel group. Absent = a bare pipeline (no data-parallel sync, no
  // collectives). The per-layer costs must be derived for it (parallel_costs.h); the simulator adds
  // the data-parallel gradient sync, ZeRO gathers and optimizer step (sim_collectives.h).
  std::optional<ParallelConfig> parallel;
  // Per stage (index = stage); empty = no recompute and no offload anywhere. A recomputing stage
  // has one R per micro-batch in its device's list, between the F and the B/BW.
  std::vector<StageMemoryPolicy> memory;
  // Variable-length data (unit.h): unit i is micro-batch i, with its own tokens and attention pairs, so
  // each (op, stage, mb) costs what its unit costs (planner/units.h); slices of one row add the slice
  // dependencies. Empty = identical micro-batches, every one costing the per-layer costs as given.
  std::vector<WorkUnit> units;

  int num_devices() const { return placement.num_devices(); }
  int num_stages() const { return partition.num_stages(); }
  size_t num_actions() const;
};

}  // namespace adaptis
