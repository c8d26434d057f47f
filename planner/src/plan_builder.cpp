#include "adaptis/planner/plan_builder.h"

#include <sstream>

#include "adaptis/model/error.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/model/problem_limits.h"
#include "adaptis/planner/validator.h"
#include "text_fields.h"

#include <algorithm>

namespace adaptis {

namespace {

using text::split;
using text::trim;

// One integer field of `text` (blanks around it allowed); InputError on `field` otherwise.
int parse_int(const std::string& field_text, const std::string& field, const std::string& text) {
  const std::string tok = trim(field_text);
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(tok, &used);
  } catch (...) {
    used = 0;
  }
  if (tok.empty() || used != tok.size())
    throw InputError(field, "'" + text + "': '" + tok + "' is not an integer");
  return v;
}

// Puts a built-in schedule onto a user's placement. A schedule's per-device order depends on
// where that device's stages sit in the pipeline, so the mapping tries, in order:
//  1. a device permutation: each custom device holds exactly the stages some generated device
//     holds (e.g. "2|0|3|1" for 1F1B): that device's order moves over unchanged;
//  2. a chunk relabelling: each device's k-th local chunk becomes the stage listed k-th;
//  3. when that order deadlocks, a cost-blind list schedule of the same placement (unit F, 2x B),
//     so any placement the user types gets a runnable order, named as re-ordered.
Plan apply_custom_placement(Plan plan, const Placement& custom, int num_layers) {
  const int D = custom.num_devices();
  const int S = plan.placement.num_stages();
  std::vector<int> from(D, -1);
  std::vector<char> used(D, 0);
  for (int d = 0; d < D; ++d)
    for (int g = 0; g < D; ++g)
      if (!used[g] && plan.placement.device_stages[g] == custom.device_stages[d]) {
        from[d] = g;
        used[g] = 1;
        break;
      }
  if (std::find(from.begin(), from.end(), -1) == from.end()) {
    std::vector<std::vector<Action>> orders(D);
    for (int d = 0; d < D; ++d) orders[d] = plan.schedule[from[d]];
    plan.schedule = std::move(orders);
    plan.placement = custom;
    return plan;
  }
  Plan relabelled = plan;
  std::vector<int> remap(S, -1);
  for (int d = 0; d < D; ++d)
    for (size_t k = 0; k < custom.device_stages[d].size(); ++k)
      remap[plan.placement.device_stages[d][k]] = custom.device_stages[d][k];
  for (auto& list : relabelled.schedule)
    for (auto& a : list) a.stage = remap[a.stage];
  relabelled.placement = custom;
  if (validate_plan(relabelled, num_layers).ok()) return relabelled;

  ListScheduleProblem problem;
  problem.microbatches = plan.num_microbatches;
  problem.num_devices = D;
  problem.enforce_memory = false;
  if (!plan.units.empty()) {  // keep the slice dependencies of variable-length units
    SliceLinks links = slice_links(plan.units);
    if (links.any) problem.slice_prev = std::move(links.prev), problem.slice_next = std::move(links.next);
  }
  problem.stages.resize(S);
  problem.stage_device.assign(S, 0);
  bool split = false;
  for (const auto& list : plan.schedule)
    for (const auto& a : list) split = split || a.op == Op::W;
  for (auto& st : problem.stages) {
    st.f_ms = 1.0;
    st.b_ms = split ? 1.0 : 2.0;
    st.w_ms = split ? 1.0 : 0.0;
  }
  for (int d = 0; d < D; ++d)
    for (int s : custom.device_stages[d]) problem.stage_device[s] = d;
  ListSchedulePolicy policy;
  policy.split_backward = split;
  SimOptions sim;
  Plan out = list_schedule_plan(problem, plan.partition, make_uniform_cluster(D), sim, policy,
                                plan.name + " (re-ordered for placement)");
  out.units = plan.units;
  out.partition = plan.partition;
  return out;
}

}  // namespace

std::vector<int> parse_partition(const std::string& text, const std::string& field) {
  std::vector<int> sizes;
  for (const auto& tok : split(text, ',')) {
    int v = parse_int(tok, field, text);
    if (v < 1) throw InputError(field, "'" + text + "': every stage needs at least one layer, got " + trim(tok));
    if (v > ProblemLimits::kLayers || static_cast<long long>(sizes.size()) >= ProblemLimits::kLayers)
      throw InputError(field, quoted_excerpt(text, 80) + ": " +
                                  (v > ProblemLimits::kLayers ? "stage size " + trim(tok)
                                                              : "more than " + std::to_string(ProblemLimits::kLayers) + " stages") +
                                  " is above the limit of " + std::to_string(ProblemLimits::kLayers) + " layers");
    sizes.push_back(v);
  }
  return sizes;
}

