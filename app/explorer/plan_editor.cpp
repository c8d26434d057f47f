#include "explorer/plan_editor.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "adaptis/model/error.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/unit_slicing.h"
#include "adaptis/planner/validator.h"

namespace adaptis::explorer {

namespace {

std::string str(int v) { return std::to_string(v); }

std::string sizes_text(const std::vector<int>& sizes) {
  std::string text;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i) text += ',';
    text += str(sizes[i]);
  }
  return text;
}

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

PlanEditor::PlanEditor(CostTable costs, Cluster cluster, SimOptions sim)
    : costs_(std::make_shared<const CostTable>(std::move(costs))), cluster_(std::move(cluster)), options_(sim) {}

const PlanRequest& PlanEditor::request() const {
  if (pending_) return *pending_;
  return state_ ? state_->request : initial_request_;
}

EditResult PlanEditor::refuse(std::string why) {
  last_error_ = why;
  return {false, std::move(why)};
}

EditResult PlanEditor::refuse_custom(const std::string& label, const char* what) {
  return refuse(label + ": this plan's " + what +
                " are data (edited by hand, loaded or optimized), so they cannot be regenerated; choose a schedule "
                "first");
}

void PlanEditor::install(std::shared_ptr<const PlanState> s) {
  state_ = std::move(s);
  cluster_ = state_->eval->cluster;
  options_ = state_->eval->options;
  pending_.reset();
  pending_problem_.clear();
  last_error_.clear();
  ++revision_;
}

EditResult PlanEditor::apply(Plan plan, Cluster cluster, SimOptions options, PlanRequest request, bool custom,
                             const std::string& label, bool orders_changed) {
  const auto t0 = std::chrono::steady_clock::now();
  const int L = costs_->num_layers();
  if (orders_changed || !state_) {
    // The full validation includes a deadlock check of the orders: about twice a simulation.
    ValidationReport rep = validate_plan(plan, L);
    if (!rep.ok()) return refuse(label + ": " + rep.message());
  } else {
    const std::vector<int>& b = plan.partition.bounds;
    if (b.size() != this->plan().partition.bounds.size() || b.front() != 0)
      return refuse(label + ": the partition must have " + str(this->plan().num_stages()) + " stages starting at layer 0");
    if (b.back() != L)
      return refuse(label + ": the partition covers " + str(b.back()) + " layers but the model has " + str(L));
    for (size_t s = 1; s < b.size(); ++s)
      if (b[s] <= b[s - 1]) return refuse(label + ": stage " + str(static_cast<int>(s) - 1) + " would have no layers");
  }
  std::shared_ptr<const Evaluation> e;
  try {
    e = evaluate(std::move(plan), *costs_, std::move(cluster), options);
  } catch (const InputError& err) {
    return refuse(label + ": " + err.what());
  }
  if (!e->ok()) return refuse(label + ": " + e->sim.error);

  if (state_) {
    if (!gesture_ || !gesture_pushed_) {
      undo_.push_back(state_);
      if (undo_.size() > kMaxHistory) undo_.erase(undo_.begin());
      gesture_pushed_ = gesture_;
    }
    redo_.clear();
  }
  auto next = std::make_shared<PlanState>();
  next->eval = std::move(e);
  next->request = std::move(request);
  next->custom = custom;
  next->label = label;
  install(std::move(next));
  last_edit_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return {true, ""};
}

EditResult PlanEditor::rebuild(PlanRequest req, const std::string& label, bool reset_partition) {
  Cluster cluster = cluster_;
  if (req.devices <= 0) req.devices = cluster.num_devices();
  if (req.devices != cluster.num_devices() && !cluster_fixed_) cluster = resized_cluster(cluster_, req.devices);
  auto fail = [&](const std::string& why) {
    pending_ = req;
    pending_problem_ = why;
    return refuse(why);
  };
  if (req.devices > cluster.num_devices())
    return fail(label + ": the cluster has " + str(cluster.num_devices()) +
                " devices and its file fixes the count (start without a cluster file to vary it)");
  const int L = costs_->num_layers();
  std::string note;
  Plan plan;
  try {
    plan = build_plan(req, L);
  } catch (const InputError& e) {
    if (req.partition.empty() || !reset_partition) return fail(label + ": " + e.what());
    // The partition may be what no longer fits (another stage count): retry with the even one.
    PlanRequest even = req;
    even.partition.clear();
    try {
      plan = build_plan(even, L);
    } catch (const InputError& e2) {
      return fail(label + ": " + e2.what());
    }
    const int old_stages = static_cast<int>(req.partition.size());
    if (req.partition != adaptis::even_partition(L, std::max(1, std::min(old_stages, L))).sizes())
      note = " (partition reset to even)";
    req = std::move(even);
  }
  note += carry_memory(plan);
  note += carry_parallel(plan);
  EditResult r = apply(std::move(plan), std::move(cluster), options_, req, false, label + note);
  if (!r.applied) return fail(r.message);
  if (!note.empty()) r.message = label + note;
  return r;
}

