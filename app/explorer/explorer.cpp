// The explorer core: plan edits, the optimizer, saving, messages and effects. Comparison, runs and
// the timeline's interaction live in explorer_compare.cpp, explorer_runs.cpp, explorer_timeline.cpp.
#include "explorer/explorer.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/unit_schedules.h"
#include "common/format.h"
#include "explorer/session_open.h"

namespace adaptis::explorer {

using app::strf;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

std::string summary_text(const Evaluation& e, double edit_ms) {
  return strf("%s, bubble %.1f%%%s (simulated in %.1f ms)", app::format_ms(e.sim.iteration_ms).c_str(),
              100 * e.sim.bubble_ratio, e.sim.oom ? ", OOM" : "", edit_ms);
}

}  // namespace

Explorer::Explorer(app::Inputs inputs, ExplorerConfig config)
    : config_(std::move(config)), editor_(std::move(inputs.costs), std::move(inputs.cluster), inputs.sim) {
  editor_.set_cluster_fixed(!config_.cluster_path.empty());
  store_.db_path = config_.db_path;
  optimizer_.options = config_.optimizer;
  optimizer_.live = config_.live_optimizer;
}

EditResult Explorer::start_with_request(PlanRequest req) {
  if (req.devices <= 0) req.devices = editor_.cluster().num_devices();
  remember_start_units(req.units);
  EditResult r = editor_.load_request(std::move(req));
  if (r.applied) note("loaded " + editor_.costs().model + ", " + editor_.plan().name + ": " +
                      summary_text(editor_.eval(), editor_.last_edit_ms()));
  else note(r.message, true);
  plan_changed();
  fit_view();
  return r;
}

EditResult Explorer::start_with_plan(Plan plan, const std::string& label) {
  remember_start_units(plan.units);
  EditResult r = load_plan(std::move(plan), label);
  fit_view();
  return r;
}

// ---------------------------------------------------------------------------------------------
// Messages and effects

void Explorer::note(std::string text, bool error) {
  message_ = {std::move(text), error};
  log_.push_back(message_);
  while (log_.size() > 200) log_.pop_front();
}

std::vector<Effect> Explorer::take_effects() {
  std::vector<Effect> out;
  out.swap(effects_);
  return out;
}

EditResult Explorer::after_edit(EditResult r) {
  if (r.applied) {
    const std::string what = r.message.empty() ? editor_.state().label : r.message;
    note(what + ": " + summary_text(editor_.eval(), editor_.last_edit_ms()));
  } else if (!r.message.empty()) {
    note(r.message, true);
  }
  plan_changed();
  return r;
}

bool Explorer::editing_locked() const { return optimizer_.state == JobState::Running && optimizer_.live; }

// ---------------------------------------------------------------------------------------------
// Plan edits

EditResult Explorer::choose_schedule(const std::string& name) { return after_edit(editor_.set_schedule(name)); }

EditResult Explorer::cycle_schedule(int dir) {
  // Every built-in, and over variable-length units the schedules that exist only there.
  std::vector<std::string> all;
  for (const auto& s : all_schedules()) all.push_back(s.name);
  if (!editor_.request().units.empty())
    for (const auto& s : unit_only_schedules()) all.push_back(s.name);
  const int n = static_cast<int>(all.size());
  const std::string current = editor_.request().schedule;
  int cur = -1;
  for (int i = 0; i < n; ++i)
    if (current == all[static_cast<size_t>(i)]) cur = i;
  // Leaving a custom plan: the first press shows the request's own schedule again.
  if (has_plan() && editor_.state().custom && editor_.pending_problem().empty() && cur >= 0)
    return choose_schedule(current);
  cur = cur < 0 ? 0 : ((cur + dir) % n + n) % n;
  // Each schedule with its own chunk count (1F1B one, ZB-V two, ...).
  return after_edit(editor_.set_schedule(all[static_cast<size_t>(cur)], true));
}

