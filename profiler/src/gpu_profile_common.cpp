// Parts of the GPU profiler that need no GPU: option names and checks.
#include <algorithm>
#include <cctype>

#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"

namespace adaptis::prof {

const char* gpu_timing_name(GpuTiming t) {
  switch (t) {
    case GpuTiming::Auto: return "auto";
    case GpuTiming::Cupti: return "cupti";
    case GpuTiming::CudaEvents: return "events";
  }
  return "?";
}

GpuTiming parse_gpu_timing(const std::string& text, const std::string& field) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "auto") return GpuTiming::Auto;
  if (t == "cupti") return GpuTiming::Cupti;
  if (t == "events" || t == "cuda-events") return GpuTiming::CudaEvents;
  throw InputError(field, "unknown timing '" + text + "' (expected auto, cupti or events)");
}

void validate_gpu_profile_options(const GpuProfileOptions& opt) {
  if (opt.repeats < 1) throw InputError("repeats", "must be >= 1, got " + std::to_string(opt.repeats));
  if (opt.warmup < 0) throw InputError("warmup", "must be >= 0, got " + std::to_string(opt.warmup));
  if (opt.gpu < 0) throw InputError("gpu", "must be >= 0, got " + std::to_string(opt.gpu));
}

}  // namespace adaptis::prof
