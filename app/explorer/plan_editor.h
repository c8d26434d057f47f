#pragma once
// The plan being explored, its edits and their history, free of any window or terminal. Every
// edit builds a candidate plan through the planner (build_plan for schedule choices, or a direct
// Plan edit for hand edits), validates and simulates it, and is applied only when that succeeds;
// otherwise the current plan stays and the result carries the validator's or simulator's reason.
//
// Schedule choices (schedule, micro-batches, chunks, devices) that give no plan are remembered as
// the pending request: the next such choice starts from it, so stepping through settings that do
// not apply (a schedule that needs more micro-batches, say) walks on instead of getting stuck.
//
// Undo/redo keep whole snapshots, shared and immutable, so copying an editor (the TUI copies its
// state per key) is cheap; a gesture (a drag, a live optimizer search) coalesces its many edits
// into one undo step.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan_builder.h"
#include "explorer/evaluation.h"

namespace adaptis::explorer {

struct EditResult {
  bool applied = false;
  std::string message;  // why the edit was refused ("" when applied, or when it changed nothing)
};

// Everything an edit can change; one undo step restores one of these.
struct PlanState {
  std::shared_ptr<const Evaluation> eval;  // the plan on its cluster, simulated (always ok)
  PlanRequest request;  // the built-in schedule options the plan was generated from
  // True once the per-device orders or the placement were edited by hand, or the plan came from a
  // file or the optimizer: the orders are then data, not a function of `request`.
  bool custom = false;
  std::string label;  // what produced this state ("move boundary 2 to layer 17", ...)
};

class PlanEditor {
 public:
  PlanEditor(CostTable costs, Cluster cluster, SimOptions sim);

  // Replaces the plan with a built-in schedule built from `req` (devices from the cluster when 0).
  // A request that gives no plan becomes the pending request (see request()).
  EditResult load_request(PlanRequest req, const std::string& label = "");
  // Replaces the plan with a complete plan (loaded file, optimizer result, a run's plan).
  EditResult load_plan(Plan plan, const std::string& label);
  // Replaces the costs and the cluster too (a whole-cluster plan's per-GPU costs and replica): the
  // history starts anew, since earlier plans were of other costs; the cluster is then fixed. Nothing
  // changes when the plan is refused.
  EditResult load_plan_with(CostTable costs, Cluster cluster, Plan plan, const std::string& label);

  // Schedule choices regenerate the orders from the request. The current partition is kept when
  // the new plan has as many stages; otherwise the partition is reset to even (and the message says
  // so). Hand-edited plans refuse them until a schedule is chosen (their orders are data).
  // `own_chunks`: the schedule's own chunk count rather than the one chosen for the previous schedule.
  EditResult set_schedule(const std::string& name, bool own_chunks = false);
  EditResult set_microbatches(int microbatches);
  EditResult set_stages_per_device(int v);
  // More devices than the cluster has grow it with copies of its last device unless it is fixed (a
  // cluster file); fewer use its first devices.
  EditResult set_devices(int devices);
  void set_cluster_fixed(bool fixed) { cluster_fixed_ = fixed; }
  bool cluster_fixed() const { return cluster_fixed_; }

  // Moves the boundary between stage `boundary - 1` and stage `boundary` to before layer `layer`.
  EditResult move_boundary(int boundary, int layer);
  EditResult set_partition(const std::vector<int>& sizes);
  // Every stage the same number of layers (as near as the layer count allows).
  EditResult even_partition();
  // Moves a stage to another device. Both devices' orders are remapped by merging on the current
  // simulated start times, which keeps every order consistent with the dependencies.
  EditResult move_stage(int stage, int device);
  // Moves the action at position `from` of a device's list to position `to` (positions in the
  // list before the move; to == size appends).
  EditResult move_action(int device, int from, int to);
  // Cluster what-ifs.
  EditResult set_device_speed(int device, double speed);
  EditResult set_memory_limit(int device, double bytes);
  EditResult set_sim_options(const SimOptions& sim);
  EditResult set_links(const Link& intra_node, const Link& inter_node);
  // Re-partitions the layers so every stage takes about the same time on its device (the planner's
  // balanced_partition with each stage's device speed); keeps placement and orders.
  EditResult balance_partition();
  // Memory policies (memory_policy.h), one per stage (empty = none anywhere): sets them and makes
  // the R actions match (a recomputing stage's missing R go just before their B, a stage that no
  // longer recomputes loses its R); `label` names the undo step. Schedule choices keep the plan's
  // policies (per stage when the stage count stays, a uniform one always; otherwise they are reset
  // and the message says so). Defined in plan_editor_memory.cpp.
  EditResult set_memory_policies(std::vector<StageMemoryPolicy> policies, const std::string& label);
  // The weakest uniform recompute (none, selective, full; the plan's offload fraction kept when it
  // is uniform) whose plan fits every device's cap; the strongest when none fits (the message says so).
  EditResult auto_memory_policy();

