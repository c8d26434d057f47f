#include "cli/parallel_report.h"

#include <cstdio>
#include <sstream>

#include "cli/report.h"

namespace adaptis::cli {

nlohmann::json parallel_json(const Plan& plan, const SimResult& sim) {
  const ParallelMetrics& m = sim.parallel;
  nlohmann::json j;
  if (plan.parallel) j["config"] = parallel_config_to_json(*plan.parallel);
  j["gpus"] = m.gpus;
  j["pipeline_ms"] = m.pipeline_ms;
  j["iteration_ms"] = m.iteration_ms;
  j["tokens_per_iteration"] = m.tokens_per_iteration;
  j["tokens_per_s"] = m.tokens_per_s;
  j["model_flops_per_gpu"] = m.model_flops_per_gpu;
  j["mfu"] = m.mfu;
  j["exposed_grad_sync_ms"] = m.exposed_grad_sync_ms;
  j["exposed_comm_ms"] = m.exposed_comm_ms;
  nlohmann::json devs = nlohmann::json::array();
  for (size_t d = 0; d < m.device_ms.size(); ++d) {
    nlohmann::json row = {{"device", d}, {"grad_sync_exposed_ms", m.device_grad_sync_exposed_ms[d]}};
    for (int k = 0; k < kNumCollectiveKinds; ++k)
      row[std::string(collective_kind_name(static_cast<CollectiveKind>(k))) + "_ms"] = m.device_ms[d][k];
    devs.push_back(std::move(row));
  }
  j["per_device"] = std::move(devs);
  j["collective_records"] = sim.collectives.size();
  return j;
}

std::string parallel_table(const Plan& plan, const SimResult& sim) {
  const ParallelMetrics& m = sim.parallel;
  std::ostringstream os;
  char buf[320];
  if (plan.parallel) os << "parallel: " << describe(*plan.parallel) << " on " << m.gpus << " GPUs\n";
  std::snprintf(buf, sizeof buf,
                "pipeline %.3f ms, iteration %.3f ms (exposed gradient sync %.3f ms); %.0f tokens/s, %.1f TFLOP/s per "
                "GPU, MFU %.1f%%\n",
                m.pipeline_ms, m.iteration_ms, m.exposed_grad_sync_ms, m.tokens_per_s, m.model_flops_per_gpu / 1e12,
                100 * m.mfu);
  os << buf;
  std::snprintf(buf, sizeof buf, "%-6s %10s %10s %10s %10s %10s %10s %12s\n", "device", "tp ms", "cp ms", "ep ms",
                "dp-sync ms", "gather ms", "optim ms", "sync exposed");
  os << buf;
  for (size_t d = 0; d < m.device_ms.size(); ++d) {
    const auto& x = m.device_ms[d];
    auto at = [&](CollectiveKind k) { return x[static_cast<int>(k)]; };
    std::snprintf(buf, sizeof buf, "%-6zu %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %12.3f\n", d,
                  at(CollectiveKind::TensorParallel), at(CollectiveKind::ContextParallel),
                  at(CollectiveKind::ExpertParallel), at(CollectiveKind::GradSync), at(CollectiveKind::ParamGather),
                  at(CollectiveKind::OptimizerStep), m.device_grad_sync_exposed_ms[d]);
    os << buf;
  }
  return os.str();
}

nlohmann::json candidate_json(const ClusterCandidate& c) {
  return {{"config", parallel_config_to_json(c.config)},
          {"description", describe(c.config)},
          {"schedule", c.schedule},
          {"fits", c.fits},
          {"iteration_ms", c.iteration_ms},
          {"pipeline_ms", c.pipeline_ms},
          {"lower_bound_ms", c.lower_bound_ms},
          {"bubble_ratio", c.bubble_ratio},
          {"tokens_per_s", c.tokens_per_s},
          {"model_flops_per_gpu", c.model_flops_per_gpu},
          {"mfu", c.mfu},
          {"peak_memory_bytes", c.peak_memory_bytes},
          {"memory_limit_bytes", c.memory_limit_bytes},
          {"exposed_comm_ms", c.exposed_comm_ms},
          {"exposed_grad_sync_ms", c.exposed_grad_sync_ms},
          {"tp_comm_ms", c.tp_comm_ms},
          {"cp_comm_ms", c.cp_comm_ms},
          {"ep_comm_ms", c.ep_comm_ms},
          {"recompute_ms", c.recompute_ms},
          {"optimizer_ms", c.optimizer_ms}};
}

std::string ranked_table(const ClusterSearchResult& r, size_t rows) {
  std::ostringstream os;
  char buf[400];
  std::snprintf(buf, sizeof buf, "%-4s %-44s %-22s %10s %12s %6s %8s %10s %10s %7s\n", "rank", "configuration",
                "schedule", "iter s", "tokens/s", "MFU", "TFLOP/s", "mem/GPU", "exp.comm", "bubble");
  os << buf;
  for (size_t i = 0; i < r.ranked.size() && i < rows; ++i) {
    const ClusterCandidate& c = r.ranked[i];
    std::snprintf(buf, sizeof buf, "%-4zu %-44s %-22s %10.3f %12.0f %5.1f%% %8.1f %10s %8.1fms %6.1f%%\n", i + 1,
                  describe(c.config).c_str(), c.schedule.c_str(), c.iteration_ms / 1e3, c.tokens_per_s, 100 * c.mfu,
                  c.model_flops_per_gpu / 1e12, format_bytes(c.peak_memory_bytes).c_str(), c.exposed_comm_ms,
                  100 * c.bubble_ratio);
    os << buf;
  }
  return os.str();
}

}  // namespace adaptis::cli