EditResult Explorer::set_microbatches(int n) { return after_edit(editor_.set_microbatches(n)); }
EditResult Explorer::set_devices(int n) { return after_edit(editor_.set_devices(n)); }
EditResult Explorer::set_stages_per_device(int v) { return after_edit(editor_.set_stages_per_device(v)); }

int Explorer::stages_per_device() const {
  if (has_plan() && editor_.pending_problem().empty()) {
    const Plan& p = editor_.plan();
    if (editor_.state().custom || editor_.request().stages_per_device <= 0) {
      const int d = std::max(1, p.num_devices());
      return (p.num_stages() + d - 1) / d;
    }
  }
  const PlanRequest& req = editor_.request();
  if (req.stages_per_device > 0) return req.stages_per_device;
  try {
    ScheduleOptions o;
    o.devices = req.devices > 0 ? req.devices : editor_.cluster().num_devices();
    o.microbatches = req.microbatches;
    return schedule_stages_per_device(parse_schedule_kind(req.schedule), o);
  } catch (const InputError&) {
    return 1;
  }
}

EditResult Explorer::move_boundary(int boundary, int layer) { return after_edit(editor_.move_boundary(boundary, layer)); }

EditResult Explorer::nudge_boundary(int b, int dir) {
  if (!has_plan()) return after_edit({false, "no valid plan to edit: change schedule, devices or micro-batches"});
  const Plan& plan = editor_.plan();
  if (plan.num_stages() < 2) return after_edit({false, "one stage only: no partition boundary to move"});
  if (b < 1 || b >= plan.num_stages())
    return after_edit({false, strf("boundary %d: boundaries between stages are 1..%d", b, plan.num_stages() - 1)});
  const int from = dir < 0 ? b - 1 : b;
  if (plan.partition.stage_size(from) <= 1)
    return after_edit({false, strf("stage %d has one layer left: boundary %d cannot move further %s", from, b,
                                   dir < 0 ? "left" : "right")});
  return move_boundary(b, plan.partition.bounds[static_cast<size_t>(b)] + (dir < 0 ? -1 : 1));
}

EditResult Explorer::set_partition(const std::vector<int>& sizes) { return after_edit(editor_.set_partition(sizes)); }
EditResult Explorer::even_partition() { return after_edit(editor_.even_partition()); }
EditResult Explorer::balance_partition() { return after_edit(editor_.balance_partition()); }
EditResult Explorer::move_stage(int stage, int device) { return after_edit(editor_.move_stage(stage, device)); }
EditResult Explorer::move_action(int device, int from, int to) { return after_edit(editor_.move_action(device, from, to)); }
EditResult Explorer::set_device_speed(int d, double speed) { return after_edit(editor_.set_device_speed(d, speed)); }
EditResult Explorer::set_memory_limit(int d, double bytes) { return after_edit(editor_.set_memory_limit(d, bytes)); }
EditResult Explorer::set_links(const Link& intra, const Link& inter) { return after_edit(editor_.set_links(intra, inter)); }
EditResult Explorer::set_sim_options(const SimOptions& sim) { return after_edit(editor_.set_sim_options(sim)); }

EditResult Explorer::load_plan(Plan plan, const std::string& label) {
  EditResult r = after_edit(editor_.load_plan(std::move(plan), label));
  if (r.applied) {
    last_custom_ = editor_.eval_ptr();
    last_custom_label_ = label;
  }
  return r;
}

void Explorer::begin_gesture() { editor_.begin_gesture(); }
void Explorer::end_gesture() { editor_.end_gesture(); }

bool Explorer::undo() {
  if (editing_locked()) {
    note("the optimizer is driving the plan: cancel it to undo", true);
    return false;
  }
  if (!editor_.pending_problem().empty()) {
    editor_.undo();
    note(has_plan() ? "undo: dropped the request that gave no plan; back to " + editor_.state().label
                    : "undo: dropped the request that gave no plan");
    plan_changed();
    return true;
  }
  const std::string label = has_plan() ? editor_.state().label : std::string();
  if (!editor_.undo()) {
    note("nothing to undo", true);
    return false;
  }
  note("undo " + label + (has_plan() ? ": back to " + editor_.state().label : std::string()));
  plan_changed();
  return true;
}

