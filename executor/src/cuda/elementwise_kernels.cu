// Elementwise and per-row kernels: generic helpers, RMSNorm, RoPE, SwiGLU gate, embedding, softmax
// cross-entropy, AdamW. Each mirrors the CPU loop it is named after (executor/src/layers/*.cpp).
#include "cuda/device_util.cuh"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

// ---- generic ---------------------------------------------------------------------------------------------

__global__ void add_inplace_kernel(float* y, const float* x, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] += x[i];
}

__global__ void add_to_kernel(float* y, const float* a, const float* b, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) y[i] = a[i] + b[i];
}

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void column_sum_add_kernel(float* dst, const float* src, int rows, int cols, int ld) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float acc = 0.0f;
  for (int r = 0; r < rows; ++r) acc += src[size_t(r) * ld + c];
  dst[c] += acc;
}

__global__ void copy_block_kernel(float* dst, int dst_ld, const float* src, int src_ld, int rows, int cols) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(rows) * cols) return;
  const size_t r = i / cols, c = i % cols;
  dst[r * dst_ld + c] = src[r * src_ld + c];
}

__global__ void sum_doubles_kernel(double* out, const double* v, int n, double divisor) {
  double acc = 0.0;
  for (int i = 0; i < n; ++i) acc += v[i];
  out[0] = acc / divisor;
}

// ---- RMSNorm ---------------------------------------------------------------------------------------------

__global__ void rmsnorm_forward_kernel(float* y, float* rstd, const float* x, const float* g, int dim, float eps) {
  const size_t row = blockIdx.x;
  const float* xr = x + row * dim;
  float* yr = y + row * dim;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float s = 1.0f / sqrtf(ss / float(dim) + eps);
  if (threadIdx.x == 0) rstd[row] = s;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * s * g[i];
}

// dx += rstd * (dy*g - xh * mean(dy*g*xh)), xh = x * rstd.
__global__ void rmsnorm_backward_input_kernel(float* dx, const float* dy, const float* x, const float* rstd,
                                              const float* g, int dim) {
  const size_t row = blockIdx.x;
  const float* xr = x + row * dim;
  const float* dyr = dy + row * dim;
  float* dxr = dx + row * dim;
  const float s = rstd[row];
  float dot = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dot += dyr[i] * g[i] * xr[i] * s;
  dot = block_sum(dot);
  const float mean = dot / float(dim);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dxr[i] += s * (dyr[i] * g[i] - xr[i] * s * mean);
}

__global__ void rmsnorm_backward_gain_kernel(float* dg, const float* dy, const float* x, const float* rstd, int rows,
                                             int dim) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= dim) return;
  float acc = dg[i];
  for (int r = 0; r < rows; ++r) acc += dy[size_t(r) * dim + i] * x[size_t(r) * dim + i] * rstd[r];
  dg[i] = acc;
}

// ---- RoPE ------------------------------------------------------------------------------------------------

__global__ void rope_kernel(float* x, const float* cos_t, const float* sin_t, int rows, int seq, int heads, int hd,
                            bool inverse) {
  const int half = hd / 2;
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(rows) * heads * half) return;
  const int j = static_cast<int>(i % half);
  const size_t rh = i / half;  // row * heads + head
  const int r = static_cast<int>(rh / heads);
  const int p = r % seq;
  const float c = cos_t[size_t(p) * half + j];
  const float sn = inverse ? -sin_t[size_t(p) * half + j] : sin_t[size_t(p) * half + j];
  float* v = x + rh * hd;
  const float a = v[2 * j], b = v[2 * j + 1];
  v[2 * j] = a * c - b * sn;
  v[2 * j + 1] = a * sn + b * c;
}

// ---- SwiGLU gate -----------------------------------------------------------------------------------------

__global__ void swiglu_gate_forward_kernel(float* u, const float* a, const float* b, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) u[i] = siluf_(a[i]) * b[i];
}

__global__ void swiglu_gate_backward_kernel(float* da, float* db, const float* du, const float* a, const float* b,
                                            size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  da[i] = du[i] * b[i] * silu_gradf_(a[i]);
  db[i] = du[i] * siluf_(a[i]);
}

