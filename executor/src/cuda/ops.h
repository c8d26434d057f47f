#pragma once
// Launchers of the GPU backends' own kernels (everything that is not a GEMM), one function per op, each the
// GPU twin of a loop in executor/src/layers/ (named after it). Plain C++ declarations so host-only code can
// call them; the kernels live in *_kernels.cu.
//
// Conventions: row-major tensors, float32 unless said otherwise, every launch on `stream`, no host sync.
// Determinism: no float atomics anywhere. A reduction over a row runs in one block with a fixed tree; a
// reduction over rows (column sums, weight-gradient scatters) runs one thread per output element looping
// the rows in ascending order, which is also the CPU loops' order. So a GPU run is bitwise reproducible,
// and pipelined equals unpipelined on the GPU.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace adaptis::exec::gpu {

// ---- generic -------------------------------------------------------------------------------------------
void add_inplace(cudaStream_t s, float* y, const float* x, size_t n);               // y += x
void add_to(cudaStream_t s, float* y, const float* a, const float* b, size_t n);    // y = a + b
void to_bf16(cudaStream_t s, __nv_bfloat16* dst, const float* src, size_t n);
// dst[c] += sum over r of src[r * ld + c], c < cols, rows in ascending order.
void column_sum_add(cudaStream_t s, float* dst, const float* src, int rows, int cols, int ld);
// dst (rows x cols, row stride dst_ld) = src (rows x cols, row stride src_ld).
void copy_block(cudaStream_t s, float* dst, int dst_ld, const float* src, int src_ld, int rows, int cols);
// out[0] = (sum of v[0..n) in ascending order) / divisor (one thread: n is a token count).
void sum_doubles(cudaStream_t s, double* out, const double* v, int n, double divisor);

// ---- RMSNorm (layers/rmsnorm.cpp) -----------------------------------------------------------------------
void rmsnorm_forward(cudaStream_t s, float* y, float* rstd, const float* x, const float* g, int rows, int dim,
                     float eps);
void rmsnorm_backward_input(cudaStream_t s, float* dx, const float* dy, const float* x, const float* rstd,
                            const float* g, int rows, int dim);  // dx +=
void rmsnorm_backward_gain(cudaStream_t s, float* dg, const float* dy, const float* x, const float* rstd, int rows,
                           int dim);  // dg +=

// ---- RoPE (layers/rope.cpp); cos/sin tables: seq x head_dim/2 ------------------------------------------
void rope_apply(cudaStream_t s, float* x, const float* cos_table, const float* sin_table, int rows, int seq,
                int heads, int head_dim, bool inverse);

// ---- SwiGLU gate (layers/swiglu.cpp) --------------------------------------------------------------------
void swiglu_gate_forward(cudaStream_t s, float* u, const float* a, const float* b, size_t n);  // u = silu(a) b
void swiglu_gate_backward(cudaStream_t s, float* da, float* db, const float* du, const float* a, const float* b,
                          size_t n);

// ---- Embedding (layers/embedding.cpp) -------------------------------------------------------------------
void embedding_forward(cudaStream_t s, float* y, const int32_t* tokens, const float* wte, int n, int h);
void embedding_backward_weight(cudaStream_t s, float* dwte, const int32_t* tokens, const float* dy, int n, int h);

// ---- Softmax cross-entropy (layers/lm_head.cpp) ---------------------------------------------------------
// probs holds the logits (n x v) and is turned into softmax rows; row_loss[t] = log(sum) - shifted target.
void softmax_xent_forward(cudaStream_t s, float* probs, double* row_loss, const int32_t* targets, int n, int v);
// dlogits = probs * scale, minus scale at each row's target.
void xent_backward(cudaStream_t s, float* dlogits, const float* probs, const int32_t* targets, int n, int v,
                   float scale);

// ---- Attention core (layers/attention.cpp) --------------------------------------------------------------
// q: (batch*seq) x heads x hd, k, v: (batch*seq) x kv_heads x hd; probs: batch x heads x seq x seq (zero above
// the diagonal); o like q.
void attention_forward(cudaStream_t s, float* probs, float* o, const float* q, const float* k, const float* v,
                       int batch, int seq, int heads, int kv_heads, int hd, float scale);
// Writes dq, dk, dv (overwrites). ds: scratch of batch x heads x seq x seq floats.
void attention_backward(cudaStream_t s, float* dq, float* dk, float* dv, float* ds, const float* d_o,
                        const float* q, const float* k, const float* v, const float* probs, int batch, int seq,
                        int heads, int kv_heads, int hd, float scale);

