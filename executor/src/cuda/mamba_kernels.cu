// Mamba-1 selective-scan block kernels (layers/mamba.cpp): causal depthwise conv, softplus dt, the scan in
// time order and its reverse-time backward, the SiLU(z) gate. The scan runs one thread per (sequence,
// channel) holding that channel's N states, looping over time like the CPU. Sums across channels (dB, dC)
// or sequences (dA, dD) are per-thread partials reduced by a second kernel in a fixed order: no atomics.
#include "cuda/device_util.cuh"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

__global__ void conv_forward_kernel(float* conv, float* uc, const float* uz, const float* cw, const float* cb,
                                    int batch, int seq, int d, int K) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(batch) * seq * d) return;
  const int i = static_cast<int>(idx % d);
  const size_t row = idx / d;
  const int t = static_cast<int>(row % seq);
  const size_t b = row / seq;
  float acc = cb[i];
  for (int k = 0; k < K; ++k) {
    const int tt = t - (K - 1) + k;
    if (tt >= 0) acc += cw[size_t(i) * K + k] * uz[(b * seq + tt) * 2 * d + i];
  }
  conv[idx] = acc;
  uc[idx] = siluf_(acc);
}

__global__ void softplus_kernel(float* dt_pre, float* delta, const float* dt_bias, int n, int d) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(n) * d) return;
  const float v = dt_pre[idx] + dt_bias[idx % d];
  dt_pre[idx] = v;
  delta[idx] = softplusf_(v);
}

// One thread per (sequence b, channel i); h: (rows, d, N) states after each step.
__global__ void scan_forward_kernel(float* h, float* ys, const float* delta, const float* uc, const float* xdbl,
                                    const float* a_log, const float* D, int batch, int seq, int d, int N, int R) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= batch * d) return;
  const int i = idx % d, b = idx / d;
  const int xw = R + 2 * N;
  for (int t = 0; t < seq; ++t) {
    const size_t row = size_t(b) * seq + t;
    const float* Bm = xdbl + row * xw + R;
    const float* Cm = Bm + N;
    const float dt = delta[row * d + i], u = uc[row * d + i];
    const float* hprev = t > 0 ? h + ((row - 1) * d + i) * N : nullptr;
    float* hcur = h + (row * d + i) * N;
    float out = 0.0f;
    for (int k = 0; k < N; ++k) {
      const float A = -expf(a_log[size_t(i) * N + k]);
      const float a = expf(dt * A);
      hcur[k] = (hprev ? a * hprev[k] : 0.0f) + dt * Bm[k] * u;
      out += Cm[k] * hcur[k];
    }
    ys[row * d + i] = out + D[i] * u;
  }
}

__global__ void gate_forward_kernel(float* gated, const float* ys, const float* uz, int n, int d) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(n) * d) return;
  const size_t t = idx / d, i = idx % d;
  gated[idx] = ys[idx] * siluf_(uz[t * 2 * d + d + i]);
}

__global__ void gate_backward_kernel(float* dys, float* duz, const float* dgated, const float* ys, const float* uz,
                                     int n, int d) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(n) * d) return;
  const size_t t = idx / d, i = idx % d;
  const float z = uz[t * 2 * d + d + i];
  dys[idx] = dgated[idx] * siluf_(z);
  duz[t * 2 * d + d + i] = dgated[idx] * ys[idx] * silu_gradf_(z);
}

// Scratch layout of the backward scan (floats).
struct ScanScratch {
  float *dB, *dC;  // (rows, d, N) per-channel contributions
  float* dA;       // (batch, d, N) per-sequence partials
  float* dD;       // (batch, d)
  float* dh;       // (batch, d, N) running state gradient
};

__host__ __device__ inline ScanScratch scan_scratch(float* base, int batch, int seq, int d, int N) {
  ScanScratch s;
  const size_t rows = size_t(batch) * seq;
  s.dB = base;
  s.dC = s.dB + rows * d * N;
  s.dA = s.dC + rows * d * N;
  s.dD = s.dA + size_t(batch) * d * N;
  s.dh = s.dD + size_t(batch) * d;
  return s;
}

