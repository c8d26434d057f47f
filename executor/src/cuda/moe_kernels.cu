// Mixture-of-experts routing, combine and aux-loss kernels (layers/moe.cpp). The routed slots are packed by
// expert (tokens ascending within an expert), so each expert's SwiGLU runs as plain GEMMs on a contiguous
// slice; all scatters are gathers in disguise (one thread per output element, fixed order), no atomics.
#include "cuda/device_util.cuh"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

__global__ void softmax_rows_div_kernel(float* x, int rows, int cols) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  float* row = x + size_t(r) * cols;
  float mx = row[0];
  for (int e = 1; e < cols; ++e)
    if (row[e] > mx) mx = row[e];
  float sum = 0.0f;
  for (int e = 0; e < cols; ++e) {
    row[e] = expf(row[e] - mx);
    sum += row[e];
  }
  for (int e = 0; e < cols; ++e) row[e] /= sum;
}

// Repeated arg-max with a strict '>' scan in index order: on equal probabilities the lowest index wins.
// "Already taken" is checked against the slots chosen so far (k is small, E is arbitrary).
__global__ void moe_topk_kernel(int* slot_expert, const float* probs, int n, int E, int k) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const float* row = probs + size_t(t) * E;
  int* slots = slot_expert + size_t(t) * k;
  for (int slot = 0; slot < k; ++slot) {
    int best = -1;
    for (int e = 0; e < E; ++e) {
      bool taken = false;
      for (int q = 0; q < slot; ++q) taken = taken || slots[q] == e;
      if (!taken && (best < 0 || row[e] > row[best])) best = e;
    }
    slots[slot] = best;
  }
}

// One block: thread groups own experts; counts, then an exclusive prefix sum by thread 0, then each expert's
// list filled in (token, slot) order.
__global__ void moe_build_lists_kernel(int* offsets, int* row_token, int* row_expert, int* slot_row,
                                       const int* slot_expert, int n, int E, int k) {
  const int slots = n * k;
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    int c = 0;
    for (int q = 0; q < slots; ++q) c += slot_expert[q] == e;
    offsets[e + 1] = c;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    offsets[0] = 0;
    for (int e = 0; e < E; ++e) offsets[e + 1] += offsets[e];
  }
  __syncthreads();
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    int c = 0;
    for (int q = 0; q < slots; ++q) {
      if (slot_expert[q] != e) continue;
      const int row = offsets[e] + c;
      row_token[row] = q / k;
      row_expert[row] = e;
      slot_row[q] = c;
      ++c;
    }
  }
}

__global__ void gather_rows_kernel(float* dst, const float* src, const int* idx, int count, int h) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(count) * h) return;
  const size_t r = i / h, c = i % h;
  dst[i] = src[size_t(idx[r]) * h + c];
}

__global__ void moe_combine_kernel(float* y, const float* x, const float* shared, const float* probs,
                                   const int* slot_expert, const int* slot_row, const int* offsets,
                                   const float* expert_out, int n, int h, int E, int k) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(n) * h) return;
  const size_t t = i / h, c = i % h;
  float mix = shared ? shared[i] : 0.0f;
  for (int slot = 0; slot < k; ++slot) {
    const int e = slot_expert[t * k + slot], r = slot_row[t * k + slot];
    mix += probs[t * E + e] * expert_out[size_t(offsets[e] + r) * h + c];
  }
  y[i] = x[i] + mix;
}

// One block per packed row.
__global__ void moe_expert_dout_kernel(float* dout, float* dprobs, const float* dy, const float* expert_out,
                                       const float* probs, const int* row_token, const int* row_expert, int h,
                                       int E) {
  const size_t p = blockIdx.x;
  const int t = row_token[p], e = row_expert[p];
  const float gate = probs[size_t(t) * E + e];
  const float* dyt = dy + size_t(t) * h;
  const float* o = expert_out + p * h;
  float dot = 0.0f;
  for (int c = threadIdx.x; c < h; c += blockDim.x) {
    dout[p * h + c] = gate * dyt[c];
    dot += dyt[c] * o[c];
  }
  dot = block_sum(dot);
  if (threadIdx.x == 0) dprobs[size_t(t) * E + e] = dot;
}

__global__ void moe_scatter_add_kernel(float* dxn, const float* dxin, const int* slot_expert, const int* slot_row,
                                       const int* offsets, int n, int h, int k) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(n) * h) return;
  const size_t t = i / h, c = i % h;
  float acc = dxn[i];
  for (int slot = 0; slot < k; ++slot) {
    const int e = slot_expert[t * k + slot], r = slot_row[t * k + slot];
    acc += dxin[size_t(offsets[e] + r) * h + c];
  }
  dxn[i] = acc;
}

