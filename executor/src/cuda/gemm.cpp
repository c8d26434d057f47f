// cuBLAS mapping of the row-major linear-layer GEMMs (gpu_context.h). cuBLAS is column-major: a row-major
// (r x c) matrix is the column-major (c x r) matrix, i.e. its transpose, with leading dimension c.
//   F: y^T (out x rows) = W_cm^T (out x in) . x_cm (in x rows)          -> op(A)=T, op(B)=N, m=out, n=rows, k=in
//   B: dx^T (in x rows) = W_cm (in x out) . dy_cm (out x rows)           -> N, N, m=in, n=rows, k=out
//   W: dW^T (in x out) += x_cm (in x rows) . dy_cm^T (rows x out)        -> N, T, m=in, n=out, k=rows, beta=1
#include "cuda/gpu_context.h"

#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // per handle, as llm.c

// One GEMM in column-major terms; A and B are fp32 or bf16 (both the same), C is fp32.
void gemm(GpuContext& ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* A,
          int lda, const void* B, int ldb, float beta, float* C, int ldc, bool bf16_operands) {
  if (m <= 0 || n <= 0) return;
  const float alpha = 1.0f;
  if (k <= 0) {  // empty sum: C = beta * C
    if (beta == 0.0f) ADAPTIS_CUDA_CHECK(cudaMemsetAsync(C, 0, sizeof(float) * size_t(ldc) * n, ctx.stream()));
    return;
  }
  const cudaDataType_t ab = bf16_operands ? CUDA_R_16BF : CUDA_R_32F;
  ADAPTIS_CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), ta, tb, m, n, k, &alpha, A, ab, lda, B, ab, ldb, &beta, C,
                                    CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// bf16 copy of an fp32 activation, in stream-ordered scratch that is freed after the GEMM using it.
DeviceBuffer<__nv_bfloat16> rounded(GpuContext& ctx, const float* src, size_t n) {
  DeviceBuffer<__nv_bfloat16> b(n, ctx.stream());
  to_bf16(ctx.stream(), b.get(), src, n);
  return b;
}

// The bf16 operand of weight `w` (out x in = n values): its bf16 shadow, or, when the stage keeps none, a
// rounded copy held in `tmp` until the caller's GEMM is enqueued.
const __nv_bfloat16* bf16_weight(GpuContext& ctx, ParamView w, size_t n, DeviceBuffer<__nv_bfloat16>& tmp) {
  if (w.b16) return w.b16;
  tmp = rounded(ctx, w.f32, n);
  return tmp.get();
}

}  // namespace

GpuContext::GpuContext(int device, GpuPrecision precision, cudaStream_t stream)
    : device_(device), precision_(precision), stream_(stream) {
  // Keep a context made current by the caller (a green context of this device): cudaSetDevice would replace
  // it with the primary context.
  int current = -1;
  if (cudaGetDevice(&current) != cudaSuccess || current != device) ADAPTIS_CUDA_CHECK(cudaSetDevice(device));
  if (!stream_) {
    ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    owns_stream_ = true;
  }
  try {
    ADAPTIS_CUBLAS_CHECK(cublasCreate(&cublas_));
    ADAPTIS_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // Default math mode: no TF32 in fp32 GEMMs (NVIDIA_TF32_OVERRIDE=1 in the environment would still force it).
    ADAPTIS_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
    ADAPTIS_CUDA_CHECK(cudaMalloc(&workspace_, kWorkspaceBytes));
    ADAPTIS_CUBLAS_CHECK(cublasSetWorkspace(cublas_, workspace_, kWorkspaceBytes));
  } catch (...) {
    if (cublas_) cublasDestroy(cublas_);
    if (workspace_) cudaFree(workspace_);
    if (owns_stream_) cudaStreamDestroy(stream_);
    throw;
  }
}

GpuContext::~GpuContext() {
  // The stream may still run work that uses the workspace: finish it first.
  cudaStreamSynchronize(stream_);
  cublasDestroy(cublas_);
  cudaFree(workspace_);
  if (owns_stream_) cudaStreamDestroy(stream_);
}

void linear_forward(GpuContext& ctx, float* y, const float* x, ParamView w, int rows, int in, int out,
                    bool accumulate, bool fp32) {
  const float beta = accumulate ? 1.0f : 0.0f;
  if (!ctx.bf16() || fp32) {
    gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, w.f32, in, x, in, beta, y, out, false);
    return;
  }
  auto x16 = rounded(ctx, x, size_t(rows) * in);
  DeviceBuffer<__nv_bfloat16> w_tmp;
  const __nv_bfloat16* w16 = bf16_weight(ctx, w, size_t(out) * in, w_tmp);
  gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, w16, in, x16.get(), in, beta, y, out, true);
}

void linear_backward_input(GpuContext& ctx, float* dx, const float* dy, ParamView w, int rows, int in, int out,
                           bool accumulate) {
  const float beta = accumulate ? 1.0f : 0.0f;
  if (!ctx.bf16()) {
    gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, w.f32, in, dy, out, beta, dx, in, false);
    return;
  }
  auto dy16 = rounded(ctx, dy, size_t(rows) * out);
  DeviceBuffer<__nv_bfloat16> w_tmp;
  const __nv_bfloat16* w16 = bf16_weight(ctx, w, size_t(out) * in, w_tmp);
  gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, in, rows, out, w16, in, dy16.get(), out, beta, dx, in, true);
}

void linear_backward_weight(GpuContext& ctx, float* dw, const float* dy, const float* x, int rows, int in, int out) {
  if (rows <= 0) return;  // nothing to add (an expert that got no tokens)
  if (!ctx.bf16()) {
    gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, x, in, dy, out, 1.0f, dw, in, false);
    return;
  }
  auto x16 = rounded(ctx, x, size_t(rows) * in);
  auto dy16 = rounded(ctx, dy, size_t(rows) * out);
  gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, rows, x16.get(), in, dy16.get(), out, 1.0f, dw, in, true);
}

}  // namespace adaptis::exec::gpu
