#pragma once
// Error checking for every CUDA / cuBLAS / NCCL call of the GPU backends, and a stream-ordered device buffer.
// A failing call throws CudaError naming the call, file:line and the library's own error string, so a
// failure on a GPU machine says exactly which API call broke instead of surfacing later as garbage.
// Plain C++ (host compilers and nvcc alike).
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace adaptis::exec::gpu {

class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& what) : std::runtime_error(what) {}
};

[[noreturn]] void throw_cuda_error(const char* call, const char* file, int line, cudaError_t err);
[[noreturn]] void throw_cublas_error(const char* call, const char* file, int line, cublasStatus_t status);

}  // namespace adaptis::exec::gpu

#define ADAPTIS_CUDA_CHECK(call)                                                                  \
  do {                                                                                            \
    cudaError_t adaptis_err_ = (call);                                                            \
    if (adaptis_err_ != cudaSuccess)                                                              \
      ::adaptis::exec::gpu::throw_cuda_error(#call, __FILE__, __LINE__, adaptis_err_);            \
  } while (0)

#define ADAPTIS_CUBLAS_CHECK(call)                                                                \
  do {                                                                                            \
    cublasStatus_t adaptis_st_ = (call);                                                          \
    if (adaptis_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::adaptis::exec::gpu::throw_cublas_error(#call, __FILE__, __LINE__, adaptis_st_);           \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, at the launch site.
#define ADAPTIS_KERNEL_CHECK() ADAPTIS_CUDA_CHECK(cudaGetLastError())

namespace adaptis::exec::gpu {

// Device memory owned by a stream: allocated with cudaMallocAsync and freed with cudaFreeAsync on that
// stream, so saved activations of a micro-batch are released in stream order (no device sync) and come
// from the device's memory pool (no cudaMalloc on the hot path). Move-only; empty = nullptr.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t count, cudaStream_t stream) { allocate(count, stream); }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Replaces the contents with `count` uninitialised elements.
  void allocate(size_t count, cudaStream_t stream) {
    reset();
    stream_ = stream;
    count_ = count;
    if (count > 0) ADAPTIS_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&ptr_), count * sizeof(T), stream));
  }
  // Allocates and zero-fills (stream-ordered).
  void zeros(size_t count, cudaStream_t stream) {
    allocate(count, stream);
    if (count > 0) ADAPTIS_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, count * sizeof(T), stream));
  }
  // Frees (stream-ordered). Errors are swallowed: this runs in destructors, and a broken context already
  // reported its error at the call that broke it.
  void reset() noexcept {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
    ptr_ = nullptr;
    count_ = 0;
  }

  // The stream a later reset() frees on (a copy stream that took the buffer over, and back).
  void set_stream(cudaStream_t stream) { stream_ = stream; }
  cudaStream_t stream() const { return stream_; }

  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }
  bool empty() const { return ptr_ == nullptr; }

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(count_, o.count_);
    std::swap(stream_, o.stream_);
  }
  T* ptr_ = nullptr;
  size_t count_ = 0;
  cudaStream_t stream_ = nullptr;
};

}  // namespace adaptis::exec::gpu