Placement parse_placement(const std::string& text, int devices, int v, const std::string& field) {
  if (text == "sequential") return sequential_placement(devices);
  if (text == "looped" || text == "interleaved") return looped_placement(devices, v);
  if (text == "v") return v_placement(devices);
  if (text == "wave") return wave_placement(devices, v);
  Placement pl;
  for (const auto& dev : split(text, '|')) {
    std::vector<int> stages;
    if (!trim(dev).empty())  // "0,1||2" and "0,1| |2": a device with no stages
      for (const auto& tok : split(dev, ',')) {
        const int s = parse_int(tok, field, text);
        // A stage index sizes the bookkeeping below: bound it by the most stages a model can have.
        if (s >= ProblemLimits::kLayers)
          throw InputError(field, quoted_excerpt(text, 80) + ": stage " + trim(tok) + " is above the limit of " +
                                      std::to_string(ProblemLimits::kLayers - 1) + " (a stage per layer at most)");
        stages.push_back(s);
      }
    pl.device_stages.push_back(stages);
  }
  // Every stage 0..S-1 exactly once: a placement that skips or repeats a stage is a typo, and saying
  // which stage is wrong beats a validator message about missing actions later.
  std::vector<int> seen;
  for (const auto& stages : pl.device_stages)
    for (int s : stages) {
      if (s < 0) throw InputError(field, "'" + text + "': stage " + std::to_string(s) + " is negative");
      if (s >= static_cast<int>(seen.size())) seen.resize(s + 1, 0);
      if (++seen[s] > 1) throw InputError(field, "'" + text + "': stage " + std::to_string(s) + " is listed twice");
    }
  for (size_t s = 0; s < seen.size(); ++s)
    if (!seen[s])
      throw InputError(field, "'" + text + "': stage " + std::to_string(s) + " is on no device (stages must be 0.." +
                       std::to_string(seen.size() - 1) + ", each once)");
  if (seen.empty()) throw InputError(field, "'" + text + "': lists no stages");
  return pl;
}

std::string format_placement(const Placement& placement) {
  std::ostringstream os;
  for (int d = 0; d < placement.num_devices(); ++d) {
    if (d) os << '|';
    for (size_t k = 0; k < placement.device_stages[d].size(); ++k)
      os << (k ? "," : "") << placement.device_stages[d][k];
  }
  return os.str();
}

std::string format_partition(const Partition& partition) {
  std::ostringstream os;
  for (int s = 0; s < partition.num_stages(); ++s) os << (s ? "," : "") << partition.stage_size(s);
  return os.str();
}

std::string format_stage_counts(const Placement& placement) {
  std::string s;
  for (int d = 0; d < placement.num_devices(); ++d) {
    if (d) s += '/';
    s += std::to_string(placement.device_stages[d].size());
  }
  return s;
}

Plan build_plan(const PlanRequest& req, int num_layers) {
  ScheduleOptions so;
  so.devices = req.devices;
  so.microbatches = req.microbatches;
  so.stages_per_device = req.stages_per_device;
  so.group_size = req.group_size;
  if (req.units.empty() && is_unit_only_schedule(req.schedule))
    throw InputError("schedule", "'" + req.schedule + "' runs over sequence slices; it needs variable-length units (field 'units')");
  Plan plan = req.units.empty() ? generate_schedule(parse_schedule_kind(req.schedule), so)
                                : generate_unit_schedule(req.schedule, so, req.units);
  const int S = plan.placement.num_stages();

  if (req.partition.empty()) {
    plan.partition = even_partition(num_layers, S);
  } else {
    if (static_cast<int>(req.partition.size()) != S)
      throw InputError("partition", "gives " + std::to_string(req.partition.size()) + " stages but schedule '" +
                       req.schedule + "' on " + std::to_string(req.devices) + " devices has " + std::to_string(S) +
                       " stages");
    long long total = 0;  // summed wide: sizes may come from anywhere
    for (int n : req.partition) total += n;
    if (total != num_layers)
      throw InputError("partition", "stage sizes add up to " + std::to_string(total) + " layers but the model has " +
                                        std::to_string(num_layers));
    plan.partition = Partition::from_sizes(req.partition);
  }

  if (!req.placement.empty()) {
    Placement custom = parse_placement(req.placement, req.devices, S / std::max(1, req.devices));
    if (custom.num_devices() != plan.num_devices())
      throw InputError("placement", "lists " + std::to_string(custom.num_devices()) + " devices but the plan has " +
                       std::to_string(plan.num_devices()));
    for (int d = 0; d < custom.num_devices(); ++d)
      if (custom.device_stages[d].size() != plan.placement.device_stages[d].size())
        throw InputError("placement", "device " + std::to_string(d) + " holds " +
                         std::to_string(custom.device_stages[d].size()) + " stages but schedule '" + req.schedule +
                         "' gives it " + std::to_string(plan.placement.device_stages[d].size()));
    plan = apply_custom_placement(std::move(plan), custom, num_layers);
  }
  require_valid_plan(plan, num_layers, "plan '" + plan.name + "'");
  return plan;
}

}  // namespace adaptis
