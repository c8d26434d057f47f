#pragma once
// Per-stage activation memory policies (Plan::memory): recompute and offload, the R actions that go
// with them, and what a policy makes a stage keep and cost.
//
// The rules, for a stage s and micro-batch mb (A = act_b + act_w of its layers, K = what F keeps):
//   - no recompute: F keeps K = A from its start until B frees act_b and W frees act_w;
//   - selective: K = the layers' kept_selective_bytes; R re-creates A - K (and costs the layers'
//     recompute_selective_ms);
//   - full: K = the input of the stage's first layer (its kept_full_bytes); R re-runs the forward of
//     the stage; with full_layers = k only the first k layers are recomputed, so K also holds all of
//     layers k.. activations and R costs the first k layers' F;
//   - a unit whose keys and values later slices of its row attend to (a slice that is not its row's last,
//     units.h) keeps them whatever the policy: K also holds the keys and values (LayerCost::kv_bytes) of
//     the layers the policy drops, until the unit's B (the later slices' B run before it);
//   - offload fraction a: a * K bytes are copied to host after F (they leave the device when that
//     copy ends) and back before R (or B when the stage does not recompute); the copy back starts
//     when the device starts the action just before that consumer (before an overlapped pair, the
//     action before the pair), reserves its bytes when it starts, and the consumer waits for it. A
//     micro-batch whose F is that action itself (F right before its consumer, or in one overlapped
//     pair with that action) is not offloaded: there is no time to hide the copies in.
// R is an action of its own, placed anywhere after the F and before the B/BW of the same (stage,
// mb) on the stage's device, so a scheduler can put it into a bubble ahead of B.
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis {

// recompute_name / parse_recompute: adaptis/model/parallel_config.h (through plan.h).
// "none", "selective", "full", "full (first 2 layers)", "... + offload 50%".
std::string describe(const StageMemoryPolicy& p);

// Per-stage policies in a few words: "" when none recomputes or offloads, else e.g.
// "stages 0-2 full, 3 selective + offload 50%, 4-7 none".
std::string describe_memory(const std::vector<StageMemoryPolicy>& policies);

bool recomputes(const StageMemoryPolicy& p);
// Whether a stage under `p` recomputes micro-batch (unit) `mb`: every one unless p.units selects some.
bool recomputes_unit(const StageMemoryPolicy& p, int mb);
// `p` made valid over `units`: no unit selection when nothing recomputes or there are no units.
StageMemoryPolicy policy_over_units(StageMemoryPolicy p, const std::vector<WorkUnit>& units);
// Stage `s`'s policy (the default when Plan::memory is empty).
StageMemoryPolicy stage_memory(const Plan& plan, int stage);
// True when any stage recomputes or offloads.
bool has_memory_policy(const Plan& plan);

// Sets plan.memory (one policy per stage, or empty) and makes the R actions match it: every R of a
// (stage, mb) that does not recompute is removed, and the missing R of those that do are placed right
// before their B/BW (just in time: the simplest placement, what built-in schedules get).
// InputError when `policies` is neither empty nor one per stage.
void set_memory_policy(Plan& plan, std::vector<StageMemoryPolicy> policies);
// The same policy on every stage.
void set_uniform_memory_policy(Plan& plan, const StageMemoryPolicy& policy);

// Structural checks of the memory policies and R actions, appended to `errors` (the validator
// calls this): one policy per stage (none for a stage that does not exist), full_layers in
// [0, stage layers], offload_fraction in [0, 1], exactly one R per recomputed (stage, mb) and none
// elsewhere, and on each device F before R before B/BW. With units (Plan::units): a policy's unit
// selection ascending and in range; no offload (its host copies are priced per stage, not per unit).
void check_memory_policy(const Plan& plan, std::vector<std::string>& errors);

// The cluster side: every device holding a stage that offloads needs a host link. InputError
// naming the stage, the device and the cluster otherwise.
void require_host_links(const Plan& plan, const Cluster& cluster);

// Per-layer recompute figures of a cost table as prefix sums: a stage's figures under any policy
// in O(1) (the optimizer's inner loop prices thousands of them).
class StageMemoryTable {
 public:
  explicit StageMemoryTable(const CostTable& costs);
  // Sets c.recompute, c.kept_bytes, c.kept_read_bytes, c.kept_score_bytes, c.recompute_ms and c.offload_bytes for layers [first, end)
  // under `p` (c's activation bytes must already be those layers').
  void apply(StageCost& c, int first, int end, const StageMemoryPolicy& p) const;

 private:
  // Prefix sums over layers; *_read_: what a unit whose keys and values are read later keeps.
  std::vector<double> act_, kept_selective_, selective_ms_, f_, f_pair_, f_fixed_, kv_, kept_selective_read_;
  // Attention scores (StageCost::act_score_bytes) kept with no recompute, under selective, and under selective
  // by a unit whose keys later slices read.
  std::vector<double> score_, score_selective_, score_selective_read_;
  std::vector<double> kept_full_;                                // per layer
};

// Stage costs of `partition` with each stage's policy applied (empty `memory` = none).
std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition,
                                   const std::vector<StageMemoryPolicy>& memory);

}  // namespace adaptis