bool Explorer::redo() {
  if (editing_locked()) {
    note("the optimizer is driving the plan: cancel it to redo", true);
    return false;
  }
  if (!editor_.redo()) {
    note("nothing to redo", true);
    return false;
  }
  note("redo " + editor_.state().label);
  plan_changed();
  return true;
}

void Explorer::go_to_history(int steps) {
  if (editing_locked()) return;
  for (int i = 0; i < steps && editor_.undo(); ++i) {
  }
  for (int i = 0; i < -steps && editor_.redo(); ++i) {
  }
  if (has_plan()) note("history: " + editor_.state().label);
  plan_changed();
}

// ---------------------------------------------------------------------------------------------
// Optimizer

void Explorer::start_optimizer() {
  if (optimizer_.state == JobState::Running) return note("the optimizer is already running (cancel it first)", true);
  if (!has_plan()) return note("no valid plan to optimize: fix the plan first", true);
  OptimizerState o;
  o.live = config_.live_optimizer;
  o.options = config_.optimizer;
  o.options.devices = editor_.plan().num_devices();
  o.options.microbatches = editor_.plan().num_microbatches;
  o.options.sim = editor_.sim_options();
  o.options.sim.record_memory_timeline = false;
  // A whole-cluster plan is searched with its configuration (data-parallel sync, optimizer step).
  o.options.parallel = editor_.plan().parallel;
  // Variable-length units: every candidate runs the plan's units, in their order.
  o.options.units = editor_.plan().units;
  // Memory policies join the search when the plan uses them or does not fit its caps (unless the
  // session was started with choices of its own): a plan over the cap may only fit by recomputing.
  const bool default_choices = o.options.recompute_choices == std::vector<Recompute>{Recompute::None} &&
                               o.options.offload_choices == std::vector<double>{0.0};
  // (Memory policies over variable-length units are not modelled: the search keeps to none.)
  if (default_choices && o.options.units.empty() && (memory().policies || memory().oom)) {
    o.options.recompute_choices = {Recompute::None, Recompute::Selective, Recompute::Full};
    bool offloads = false, links = true;
    for (int s = 0; s < editor_.plan().num_stages(); ++s) offloads = offloads || memory_policy(s).offload_fraction > 0;
    for (const Device& d : editor_.cluster().devices) links = links && d.host_link.present();
    if (offloads && links) o.options.offload_choices = {0.0, 0.25, 0.5, 0.75, 1.0};
  }
  o.state = JobState::Running;
  o.progress.phase = "starting";
  o.start_ms = editor_.sim().iteration_ms;
  // What no plan can beat, shown beside the best so the user sees how much is left to find.
  try {
    const IterationLowerBound lb =
        o.options.units.empty()
            ? iteration_lower_bound(editor_.costs(), editor_.cluster(), o.options.devices, o.options.microbatches,
                                    o.options.sim)
            : iteration_lower_bound(editor_.costs(), editor_.cluster(), o.options.devices, o.options.units, o.options.sim);
    o.bound_ms = lb.ms;
    o.bound_binding = lb.binding;
  } catch (const InputError&) {
    o.bound_ms = 0;  // the optimizer reports the same problem when it starts
  }
  optimizer_ = std::move(o);
  if (optimizer_.live) {
    // The plan before the search stays visible as B, so the live best shows its gain.
    if (!comparing()) {
      pin_current();
      compare_.label = "before optimize (" + app::format_ms(optimizer_.start_ms) + ")";
    }
    editor_.begin_gesture();
    optimizer_gesture_ = true;
  }
  request(Effect(EffectKind::StartOptimizer));
  note(strf("optimizer started: %d devices, %d micro-batches, budget %g s", optimizer_.options.devices,
            optimizer_.options.microbatches, optimizer_.options.time_limit_s));
}

