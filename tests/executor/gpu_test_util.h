#pragma once
// Helpers of the GPU tests: the skip guard every GPU test starts with, and the tolerance comparison of a GPU
// tensor against its CPU reference (gpu_reference_tolerance, gpu.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <span>
#include <string>

#include "adaptis/executor/gpu.h"

// Skips the test (cleanly, with the reason) when no CUDA device is usable or the build has no CUDA.
#define ADAPTIS_REQUIRE_GPU()                                              \
  do {                                                                     \
    std::string adaptis_why_;                                              \
    if (!::adaptis::exec::gpu_available(&adaptis_why_)) GTEST_SKIP() << adaptis_why_; \
  } while (0)

namespace adaptis::exec::testing {

// Empty when every element satisfies |g - c| <= atol * max|c| + rtol * |c|; otherwise the worst element.
inline std::string compare_to_reference(std::span<const float> gpu, std::span<const float> cpu, GpuTolerance tol,
                                        const std::string& what) {
  std::ostringstream os;
  if (gpu.size() != cpu.size()) {
    os << what << ": " << gpu.size() << " values, the reference has " << cpu.size();
    return os.str();
  }
  double max_ref = 0;
  for (float c : cpu) max_ref = std::max(max_ref, std::fabs(double(c)));
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double err = std::fabs(double(gpu[i]) - double(cpu[i]));
    const double allowed = tol.atol * max_ref + tol.rtol * std::fabs(double(cpu[i]));
    if (!(err <= allowed) && (worst == 0 || err / std::max(allowed, 1e-300) > worst)) {
      worst = err / std::max(allowed, 1e-300);
      at = i;
    }
    if (std::isnan(gpu[i]) && !std::isnan(cpu[i])) return what + ": NaN at " + std::to_string(i);
  }
  if (worst == 0) return "";
  os << what << ": element " << at << " gpu " << gpu[at] << " cpu " << cpu[at] << " exceeds the tolerance "
     << worst << "x (max |ref| " << max_ref << ")";
  return os.str();
}

}  // namespace adaptis::exec::testing
