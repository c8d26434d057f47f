// The GPU profiler of a build without CUDA (profiler/CMakeLists.txt compiles this only then): it refuses with
// one clear message; `adaptis profile --backend cuda` then falls back to the analytical model.
#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"

namespace adaptis::prof {

bool cupti_available(std::string* why) {
  if (why) *why = "this adaptis was built without CUDA";
  return false;
}

GpuProfileResult profile_gpu(const exec::NetConfig&, const GpuProfileOptions& opt) {
  validate_gpu_profile_options(opt);
  throw InputError("GPU profile: this adaptis was built without CUDA");
}

}  // namespace adaptis::prof