__global__ void scan_backward_kernel(float* ddelta, float* duc, ScanScratch sc, const float* dys, const float* h,
                                     const float* delta, const float* uc, const float* xdbl, const float* a_log,
                                     const float* D, int batch, int seq, int d, int N, int R) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= batch * d) return;
  const int i = idx % d, b = idx / d;
  const int xw = R + 2 * N;
  float* dh = sc.dh + (size_t(b) * d + i) * N;
  float* dA = sc.dA + (size_t(b) * d + i) * N;
  for (int k = 0; k < N; ++k) {
    dh[k] = 0.0f;
    dA[k] = 0.0f;
  }
  float dD = 0.0f;
  for (int t = seq - 1; t >= 0; --t) {
    const size_t row = size_t(b) * seq + t;
    const float* Bm = xdbl + row * xw + R;
    const float* Cm = Bm + N;
    const float dt = delta[row * d + i], u = uc[row * d + i], dyv = dys[row * d + i];
    const float* hcur = h + (row * d + i) * N;
    const float* hprev = t > 0 ? h + ((row - 1) * d + i) * N : nullptr;
    float* dB = sc.dB + (row * d + i) * N;
    float* dC = sc.dC + (row * d + i) * N;
    float d_delta = 0.0f, d_u = 0.0f;
    for (int k = 0; k < N; ++k) {
      const float A = -expf(a_log[size_t(i) * N + k]);
      const float a = expf(dt * A);
      const float g = dh[k] + Cm[k] * dyv;
      dC[k] = dyv * hcur[k];
      if (hprev) {
        const float da = g * hprev[k];
        d_delta += da * a * A;
        dA[k] += da * a * dt;
      }
      d_delta += g * Bm[k] * u;
      dB[k] = g * dt * u;
      d_u += g * dt * Bm[k];
      dh[k] = g * a;
    }
    ddelta[row * d + i] = d_delta;
    duc[row * d + i] = d_u + D[i] * dyv;
    dD += dyv * u;
  }
  sc.dD[size_t(b) * d + i] = dD;
}

// dxdbl[row, R + c] = sum over channels of the B (c < N) or C (c >= N) contributions, channels ascending.
__global__ void reduce_bc_kernel(float* dxdbl, ScanScratch sc, int rows, int d, int N, int R) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(rows) * 2 * N) return;
  const size_t row = idx / (2 * N);
  const int c = static_cast<int>(idx % (2 * N));
  const float* src = c < N ? sc.dB : sc.dC;
  const int k = c < N ? c : c - N;
  float acc = 0.0f;
  for (int i = 0; i < d; ++i) acc += src[(row * d + i) * N + k];
  dxdbl[row * (R + 2 * N) + R + c] = acc;
}

// dA_log[i, k] = (sum over sequences of dA) * A, dD[i] = sum over sequences.
__global__ void reduce_params_kernel(float* dA_log, float* dD, ScanScratch sc, const float* a_log, int batch, int d,
                                     int N) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= d * N) return;
  const int i = idx / N, k = idx % N;
  float acc = 0.0f;
  for (int b = 0; b < batch; ++b) acc += sc.dA[(size_t(b) * d + i) * N + k];
  dA_log[idx] = acc * -expf(a_log[idx]);
  if (k == 0) {
    float dd = 0.0f;
    for (int b = 0; b < batch; ++b) dd += sc.dD[size_t(b) * d + i];
    dD[i] = dd;
  }
}

__global__ void softplus_backward_kernel(float* d_dt_pre, const float* ddelta, const float* dt_pre, size_t n) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx < n) d_dt_pre[idx] = ddelta[idx] * sigmoidf_(dt_pre[idx]);
}

__global__ void conv_dc_kernel(float* dc, const float* duc, const float* conv, size_t n) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx < n) dc[idx] = duc[idx] * silu_gradf_(conv[idx]);
}

// dconv_w[i, k] and (k == 0) dconv_b[i], over sequences and time in ascending order.
__global__ void conv_param_grad_kernel(float* dconv_w, float* dconv_b, const float* dc, const float* uz, int batch,
                                       int seq, int d, int K) {
  const int idx = blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= d * K) return;
  const int i = idx / K, k = idx % K;
  float acc = 0.0f, bias = 0.0f;
  for (int b = 0; b < batch; ++b)
    for (int t = 0; t < seq; ++t) {
      const float g = dc[(size_t(b) * seq + t) * d + i];
      bias += g;
      const int tt = t - (K - 1) + k;
      if (tt >= 0) acc += g * uz[(size_t(b) * seq + tt) * 2 * d + i];
    }
  dconv_w[idx] = acc;
  if (k == 0) dconv_b[i] = bias;
}

// duz[(b, tt), i] (the u half) += sum over the outputs t in [tt, tt + K) that read it, t ascending.
__global__ void conv_input_grad_kernel(float* duz, const float* dc, const float* cw, int batch, int seq, int d,
                                       int K) {
  const size_t idx = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (idx >= size_t(batch) * seq * d) return;
  const int i = static_cast<int>(idx % d);
  const size_t row = idx / d;
  const int tt = static_cast<int>(row % seq);
  const size_t b = row / seq;
  float* dst = duz + row * 2 * d + i;
  float acc = *dst;
  for (int t = tt; t < seq && t <= tt + K - 1; ++t) acc += dc[(b * seq + t) * d + i] * cw[size_t(i) * K + (tt - t + K - 1)];
  *dst = acc;
}

}  // namespace

