// Schedules over variable-length units (unit_schedules.h).
#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "adaptis/model/error.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/units.h"
#include "adaptis/planner/validator.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/model/cluster.h"

namespace adaptis {

namespace {

Action act(Op op, int s, int mb) { return Action{op, s, mb, false}; }

// Moves actions later on their own device until every same-device prerequisite (F before its B, B
// before its W, the previous slice's F before F, the next slice's B before B) comes first: a stable
// topological reorder that keeps every action as early as its prerequisites allow. What can never run
// (a prerequisite missing on the device waits for another device) is left in place for the validator.
void repair_device_orders(Plan& plan, const SliceLinks& links) {
  constexpr uint64_t kNone = ~0ULL;
  auto key = [](int kind, int stage, int mb) {
    return (static_cast<uint64_t>(kind) << 56) | (static_cast<uint64_t>(stage) << 28) | static_cast<uint64_t>(mb);
  };
  auto kind_of = [](Op op) { return op == Op::F ? 0 : op == Op::W ? 2 : 1; };
  for (auto& list : plan.schedule) {
    std::unordered_set<uint64_t> present, emitted;
    for (const Action& a : list) present.insert(key(kind_of(a.op), a.stage, a.mb));
    // The first same-device prerequisite of `a` not yet emitted, or kNone.
    auto missing = [&](const Action& a) {
      auto check = [&](int kind, int mb) {
        if (mb < 0) return kNone;
        const uint64_t k = key(kind, a.stage, mb);
        return present.count(k) && !emitted.count(k) ? k : kNone;
      };
      if (a.op == Op::F) return check(0, links.any ? links.prev[a.mb] : -1);
      if (a.op == Op::W) return check(1, a.mb);
      const uint64_t own = check(0, a.mb);
      return own != kNone ? own : check(1, links.any ? links.next[a.mb] : -1);
    };
    std::vector<Action> out;
    out.reserve(list.size());
    std::vector<char> waited(list.size(), 0);
    std::unordered_map<uint64_t, std::vector<int>> waiters;  // prerequisite -> actions (list indices) waiting on it
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;  // released waiters, in list order
    bool changed = false;
    int last = -1;  // list index of the action emitted last
    auto emit = [&](int i) {
      Action a = list[i];
      // An overlapped F&B pair (DualPipe) stays a pair only if its two halves still follow each other.
      if (a.overlap_prev && last != i - 1) a.overlap_prev = false;
      if (waited[i]) changed = true;
      last = i;
      const uint64_t k = key(kind_of(a.op), a.stage, a.mb);
      emitted.insert(k);
      out.push_back(a);
      auto it = waiters.find(k);
      if (it == waiters.end()) return;
      std::vector<int> w = std::move(it->second);
      waiters.erase(it);
      for (int j : w) {
        const uint64_t m = missing(list[j]);
        if (m == kNone) ready.push(j);
        else waiters[m].push_back(j);
      }
    };
    for (int i = 0; i < static_cast<int>(list.size()); ++i) {
      const uint64_t m = missing(list[i]);
      if (m != kNone) {
        waited[i] = 1;
        waiters[m].push_back(i);
        continue;
      }
      emit(i);
      while (!ready.empty()) {
        const int j = ready.top();
        ready.pop();
        emit(j);
      }
    }
    // What never became ready (it waits for another device, or a cycle) keeps its relative order at the end.
    std::vector<int> rest;
    for (auto& [k, w] : waiters) rest.insert(rest.end(), w.begin(), w.end());
    std::sort(rest.begin(), rest.end());
    for (int j : rest) emit(j);
    if (changed) list = std::move(out);
  }
}

int max_slices(const std::vector<WorkUnit>& units) {
  std::map<int, int> rows;
  for (const WorkUnit& u : units)
    if (u.row >= 0) ++rows[u.row];
  int k = 1;
  for (const auto& [r, n] : rows) k = std::max(k, n);
  return k;
}

void check_inputs(int devices, const std::vector<WorkUnit>& units, const char* name) {
  if (devices < 1) throw InputError(std::string("schedule '") + name + "': --devices must be >= 1");
  if (units.empty()) throw InputError(std::string("schedule '") + name + "': needs units (sequence lengths)");
  slice_links(units);  // malformed units throw here with the unit named
}

}  // namespace

const std::vector<UnitScheduleInfo>& unit_only_schedules() {
  static const std::vector<UnitScheduleInfo> k = {
      {"seq1f1b", "Seq1F1B: sequence-level 1F1B over slices, each row's backwards last slice first"},
      {"terapipe", "TeraPipe: token-level GPipe, all forwards then all backwards in reverse unit order"},
  };
  return k;
}

bool is_unit_only_schedule(const std::string& name) {
  for (const auto& s : unit_only_schedules())
    if (name == s.name) return true;
  return false;
}

std::vector<int> unit_backward_order(const std::vector<WorkUnit>& units) {
  const SliceLinks links = slice_links(units);
  std::vector<int> out;
  for (int u = 0; u < static_cast<int>(units.size()); ++u) {
    if (links.any && links.next[u] >= 0) continue;  // a row is emitted at its last slice
    for (int v = u; v >= 0; v = links.any ? links.prev[v] : -1) out.push_back(v);
  }
  return out;
}

Plan seq1f1b_schedule(int p, const std::vector<WorkUnit>& units) {
  check_inputs(p, units, "seq1f1b");
  const int U = static_cast<int>(units.size());
  const int k = max_slices(units);
  const std::vector<int> border = unit_backward_order(units);
  Plan plan;
  plan.name = "seq1f1b";
  plan.num_microbatches = U;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    auto& o = plan.schedule[r];
    const int warm = std::min(std::max(p - r - 2 + k, 0), U);
    int f = 0, b = 0;
    for (; f < warm; ++f) o.push_back(act(Op::F, r, f));
    while (f < U) {
      o.push_back(act(Op::F, r, f++));
      o.push_back(act(Op::BW, r, border[b++]));
    }
    while (b < U) o.push_back(act(Op::BW, r, border[b++]));
  }
  plan.units = units;
  return plan;
}

