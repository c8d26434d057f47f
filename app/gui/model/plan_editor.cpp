#include "gui/model/plan_editor.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "adaptis/model/error.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/validator.h"

namespace adaptis::gui {

namespace {

std::string str(int v) { return std::to_string(v); }

// Clears overlap flags whose partner changed: an overlapped action is paired with whatever precedes
// it, so after an edit it keeps its flag only if the same action still precedes it.
void fix_overlap_flags(const std::vector<Action>& before, std::vector<Action>& after) {
  for (size_t i = 0; i < after.size(); ++i) {
    if (!after[i].overlap_prev) continue;
    if (i == 0) {
      after[i].overlap_prev = false;
      continue;
    }
    auto it = std::find(before.begin(), before.end(), after[i]);
    const bool same_prev = it != before.end() && it != before.begin() && *(it - 1) == after[i - 1];
    if (!same_prev) after[i].overlap_prev = false;
  }
}

}  // namespace

PlanEditor::PlanEditor(CostTable costs, Cluster cluster, SimOptions sim) : costs_(std::move(costs)) {
  state_.cluster = std::move(cluster);
  state_.sim = sim;
}

EditResult PlanEditor::refuse(std::string why) {
  last_error_ = why;
  return {false, std::move(why)};
}

void PlanEditor::install(EditorState s) {
  stages_ = adaptis::stage_costs(costs_, s.plan.partition);
  sim_ = simulate_stages(s.plan, stages_, s.cluster, s.sim);
  state_ = std::move(s);
  has_plan_ = true;
  ++revision_;
}

EditResult PlanEditor::apply(EditorState next, const std::string& label, bool orders_changed) {
  const auto t0 = std::chrono::steady_clock::now();
  if (orders_changed || !has_plan_) {
    // The full validation includes a deadlock check of the orders: about twice a simulation.
    ValidationReport rep = validate_plan(next.plan, costs_.num_layers());
    if (!rep.ok()) return refuse(label + ": " + rep.message());
  } else {
    const std::vector<int>& b = next.plan.partition.bounds;
    if (b.size() != state_.plan.partition.bounds.size() || b.front() != 0)
      return refuse(label + ": the partition must have " + str(state_.plan.num_stages()) + " stages starting at layer 0");
    if (b.back() != costs_.num_layers())
      return refuse(label + ": the partition covers " + str(b.back()) + " layers but the model has " +
                    str(costs_.num_layers()));
    for (size_t s = 1; s < b.size(); ++s)
      if (b[s] <= b[s - 1]) return refuse(label + ": stage " + str(static_cast<int>(s) - 1) + " would have no layers");
  }
  std::vector<StageCost> st;
  SimResult sr;
  try {
    st = adaptis::stage_costs(costs_, next.plan.partition);
    sr = simulate_stages(next.plan, st, next.cluster, next.sim);
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  if (!sr.ok) return refuse(label + ": " + sr.error);

  if (has_plan_) {
    if (!gesture_ || !gesture_pushed_) {
      undo_.push_back(state_);
      if (undo_.size() > kMaxHistory) undo_.erase(undo_.begin());
      gesture_pushed_ = gesture_;
    }
    redo_.clear();
  }
  next.label = label;
  state_ = std::move(next);
  stages_ = std::move(st);
  sim_ = std::move(sr);
  has_plan_ = true;
  ++revision_;
  last_error_.clear();
  last_edit_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {true, ""};
}

EditResult PlanEditor::rebuild(PlanRequest req, const std::string& label) {
  if (req.devices <= 0) req.devices = state_.cluster.num_devices();
  if (req.devices > state_.cluster.num_devices())
    return refuse(label + ": the cluster has " + str(state_.cluster.num_devices()) + " devices, not " +
                  str(req.devices));
  EditorState next = state_;
  try {
    next.plan = build_plan(req, costs_.num_layers());
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  next.request = std::move(req);
  next.custom = false;
  return apply(std::move(next), label);
}

EditResult PlanEditor::load_request(PlanRequest req, const std::string& label) {
  const std::string l = label.empty() ? "schedule " + req.schedule : label;
  return rebuild(std::move(req), l);
}

EditResult PlanEditor::load_plan(Plan plan, const std::string& label) {
  if (plan.num_devices() > state_.cluster.num_devices())
    return refuse(label + ": the plan uses " + str(plan.num_devices()) + " devices but the cluster has " +
                  str(state_.cluster.num_devices()));
  EditorState next = state_;
  next.request.devices = plan.num_devices();
  next.request.microbatches = plan.num_microbatches;
  next.request.partition = plan.partition.sizes();
  next.plan = std::move(plan);
  next.custom = true;
  return apply(std::move(next), label);
}

EditResult PlanEditor::set_schedule(const std::string& name) {
  const std::string label = "schedule " + name;
  PlanRequest req = state_.request;
  req.schedule = name;
  req.placement.clear();
  ScheduleKind kind;
  try {
    kind = parse_schedule_kind(name);
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  ScheduleOptions so;
  so.devices = req.devices > 0 ? req.devices : state_.cluster.num_devices();
  so.stages_per_device = req.stages_per_device;
  // Looped schedules take any chunk count; the others have their own and reject a different one.
  if (req.stages_per_device > 0 && schedule_stages_per_device(kind, so) != req.stages_per_device)
    req.stages_per_device = 0;
  so.stages_per_device = req.stages_per_device;
  // Keep the user's partition when the new schedule has as many stages.
  const int stages = so.devices * schedule_stages_per_device(kind, so);
  if (has_plan_ && stages == state_.plan.num_stages()) req.partition = state_.plan.partition.sizes();
  else req.partition.clear();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_microbatches(int microbatches) {
  const std::string label = "micro-batches " + str(microbatches);
  if (microbatches < 1) return refuse(label + ": must be at least 1");
  if (state_.custom)
    return refuse(label + ": this plan's orders are data (edited by hand, loaded or optimized), so they cannot be "
                  "regenerated for another micro-batch count; choose a schedule first");
  PlanRequest req = state_.request;
  req.microbatches = microbatches;
  if (has_plan_) req.partition = state_.plan.partition.sizes();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_stages_per_device(int v) {
  const std::string label = "stages per device " + str(v);
  if (v < 0) return refuse(label + ": must be >= 1 (0 = the schedule's default)");
  if (state_.custom)
    return refuse(label + ": this plan's orders are data (edited by hand, loaded or optimized); choose a schedule "
                  "first to regenerate them");
  PlanRequest req = state_.request;
  req.stages_per_device = v;
  req.partition.clear();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_devices(int devices) {
  const std::string label = "devices " + str(devices);
  if (devices < 1) return refuse(label + ": must be at least 1");
  if (state_.custom)
    return refuse(label + ": this plan's placement and orders are data (edited by hand, loaded or optimized); "
                  "choose a schedule first to regenerate them");
  PlanRequest req = state_.request;
  req.devices = devices;
  if (!(has_plan_ && devices == state_.plan.num_devices())) req.partition.clear();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::move_boundary(int boundary, int layer) {
  const std::string label = "move boundary " + str(boundary) + " to layer " + str(layer);
  if (!has_plan_) return refuse(label + ": no plan");
  const Partition& p = state_.plan.partition;
  const int S = p.num_stages();
  if (boundary < 1 || boundary >= S)
    return refuse(label + ": boundaries between stages are 1.." + str(S - 1));
  if (layer == p.bounds[boundary]) return {false, ""};
  if (layer <= p.bounds[boundary - 1])
    return refuse(label + ": stage " + str(boundary - 1) + " would have no layers (it starts at layer " +
                  str(p.bounds[boundary - 1]) + ")");
  if (layer >= p.bounds[boundary + 1])
    return refuse(label + ": stage " + str(boundary) + " would have no layers (the next stage starts at layer " +
                  str(p.bounds[boundary + 1]) + ")");
  EditorState next = state_;
  next.plan.partition.bounds[boundary] = layer;
  next.request.partition = next.plan.partition.sizes();
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::set_partition(const std::vector<int>& sizes) {
  std::string text;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) text += ',';
    text += str(sizes[i]);
  }
  const std::string label = "partition " + text;
  if (!has_plan_) return refuse(label + ": no plan");
  if (static_cast<int>(sizes.size()) != state_.plan.num_stages())
    return refuse(label + ": gives " + str(static_cast<int>(sizes.size())) + " stages but the plan has " +
                  str(state_.plan.num_stages()));
  for (size_t s = 0; s < sizes.size(); ++s)
    if (sizes[s] < 1) return refuse(label + ": stage " + str(static_cast<int>(s)) + " needs at least one layer");
  EditorState next = state_;
  next.plan.partition = Partition::from_sizes(sizes);
  next.request.partition = sizes;
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::move_stage(int stage, int device) {
  const std::string label = "move stage " + str(stage) + " to device " + str(device);
  if (!has_plan_) return refuse(label + ": no plan");
  const Plan& cur = state_.plan;
  if (stage < 0 || stage >= cur.num_stages()) return refuse(label + ": stages are 0.." + str(cur.num_stages() - 1));
  if (device < 0 || device >= cur.num_devices()) return refuse(label + ": devices are 0.." + str(cur.num_devices() - 1));
  const int from = cur.placement.stage_device()[stage];
  if (from == device) return {false, ""};

  EditorState next = state_;
  Plan& p = next.plan;
  auto& src_stages = p.placement.device_stages[from];
  src_stages.erase(std::remove(src_stages.begin(), src_stages.end(), stage), src_stages.end());
  auto& dst_stages = p.placement.device_stages[device];
  dst_stages.insert(std::upper_bound(dst_stages.begin(), dst_stages.end(), stage), stage);

  // Source: drop the stage's actions. Target: merge them in by their current simulated start, a
  // global order consistent with every dependency, so the new orders cannot deadlock by construction
  // (the validator still checks).
  const auto& tl_src = sim_.timeline[from];
  const auto& tl_dst = sim_.timeline[device];
  struct Timed {
    double start, end;
    Action a;
  };
  std::vector<Timed> merged;
  std::vector<Action> src_kept;
  for (size_t i = 0; i < cur.schedule[from].size(); ++i) {
    const Action& a = cur.schedule[from][i];
    if (a.stage == stage) {
      Action m = a;
      m.overlap_prev = false;
      merged.push_back({tl_src[i].start, tl_src[i].end, m});
    } else {
      src_kept.push_back(a);
    }
  }
  for (size_t i = 0; i < cur.schedule[device].size(); ++i)
    merged.push_back({tl_dst[i].start, tl_dst[i].end, cur.schedule[device][i]});
  std::stable_sort(merged.begin(), merged.end(), [](const Timed& x, const Timed& y) {
    return x.start < y.start || (x.start == y.start && x.end < y.end);
  });
  std::vector<Action> dst;
  dst.reserve(merged.size());
  for (const Timed& t : merged) dst.push_back(t.a);
  fix_overlap_flags(cur.schedule[from], src_kept);
  fix_overlap_flags(cur.schedule[device], dst);
  p.schedule[from] = std::move(src_kept);
  p.schedule[device] = std::move(dst);
  p.name = "custom";
  next.custom = true;
  return apply(std::move(next), label);
}

EditResult PlanEditor::move_action(int device, int from, int to) {
  const std::string label = "move action on device " + str(device) + " from position " + str(from) + " to " + str(to);
  if (!has_plan_) return refuse(label + ": no plan");
  const Plan& cur = state_.plan;
  if (device < 0 || device >= cur.num_devices()) return refuse(label + ": devices are 0.." + str(cur.num_devices() - 1));
  const int n = static_cast<int>(cur.schedule[device].size());
  if (from < 0 || from >= n) return refuse(label + ": positions are 0.." + str(n - 1));
  if (to < 0 || to > n) return refuse(label + ": target positions are 0.." + str(n));
  if (to == from || to == from + 1) return {false, ""};
  EditorState next = state_;
  auto& list = next.plan.schedule[device];
  Action a = list[from];
  list.erase(list.begin() + from);
  a.overlap_prev = false;
  list.insert(list.begin() + (to > from ? to - 1 : to), a);
  fix_overlap_flags(cur.schedule[device], list);
  next.plan.name = "custom";
  next.custom = true;
  return apply(std::move(next), "move " + to_string(a) + " on device " + str(device) + " to position " +
                                    str(to > from ? to - 1 : to));
}

EditResult PlanEditor::set_device_speed(int device, double speed) {
  const std::string label = "device " + str(device) + " speed " + std::to_string(speed);
  if (device < 0 || device >= state_.cluster.num_devices()) return refuse(label + ": no such device");
  if (!(speed > 0)) return refuse(label + ": speed must be > 0");
  EditorState next = state_;
  next.cluster.devices[device].speed = speed;
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::set_memory_limit(int device, double bytes) {
  const std::string label = "device " + str(device) + " memory limit";
  if (device < 0 || device >= state_.cluster.num_devices()) return refuse(label + ": no such device");
  if (!(bytes >= 0)) return refuse(label + ": must be >= 0 (0 = the device's HBM)");
  EditorState next = state_;
  next.cluster.devices[device].memory_limit_bytes = bytes;
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::set_sim_options(const SimOptions& sim) {
  const std::string label = "simulation options";
  if (sim.comm_latency_ms && !(*sim.comm_latency_ms >= 0 && std::isfinite(*sim.comm_latency_ms)))
    return refuse(label + ": latency must be a finite number >= 0");
  if (sim.action_overhead_ms < 0) return refuse(label + ": action overhead must be >= 0");
  if (sim.pair_overlap < 0 || sim.pair_overlap > 1) return refuse(label + ": pair overlap must be in [0, 1]");
  EditorState next = state_;
  next.sim = sim;
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::set_links(const Link& intra_node, const Link& inter_node) {
  const std::string label = "links";
  for (const Link* l : {&intra_node, &inter_node})
    if (!(l->latency_ms >= 0) || !(l->bandwidth >= 0))
      return refuse(label + ": latency and bandwidth must be >= 0 (bandwidth 0 = unlimited)");
  EditorState next = state_;
  next.cluster.intra_node = intra_node;
  next.cluster.inter_node = inter_node;
  return apply(std::move(next), label, false);
}

EditResult PlanEditor::balance_partition() {
  const std::string label = "balance partition";
  if (!has_plan_) return refuse(label + ": no plan");
  const Plan& cur = state_.plan;
  const std::vector<int> owner = cur.placement.stage_device();
  std::vector<double> speed(owner.size(), 1.0);
  for (size_t s = 0; s < owner.size(); ++s)
    if (owner[s] >= 0 && owner[s] < state_.cluster.num_devices()) speed[s] = state_.cluster.devices[owner[s]].speed;
  Partition p;
  try {
    p = balanced_partition(layer_weights(costs_), speed);
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  if (p.bounds == cur.partition.bounds) return refuse(label + ": the partition is already balanced");
  EditorState next = state_;
  next.plan.partition = p;
  next.request.partition = p.sizes();
  return apply(std::move(next), label, false);
}

void PlanEditor::begin_gesture() {
  gesture_ = true;
  gesture_pushed_ = false;
}

void PlanEditor::end_gesture() {
  gesture_ = false;
  gesture_pushed_ = false;
}

bool PlanEditor::undo() {
  if (undo_.empty()) return false;
  EditorState prev = std::move(undo_.back());
  undo_.pop_back();
  redo_.push_back(state_);
  install(std::move(prev));
  last_error_.clear();
  return true;
}

bool PlanEditor::redo() {
  if (redo_.empty()) return false;
  EditorState next = std::move(redo_.back());
  redo_.pop_back();
  undo_.push_back(state_);
  install(std::move(next));
  last_error_.clear();
  return true;
}

}  // namespace adaptis::gui