// ---- Embedding -------------------------------------------------------------------------------------------

__global__ void embedding_forward_kernel(float* y, const int32_t* tokens, const float* wte, int n, int h) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(n) * h) return;
  const size_t t = i / h, c = i % h;
  y[i] = wte[size_t(tokens[t]) * h + c];
}

// One thread per hidden column: it owns that column of every vocabulary row, so the token-order scatter-add
// needs no atomics and adds in the CPU's order.
__global__ void embedding_backward_weight_kernel(float* dwte, const int32_t* tokens, const float* dy, int n, int h) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= h) return;
  for (int t = 0; t < n; ++t) dwte[size_t(tokens[t]) * h + c] += dy[size_t(t) * h + c];
}

// ---- Softmax cross-entropy -------------------------------------------------------------------------------

__global__ void softmax_xent_forward_kernel(float* probs, double* row_loss, const int32_t* targets, int v) {
  const size_t t = blockIdx.x;
  float* row = probs + t * v;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < v; j += blockDim.x) mx = fmaxf(mx, row[j]);
  mx = block_max(mx);
  const float target_shifted = row[targets[t]] - mx;
  __syncthreads();  // everyone read row[target] before it is overwritten
  float sum = 0.0f;
  for (int j = threadIdx.x; j < v; j += blockDim.x) {
    const float e = expf(row[j] - mx);
    row[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  const float inv = 1.0f / sum;
  for (int j = threadIdx.x; j < v; j += blockDim.x) row[j] *= inv;
  if (threadIdx.x == 0) row_loss[t] = double(logf(sum)) - double(target_shifted);
}

__global__ void xent_backward_kernel(float* dlogits, const float* probs, const int32_t* targets, int n, int v,
                                     float scale) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(n) * v) return;
  const size_t t = i / v;
  const int j = static_cast<int>(i % v);
  float d = probs[i] * scale;
  if (j == targets[t]) d -= scale;
  dlogits[i] = d;
}

// ---- AdamW -----------------------------------------------------------------------------------------------

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1,
                             float beta2, float eps, float wd, float c1, float c2) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float gi = g[i];
  const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
  const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  const float mhat = mi / c1, vhat = vi / c2;
  p[i] -= lr * (mhat / (sqrtf(vhat) + eps) + wd * p[i]);
}

}  // namespace

void add_inplace(cudaStream_t s, float* y, const float* x, size_t n) {
  if (n == 0) return;
  add_inplace_kernel<<<blocks_for(n), kThreads, 0, s>>>(y, x, n);
  ADAPTIS_KERNEL_CHECK();
}

void add_to(cudaStream_t s, float* y, const float* a, const float* b, size_t n) {
  if (n == 0) return;
  add_to_kernel<<<blocks_for(n), kThreads, 0, s>>>(y, a, b, n);
  ADAPTIS_KERNEL_CHECK();
}

void to_bf16(cudaStream_t s, __nv_bfloat16* dst, const float* src, size_t n) {
  if (n == 0) return;
  to_bf16_kernel<<<blocks_for(n), kThreads, 0, s>>>(dst, src, n);
  ADAPTIS_KERNEL_CHECK();
}

void column_sum_add(cudaStream_t s, float* dst, const float* src, int rows, int cols, int ld) {
  if (cols <= 0) return;
  column_sum_add_kernel<<<blocks_for(size_t(cols)), kThreads, 0, s>>>(dst, src, rows, cols, ld);
  ADAPTIS_KERNEL_CHECK();
}

void copy_block(cudaStream_t s, float* dst, int dst_ld, const float* src, int src_ld, int rows, int cols) {
  const size_t n = size_t(rows) * cols;
  if (n == 0) return;
  copy_block_kernel<<<blocks_for(n), kThreads, 0, s>>>(dst, dst_ld, src, src_ld, rows, cols);
  ADAPTIS_KERNEL_CHECK();
}

