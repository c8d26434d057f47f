#pragma once
// The plan being explored, its edits and their history, free of any window. Every edit builds a
// candidate plan through the planner (build_plan for schedule choices, or a direct Plan edit for
// hand edits), validates and simulates it, and is applied only when that succeeds; otherwise the
// current plan stays and the result carries the validator's or simulator's explanation.
// Undo/redo keep whole snapshots (plans are small next to their simulation), and a gesture
// (a drag) coalesces its many live edits into one undo step.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis::gui {

struct EditResult {
  bool applied = false;
  std::string message;  // why the edit was refused (empty when applied)
};

// Everything an edit can change; one undo step restores one of these.
struct EditorState {
  Plan plan;
  Cluster cluster;
  SimOptions sim;
  PlanRequest request;  // the built-in schedule options the plan was generated from
  // True once the per-device orders or the placement were edited by hand, or the plan came from a
  // file or the optimizer: the orders are then data, not a function of `request`.
  bool custom = false;
  std::string label;    // what produced this state ("move boundary 2 to layer 17", ...)
};

class PlanEditor {
 public:
  PlanEditor(CostTable costs, Cluster cluster, SimOptions sim);

  // Replaces the plan with a built-in schedule built from `req` (devices from the cluster when 0).
  EditResult load_request(PlanRequest req, const std::string& label = "");
  // Replaces the plan with a complete plan (loaded file, optimizer result).
  EditResult load_plan(Plan plan, const std::string& label);

  // Schedule choices regenerate the orders from the request (the schedule's own placement; the
  // current partition is kept when the stage count is unchanged).
  EditResult set_schedule(const std::string& name);
  EditResult set_microbatches(int microbatches);
  EditResult set_stages_per_device(int v);
  EditResult set_devices(int devices);

  // Moves the boundary between stage `boundary - 1` and stage `boundary` to before layer `layer`.
  EditResult move_boundary(int boundary, int layer);
  EditResult set_partition(const std::vector<int>& sizes);
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

  // Live edits between begin and end form one undo step.
  void begin_gesture();
  void end_gesture();
  bool in_gesture() const { return gesture_; }

  bool can_undo() const { return !undo_.empty(); }
  bool can_redo() const { return !redo_.empty(); }
  bool undo();
  bool redo();
  const std::vector<EditorState>& undo_stack() const { return undo_; }
  const std::vector<EditorState>& redo_stack() const { return redo_; }

  const EditorState& state() const { return state_; }
  const Plan& plan() const { return state_.plan; }
  const Cluster& cluster() const { return state_.cluster; }
  const CostTable& costs() const { return costs_; }
  const SimOptions& sim_options() const { return state_.sim; }
  const SimResult& sim() const { return sim_; }
  const std::vector<StageCost>& stage_costs() const { return stages_; }
  bool has_plan() const { return has_plan_; }
  // Bumped whenever plan, cluster or simulation change (the UI rebuilds derived data on change).
  uint64_t revision() const { return revision_; }
  // The message of the last refused edit ("" after a successful one).
  const std::string& last_error() const { return last_error_; }
  // Seconds the last applied edit spent validating + simulating.
  double last_edit_seconds() const { return last_edit_s_; }

  static constexpr size_t kMaxHistory = 256;

 private:
  // `orders_changed` false: only the partition, cluster or simulation options changed, so the
  // per-device orders (already validated) need no new validation, only the partition's shape.
  EditResult apply(EditorState next, const std::string& label, bool orders_changed = true);
  EditResult refuse(std::string why);
  EditResult rebuild(PlanRequest req, const std::string& label);
  void install(EditorState s);

  CostTable costs_;
  EditorState state_;
  SimResult sim_;
  std::vector<StageCost> stages_;
  bool has_plan_ = false;
  std::vector<EditorState> undo_, redo_;
  bool gesture_ = false, gesture_pushed_ = false;
  uint64_t revision_ = 0;
  std::string last_error_;
  double last_edit_s_ = 0;
};

}  // namespace adaptis::gui
