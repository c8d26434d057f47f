#pragma once
// The one IR for every pipeline plan: partition (layers -> stages), placement (stages -> devices)
// and schedule (per device, an ordered list of actions). Built-in schedules, imported CSVs,
// the optimizer and the GUI editor all produce this; the validator, simulator, exporters and
// executor all consume it.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/planner/unit.h"

namespace adaptis {

// F = forward, B = backward for the input gradient, W = backward for the weight gradient,
// BW = both backward halves fused into one action (what 1F1B/GPipe run when B/W is not split).
// PyTorch pipelining calls our B "I" and our BW "B".
enum class Op : uint8_t { F = 0, B = 1, W = 2, BW = 3 };
constexpr int kNumOps = 4;

const char* op_name(Op op);  // "F", "B", "W", "BW"

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

struct Plan {
  std::string name;  // schedule name, e.g. "1f1b", "zb-v", "optimized", "custom"
  int num_microbatches = 0;
  Partition partition;
  Placement placement;
  std::vector<std::vector<Action>> schedule;  // per device, in execution order
  // Variable-length data (unit.h): unit i is micro-batch i, with its own tokens and attention pairs, so
  // each (op, stage, mb) costs what its unit costs (planner/units.h); slices of one row add the slice
  // dependencies. Empty = identical micro-batches, every one costing the per-layer costs as given.
  std::vector<WorkUnit> units;

  int num_devices() const { return placement.num_devices(); }
  int num_stages() const { return partition.num_stages(); }
  size_t num_actions() const;
};

}  // namespace adaptis
