#pragma once
// Per-layer F / B / W costs measured on a GPU, as a CostTable the planner reads like any other cost file:
// `adaptis profile --backend cuda --model M --out costs.json`, then `adaptis simulate --costs costs.json`.
// The GPU twin of executor/cpu_profiler.h, with the same rows (plan layer units) and the same chain method:
// every unit becomes a one-micro-batch GPU stage; each repetition runs F of every unit in order (feeding real
// outputs), B in reverse order, then W.
//
// Timing:
//   - CUPTI Activity API (preferred): every kernel, memcpy and memset record, attributed to its (unit, pass,
//     repetition) through an external correlation id pushed around each call. A pass's time is the span from
//     its first record's start to its last record's end on the GPU clock; kernel time (the sum of kernel
//     durations) is reported beside it.
//   - CUDA events (fallback): a start/end event pair around each call on the stage's stream. Used when CUPTI
//     cannot trace here: CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, another profiler attached
//     (CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED), or any other CUPTI failure; the reason is reported.
// The median over the timed repetitions is kept. CUPTI's overhead is measured, not guessed: the same
// repetitions run once with event timing only and once under CUPTI, and the ratio of their total event time is
// reported. Peak memory is the stream-ordered pool's high-water mark plus the cuBLAS workspace.
//
// Without a GPU (or in a build without CUDA) profile_gpu throws InputError with the reason; the CLI then
// falls back to the analytical model and says so.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/cost_table.h"

namespace adaptis::prof {

enum class GpuTiming : uint8_t { Auto, Cupti, CudaEvents };
const char* gpu_timing_name(GpuTiming t);  // "auto", "cupti", "events"
// "auto" / "cupti" / "events" (case-insensitive); InputError on `field` otherwise.
GpuTiming parse_gpu_timing(const std::string& text, const std::string& field = "timing");

struct GpuProfileOptions {
  exec::GpuPrecision precision = exec::GpuPrecision::Fp32;
  int gpu = 0;
  int repeats = 10;  // timed repetitions (the median is kept)
  int warmup = 2;    // untimed repetitions first (module loading, pool growth, cuBLAS heuristics)
  GpuTiming timing = GpuTiming::Auto;  // Auto = CUPTI, falling back to events; Cupti = fail instead
  bool split_blocks = false;           // rows per executor layer instead of per spec layer (see cpu_profiler.h)
  bool keep_records = true;            // keep every CUPTI record in the result (for the profile store)
};
// InputError naming the option.
void validate_gpu_profile_options(const GpuProfileOptions& opt);

// One CUPTI activity record attributed to a layer pass.
struct ActivityRecord {
  std::string kind;  // "kernel", "memcpy", "memset"
  std::string name;  // demangled kernel name, or the copy kind ("HtoD", "DtoD", ...) / "memset"
  int unit = -1;     // row of the cost table
  char pass = 'F';   // 'F', 'B' or 'W'
  int repeat = -1;   // timed repetition (0-based)
  int64_t start_ns = 0, end_ns = 0;  // CUPTI clock, relative to the first timed record
  uint64_t bytes = 0;
  uint32_t stream = 0;
  uint32_t correlation = 0;
};

// What was measured for one row, in ms (medians over the timed repetitions).
struct GpuUnitStats {
  double f_ms = 0, b_ms = 0, w_ms = 0;                      // GPU span of each pass (what the costs use)
  double f_kernel_ms = 0, b_kernel_ms = 0, w_kernel_ms = 0;  // summed kernel durations (CUPTI only)
  int f_kernels = 0, b_kernels = 0, w_kernels = 0;           // kernels per pass (CUPTI only)
};

struct GpuProfileResult {
  CostTable costs;               // source "gpu-profile:<timing>:<GPU name>"
  std::string timing;            // "cupti" or "events": what the costs come from
  std::string fallback_reason;   // why CUPTI was not used (empty when it was, or was not asked for)
  std::string device;            // GPU name
  std::string precision;         // "fp32" / "bf16"
  int repeats = 0, warmup = 0;
  std::vector<GpuUnitStats> units;
  std::vector<ActivityRecord> records;  // CUPTI only, when keep_records
  uint64_t dropped_records = 0;
  size_t peak_memory_bytes = 0;
  double events_total_ms = 0;  // timed repetitions, event timing only
  double cupti_total_ms = 0;   // the same repetitions under CUPTI (0 when CUPTI was not used)
  double cupti_overhead = 0;   // cupti_total / events_total - 1 (0 when CUPTI was not used)
};

// True when CUPTI activity tracing can be started here; `why` says why not. (Starts and stops a session.)
bool cupti_available(std::string* why = nullptr);

// Profiles cfg's layers on the GPU. InputError when no GPU / no CUDA build, on bad options, or (timing
// Cupti) when CUPTI cannot trace.
GpuProfileResult profile_gpu(const exec::NetConfig& cfg, const GpuProfileOptions& opt = {});

}  // namespace adaptis::prof