// One block; thread groups own experts: per-expert terms into scratch, then thread 0 adds them in expert order.
__global__ void moe_aux_loss_kernel(double* loss, float* load_frac, double* scratch, const float* probs,
                                    const int* offsets, int n, int E, int k, double coef) {
  for (int e = threadIdx.x; e < E; e += blockDim.x) {
    const float frac = float(offsets[e + 1] - offsets[e]) / float(n * k);
    load_frac[e] = frac;
    double mean_p = 0.0;
    for (int t = 0; t < n; ++t) mean_p += double(probs[size_t(t) * E + e]);
    scratch[e] = double(frac) * (mean_p / n);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    double aux = 0.0;
    for (int e = 0; e < E; ++e) aux += scratch[e];
    loss[0] = coef * E * aux;
  }
}

__global__ void moe_router_backward_kernel(float* drouter, const float* dprobs, const float* probs,
                                           const float* load_frac, float aux_scale, int n, int E) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n) return;
  const float* dp = dprobs + size_t(t) * E;
  const float* pr = probs + size_t(t) * E;
  float dot = 0.0f;
  for (int e = 0; e < E; ++e) dot += (dp[e] + aux_scale * load_frac[e]) * pr[e];
  for (int e = 0; e < E; ++e) drouter[size_t(t) * E + e] = pr[e] * ((dp[e] + aux_scale * load_frac[e]) - dot);
}

}  // namespace

void softmax_rows_div(cudaStream_t s, float* x, int rows, int cols) {
  if (rows <= 0) return;
  softmax_rows_div_kernel<<<blocks_for(size_t(rows)), kThreads, 0, s>>>(x, rows, cols);
  ADAPTIS_KERNEL_CHECK();
}

void moe_topk(cudaStream_t s, int* slot_expert, const float* probs, int n, int E, int k) {
  if (n <= 0) return;
  moe_topk_kernel<<<blocks_for(size_t(n)), kThreads, 0, s>>>(slot_expert, probs, n, E, k);
  ADAPTIS_KERNEL_CHECK();
}

void moe_build_lists(cudaStream_t s, int* offsets, int* row_token, int* row_expert, int* slot_row,
                     const int* slot_expert, int n, int E, int k) {
  moe_build_lists_kernel<<<1, kThreads, 0, s>>>(offsets, row_token, row_expert, slot_row, slot_expert, n, E, k);
  ADAPTIS_KERNEL_CHECK();
}

void gather_rows(cudaStream_t s, float* dst, const float* src, const int* idx, int count, int h) {
  const size_t total = size_t(count) * h;
  if (total == 0) return;
  gather_rows_kernel<<<blocks_for(total), kThreads, 0, s>>>(dst, src, idx, count, h);
  ADAPTIS_KERNEL_CHECK();
}

void moe_combine(cudaStream_t s, float* y, const float* x, const float* shared, const float* probs,
                 const int* slot_expert, const int* slot_row, const int* offsets, const float* expert_out, int n,
                 int h, int E, int k) {
  const size_t total = size_t(n) * h;
  if (total == 0) return;
  moe_combine_kernel<<<blocks_for(total), kThreads, 0, s>>>(y, x, shared, probs, slot_expert, slot_row, offsets,
                                                            expert_out, n, h, E, k);
  ADAPTIS_KERNEL_CHECK();
}

void moe_expert_dout(cudaStream_t s, float* dout, float* dprobs, const float* dy, const float* expert_out,
                     const float* probs, const int* row_token, const int* row_expert, int rows, int h, int E) {
  if (rows <= 0) return;
  moe_expert_dout_kernel<<<rows, kRowThreads, 0, s>>>(dout, dprobs, dy, expert_out, probs, row_token, row_expert,
                                                      h, E);
  ADAPTIS_KERNEL_CHECK();
}

void moe_scatter_add(cudaStream_t s, float* dxn, const float* dxin, const int* slot_expert, const int* slot_row,
                     const int* offsets, int n, int h, int k) {
  const size_t total = size_t(n) * h;
  if (total == 0) return;
  moe_scatter_add_kernel<<<blocks_for(total), kThreads, 0, s>>>(dxn, dxin, slot_expert, slot_row, offsets, n, h,
                                                                k);
  ADAPTIS_KERNEL_CHECK();
}

void moe_aux_loss(cudaStream_t s, double* loss, float* load_frac, double* scratch, const float* probs,
                  const int* offsets, int n, int E, int k, double coef) {
  moe_aux_loss_kernel<<<1, kThreads, 0, s>>>(loss, load_frac, scratch, probs, offsets, n, E, k, coef);
  ADAPTIS_KERNEL_CHECK();
}

void moe_router_backward(cudaStream_t s, float* drouter, const float* dprobs, const float* probs,
                         const float* load_frac, float aux_scale, int n, int E) {
  if (n <= 0) return;
  moe_router_backward_kernel<<<blocks_for(size_t(n)), kThreads, 0, s>>>(drouter, dprobs, probs, load_frac,
                                                                        aux_scale, n, E);
  ADAPTIS_KERNEL_CHECK();
}

}  // namespace adaptis::exec::gpu