EditResult PlanEditor::load_request(PlanRequest req, const std::string& label) {
  initial_request_ = req;
  const std::string l = label.empty() ? "schedule " + req.schedule : label;
  // A partition asked for at start-up is not silently replaced: it gives a plan or says why.
  return rebuild(std::move(req), l, false);
}

EditResult PlanEditor::load_plan(Plan plan, const std::string& label) {
  // A plan file's own units: slices only on a model whose layers can run them (a re-pack checks its own).
  if (const std::string why = slices_problem(plan.units, costs()); !why.empty()) return refuse(label + ": " + why);
  Cluster cluster = cluster_;
  if (plan.num_devices() > cluster.num_devices()) {
    if (cluster_fixed_)
      return refuse(label + ": the plan uses " + str(plan.num_devices()) + " devices but the cluster has " +
                    str(cluster.num_devices()));
    cluster = resized_cluster(cluster_, plan.num_devices());
  }
  PlanRequest req = request();
  req.devices = plan.num_devices();
  req.microbatches = plan.num_microbatches;
  req.units = plan.units;  // schedule choices over this plan run its units (or none)
  req.partition = plan.partition.sizes();
  req.placement.clear();
  return apply(std::move(plan), std::move(cluster), options_, std::move(req), true, label);
}

EditResult PlanEditor::load_plan_with(CostTable costs, Cluster cluster, Plan plan, const std::string& label) {
  PlanEditor next(std::move(costs), std::move(cluster), options_);
  next.cluster_fixed_ = true;
  next.revision_ = revision_;  // views key their caches on the revision: it keeps counting up
  next.initial_request_ = request();
  EditResult r = next.load_plan(std::move(plan), label);
  if (!r.applied) return refuse(r.message);
  *this = std::move(next);
  return r;
}

std::string PlanEditor::carry_parallel(Plan& plan) const {
  if (!state_ || !this->plan().parallel) return "";
  ParallelConfig p = *this->plan().parallel;
  if (plan.num_devices() != p.pp)
    return " (parallel configuration dropped: the plan has " + str(plan.num_devices()) + " devices, it had pp " +
           str(p.pp) + ")";
  std::string note;
  if (plan.num_microbatches != p.microbatches) {
    p.microbatches = plan.num_microbatches;
    p.global_batch_size = static_cast<long long>(p.micro_batch_size) * p.microbatches * p.dp;
    note = " (global batch now " + std::to_string(p.global_batch_size) + " sequences)";
  }
  plan.parallel = p;
  return note;
}

