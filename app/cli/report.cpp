#include "cli/report.h"

#include "cli/parallel_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "adaptis/planner/memory_policy.h"

namespace adaptis::cli {

nlohmann::json simulation_json(const Plan& plan, const SimResult& sim) {
  nlohmann::json j;
  j["schedule"] = plan.name;
  j["devices"] = plan.num_devices();
  j["stages"] = plan.num_stages();
  j["microbatches"] = plan.num_microbatches;
  j["partition"] = plan.partition.sizes();
  j["placement"] = plan.placement.device_stages;
  j["ok"] = sim.ok;
  if (!sim.ok) {
    j["error"] = sim.error;
    return j;
  }
  j["iteration_time_ms"] = sim.iteration_ms;
  j["bubble_ratio"] = sim.bubble_ratio;
  j["oom"] = sim.oom;
  j["memory_policies"] = memory_policies_json(plan);
  nlohmann::json devs = nlohmann::json::array();
  for (size_t d = 0; d < sim.devices.size(); ++d) {
    const DeviceStats& s = sim.devices[d];
    devs.push_back({{"device", d},
                    {"recompute_ms", s.recompute_ms},
                    {"host_copy_ms", s.host_copy_ms},
                    {"recomputed_bytes", s.recomputed_bytes},
                    {"offloaded_bytes", s.offloaded_bytes},
                    {"peak_kept_bytes", s.peak_kept_bytes},
                    {"peak_recomputed_bytes", s.peak_recomputed_bytes},
                    {"peak_offloaded_bytes", s.peak_offloaded_bytes},
                    {"peak_carried_bytes", s.peak_carried_bytes},
                    {"peak_w_grad_bytes", s.peak_w_grad_bytes},
                    {"busy_ms", s.busy_ms},
                    {"bubble_ms", s.bubble_ms},
                    {"warmup_bubble_ms", s.warmup_bubble_ms},
                    {"inbetween_bubble_ms", s.inbetween_bubble_ms},
                    {"cooldown_bubble_ms", s.cooldown_bubble_ms},
                    {"static_memory_bytes", s.static_bytes},
                    {"peak_activation_bytes", s.peak_activation_bytes},
                    {"peak_memory_bytes", s.peak_memory_bytes},
                    {"memory_limit_bytes", s.memory_limit_bytes},
                    {"send_bytes", s.send_bytes},
                    {"oom", s.oom}});
  }
  j["per_device"] = std::move(devs);
  if (sim.has_parallel) j["parallel"] = parallel_json(plan, sim);  // whole-cluster plans
  nlohmann::json copies = nlohmann::json::array();
  for (const HostTransfer& x : sim.host_transfers)
    copies.push_back({{"device", x.device},
                      {"stage", x.stage},
                      {"mb", x.mb},
                      {"direction", x.to_host ? "to_host" : "to_device"},
                      {"bytes", x.bytes},
                      {"request_ms", x.request},
                      {"start_ms", x.start},
                      {"end_ms", x.end}});
  j["host_transfers"] = std::move(copies);
  return j;
}

nlohmann::json memory_policies_json(const Plan& plan) {
  nlohmann::json arr = nlohmann::json::array();
  for (int s = 0; s < plan.num_stages(); ++s) {
    const StageMemoryPolicy p = stage_memory(plan, s);
    arr.push_back({{"stage", s},
                   {"recompute", recompute_name(p.recompute)},
                   {"layers", p.recompute == Recompute::Full ? (p.full_layers > 0 ? p.full_layers : plan.partition.stage_size(s)) : 0},
                   {"offload", p.offload_fraction}});
  }
  return arr;
}

std::string simulation_table(const Plan& plan, const SimResult& sim) {
  std::ostringstream os;
  char buf[256];
  os << "plan " << plan.name << ": " << plan.num_devices() << " devices, " << plan.num_stages() << " stages, "
     << plan.num_microbatches << " micro-batches, partition " << format_partition(plan.partition) << ", placement "
     << format_placement(plan.placement) << "\n";
  if (!sim.ok) {
    os << sim.error << "\n";
    return terminal_safe_text(os.str());
  }
  std::snprintf(buf, sizeof buf, "iteration %.3f ms, bubble %.2f%%%s\n", sim.iteration_ms, 100 * sim.bubble_ratio,
                sim.oom ? ", OUT OF MEMORY on at least one device" : "");
  os << buf;
  std::snprintf(buf, sizeof buf, "%-6s %11s %11s %10s %10s %10s %12s %12s %s\n", "device", "busy ms", "bubble ms",
                "warm-up", "between", "cool-down", "peak mem", "limit", "");
  os << buf;
  for (size_t d = 0; d < sim.devices.size(); ++d) {
    const DeviceStats& s = sim.devices[d];
    std::snprintf(buf, sizeof buf, "%-6zu %11.3f %11.3f %10.3f %10.3f %10.3f %12s %12s %s\n", d, s.busy_ms,
                  s.bubble_ms, s.warmup_bubble_ms, s.inbetween_bubble_ms, s.cooldown_bubble_ms,
                  format_bytes(s.peak_memory_bytes).c_str(), format_bytes(s.memory_limit_bytes).c_str(),
                  s.oom ? "OOM" : "");
    os << buf;
  }
  if (sim.has_parallel) os << parallel_table(plan, sim);  // whole-cluster plans
  // Memory policies: the split of each device's activation peak and the time R and copies took.
  bool any_split = false;
  for (const auto& s : sim.devices)
    any_split = any_split || s.recompute_ms > 0 || s.recomputed_bytes > 0 || s.peak_carried_bytes > 0;
  if (has_memory_policy(plan) || any_split || !sim.host_transfers.empty()) {
    os << "memory policies: " << describe_memory(plan.memory) << "\n";
    std::snprintf(buf, sizeof buf, "%-6s %10s %10s %12s %12s %12s %12s %12s %12s\n", "device", "R ms", "copy ms",
                  "peak act", "kept", "recomputed", "kv carries", "grads for W", "on host");
    os << buf;
    for (size_t d = 0; d < sim.devices.size(); ++d) {
      const DeviceStats& s = sim.devices[d];
      std::snprintf(buf, sizeof buf, "%-6zu %10.3f %10.3f %12s %12s %12s %12s %12s %12s\n", d, s.recompute_ms,
                    s.host_copy_ms, format_bytes(s.peak_activation_bytes).c_str(), format_bytes(s.peak_kept_bytes).c_str(),
                    format_bytes(s.peak_recomputed_bytes).c_str(), format_bytes(s.peak_carried_bytes).c_str(),
                    format_bytes(s.peak_w_grad_bytes).c_str(), format_bytes(s.peak_offloaded_bytes).c_str());
      os << buf;
    }
  }
  return terminal_safe_text(os.str());
}

std::string gaps_table(const SimResult& sim, size_t limit) {
  std::vector<const Gap*> g;
  for (const auto& x : sim.gaps) g.push_back(&x);
  std::stable_sort(g.begin(), g.end(), [](const Gap* a, const Gap* b) { return a->end - a->start > b->end - b->start; });
  std::ostringstream os;
  char buf[320];
  os << "largest idle gaps and why:\n";
  for (size_t i = 0; i < g.size() && i < limit; ++i) {
    const Gap& x = *g[i];
    if (x.cause == GapCause::Reload) {
      std::snprintf(buf, sizeof buf,
                    "  d%-3d %10.3f..%-10.3f %8.3f ms %-10s '%s' waits for its activations back from host memory "
                    "(reload ends %.3f)\n",
                    x.device, x.start, x.end, x.end - x.start, bubble_phase_name(x.phase), to_string(x.waiting).c_str(),
                    x.arrival);
    } else if (x.cause == GapCause::Drain) {
      std::snprintf(buf, sizeof buf, "  d%-3d %10.3f..%-10.3f %8.3f ms %-10s done; waits for the other devices\n",
                    x.device, x.start, x.end, x.end - x.start, bubble_phase_name(x.phase));
    } else {
      std::snprintf(buf, sizeof buf,
                    "  d%-3d %10.3f..%-10.3f %8.3f ms %-10s '%s' waits for %s on d%d (done %.3f, arrives %.3f)\n",
                    x.device, x.start, x.end, x.end - x.start, bubble_phase_name(x.phase), to_string(x.waiting).c_str(),
                    to_string(x.producer).c_str(), x.producer_device, x.producer_end, x.arrival);
    }
    os << buf;
  }
  return os.str();
}

nlohmann::json lower_bound_json(const IterationLowerBound& bound) {
  return {{"ms", bound.ms},           {"binding", bound.binding},         {"work_ms", bound.work_ms},
          {"chain_ms", bound.chain_ms}, {"chain_layer", bound.chain_layer}, {"bins_ms", bound.bins_ms}};
}

}  // namespace adaptis::cli