Plan terapipe_schedule(int p, const std::vector<WorkUnit>& units) {
  check_inputs(p, units, "terapipe");
  const int U = static_cast<int>(units.size());
  Plan plan;
  plan.name = "terapipe";
  plan.num_microbatches = U;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    for (int u = 0; u < U; ++u) plan.schedule[r].push_back(act(Op::F, r, u));
    for (int u = U - 1; u >= 0; --u) plan.schedule[r].push_back(act(Op::BW, r, u));
  }
  plan.units = units;
  return plan;
}

Plan generate_unit_schedule(const std::string& name, const ScheduleOptions& opt, const std::vector<WorkUnit>& units) {
  if (name == "seq1f1b") return seq1f1b_schedule(opt.devices, units);
  if (name == "terapipe") return terapipe_schedule(opt.devices, units);
  check_inputs(opt.devices, units, name.c_str());
  ScheduleOptions o = opt;
  o.microbatches = static_cast<int>(units.size());
  Plan plan = generate_schedule(parse_schedule_kind(name), o);
  plan.units = units;
  const SliceLinks links = slice_links(units);
  if (!links.any) return plan;
  // The generators run each stage's backwards in micro-batch order; relabel the j-th so that rows go
  // last slice first, then move what must wait for a later forward of its row.
  const std::vector<int> border = unit_backward_order(units);
  for (auto& list : plan.schedule)
    for (auto& a : list)
      if (a.op != Op::F) a.mb = border[a.mb];
  repair_device_orders(plan, links);
  Plan check = plan;  // the partition comes later; one layer per stage is enough to check the orders
  check.partition = Partition::from_sizes(std::vector<int>(static_cast<size_t>(plan.placement.num_stages()), 1));
  if (validate_plan(check, -1).ok()) return plan;
  // The relabelled order deadlocks (a warm-up too shallow for a row's slices): keep the schedule's
  // placement and backward split, and order each device by a cost-blind list schedule that prefers
  // backwards (the 1F1B rule) and respects the slice dependencies.
  const int S = plan.placement.num_stages(), D = plan.num_devices();
  bool split = false;
  for (const auto& list : plan.schedule)
    for (const auto& a : list) split = split || a.op == Op::W;
  ListScheduleProblem pb;
  pb.microbatches = static_cast<int>(units.size());
  pb.num_devices = D;
  pb.enforce_memory = false;
  pb.stages.resize(static_cast<size_t>(S));
  for (auto& st : pb.stages) {
    st.f_ms = 1.0;
    st.b_ms = split ? 1.0 : 2.0;
    st.w_ms = split ? 1.0 : 0.0;
  }
  pb.stage_device = plan.placement.stage_device();
  pb.slice_prev = links.prev;
  pb.slice_next = links.next;
  ListSchedulePolicy policy;
  policy.order = ListSchedulePolicy::Order::BackwardFirst;
  policy.split_backward = split;
  SimOptions sim;
  Plan out = list_schedule_plan(pb, check.partition, make_uniform_cluster(D), sim, policy,
                                plan.name + " (re-ordered for slices)");
  out.placement = plan.placement;  // the same stages per device, in the schedule's local order
  out.partition = Partition{};
  out.units = units;
  return out;
}

}  // namespace adaptis