  // Live edits between begin and end form one undo step.
  void begin_gesture();
  void end_gesture();
  bool in_gesture() const { return gesture_; }

  bool can_undo() const { return !undo_.empty(); }
  bool can_redo() const { return !redo_.empty(); }
  bool undo();
  bool redo();
  // Labels of the undo steps, oldest first, and of the redo steps, next first.
  std::vector<std::string> undo_labels() const;
  std::vector<std::string> redo_labels() const;

  bool has_plan() const { return state_ != nullptr; }
  const PlanState& state() const { return *state_; }
  const Evaluation& eval() const { return *state_->eval; }
  std::shared_ptr<const Evaluation> eval_ptr() const { return state_ ? state_->eval : nullptr; }
  const Plan& plan() const { return state_->eval->plan; }
  const SimResult& sim() const { return state_->eval->sim; }
  const std::vector<StageCost>& stage_costs() const { return state_->eval->stages; }
  const CostTable& costs() const { return *costs_; }
  std::shared_ptr<const CostTable> costs_ptr() const { return costs_; }
  // The cluster and options edits apply to (the plan's, or the start-up ones before any plan).
  const Cluster& cluster() const { return cluster_; }
  const SimOptions& sim_options() const { return options_; }
  // What the schedule choices start from: the pending request when the last one gave no plan.
  const PlanRequest& request() const;
  // Why the pending request gives no plan ("" when the plan on screen is what was asked for).
  const std::string& pending_problem() const { return pending_problem_; }
  // Bumped whenever plan, cluster or simulation change (views rebuild derived data on change).
  uint64_t revision() const { return revision_; }
  // The message of the last refused edit ("" after a successful one).
  const std::string& last_error() const { return last_error_; }
  // Milliseconds the last applied edit spent validating, simulating and laying out lanes.
  double last_edit_ms() const { return last_edit_ms_; }

  static constexpr size_t kMaxHistory = 256;

 private:
  // `orders_changed` false: only the partition, cluster or simulation options changed, so the
  // per-device orders (already validated) need no new validation, only the partition's shape.
  EditResult apply(Plan plan, Cluster cluster, SimOptions options, PlanRequest request, bool custom,
                   const std::string& label, bool orders_changed = true);
  EditResult refuse(std::string why);
  // Builds `req`; on failure it becomes pending. `reset_partition`: a partition that no longer fits
  // (another stage count) is reset to even, and the message says so.
  EditResult rebuild(PlanRequest req, const std::string& label, bool reset_partition = true);
  EditResult refuse_custom(const std::string& label, const char* what);
  // Gives a freshly built plan the current plan's memory policies; returns a note when they could
  // not be kept ("" otherwise).
  std::string carry_memory(Plan& plan) const;
  // Gives a freshly built plan the current plan's parallel configuration (Plan::parallel) with its
  // micro-batch count; dropped (the note says so) when the device count is no longer its pp.
  std::string carry_parallel(Plan& plan) const;
  void install(std::shared_ptr<const PlanState> s);

  std::shared_ptr<const CostTable> costs_;
  Cluster cluster_;
  SimOptions options_;
  bool cluster_fixed_ = false;
  std::shared_ptr<const PlanState> state_;
  std::vector<std::shared_ptr<const PlanState>> undo_, redo_;
  std::optional<PlanRequest> pending_;
  std::string pending_problem_;
  PlanRequest initial_request_;
  bool gesture_ = false, gesture_pushed_ = false;
  uint64_t revision_ = 0;
  std::string last_error_;
  double last_edit_ms_ = 0;
};

}  // namespace adaptis::explorer
