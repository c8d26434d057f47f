#pragma once
// What every GPU layer call runs on: one stream, the cuBLAS handle bound to it (with its own workspace, so
// results are reproducible while other streams compute), and the precision mode. The three linear-layer
// GEMMs of the B/W split live here too, in the CPU's row-major terms (layers/linear.h):
//   F: y = x W^T        B: dx = dy W        W: dW += dy^T x
// fp32 mode: fp32 operands, CUBLAS_COMPUTE_32F (no TF32), like the CPU loops up to summation order.
// bf16 mode: bf16 operands (weights from the stage's bf16 shadow copy, activations rounded per call),
// fp32 accumulation and fp32 outputs.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "adaptis/executor/gpu.h"
#include "cuda/cuda_check.h"

namespace adaptis::exec::gpu {

class GpuContext {
 public:
  // `stream` = nullptr creates (and owns) a non-blocking stream on the current device.
  GpuContext(int device, GpuPrecision precision, cudaStream_t stream = nullptr);
  ~GpuContext();
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas() const { return cublas_; }
  GpuPrecision precision() const { return precision_; }
  bool bf16() const { return precision_ == GpuPrecision::Bf16; }

 private:
  int device_;
  GpuPrecision precision_;
  cudaStream_t stream_ = nullptr;
  bool owns_stream_ = false;
  cublasHandle_t cublas_ = nullptr;
  void* workspace_ = nullptr;
};

// A weight tensor: its fp32 master and, in bf16 mode, its bf16 shadow (same offset in the shadow arena).
struct ParamView {
  const float* f32 = nullptr;
  const __nv_bfloat16* b16 = nullptr;
  ParamView at(size_t offset) const { return {f32 + offset, b16 ? b16 + offset : nullptr}; }
};

// y (rows x out) = x (rows x in) W^T, W (out x in); `accumulate` adds to y instead. `fp32` forces fp32
// operands in bf16 mode (the MoE router: its top-k decisions must not flip on bf16 rounding).
void linear_forward(GpuContext& ctx, float* y, const float* x, ParamView w, int rows, int in, int out,
                    bool accumulate = false, bool fp32 = false);
// dx (rows x in) = dy (rows x out) W, or += when `accumulate`.
void linear_backward_input(GpuContext& ctx, float* dx, const float* dy, ParamView w, int rows, int in, int out,
                           bool accumulate);
// dW (out x in) += dy^T x.
void linear_backward_weight(GpuContext& ctx, float* dw, const float* dy, const float* x, int rows, int in, int out);

}  // namespace adaptis::exec::gpu
