#include "cli/compare.h"

#include <cstdio>
#include <sstream>

#include "adaptis/planner/unit_schedules.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

void refresh_speedups(std::vector<CompareRow>& rows) {
  double ref = 0;
  for (const auto& r : rows)
    if (r.ok && r.name == "interleaved-1f1b") ref = r.sim.iteration_ms;
  for (auto& r : rows) r.speedup_vs_interleaved = (r.ok && ref > 0) ? ref / r.sim.iteration_ms : 0;
}

}  // namespace

std::vector<CompareRow> compare_schedules(const PlanRequest& base, const Inputs& in) {
  std::vector<CompareRow> rows;
  std::vector<std::string> names;
  for (const auto& info : all_schedules()) names.push_back(info.name);
  // Over variable-length units the sequence-level schedules join in.
  if (!base.units.empty())
    for (const auto& info : unit_only_schedules()) names.push_back(info.name);
  for (const auto& name : names) {
    CompareRow row;
    row.name = name;
    PlanRequest req = base;
    req.schedule = name;
    req.partition.clear();
    req.placement.clear();
    try {
      row.plan = build_plan(req, in.costs.num_layers());
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

std::string compare_table(const std::vector<CompareRow>& rows) {
  std::ostringstream os;
  char buf[400];
  std::snprintf(buf, sizeof buf, "%-24s %12s %9s %14s %10s  %s\n", "schedule", "iter ms", "bubble", "max peak mem",
                "vs I-1F1B", "");
  os << buf;
  for (const auto& r : rows) {
    if (!r.ok) {
      std::string why = r.error.substr(0, r.error.find('\n'));
      std::snprintf(buf, sizeof buf, "%-24s %12s %9s %14s %10s  %s\n", r.name.c_str(), "-", "-", "-", "-",
                    why.c_str());
    } else {
      double peak = 0;
      for (const auto& d : r.sim.devices) peak = std::max(peak, d.peak_memory_bytes);
      char sp[32] = "-";
      if (r.speedup_vs_interleaved > 0) std::snprintf(sp, sizeof sp, "%.3fx", r.speedup_vs_interleaved);
      std::snprintf(buf, sizeof buf, "%-24s %12.3f %8.2f%% %14s %10s  %s\n", r.name.c_str(), r.sim.iteration_ms,
                    100 * r.sim.bubble_ratio, format_bytes(peak).c_str(), sp, r.sim.oom ? "OOM" : "");
    }
    os << buf;
  }
  return os.str();
}

nlohmann::json compare_json(const std::vector<CompareRow>& rows) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json j;
    j["schedule"] = r.name;
    j["ok"] = r.ok;
    if (!r.ok) {
      j["error"] = r.error;
    } else {
      j = simulation_json(r.plan, r.sim);
      j["speedup_vs_interleaved_1f1b"] = r.speedup_vs_interleaved;
    }
    arr.push_back(std::move(j));
  }
  return nlohmann::json{{"schedules", arr}};
}

}  // namespace adaptis::cli
