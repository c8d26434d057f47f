#include "common/schedule_compare.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/unit_schedules.h"

namespace adaptis::app {

namespace {

void refresh_speedups(std::vector<CompareRow>& rows) {
  double ref = 0;
  for (const auto& r : rows)
    if (r.ok && r.schedule == "interleaved-1f1b" && ref == 0) ref = r.sim.iteration_ms;
  for (auto& r : rows) r.speedup_vs_interleaved = (r.ok && ref > 0) ? ref / r.sim.iteration_ms : 0;
}

}  // namespace

std::string compare_row_name(const std::string& schedule, const StageMemoryPolicy& memory, bool show_policy) {
  return show_policy ? schedule + " + " + describe(memory) : schedule;
}

std::vector<CompareRow> compare_schedules(const PlanRequest& base, const Inputs& in,
                                          const std::vector<StageMemoryPolicy>& memory) {
  std::vector<CompareRow> rows;
  const bool show_policy = !(memory.size() == 1 && memory.front() == StageMemoryPolicy{});
  std::vector<std::string> names;
  for (const auto& info : all_schedules()) names.push_back(info.name);
  // Over variable-length units the sequence-level schedules (seq1f1b, terapipe) join in.
  if (!base.units.empty())
    for (const auto& info : unit_only_schedules()) names.push_back(info.name);
  for (const std::string& name : names)
    for (const StageMemoryPolicy& mem : memory) {
      CompareRow row;
      row.schedule = name;
      row.memory = mem;
      row.name = compare_row_name(name, mem, show_policy);
      PlanRequest req = base;
      req.schedule = name;
      req.partition.clear();
      req.placement.clear();
      try {
        row.plan = build_plan(req, in.costs.num_layers());
        set_uniform_memory_policy(row.plan, mem);
        row.sim = simulate(row.plan, in.costs, in.cluster, in.sim);
        row.ok = row.sim.ok;
        if (!row.ok) row.error = row.sim.error;
      } catch (const InputError& e) {
        row.error = e.what();
      }
      rows.push_back(std::move(row));
    }
  refresh_speedups(rows);
  return rows;
}

void add_compare_row(std::vector<CompareRow>& rows, CompareRow row) {
  rows.push_back(std::move(row));
  refresh_speedups(rows);
}

const CompareRow* fastest(const std::vector<CompareRow>& rows) {
  const CompareRow* best = nullptr;
  for (int pass = 0; pass < 2 && !best; ++pass)
    for (const auto& r : rows)
      if (r.ok && (pass == 1 || !r.sim.oom) && (!best || r.sim.iteration_ms < best->sim.iteration_ms)) best = &r;
  return best;
}

double peak_memory(const SimResult& sim) {
  double m = 0;
  for (const auto& d : sim.devices) m = std::max(m, d.peak_memory_bytes);
  return m;
}

}  // namespace adaptis::app
