#include "adaptis/executor/run_limits.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace adaptis::exec {

namespace {

// Floats one layer saves for one micro-batch between its F, B and W passes (the State structs of
// executor/include/adaptis/executor/layers/*.h), plus the gradient it hands on: N = tokens per micro-batch.
double saved_floats(LayerType type, const NetConfig& c) {
  const double N = double(c.micro_batch) * c.seq, h = c.hidden, aw = c.attn_width(),
               kvw = double(c.kv_heads) * c.head_dim();
  switch (type) {
    case LayerType::Embedding: return N * (h + 1);
    case LayerType::Attention:
      return N * (3 * h + 1 + 3 * aw + 4 * kvw) + double(c.micro_batch) * c.heads * double(c.seq) * c.seq + h;
    case LayerType::Mlp: return N * (3 * h + 1 + 6.0 * c.ffn) + h;
    case LayerType::Moe:
      return N * (3 * h + 1 + 2.0 * c.experts + 2.0 * c.top_k) + N * c.top_k * (2 * h + 5.0 * c.expert_ffn) +
             N * (5.0 * c.shared_ffn() + h);
    case LayerType::Mamba: {
      const double inner = c.mamba_inner();
      return N * (3 * h + 1 + inner * (11.0 + c.mamba_state) + 2.0 * (c.dt_rank() + 2.0 * c.mamba_state));
    }
    case LayerType::LmHead: return N * (2 * h + 2 + 2.0 * c.vocab);
  }
  return 0;
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(int64_t{1} << 30));
  return buf;
}

int64_t clamp_bytes(double b) { return b >= 9e18 ? int64_t(9e18) : static_cast<int64_t>(b); }

}  // namespace

RunMemoryEstimate estimate_cpu_run_memory(const NetConfig& cfg, int microbatches) {
  RunMemoryEstimate e;
  e.params = net_config_param_count(cfg);
  e.state_bytes = clamp_bytes(4.0 * sizeof(float) * double(e.params));  // param, grad, AdamW m and v
  double floats = 0;
  // Every layer keeps a State per micro-batch; its buffers stay allocated once used, so all of them count.
  for (LayerType t : cfg.layers) floats += saved_floats(t, cfg);
  e.activation_bytes = clamp_bytes(floats * sizeof(float) * std::max(1, microbatches));
  return e;
}

int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream is(line.substr(13));
    long long kb = 0;
    if (is >> kb && kb > 0) return static_cast<int64_t>(kb) * 1024;
  }
  return 0;
}

void check_cpu_run_size(const NetConfig& cfg, int microbatches, int devices, int64_t available_bytes) {
  if (devices > CpuRunLimits::kMaxDevices)
    throw RunTooLarge(RunSizeField::Devices, std::to_string(devices) + " device threads is above the CPU executor's limit of " +
                                                 std::to_string(CpuRunLimits::kMaxDevices));
  const RunMemoryEstimate e = estimate_cpu_run_memory(cfg, microbatches);
  const double total = double(e.total_bytes());
  const double available = double(available_bytes) * CpuRunLimits::kAvailableShare;
  const bool over_cap = total > double(CpuRunLimits::kMaxBytes);
  if (!over_cap && !(available_bytes > 0 && total > available)) return;
  throw RunTooLarge(
      RunSizeField::Memory,
      "a CPU run of " + std::to_string(cfg.num_layers()) + " executor layers with " + std::to_string(microbatches) +
          " micro-batches needs up to " + gib(total) + " (" + gib(double(e.state_bytes)) + " for " +
          std::to_string(e.params) + " parameters with gradients and AdamW state, " + gib(double(e.activation_bytes)) +
          " of saved activations), above " +
          (over_cap ? "the CPU executor's limit of " + gib(double(CpuRunLimits::kMaxBytes))
                    : std::to_string(int(CpuRunLimits::kAvailableShare * 100)) + "% of this machine's available memory (" +
                          gib(double(available_bytes)) + ")") +
          "; use fewer layers, micro-batches, a shorter seq_len or a smaller micro_batch_size");
}

}  // namespace adaptis::exec
