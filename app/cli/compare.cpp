#include "cli/compare.h"

#include <cstdio>
#include <sstream>

#include "adaptis/planner/memory_policy.h"
#include "cli/report.h"

namespace adaptis::cli {

std::string compare_table(const std::vector<CompareRow>& rows) {
  std::ostringstream os;
  char buf[400];
  size_t width = 24;
  for (const auto& r : rows) width = std::max(width, r.name.size());
  const int w = static_cast<int>(width);
  std::snprintf(buf, sizeof buf, "%-*s %12s %9s %14s %10s  %s\n", w, "schedule", "iter ms", "bubble", "max peak mem",
                "vs I-1F1B", "");
  os << buf;
  for (const auto& r : rows) {
    if (!r.ok) {
      std::string why = r.error.substr(0, r.error.find('\n'));
      std::snprintf(buf, sizeof buf, "%-*s %12s %9s %14s %10s  %s\n", w, r.name.c_str(), "-", "-", "-", "-",
                    why.substr(0, 200).c_str());
    } else {
      const double peak = app::peak_memory(r.sim);
      char sp[32] = "-";
      if (r.speedup_vs_interleaved > 0) std::snprintf(sp, sizeof sp, "%.3fx", r.speedup_vs_interleaved);
      std::snprintf(buf, sizeof buf, "%-*s %12.3f %8.2f%% %14s %10s  %s\n", w, r.name.c_str(), r.sim.iteration_ms,
                    100 * r.sim.bubble_ratio, format_bytes(peak).c_str(), sp, r.sim.oom ? "OOM" : "");
    }
    os << buf;
  }
  return terminal_safe_text(os.str());
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
      j["schedule"] = r.name;
      j["speedup_vs_interleaved_1f1b"] = r.speedup_vs_interleaved;
    }
    j["built_in"] = r.schedule;
    j["recompute"] = recompute_name(r.memory.recompute);
    j["offload"] = r.memory.offload_fraction;
    arr.push_back(std::move(j));
  }
  return nlohmann::json{{"schedules", arr}};
}

}  // namespace adaptis::cli