void mamba_conv_forward(cudaStream_t s, float* conv, float* uc, const float* uz, const float* cw, const float* cb,
                        int batch, int seq, int d, int K) {
  const size_t n = size_t(batch) * seq * d;
  if (n == 0) return;
  conv_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(conv, uc, uz, cw, cb, batch, seq, d, K);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_softplus(cudaStream_t s, float* dt_pre, float* delta, const float* dt_bias, int n, int d) {
  const size_t total = size_t(n) * d;
  if (total == 0) return;
  softplus_kernel<<<blocks_for(total), kThreads, 0, s>>>(dt_pre, delta, dt_bias, n, d);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_scan_forward(cudaStream_t s, float* h, float* ys, const float* delta, const float* uc, const float* xdbl,
                        const float* a_log, const float* D, int batch, int seq, int d, int N, int R) {
  const size_t threads = size_t(batch) * d;
  if (threads == 0) return;
  scan_forward_kernel<<<blocks_for(threads, 128), 128, 0, s>>>(h, ys, delta, uc, xdbl, a_log, D, batch, seq, d, N, R);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_gate_forward(cudaStream_t s, float* gated, const float* ys, const float* uz, int n, int d) {
  const size_t total = size_t(n) * d;
  if (total == 0) return;
  gate_forward_kernel<<<blocks_for(total), kThreads, 0, s>>>(gated, ys, uz, n, d);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_gate_backward(cudaStream_t s, float* dys, float* duz, const float* dgated, const float* ys,
                         const float* uz, int n, int d) {
  const size_t total = size_t(n) * d;
  if (total == 0) return;
  gate_backward_kernel<<<blocks_for(total), kThreads, 0, s>>>(dys, duz, dgated, ys, uz, n, d);
  ADAPTIS_KERNEL_CHECK();
}

size_t mamba_scan_scratch_floats(int batch, int seq, int d, int N) {
  return 2 * size_t(batch) * seq * d * N + 2 * size_t(batch) * d * N + size_t(batch) * d;
}

void mamba_scan_backward(cudaStream_t s, float* ddelta, float* duc, float* dxdbl, float* dA_log, float* dD,
                         float* scratch, const float* dys, const float* h, const float* delta, const float* uc,
                         const float* xdbl, const float* a_log, const float* D, int batch, int seq, int d, int N,
                         int R) {
  const size_t threads = size_t(batch) * d;
  if (threads == 0) return;
  const ScanScratch sc = scan_scratch(scratch, batch, seq, d, N);
  scan_backward_kernel<<<blocks_for(threads, 128), 128, 0, s>>>(ddelta, duc, sc, dys, h, delta, uc, xdbl, a_log, D,
                                                                batch, seq, d, N, R);
  ADAPTIS_KERNEL_CHECK();
  const int rows = batch * seq;
  reduce_bc_kernel<<<blocks_for(size_t(rows) * 2 * N), kThreads, 0, s>>>(dxdbl, sc, rows, d, N, R);
  ADAPTIS_KERNEL_CHECK();
  reduce_params_kernel<<<blocks_for(size_t(d) * N), kThreads, 0, s>>>(dA_log, dD, sc, a_log, batch, d, N);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_softplus_backward(cudaStream_t s, float* d_dt_pre, const float* ddelta, const float* dt_pre, size_t n) {
  if (n == 0) return;
  softplus_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(d_dt_pre, ddelta, dt_pre, n);
  ADAPTIS_KERNEL_CHECK();
}

void mamba_conv_backward(cudaStream_t s, float* dc, float* dconv_w, float* dconv_b, float* duz, const float* duc,
                         const float* conv, const float* uz, const float* cw, int batch, int seq, int d, int K) {
  const size_t n = size_t(batch) * seq * d;
  if (n == 0) return;
  conv_dc_kernel<<<blocks_for(n), kThreads, 0, s>>>(dc, duc, conv, n);
  ADAPTIS_KERNEL_CHECK();
  conv_param_grad_kernel<<<blocks_for(size_t(d) * K), kThreads, 0, s>>>(dconv_w, dconv_b, dc, uz, batch, seq, d, K);
  ADAPTIS_KERNEL_CHECK();
  conv_input_grad_kernel<<<blocks_for(n), kThreads, 0, s>>>(duz, dc, cw, batch, seq, d, K);
  ADAPTIS_KERNEL_CHECK();
}

}  // namespace adaptis::exec::gpu