void sum_doubles(cudaStream_t s, double* out, const double* v, int n, double divisor) {
  sum_doubles_kernel<<<1, 1, 0, s>>>(out, v, n, divisor);
  ADAPTIS_KERNEL_CHECK();
}

void rmsnorm_forward(cudaStream_t s, float* y, float* rstd, const float* x, const float* g, int rows, int dim,
                     float eps) {
  if (rows <= 0) return;
  rmsnorm_forward_kernel<<<rows, kRowThreads, 0, s>>>(y, rstd, x, g, dim, eps);
  ADAPTIS_KERNEL_CHECK();
}

void rmsnorm_backward_input(cudaStream_t s, float* dx, const float* dy, const float* x, const float* rstd,
                            const float* g, int rows, int dim) {
  if (rows <= 0) return;
  rmsnorm_backward_input_kernel<<<rows, kRowThreads, 0, s>>>(dx, dy, x, rstd, g, dim);
  ADAPTIS_KERNEL_CHECK();
}

void rmsnorm_backward_gain(cudaStream_t s, float* dg, const float* dy, const float* x, const float* rstd, int rows,
                           int dim) {
  rmsnorm_backward_gain_kernel<<<blocks_for(size_t(dim)), kThreads, 0, s>>>(dg, dy, x, rstd, rows, dim);
  ADAPTIS_KERNEL_CHECK();
}

void rope_apply(cudaStream_t s, float* x, const float* cos_table, const float* sin_table, int rows, int seq,
                int heads, int head_dim, bool inverse) {
  const size_t n = size_t(rows) * heads * (head_dim / 2);
  if (n == 0) return;
  rope_kernel<<<blocks_for(n), kThreads, 0, s>>>(x, cos_table, sin_table, rows, seq, heads, head_dim, inverse);
  ADAPTIS_KERNEL_CHECK();
}

void swiglu_gate_forward(cudaStream_t s, float* u, const float* a, const float* b, size_t n) {
  if (n == 0) return;
  swiglu_gate_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(u, a, b, n);
  ADAPTIS_KERNEL_CHECK();
}

void swiglu_gate_backward(cudaStream_t s, float* da, float* db, const float* du, const float* a, const float* b,
                          size_t n) {
  if (n == 0) return;
  swiglu_gate_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(da, db, du, a, b, n);
  ADAPTIS_KERNEL_CHECK();
}

void embedding_forward(cudaStream_t s, float* y, const int32_t* tokens, const float* wte, int n, int h) {
  const size_t total = size_t(n) * h;
  if (total == 0) return;
  embedding_forward_kernel<<<blocks_for(total), kThreads, 0, s>>>(y, tokens, wte, n, h);
  ADAPTIS_KERNEL_CHECK();
}

void embedding_backward_weight(cudaStream_t s, float* dwte, const int32_t* tokens, const float* dy, int n, int h) {
  embedding_backward_weight_kernel<<<blocks_for(size_t(h)), kThreads, 0, s>>>(dwte, tokens, dy, n, h);
  ADAPTIS_KERNEL_CHECK();
}

void softmax_xent_forward(cudaStream_t s, float* probs, double* row_loss, const int32_t* targets, int n, int v) {
  if (n <= 0) return;
  softmax_xent_forward_kernel<<<n, kRowThreads, 0, s>>>(probs, row_loss, targets, v);
  ADAPTIS_KERNEL_CHECK();
}

void xent_backward(cudaStream_t s, float* dlogits, const float* probs, const int32_t* targets, int n, int v,
                   float scale) {
  const size_t total = size_t(n) * v;
  if (total == 0) return;
  xent_backward_kernel<<<blocks_for(total), kThreads, 0, s>>>(dlogits, probs, targets, n, v, scale);
  ADAPTIS_KERNEL_CHECK();
}

void adamw(cudaStream_t s, float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, float c1, float c2) {
  if (n == 0) return;
  adamw_kernel<<<blocks_for(n), kThreads, 0, s>>>(p, m, v, g, n, lr, beta1, beta2, eps, weight_decay, c1, c2);
  ADAPTIS_KERNEL_CHECK();
}

}  // namespace adaptis::exec::gpu