EditResult PlanEditor::set_schedule(const std::string& name, bool own_chunks) {
  const std::string label = "schedule " + name;
  PlanRequest req = request();
  req.schedule = name;
  req.placement.clear();
  if (own_chunks) req.stages_per_device = 0;
  // Seq1F1B and TeraPipe exist only over variable-length units, one stage per device.
  if (is_unit_only_schedule(name)) {
    if (req.units.empty())
      return refuse(label + ": runs only over variable-length units (start with --lengths FILE|DIST)");
    req.stages_per_device = 0;
    if (state_ && !pending_) req.partition = plan().partition.sizes();
    return rebuild(std::move(req), label);
  }
  ScheduleKind kind;
  try {
    kind = parse_schedule_kind(name);
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  ScheduleOptions so;
  so.devices = req.devices > 0 ? req.devices : cluster_.num_devices();
  so.stages_per_device = req.stages_per_device;
  // Looped schedules take any chunk count; the others have their own and reject a different one.
  try {
    if (req.stages_per_device > 0 && schedule_stages_per_device(kind, so) != req.stages_per_device)
      req.stages_per_device = 0;
  } catch (const InputError&) {
    req.stages_per_device = 0;
  }
  // The user's partition stays when the new schedule has as many stages (rebuild resets it otherwise).
  if (state_ && !pending_) req.partition = plan().partition.sizes();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_microbatches(int microbatches) {
  const std::string label = "micro-batches " + str(microbatches);
  if (microbatches < 1) return refuse(label + ": must be at least 1");
  if (state_ && state_->custom && !pending_) return refuse_custom(label, "orders");
  // Variable-length units fix the count: each unit is one micro-batch, made from the iteration's
  // sequences by a processing (re-packing them makes other units: set_units).
  if (const std::vector<WorkUnit>& units = request().units; !units.empty())
    return refuse(label + ": the plan runs one micro-batch per variable-length unit (" + str(static_cast<int>(units.size())) +
                  " units from the sequence lengths); re-pack them in the Data view to change the count");
  PlanRequest req = request();
  req.microbatches = microbatches;
  if (state_ && !pending_) req.partition = plan().partition.sizes();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_units(std::vector<WorkUnit> units, const std::string& label) {
  if (units.empty()) return refuse(label + ": no units");
  const bool was_custom = state_ && state_->custom && !pending_;
  PlanRequest req = request();
  req.microbatches = static_cast<int>(units.size());
  req.units = std::move(units);
  if (state_ && !pending_) req.partition = plan().partition.sizes();
  const std::string schedule = req.schedule;
  // A refused re-pack leaves the plan and the request as they were (not a pending request over units
  // the user did not keep): the explorer shows the refusal beside the plan.
  const std::optional<PlanRequest> pending = pending_;
  const std::string problem = pending_problem_;
  EditResult r = rebuild(std::move(req), label);
  if (!r.applied) {
    pending_ = pending;
    pending_problem_ = problem;
  }
  if (r.applied && was_custom)
    r.message = (r.message.empty() ? label : r.message) + " (the custom plan's orders were regenerated by " +
                schedule + ")";
  return r;
}

EditResult PlanEditor::set_stages_per_device(int v) {
  const std::string label = "stages per device " + str(v);
  if (v < 0) return refuse(label + ": must be >= 1 (0 = the schedule's default)");
  if (state_ && state_->custom && !pending_) return refuse_custom(label, "orders");
  PlanRequest req = request();
  req.stages_per_device = v;
  req.placement.clear();
  if (state_ && !pending_) req.partition = plan().partition.sizes();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::set_devices(int devices) {
  const std::string label = "devices " + str(devices);
  if (devices < 1) return refuse(label + ": must be at least 1");
  const int L = costs_->num_layers();
  if (devices > L) return refuse(label + ": a model of " + str(L) + " layers gives at most " + str(L) + " stages");
  if (state_ && state_->custom && !pending_) return refuse_custom(label, "placement and orders");
  if (cluster_fixed_ && devices > cluster_.num_devices())
    return refuse(label + ": the cluster has " + str(cluster_.num_devices()) +
                  " devices and its file fixes the count (start without a cluster file to vary it)");
  PlanRequest req = request();
  req.devices = devices;
  req.placement.clear();
  if (state_ && !pending_) req.partition = plan().partition.sizes();
  return rebuild(std::move(req), label);
}

EditResult PlanEditor::move_boundary(int boundary, int layer) {
  const std::string label = "move boundary " + str(boundary) + " to layer " + str(layer);
  if (!state_) return refuse(label + ": no plan");
  const Partition& p = plan().partition;
  const int S = p.num_stages();
  if (boundary < 1 || boundary >= S) return refuse(label + ": boundaries between stages are 1.." + str(S - 1));
  if (layer == p.bounds[boundary]) return {false, ""};
  if (layer <= p.bounds[boundary - 1])
    return refuse(label + ": stage " + str(boundary - 1) + " would have no layers (it starts at layer " +
                  str(p.bounds[boundary - 1]) + ")");
  if (layer >= p.bounds[boundary + 1])
    return refuse(label + ": stage " + str(boundary) + " would have no layers (the next stage starts at layer " +
                  str(p.bounds[boundary + 1]) + ")");
  Plan next = plan();
  next.partition.bounds[boundary] = layer;
  PlanRequest req = state_->request;
  req.partition = next.partition.sizes();
  return apply(std::move(next), cluster_, options_, std::move(req), state_->custom, label, false);
}

EditResult PlanEditor::set_partition(const std::vector<int>& sizes) {
  const std::string label = "partition " + sizes_text(sizes);
  if (!state_) return refuse(label + ": no plan");
  if (static_cast<int>(sizes.size()) != plan().num_stages())
    return refuse(label + ": gives " + str(static_cast<int>(sizes.size())) + " stages but the plan has " +
                  str(plan().num_stages()));
  for (size_t s = 0; s < sizes.size(); ++s)
    if (sizes[s] < 1) return refuse(label + ": stage " + str(static_cast<int>(s)) + " needs at least one layer");
  if (sizes == plan().partition.sizes()) return {false, ""};
  Plan next = plan();
  next.partition = Partition::from_sizes(sizes);
  PlanRequest req = state_->request;
  req.partition = sizes;
  return apply(std::move(next), cluster_, options_, std::move(req), state_->custom, label, false);
}

EditResult PlanEditor::even_partition() {
  if (pending_ || !state_) {
    PlanRequest req = request();
    req.partition.clear();
    return rebuild(std::move(req), "even partition");
  }
  const int L = costs_->num_layers();
  const std::vector<int> even = adaptis::even_partition(L, plan().num_stages()).sizes();
  if (even == plan().partition.sizes()) return refuse("even partition: the partition is already even");
  EditResult r = set_partition(even);
  return r;
}

EditResult PlanEditor::move_stage(int stage, int device) {
  const std::string label = "move stage " + str(stage) + " to device " + str(device);
  if (!state_) return refuse(label + ": no plan");
  const Plan& cur = plan();
  if (stage < 0 || stage >= cur.num_stages()) return refuse(label + ": stages are 0.." + str(cur.num_stages() - 1));
  if (device < 0 || device >= cur.num_devices()) return refuse(label + ": devices are 0.." + str(cur.num_devices() - 1));
  const int from = cur.placement.stage_device()[stage];
  if (from == device) return {false, ""};

  Plan p = cur;
  auto& src_stages = p.placement.device_stages[from];
  src_stages.erase(std::remove(src_stages.begin(), src_stages.end(), stage), src_stages.end());
  auto& dst_stages = p.placement.device_stages[device];
  dst_stages.insert(std::upper_bound(dst_stages.begin(), dst_stages.end(), stage), stage);

  // Source: drop the stage's actions. Target: merge them in by their current simulated start, a
  // global order consistent with every dependency, so the new orders cannot deadlock by construction
  // (the validator still checks).
  const auto& tl_src = sim().timeline[from];
  const auto& tl_dst = sim().timeline[device];
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
  return apply(std::move(p), cluster_, options_, state_->request, true, label);
}

EditResult PlanEditor::move_action(int device, int from, int to) {
  const std::string label = "move action on device " + str(device) + " from position " + str(from) + " to " + str(to);
  if (!state_) return refuse(label + ": no plan");
  const Plan& cur = plan();
  if (device < 0 || device >= cur.num_devices()) return refuse(label + ": devices are 0.." + str(cur.num_devices() - 1));
  const int n = static_cast<int>(cur.schedule[device].size());
  if (from < 0 || from >= n) return refuse(label + ": positions are 0.." + str(n - 1));
  if (to < 0 || to > n) return refuse(label + ": target positions are 0.." + str(n));
  if (to == from || to == from + 1) return {false, ""};
  Plan next = cur;
  auto& list = next.schedule[device];
  Action a = list[from];
  list.erase(list.begin() + from);
  a.overlap_prev = false;
  list.insert(list.begin() + (to > from ? to - 1 : to), a);
  fix_overlap_flags(cur.schedule[device], list);
  next.name = "custom";
  return apply(std::move(next), cluster_, options_, state_->request, true, "move " + to_string(a) + " on device " + str(device) + " to position " +
                                    str(to > from ? to - 1 : to));
}

EditResult PlanEditor::set_device_speed(int device, double speed) {
  const std::string label = "device " + str(device) + " speed " + std::to_string(speed);
  if (device < 0 || device >= cluster_.num_devices()) return refuse(label + ": no such device");
  if (!(speed > 0)) return refuse(label + ": speed must be > 0");
  if (!state_) return refuse(label + ": no plan");
  Cluster c = cluster_;
  c.devices[device].speed = speed;
  return apply(plan(), std::move(c), options_, state_->request, state_->custom, label, false);
}

EditResult PlanEditor::set_memory_limit(int device, double bytes) {
  const std::string label = "device " + str(device) + " memory limit";
  if (device < 0 || device >= cluster_.num_devices()) return refuse(label + ": no such device");
  if (!(bytes >= 0)) return refuse(label + ": must be >= 0 (0 = the device's HBM)");
  if (!state_) return refuse(label + ": no plan");
  Cluster c = cluster_;
  c.devices[device].memory_limit_bytes = bytes;
  return apply(plan(), std::move(c), options_, state_->request, state_->custom, label, false);
}

EditResult PlanEditor::set_sim_options(const SimOptions& sim) {
  const std::string label = "simulation options";
  if (sim.comm_latency_ms && !(*sim.comm_latency_ms >= 0 && std::isfinite(*sim.comm_latency_ms)))
    return refuse(label + ": latency must be a finite number >= 0");
  if (sim.action_overhead_ms < 0) return refuse(label + ": action overhead must be >= 0");
  if (sim.pair_overlap < 0 || sim.pair_overlap > 1) return refuse(label + ": pair overlap must be in [0, 1]");
  if (!state_) return refuse(label + ": no plan");
  return apply(plan(), cluster_, sim, state_->request, state_->custom, label, false);
}

EditResult PlanEditor::set_links(const Link& intra_node, const Link& inter_node) {
  const std::string label = "links";
  for (const Link* l : {&intra_node, &inter_node})
    if (!(l->latency_ms >= 0) || !(l->bandwidth >= 0))
      return refuse(label + ": latency and bandwidth must be >= 0 (bandwidth 0 = unlimited)");
  if (!state_) return refuse(label + ": no plan");
  Cluster c = cluster_;
  c.intra_node = intra_node;
  c.inter_node = inter_node;
  return apply(plan(), std::move(c), options_, state_->request, state_->custom, label, false);
}

EditResult PlanEditor::balance_partition() {
  const std::string label = "balance partition";
  if (!state_) return refuse(label + ": no plan");
  const Plan& cur = plan();
  const std::vector<int> owner = cur.placement.stage_device();
  std::vector<double> speed(owner.size(), 1.0);
  for (size_t s = 0; s < owner.size(); ++s)
    if (owner[s] >= 0 && owner[s] < cluster_.num_devices()) speed[s] = cluster_.devices[owner[s]].speed;
  Partition p;
  try {
    p = balanced_partition(layer_weights(*costs_), speed);
  } catch (const InputError& e) {
    return refuse(label + ": " + e.what());
  }
  if (p.bounds == cur.partition.bounds) return refuse(label + ": the partition is already balanced");
  Plan next = cur;
  next.partition = p;
  PlanRequest req = state_->request;
  req.partition = p.sizes();
  return apply(std::move(next), cluster_, options_, std::move(req), state_->custom, label, false);
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
  // A pending request is the last thing asked for: undo drops it first, back to the plan on screen.
  if (pending_) {
    pending_.reset();
    pending_problem_.clear();
    last_error_.clear();
    ++revision_;
    return true;
  }
  if (undo_.empty()) return false;
  auto prev = std::move(undo_.back());
  undo_.pop_back();
  redo_.push_back(state_);
  install(std::move(prev));
  return true;
}

bool PlanEditor::redo() {
  if (redo_.empty()) return false;
  auto next = std::move(redo_.back());
  redo_.pop_back();
  undo_.push_back(state_);
  install(std::move(next));
  return true;
}

std::vector<std::string> PlanEditor::undo_labels() const {
  std::vector<std::string> out;
  for (const auto& s : undo_) out.push_back(s->label);
  return out;
}

std::vector<std::string> PlanEditor::redo_labels() const {
  std::vector<std::string> out;
  for (auto it = redo_.rbegin(); it != redo_.rend(); ++it) out.push_back((*it)->label);
  return out;
}

}  // namespace adaptis::explorer
