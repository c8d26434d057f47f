// Causal GQA attention core, forward and backward (layers/attention.cpp). Straightforward, not fast: one block
// per query row materialises that row's probabilities (the CPU keeps them too, for B), then reduces over the
// keys in ascending order. No atomics: key-side gradients (dk, dv) are a second kernel, one block per key row,
// summing over the heads of its group and the query rows in the CPU's order.
#include "cuda/device_util.cuh"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

constexpr int kAttnThreads = 128;

// Grid: batch * heads * seq blocks, block (b, hh, i) handles query row i of head hh.
__global__ void attention_forward_kernel(float* probs, float* o, const float* q, const float* k, const float* v,
                                         int seq, int heads, int kv_heads, int hd, float scale) {
  const int i = blockIdx.x % seq;
  const int hh = (blockIdx.x / seq) % heads;
  const int b = blockIdx.x / (seq * heads);
  const int kh = hh / (heads / kv_heads);
  const float* qi = q + (size_t(b * seq + i) * heads + hh) * hd;
  float* pi = probs + ((size_t(b) * heads + hh) * seq + i) * seq;

  float mx = -INFINITY;
  for (int j = threadIdx.x; j < seq; j += blockDim.x) {
    if (j > i) {
      pi[j] = 0.0f;
      continue;
    }
    const float* kj = k + (size_t(b * seq + j) * kv_heads + kh) * hd;
    float dot = 0.0f;
    for (int d = 0; d < hd; ++d) dot += qi[d] * kj[d];
    const float sc = dot * scale;
    pi[j] = sc;
    mx = fmaxf(mx, sc);
  }
  mx = block_max(mx);
  float sum = 0.0f;
  for (int j = threadIdx.x; j <= i; j += blockDim.x) {
    const float e = expf(pi[j] - mx);
    pi[j] = e;
    sum += e;
  }
  sum = block_sum(sum);
  const float inv = 1.0f / sum;
  for (int j = threadIdx.x; j <= i; j += blockDim.x) pi[j] *= inv;
  __syncthreads();  // the row is complete before anyone reads other threads' entries

  float* oi = o + (size_t(b * seq + i) * heads + hh) * hd;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j <= i; ++j) acc += pi[j] * v[(size_t(b * seq + j) * kv_heads + kh) * hd + d];
    oi[d] = acc;
  }
}

// Query side of the backward: dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij') * scale with dP_ij = do_i . v_j, then
// dq_i = sum_j dS_ij k_j. Same grid as the forward.
__global__ void attention_backward_query_kernel(float* dq, float* ds, const float* d_o, const float* q,
                                                const float* k, const float* v, const float* probs, int seq,
                                                int heads, int kv_heads, int hd, float scale) {
  const int i = blockIdx.x % seq;
  const int hh = (blockIdx.x / seq) % heads;
  const int b = blockIdx.x / (seq * heads);
  const int kh = hh / (heads / kv_heads);
  const size_t qrow = (size_t(b * seq + i) * heads + hh) * hd;
  const float* doi = d_o + qrow;
  const size_t prow = ((size_t(b) * heads + hh) * seq + i) * seq;
  const float* pi = probs + prow;
  float* dsi = ds + prow;

  float rowdot = 0.0f;
  for (int j = threadIdx.x; j < seq; j += blockDim.x) {
    if (j > i) {
      dsi[j] = 0.0f;
      continue;
    }
    const float* vj = v + (size_t(b * seq + j) * kv_heads + kh) * hd;
    float dp = 0.0f;
    for (int e = 0; e < hd; ++e) dp += doi[e] * vj[e];
    dsi[j] = dp;  // dP for now
    rowdot += pi[j] * dp;
  }
  rowdot = block_sum(rowdot);
  for (int j = threadIdx.x; j <= i; j += blockDim.x) dsi[j] = pi[j] * (dsi[j] - rowdot) * scale;
  __syncthreads();

  float* dqi = dq + qrow;
  for (int e = threadIdx.x; e < hd; e += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j <= i; ++j) acc += dsi[j] * k[(size_t(b * seq + j) * kv_heads + kh) * hd + e];
    dqi[e] = acc;
  }
}

// Key side: dk_j = sum_{heads of the group} sum_{i >= j} dS_ij q_i, dv_j = same with P_ij do_i.
// Grid: batch * kv_heads * seq blocks.
__global__ void attention_backward_key_kernel(float* dk, float* dv, const float* ds, const float* d_o,
                                              const float* q, const float* probs, int seq, int heads, int kv_heads,
                                              int hd) {
  const int j = blockIdx.x % seq;
  const int kh = (blockIdx.x / seq) % kv_heads;
  const int b = blockIdx.x / (seq * kv_heads);
  const int group = heads / kv_heads;
  const size_t krow = (size_t(b * seq + j) * kv_heads + kh) * hd;
  for (int e = threadIdx.x; e < hd; e += blockDim.x) {
    float acc_k = 0.0f, acc_v = 0.0f;
    for (int hh = kh * group; hh < (kh + 1) * group; ++hh) {
      const size_t base = (size_t(b) * heads + hh) * seq;
      for (int i = j; i < seq; ++i) {
        const size_t qrow = (size_t(b * seq + i) * heads + hh) * hd;
        const size_t at = (base + i) * seq + j;
        acc_v += probs[at] * d_o[qrow + e];
        acc_k += ds[at] * q[qrow + e];
      }
    }
    dk[krow + e] = acc_k;
    dv[krow + e] = acc_v;
  }
}

}  // namespace

void attention_forward(cudaStream_t s, float* probs, float* o, const float* q, const float* k, const float* v,
                       int batch, int seq, int heads, int kv_heads, int hd, float scale) {
  const unsigned blocks = static_cast<unsigned>(batch * heads * seq);
  if (blocks == 0) return;
  attention_forward_kernel<<<blocks, kAttnThreads, 0, s>>>(probs, o, q, k, v, seq, heads, kv_heads, hd, scale);
  ADAPTIS_KERNEL_CHECK();
}

void attention_backward(cudaStream_t s, float* dq, float* dk, float* dv, float* ds, const float* d_o,
                        const float* q, const float* k, const float* v, const float* probs, int batch, int seq,
                        int heads, int kv_heads, int hd, float scale) {
  const unsigned qblocks = static_cast<unsigned>(batch * heads * seq);
  const unsigned kblocks = static_cast<unsigned>(batch * kv_heads * seq);
  if (qblocks == 0) return;
  attention_backward_query_kernel<<<qblocks, kAttnThreads, 0, s>>>(dq, ds, d_o, q, k, v, probs, seq, heads,
                                                                   kv_heads, hd, scale);
  ADAPTIS_KERNEL_CHECK();
  attention_backward_key_kernel<<<kblocks, kAttnThreads, 0, s>>>(dk, dv, ds, d_o, q, probs, seq, heads, kv_heads,
                                                                 hd);
  ADAPTIS_KERNEL_CHECK();
}

}  // namespace adaptis::exec::gpu
