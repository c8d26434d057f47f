#pragma once
// Mamba-1 style selective-scan block (reference: state-spaces/mamba selective_scan_ref), pre-norm residual:
//   xn = rmsnorm(x) * g;  [u, z] = xn Win^T                       (d = expand * hidden each)
//   u' = silu(causal_depthwise_conv(u; conv_w (d x K)) + conv_b)   (per sequence, zero history)
//   [dl, Bm, Cm] = u' Wx^T                                          (dt_rank, N, N per token)
//   delta = softplus(dl Wdt^T + dt_bias);  A = -exp(A_log) (d x N)
//   per channel i, state n, in time order: h = exp(delta_i A_in) h + delta_i Bm_n u'_i
//   ys_i = sum_n Cm_n h_in + D_i u'_i;   out = (ys * silu(z)) Wout^T;   y = x + out.
// B runs the scan backward in reverse time from the saved states and reduces the gradients of the small
// parameters (g, conv_w, conv_b, dt_bias, A_log, D) into a carry; W does the four GEMM weight gradients
// (Win, Wx, Wdt, Wout) and adds the carried ones.
#include <vector>

#include "adaptis/executor/layers/layer.h"

namespace adaptis::exec {

template <typename T>
class MambaLayer final : public Layer<T> {
 public:
  MambaLayer(const NetConfig& cfg, int num_microbatches);
  void init_params(T* params, Rng& rng) const override;
  size_t saved_bytes() const override;
  void for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f, const typename Layer<T>::IntVisitor& g) override;

 protected:
  void do_forward(int mb, const MicroBatchData& data, const T* params, const T* x, T* y) override;
  void do_backward_input(int mb, const T* params, const T* dy, T* dx) override;
  void do_backward_weight(int mb, T* grads) override;
  void drop_state(int mb) override { state_[mb] = State{}; }

 private:
  enum Tensor { kGain, kWin, kConvW, kConvB, kWx, kWdt, kDtBias, kALog, kD, kWout };
  struct State {
    // F -> B only
    std::vector<T> x, rstd, uz, conv, dt_pre, delta, h, ys;  // h: (batch, seq, d, N) states after each step
    // F -> W
    std::vector<T> xn, uc, xdbl, gated;  // uc = u' (conv+silu); xdbl = [dl, Bm, Cm]; gated = ys * silu(z)
    // B -> W
    std::vector<T> dy, d_dt_pre, dxdbl, duz;
    std::vector<T> dgain, dconv_w, dconv_b, ddt_bias, dA_log, dD;
  };
  int hidden_, inner_, state_n_, conv_k_, dt_rank_;
  std::vector<State> state_;
};

}  // namespace adaptis::exec
