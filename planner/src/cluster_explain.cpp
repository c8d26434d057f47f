// Why one whole-cluster configuration is faster than another, from their time breakdowns.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "adaptis/planner/cluster_search.h"

namespace adaptis {

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

std::string seconds(double ms) { return ms >= 1000 ? fmt("%.2f s", ms / 1000) : fmt("%.1f ms", ms); }

struct Part {
  std::string name;
  double ours, theirs;  // ms per iteration on the busiest GPU
};

}  // namespace

std::string explain_difference(const ClusterCandidate& a, const ClusterCandidate& b) {
  std::string out;
  const double speedup = a.iteration_ms > 0 ? b.iteration_ms / a.iteration_ms : 0;
  out += describe(a.config) + " runs an iteration in " + seconds(a.iteration_ms) + " against " + seconds(b.iteration_ms) +
         " for " + describe(b.config) + fmt(" (%.3fx", speedup) +
         (speedup >= 1 ? " faster" : " slower") + fmt(", MFU %.1f%% vs %.1f%%).", 100 * a.mfu, 100 * b.mfu);

  // Degrees that differ.
  std::vector<std::string> diffs;
  auto deg = [&](const char* name, long long x, long long y) {
    if (x != y) diffs.push_back(std::string(name) + " " + std::to_string(y) + " -> " + std::to_string(x));
  };
  deg("pp", a.config.pp, b.config.pp);
  deg("tp", a.config.tp, b.config.tp);
  deg("dp", a.config.dp, b.config.dp);
  deg("cp", a.config.cp, b.config.cp);
  deg("ep", a.config.ep, b.config.ep);
  deg("micro-batch size", a.config.micro_batch_size, b.config.micro_batch_size);
  deg("micro-batches", a.config.microbatches, b.config.microbatches);
  deg("ZeRO level", a.config.zero, b.config.zero);
  if (a.config.recompute != b.config.recompute)
    diffs.push_back(std::string("recompute ") + recompute_name(b.config.recompute) + " -> " +
                    recompute_name(a.config.recompute));
  if (a.config.sequence_parallel != b.config.sequence_parallel)
    diffs.push_back(std::string("sequence parallel ") + (b.config.sequence_parallel ? "on" : "off") + " -> " +
                    (a.config.sequence_parallel ? "on" : "off"));
  if (a.schedule != b.schedule) diffs.push_back("pipeline schedule " + b.schedule + " -> " + a.schedule);
  if (!diffs.empty()) {
    out += " Changes:";
    for (size_t i = 0; i < diffs.size(); ++i) out += (i ? ", " : " ") + diffs[i];
    out += ".";
  }

  // Where the time goes on the busiest GPU, largest difference first.
  auto compute = [](const ClusterCandidate& c) {
    return std::max(0.0, c.pipeline_ms * (1 - c.bubble_ratio) - c.tp_comm_ms - c.cp_comm_ms - c.ep_comm_ms - c.recompute_ms);
  };
  std::vector<Part> parts = {
      {"pipeline bubble", a.pipeline_ms * a.bubble_ratio, b.pipeline_ms * b.bubble_ratio},
      {"tensor-parallel communication", a.tp_comm_ms, b.tp_comm_ms},
      {"context-parallel communication", a.cp_comm_ms, b.cp_comm_ms},
      {"expert-parallel all-to-all", a.ep_comm_ms, b.ep_comm_ms},
      {"recomputation", a.recompute_ms, b.recompute_ms},
      {"exposed gradient sync", a.exposed_grad_sync_ms, b.exposed_grad_sync_ms},
      {"optimizer step", a.optimizer_ms, b.optimizer_ms},
      {"compute (GEMM efficiency, per-GPU work)", compute(a), compute(b)},
  };
  std::stable_sort(parts.begin(), parts.end(), [](const Part& x, const Part& y) {
    return std::abs(x.theirs - x.ours) > std::abs(y.theirs - y.ours);
  });
  std::vector<std::string> lines;
  for (const Part& p : parts) {
    const double delta = p.theirs - p.ours;
    if (std::abs(delta) < 0.005 * std::max(1.0, b.iteration_ms)) continue;
    lines.push_back(p.name + " " + seconds(p.theirs) + " -> " + seconds(p.ours) + (delta > 0 ? " (saves " : " (costs ") +
                    seconds(std::abs(delta)) + ")");
    if (lines.size() == 4) break;
  }
  if (!lines.empty()) {
    out += " Per iteration on the busiest GPU:";
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "; " : " ") + lines[i];
    out += ".";
  }
  if (a.peak_memory_bytes > 0 && b.peak_memory_bytes > 0)
    out += fmt(" Peak memory per GPU %.1f GiB vs %.1f GiB.", a.peak_memory_bytes / (1 << 30),
               b.peak_memory_bytes / (1 << 30));
  return out;
}

}  // namespace adaptis