void Explorer::cancel_optimizer() {
  if (optimizer_.state != JobState::Running) return;
  request(Effect(EffectKind::CancelOptimizer));
  note("cancelling the optimizer...");
}

void Explorer::on_optimizer_progress(const OptimizeProgress& p, std::optional<Plan> improved) {
  if (optimizer_.state != JobState::Running) return;
  optimizer_.progress = p;
  if (p.best_ms > 0 && (optimizer_.history.empty() || optimizer_.history.back() != static_cast<float>(p.best_ms)))
    optimizer_.history.push_back(static_cast<float>(p.best_ms));
  if (improved && optimizer_.live) {
    const bool in_gesture = editor_.in_gesture();
    if (!in_gesture) editor_.begin_gesture();
    EditResult r = editor_.load_plan(std::move(*improved), strf("optimizer best %.2f ms", p.best_ms));
    if (!in_gesture) editor_.end_gesture();
    if (!r.applied) note("optimizer plan refused: " + r.message, true);
    plan_changed();
  }
}

void Explorer::on_optimizer_finished(const OptimizerJob::Outcome& out) {
  optimizer_.state = out.how;
  if (optimizer_gesture_) {
    editor_.end_gesture();
    optimizer_gesture_ = false;
  }
  if (out.how == JobState::Failed || !out.result) {
    optimizer_.state = JobState::Failed;
    optimizer_.message = out.error;
    return note("optimizer failed: " + first_line(out.error), true);
  }
  const OptimizeResult& res = *out.result;
  optimizer_.message = res.message;
  optimizer_.progress = res.final_progress;
  const bool cancelled = out.how == JobState::Cancelled;
  if (res.best.num_devices() == 0 || !res.sim.ok) {
    if (cancelled) return note("optimizer cancelled before it found a plan");
    return note("optimizer found no plan" + (res.message.empty() ? std::string() : ": " + first_line(res.message)),
                true);
  }
  const double before = optimizer_.start_ms;
  if (!optimizer_.live) {
    EditResult r = editor_.load_plan(res.best, "optimized");
    if (!r.applied) return note("optimizer plan refused: " + r.message, true);
  }
  last_custom_ = editor_.eval_ptr();
  last_custom_label_ = "optimized";
  plan_changed();
  std::string what = cancelled ? "optimizer cancelled, best so far" : "optimizer done";
  what += strf(": %s", app::format_ms(res.sim.iteration_ms).c_str());
  if (before > 0) what += strf(" (%.2fx the previous plan)", before / res.sim.iteration_ms);
  what += strf(", %lld plans in %.1f s", res.final_progress.evaluated, res.final_progress.elapsed_s);
  if (!res.message.empty()) what += "; " + first_line(res.message);
  note(what, !res.feasible);
}

// ---------------------------------------------------------------------------------------------
// Files

void Explorer::save_plan(const std::string& path) {
  if (!has_plan()) return note("no valid plan to save", true);
  Effect e(EffectKind::SavePlan);
  e.path = path.empty() ? config_.plan_out : path;
  e.plan = editor_.eval_ptr();
  request(std::move(e));
}

void Explorer::save_session(const std::string& path) {
  Effect e(EffectKind::SaveSession);
  e.path = path.empty() ? config_.session_out : path;
  e.session = std::make_shared<const Session>(session_of(*this));
  request(std::move(e));
}

void Explorer::on_session_saved(const std::string& path, const std::string& error) {
  if (error.empty()) note("saved the session to " + path);
  else note("cannot save the session: " + error, true);
}

void Explorer::on_plan_saved(const std::string& path, const std::string& error) {
  if (error.empty()) note("saved the plan to " + path);
  else note("cannot save the plan: " + error, true);
}

}  // namespace adaptis::explorer
