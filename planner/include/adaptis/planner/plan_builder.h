#pragma once
// From user choices (schedule name, devices, micro-batches, partition, placement) to a Plan.
// The CLI, TUI, GUI and tests all build plans through this one function.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/schedules.h"

namespace adaptis {

struct PlanRequest {
  std::string schedule = "1f1b";
  int devices = 4;
  int microbatches = 8;
  int stages_per_device = 0;       // 0 = the schedule's default
  int group_size = 0;              // Megatron interleaved group size; 0 = devices
  std::vector<int> partition;      // layers per stage; empty = as even as possible
  std::string placement;           // "" = the schedule's own; else see parse_placement
  // Variable-length units (Plan::units): one micro-batch per unit (`microbatches` is then ignored), and
  // the unit-only schedules (seq1f1b, terapipe) become available (unit_schedules.h).
  std::vector<WorkUnit> units;
};

// "14,14,14,14" -> sizes. Throws InputError on field `field` on bad text.
std::vector<int> parse_partition(const std::string& text, const std::string& field = "partition");

// "0,4|1,5|2,6|3,7" (device lists separated by '|', stages by ',') or a style name:
// "sequential", "looped", "v", "wave". `num_stages` sizes the named styles.
Placement parse_placement(const std::string& text, int devices, int stages_per_device,
                          const std::string& field = "placement");
std::string format_placement(const Placement& placement);  // the '|' form
std::string format_partition(const Partition& partition);  // "14,14,14,14"
std::string format_stage_counts(const Placement& placement);  // stages per device: "2/2/1/1"

// Builds and validates the plan for a model of `num_layers` layers. A custom placement keeps the
// schedule's per-device pattern over local chunks (device d's k-th chunk becomes the k-th stage
// listed for d). Throws InputError on any inconsistency (sizes that do not add up, a placement
// of another shape, a deadlocking order).
Plan build_plan(const PlanRequest& req, int num_layers);

}  // namespace adaptis
