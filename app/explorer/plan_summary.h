#pragma once
// Headline numbers of a plan or a run, and the difference between two of them: what the explorers
// print above the two timelines of a comparison (iteration time, bubble, peak memory).
#include <string>
#include <vector>

#include "adaptis/planner/simulator.h"

namespace adaptis::explorer {

struct PlanSummary {
  std::string label;
  double iteration_ms = 0;
  double bubble_ratio = 0;      // idle / (devices * iteration)
  double bubble_ms = 0;         // summed over devices
  double peak_memory_bytes = 0; // worst device (0 when unknown, e.g. a measured run)
  int peak_device = -1;
  bool oom = false;
  int devices = 0;
  size_t actions = 0;
  bool measured = false;
  // A whole-cluster plan (SimResult::has_parallel): throughput over all of its GPUs, model FLOPs
  // utilisation and the communication time its iteration cannot hide.
  bool parallel = false;
  int gpus = 0;
  double pipeline_ms = 0;
  double tokens_per_s = 0;
  double mfu = 0;
  double exposed_comm_ms = 0;
  double exposed_grad_sync_ms = 0;
};

// From a simulation.
PlanSummary summarize(const SimResult& sim, const std::string& label);
// From a measured timeline (per device, any order): iteration = last end - first start.
PlanSummary summarize_timeline(const std::vector<std::vector<TimedAction>>& timeline, const std::string& label);

struct SummaryDiff {
  double iteration_ms = 0;   // b - a
  double iteration_pct = 0;  // (b - a) / a * 100
  double speedup = 0;        // a / b (how much faster b is)
  double bubble_ratio = 0;   // b - a (fraction)
  double bubble_ms = 0;
  double peak_memory_bytes = 0;
  double peak_memory_pct = 0;
};

SummaryDiff diff(const PlanSummary& a, const PlanSummary& b);

}  // namespace adaptis::explorer