// ---- Mixture of experts (layers/moe.cpp) ----------------------------------------------------------------
// Row-wise softmax in place (x / sum, the router's form).
void softmax_rows_div(cudaStream_t s, float* x, int rows, int cols);
// slot_expert[t*k + slot]: top-k by repeated arg-max, ties to the lowest index.
void moe_topk(cudaStream_t s, int* slot_expert, const float* probs, int n, int E, int k);
// Packs the routed slots by expert, tokens ascending within each: offsets (E+1), row_token / row_expert
// (n*k: token and expert of each packed row), slot_row (n*k: row of each slot within its expert).
void moe_build_lists(cudaStream_t s, int* offsets, int* row_token, int* row_expert, int* slot_row,
                     const int* slot_expert, int n, int E, int k);
// dst[r] = src[idx[r]] for r < count (rows of h floats).
void gather_rows(cudaStream_t s, float* dst, const float* src, const int* idx, int count, int h);
// y[t] = x[t] + (shared ? shared[t] : 0) + sum over slots of probs[t, e] * expert_out[offsets[e] + slot_row].
void moe_combine(cudaStream_t s, float* y, const float* x, const float* shared, const float* probs,
                 const int* slot_expert, const int* slot_row, const int* offsets, const float* expert_out, int n,
                 int h, int E, int k);
// Per packed row p (expert e, token t): dout[p] = probs[t,e] * dy[t]; dprobs[t,e] = <dy[t], expert_out[p]>.
// dprobs must be zeroed first (unrouted entries stay 0).
void moe_expert_dout(cudaStream_t s, float* dout, float* dprobs, const float* dy, const float* expert_out,
                     const float* probs, const int* row_token, const int* row_expert, int rows, int h, int E);
// dxn[t] += sum over slots (in slot order) of dxin[offsets[e] + slot_row].
void moe_scatter_add(cudaStream_t s, float* dxn, const float* dxin, const int* slot_expert, const int* slot_row,
                     const int* offsets, int n, int h, int k);
// load_frac[e] = routed(e) / (n k); loss[0] = coef * E * sum_e load_frac[e] * mean_t probs[t, e].
void moe_aux_loss(cudaStream_t s, double* loss, float* load_frac, double* scratch, const float* probs,
                  const int* offsets, int n, int E, int k, double coef);
// Per token: dp = dprobs + aux_scale * load_frac; drouter = p * (dp - <dp, p>).
void moe_router_backward(cudaStream_t s, float* drouter, const float* dprobs, const float* probs,
                         const float* load_frac, float aux_scale, int n, int E);

// ---- Mamba selective scan (layers/mamba.cpp); d = inner, N = state, xw = dt_rank + 2N ------------------
void mamba_conv_forward(cudaStream_t s, float* conv, float* uc, const float* uz, const float* cw, const float* cb,
                        int batch, int seq, int d, int K);
void mamba_softplus(cudaStream_t s, float* dt_pre, float* delta, const float* dt_bias, int n, int d);  // in place
void mamba_scan_forward(cudaStream_t s, float* h, float* ys, const float* delta, const float* uc,
                        const float* xdbl, const float* a_log, const float* D, int batch, int seq, int d, int N,
                        int R);
void mamba_gate_forward(cudaStream_t s, float* gated, const float* ys, const float* uz, int n, int d);
// dys = dgated * silu(z); duz's z half = dgated * ys * silu'(z) (its u half untouched).
void mamba_gate_backward(cudaStream_t s, float* dys, float* duz, const float* dgated, const float* ys,
                         const float* uz, int n, int d);
// Reverse-time scan: ddelta, duc (overwritten), dxdbl's B and C columns (overwritten), dA_log and dD
// (overwritten). scratch: see mamba_scan_scratch_floats.
size_t mamba_scan_scratch_floats(int batch, int seq, int d, int N);
void mamba_scan_backward(cudaStream_t s, float* ddelta, float* duc, float* dxdbl, float* dA_log, float* dD,
                         float* scratch, const float* dys, const float* h, const float* delta, const float* uc,
                         const float* xdbl, const float* a_log, const float* D, int batch, int seq, int d, int N,
                         int R);
// d_dt_pre = ddelta * sigmoid(dt_pre).
void mamba_softplus_backward(cudaStream_t s, float* d_dt_pre, const float* ddelta, const float* dt_pre, size_t n);
// dc = duc * silu'(conv) (into dc), dconv_w / dconv_b (overwritten), duz's u half += conv input gradient.
void mamba_conv_backward(cudaStream_t s, float* dc, float* dconv_w, float* dconv_b, float* duz, const float* duc,
                         const float* conv, const float* uz, const float* cw, int batch, int seq, int d, int K);

// ---- AdamW (stage_compute.cpp) ------------------------------------------------------------------------
void adamw(cudaStream_t s, float* p, float* m, float* v, const float* g, size_t n, float lr, float beta1,
           float beta2, float eps, float weight_decay, float c1, float c2);

}  // namespace adaptis::exec::gpu
