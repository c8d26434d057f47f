#include "explorer/plan_summary.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace adaptis::explorer {

PlanSummary summarize(const SimResult& sim, const std::string& label) {
  PlanSummary s;
  s.label = label;
  s.iteration_ms = sim.iteration_ms;
  s.bubble_ratio = sim.bubble_ratio;
  s.oom = sim.oom;
  s.devices = static_cast<int>(sim.devices.size());
  for (size_t d = 0; d < sim.devices.size(); ++d) {
    s.bubble_ms += sim.devices[d].bubble_ms;
    if (sim.devices[d].peak_memory_bytes > s.peak_memory_bytes) {
      s.peak_memory_bytes = sim.devices[d].peak_memory_bytes;
      s.peak_device = static_cast<int>(d);
    }
  }
  for (const auto& tl : sim.timeline) s.actions += tl.size();
  if (sim.has_parallel) {
    s.parallel = true;
    s.gpus = sim.parallel.gpus;
    s.pipeline_ms = sim.parallel.pipeline_ms;
    s.tokens_per_s = sim.parallel.tokens_per_s;
    s.mfu = sim.parallel.mfu;
    s.exposed_comm_ms = sim.parallel.exposed_comm_ms;
    s.exposed_grad_sync_ms = sim.parallel.exposed_grad_sync_ms;
  }
  return s;
}

PlanSummary summarize_timeline(const std::vector<std::vector<TimedAction>>& timeline, const std::string& label) {
  PlanSummary s;
  s.label = label;
  s.measured = true;
  s.devices = static_cast<int>(timeline.size());
  double t0 = std::numeric_limits<double>::infinity(), t1 = -t0;
  std::vector<double> busy(timeline.size(), 0.0);
  for (size_t d = 0; d < timeline.size(); ++d)
    for (const TimedAction& ta : timeline[d]) {
      t0 = std::min(t0, ta.start);
      t1 = std::max(t1, ta.end);
      busy[d] += ta.end - ta.start;
      ++s.actions;
    }
  if (s.actions == 0) return s;
  s.iteration_ms = t1 - t0;
  for (double b : busy) s.bubble_ms += std::max(0.0, s.iteration_ms - b);
  s.bubble_ratio = s.iteration_ms > 0 && s.devices > 0 ? s.bubble_ms / (s.devices * s.iteration_ms) : 0;
  return s;
}

SummaryDiff diff(const PlanSummary& a, const PlanSummary& b) {
  SummaryDiff d;
  d.iteration_ms = b.iteration_ms - a.iteration_ms;
  d.iteration_pct = a.iteration_ms > 0 ? d.iteration_ms / a.iteration_ms * 100 : 0;
  d.speedup = b.iteration_ms > 0 ? a.iteration_ms / b.iteration_ms : 0;
  d.bubble_ratio = b.bubble_ratio - a.bubble_ratio;
  d.bubble_ms = b.bubble_ms - a.bubble_ms;
  d.peak_memory_bytes = b.peak_memory_bytes - a.peak_memory_bytes;
  d.peak_memory_pct = a.peak_memory_bytes > 0 ? d.peak_memory_bytes / a.peak_memory_bytes * 100 : 0;
  return d;
}

}  // namespace adaptis::explorer
