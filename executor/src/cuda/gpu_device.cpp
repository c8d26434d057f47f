// Device discovery and the error reporting of every CUDA / cuBLAS call (cuda_check.h).
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/model/error.h"
#include "cuda/cuda_check.h"
#include "cuda/green_context.h"

namespace adaptis::exec {

namespace gpu {

void throw_cuda_error(const char* call, const char* file, int line, cudaError_t err) {
  throw CudaError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                  cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

void throw_cublas_error(const char* call, const char* file, int line, cublasStatus_t status) {
  throw CudaError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                  cublasGetStatusName(status) + ": " + cublasGetStatusString(status));
}

}  // namespace gpu

bool built_with_cuda() { return true; }

bool gpu_available(std::string* why) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // not sticky, but leave no error behind for later calls
    std::string hint;
    if (err == cudaErrorInsufficientDriver)
      hint = " (no NVIDIA driver is installed, or it is older than this build's CUDA runtime)";
    if (why) *why = std::string("no CUDA device: cudaGetDeviceCount failed: ") + cudaGetErrorString(err) + hint;
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device: cudaGetDeviceCount returned 0";
    return false;
  }
  if (why) why->clear();
  return true;
}

std::vector<GpuInfo> list_gpus() {
  std::vector<GpuInfo> out;
  if (!gpu_available(nullptr)) return out;
  int count = 0, driver = 0, runtime = 0;
  ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&count));
  ADAPTIS_CUDA_CHECK(cudaDriverGetVersion(&driver));
  ADAPTIS_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    ADAPTIS_CUDA_CHECK(cudaGetDeviceProperties(&prop, d));
    GpuInfo g;
    g.index = d;
    g.name = prop.name;
    g.sm_count = prop.multiProcessorCount;
    g.cc_major = prop.major;
    g.cc_minor = prop.minor;
    g.memory_bytes = prop.totalGlobalMem;
    g.driver_version = driver;
    g.runtime_version = runtime;
    gpu::SmResourceInfo sm = gpu::query_sm_resource(d);
    g.green_contexts = sm.available;
    g.min_sm_partition = sm.min_partition;
    out.push_back(g);
  }
  return out;
}

GpuInfo describe_gpu(int gpu, const std::string& what) {
  int count = 0;
  ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (gpu < 0 || gpu >= count)
    throw InputError(what + ": GPU " + std::to_string(gpu) + " does not exist (" + std::to_string(count) +
                     " CUDA devices)");
  for (const GpuInfo& g : list_gpus())
    if (g.index == gpu) return g;
  throw InputError(what + ": GPU " + std::to_string(gpu) + " not listed");
}

void require_gpu_backend(GpuBackend b) {
  std::string why;
  if (!gpu_available(&why))
    throw InputError("backend", std::string("the ") + gpu_backend_name(b) + " backend needs a GPU: " + why);
}

void require_gpu(const std::string& what) {
  std::string why;
  if (!gpu_available(&why)) throw InputError(what + ": " + why);
}

}  // namespace adaptis::exec
