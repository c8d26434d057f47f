#pragma once
// How large a run the CPU executor takes on, checked before anything is allocated: the executor keeps every
// parameter with its gradient and AdamW moments, and each layer keeps its saved activations per micro-batch
// (the buffers stay allocated between steps), so a deep model with many micro-batches can need gigabytes.
// The estimate below is an upper bound of those allocations; a run is refused when it exceeds the cap or
// the memory this machine has available, and when it asks for more device threads than the cap.
#include <cstdint>
#include <string>

#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

struct CpuRunLimits {
  static constexpr int kMaxDevices = 64;                     // device threads
  static constexpr int64_t kMaxBytes = int64_t{8} << 30;     // estimated memory of the run (8 GiB)
  static constexpr double kAvailableShare = 0.75;            // at most this share of MemAvailable
};

struct RunMemoryEstimate {
  int64_t params = 0;       // number of parameters
  int64_t state_bytes = 0;  // parameters, gradients and the two AdamW moments (fp32)
  int64_t activation_bytes = 0;  // saved activations of every layer for every micro-batch at once
  int64_t total_bytes() const { return state_bytes + activation_bytes; }
};

// Upper bound of what a CPU run of `cfg` with `microbatches` micro-batches allocates (without allocating).
RunMemoryEstimate estimate_cpu_run_memory(const NetConfig& cfg, int microbatches);

// MemAvailable of /proc/meminfo in bytes; 0 when unknown.
int64_t available_memory_bytes();

// Which size is over its limit, for the caller to name its flag or file.
enum class RunSizeField { Devices, Memory };

class RunTooLarge : public InputError {
 public:
  RunTooLarge(RunSizeField field, const std::string& detail) : InputError(detail), field(field), detail(detail) {}
  RunSizeField field;
  std::string detail;
};

// Throws RunTooLarge when `devices` exceeds CpuRunLimits::kMaxDevices, or the estimate exceeds
// CpuRunLimits::kMaxBytes or kAvailableShare of `available_bytes` (when > 0). The message gives the
// estimate's parts and what to reduce (layers, micro-batches, seq, micro-batch size).
void check_cpu_run_size(const NetConfig& cfg, int microbatches, int devices, int64_t available_bytes);

}  // namespace adaptis::exec
