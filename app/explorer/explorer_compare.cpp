// The explorer core: what the plan is compared with (B), the two sides as views draw them, A
// against B like with like, and the table of every built-in schedule.
#include <algorithm>

#include "adaptis/executor/run_session.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/validator.h"
#include "common/format.h"
#include "explorer/explorer.h"

namespace adaptis::explorer {

using app::strf;

bool predicted_with(const LoadedRun& run, const CostTable& costs) {
  if (!run.costs.is_object() || !run.costs.contains("layers")) return false;
  return cost_table_json(costs)["layers"] == run.costs["layers"];
}

// ---------------------------------------------------------------------------------------------
// Sides

const TimelineData& Side::timeline() const {
  static const TimelineData empty;
  if (eval) return eval->timeline;
  if (run) return run->predicted_timeline;
  return empty;
}

const MeasuredLanes* Side::measured() const { return run && run->has_measurement() ? &run->measured_lanes : nullptr; }

const Plan* Side::plan() const { return eval ? &eval->plan : run ? &run->plan : nullptr; }

const std::vector<Gap>* Side::gaps() const { return eval ? &eval->sim.gaps : nullptr; }

double Side::t_end() const {
  double t = timeline().t_end;
  if (const MeasuredLanes* m = measured()) t = std::max(t, m->t_end);
  return t;
}

Side Explorer::side(int i) const {
  Side s;
  if (i == 0) {
    if (!has_plan()) return s;
    s.eval = editor_.eval_ptr();
    s.run = overlay_;
    s.label = editor_.plan().name.empty() ? "plan" : editor_.plan().name;
    s.summary = s.eval->summary;
    s.summary.label = s.label;
    return s;
  }
  switch (compare_.kind) {
    case CompareKind::None: return s;
    case CompareKind::Pinned:
    case CompareKind::Schedule:
      s.eval = compare_.eval;
      s.label = compare_.eval ? compare_.label : compare_.error;
      if (s.eval) s.summary = s.eval->summary;
      break;
    case CompareKind::Run: {
      s.run = compare_.run;
      s.is_run = true;
      const LoadedRun* r = compare_.run.get();
      if (!r) {
        s.label = compare_.error.empty() ? strf("run %lld (loading...)", static_cast<long long>(compare_.run_id))
                                         : compare_.error;
        break;
      }
      s.summary = r->has_measurement() ? r->measured_summary : r->predicted_summary;
      if (!r->has_measurement()) {
        s.summary.iteration_ms = 0;
        s.label = strf("run %lld (no iteration recorded yet)", static_cast<long long>(compare_.run_id));
      } else {
        s.label = strf("run %lld  measured %s (step %d of %d), predicted %s on its machine, error %s",
                       static_cast<long long>(compare_.run_id), app::format_ms(r->measured_ms).c_str(), r->step,
                       r->steps_recorded, app::format_ms(r->predicted_ms).c_str(),
                       app::format_percent(r->error()).c_str());
      }
      break;
    }
  }
  s.summary.label = s.label;
  return s;
}

AbComparison Explorer::ab() const {
  AbComparison c;
  const Side a = side(0), b = side(1);
  c.a = a.summary;
  c.b = b.summary;
  if (!comparing() || b.empty()) {
    c.why_not = comparing() ? b.label : "nothing to compare with";
    return c;
  }
  if (b.is_run) {
    const LoadedRun& r = *b.run;
    c.b_is_run = true;
    c.b_predicted_ms = r.predicted_ms;
    c.b_measured_ms = r.measured_ms;
    c.b_error = r.error();
    if (!r.has_measurement()) {
      c.why_not = strf("run %lld has recorded no iteration yet", static_cast<long long>(r.summary.id));
      return c;
    }
    if (!compare_.same_costs) {
      c.why_not = strf("run %lld ran on another machine (predicted with %s costs); this plan is predicted with %s: "
                       "their times are not compared. Start the explorer with that run's costs to compare plans "
                       "on its machine.",
                       static_cast<long long>(r.summary.id), r.cost_source.empty() ? "its own" : r.cost_source.c_str(),
                       editor_.costs().source.empty() ? "other" : editor_.costs().source.c_str());
      return c;
    }
  }
  if (!(c.b.iteration_ms > 0) || !(c.a.iteration_ms > 0)) {
    c.why_not = b.label;
    return c;
  }
  c.comparable = true;
  c.d = diff(c.b, c.a);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Choosing B

void Explorer::rebuild_compare() {
  compare_revision_ = editor_.revision();
  if (compare_.kind != CompareKind::Pinned && compare_.kind != CompareKind::Schedule) return;
  compare_.eval.reset();
  compare_.error.clear();
  if (!has_plan()) {
    compare_.error = compare_.label + ": no plan to compare with";
    return;
  }
  const std::string& label = compare_.label;
  const int L = editor_.costs().num_layers();
  try {
    Plan plan;
    if (compare_.kind == CompareKind::Schedule) {
      PlanRequest req;
      req.schedule = compare_.schedule;
      req.devices = editor_.plan().num_devices();
      req.microbatches = editor_.plan().num_microbatches;
      plan = build_plan(req, L);
    } else {
      plan = compare_.pinned;
    }
    require_valid_plan(plan, L, label);
    if (plan.num_devices() > editor_.cluster().num_devices())
      throw InputError(strf("%s: uses %d devices, the cluster has %d", label.c_str(), plan.num_devices(),
                            editor_.cluster().num_devices()));
    auto e = evaluate(std::move(plan), editor_.costs(), editor_.cluster(), editor_.sim_options());
    if (!e->ok()) throw InputError(label + ": " + e->sim.error);
    compare_.eval = std::move(e);
  } catch (const InputError& e) {
    compare_.error = e.what();
  }
}

void Explorer::pin_current() {
  if (!has_plan()) return note("no valid plan to pin", true);
  Comparison c;
  c.kind = CompareKind::Pinned;
  c.pinned = editor_.plan();
  c.label = "pinned " + (c.pinned.name.empty() ? std::string("plan") : c.pinned.name) + " (" +
            app::format_ms(editor_.sim().iteration_ms) + ")";
  c.eval = editor_.eval_ptr();  // same cluster and options: no need to simulate again
  compare_ = std::move(c);
  compare_revision_ = editor_.revision();
  if (view_.selected.side == 1) view_.selected = {};
  note("pinned the current plan as B; edits now show against it");
}

void Explorer::pin_plan(Plan plan, const std::string& label) {
  compare_ = Comparison{};
  compare_.kind = CompareKind::Pinned;
  compare_.pinned = std::move(plan);
  compare_.label = label;
  rebuild_compare();
  if (view_.selected.side == 1) view_.selected = {};
  if (!compare_.error.empty()) note("cannot pin " + label + ": " + compare_.error, true);
  plan_changed();
}

EditResult Explorer::compare_with_schedule(const std::string& name) {
  try {
    parse_schedule_kind(name);
  } catch (const InputError& e) {
    note(std::string("compare with ") + name + ": " + e.what(), true);
    return {false, e.what()};
  }
  Comparison old = compare_;
  compare_ = Comparison{};
  compare_.kind = CompareKind::Schedule;
  compare_.schedule = name;
  compare_.label = name;
  rebuild_compare();
  if (!compare_.eval) {
    const std::string why = compare_.error;
    compare_ = std::move(old);
    note("compare with " + name + ": " + why, true);
    return {false, why};
  }
  if (view_.selected.side == 1) view_.selected = {};
  note("comparing with " + name + " as B");
  plan_changed();
  fit_view();
  return {true, ""};
}

void Explorer::clear_compare() {
  compare_ = Comparison{};
  if (view_.selected.side == 1) view_.selected = {};
  plan_changed();
}

// ---------------------------------------------------------------------------------------------
// The table of every built-in schedule

std::string Explorer::compare_key() const {
  const PlanRequest& r = editor_.request();
  return strf("%s p%d m%d v%d g%d %p %p", editor_.cluster().name.c_str(), r.devices, r.microbatches,
              r.stages_per_device, r.group_size, static_cast<const void*>(last_custom_.get()),
              static_cast<const void*>(editor_.eval_ptr().get()));
}

namespace {

bool edited_partition(const PlanEditor& ed) {
  if (!ed.has_plan() || ed.state().custom) return false;
  const Plan& p = ed.plan();
  return p.partition.sizes() != even_partition(ed.costs().num_layers(), p.num_stages()).sizes();
}

void add_row(std::vector<app::CompareRow>& rows, const Evaluation& e, std::string name) {
  app::CompareRow row;
  row.name = std::move(name);
  row.ok = e.ok();
  row.error = e.sim.error;
  row.plan = e.plan;
  row.sim = e.sim;
  app::add_compare_row(rows, std::move(row));
}

}  // namespace

std::shared_ptr<const std::vector<app::CompareRow>> Explorer::schedule_table() const {
  const std::string key = compare_key();
  if (table_ && table_key_ == key) return table_;
  PlanRequest base = editor_.request();
  base.partition.clear();
  base.placement.clear();
  if (base.devices <= 0) base.devices = editor_.cluster().num_devices();
  app::Inputs in{editor_.costs(), editor_.cluster(), editor_.sim_options()};
  // With one memory policy on every stage, the built-ins run with it too (like with like); the rows
  // keep the schedules' names, which is what choosing one loads (the policy comes along).
  StageMemoryPolicy policy;
  if (has_plan()) {
    const std::vector<StageMemoryPolicy>& m = editor_.plan().memory;
    if (!m.empty() && std::all_of(m.begin(), m.end(), [&](const StageMemoryPolicy& p) { return p == m.front(); }))
      policy = m.front();
  }
  auto rows = app::compare_schedules(base, in, {policy});
  for (auto& row : rows) row.name = row.schedule;
  if (edited_partition(editor_) && editor_.pending_problem().empty())
    add_row(rows, editor_.eval(), edited_label(editor_.plan().name));
  // The custom plan joins the table when it is for the same devices and micro-batches.
  if (last_custom_ && last_custom_->plan.num_devices() == base.devices &&
      last_custom_->plan.num_microbatches == base.microbatches)
    add_row(rows, *last_custom_, last_custom_label_);
  table_ = std::make_shared<const std::vector<app::CompareRow>>(std::move(rows));
  table_key_ = key;
  return table_;
}

std::string Explorer::on_screen_label() const {
  if (!has_plan()) return "";
  if (editor_.state().custom) return last_custom_ == editor_.eval_ptr() ? last_custom_label_ : editor_.state().label;
  return edited_partition(editor_) ? edited_label(editor_.plan().name) : editor_.plan().name;
}

void Explorer::use_schedule_row(const std::string& name) {
  if (last_custom_ && name == last_custom_label_) {
    if (editor_.eval_ptr() == last_custom_) return note(name + " is on screen");
    EditResult r = editor_.load_plan(last_custom_->plan, name);
    if (r.applied) last_custom_ = editor_.eval_ptr();
    after_edit(r);
    return;
  }
  if (name == on_screen_label()) return note(name + " is on screen");
  PlanRequest req = editor_.request();
  req.schedule = name;
  req.partition.clear();
  req.placement.clear();
  after_edit(editor_.load_request(req, "schedule " + name));
}

}  // namespace adaptis::explorer
