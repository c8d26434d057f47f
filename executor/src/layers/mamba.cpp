// Mamba-1 style selective-scan block, F / B / W (scan backward in reverse time from saved states).
#include "adaptis/executor/layers/mamba.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "adaptis/executor/layers/activations.h"
#include "adaptis/executor/layers/linear.h"
#include "adaptis/executor/layers/rmsnorm.h"

namespace adaptis::exec {

template <typename T>
MambaLayer<T>::MambaLayer(const NetConfig& cfg, int num_microbatches)
    : Layer<T>(LayerType::Mamba, cfg, num_microbatches),
      hidden_(cfg.hidden),
      inner_(cfg.mamba_inner()),
      state_n_(cfg.mamba_state),
      conv_k_(cfg.mamba_conv),
      dt_rank_(cfg.dt_rank()),
      state_(size_t(num_microbatches)) {
  const int d = inner_;
  this->add_param("norm", 1, hidden_, false);
  this->add_param("win", 2 * d, hidden_, true);
  this->add_param("conv_w", d, conv_k_, false);
  this->add_param("conv_b", 1, d, false);
  this->add_param("wx", dt_rank_ + 2 * state_n_, d, true);
  this->add_param("wdt", d, dt_rank_, true);
  this->add_param("dt_bias", 1, d, false);
  this->add_param("A_log", d, state_n_, false);
  this->add_param("D", 1, d, false);
  this->add_param("wout", hidden_, d, true);
}

template <typename T>
void MambaLayer<T>::init_params(T* p, Rng& rng) const {
  const int d = inner_, N = state_n_;
  init_constant(p + this->offset(kGain), size_t(hidden_), 1.0);
  init_normal(p + this->offset(kWin), size_t(2 * d) * hidden_, rng, 1.0 / std::sqrt(double(hidden_)));
  init_normal(p + this->offset(kConvW), size_t(d) * conv_k_, rng, 1.0 / std::sqrt(double(conv_k_)));
  init_constant(p + this->offset(kConvB), size_t(d), 0.0);
  init_normal(p + this->offset(kWx), size_t(dt_rank_ + 2 * N) * d, rng, 1.0 / std::sqrt(double(d)));
  init_normal(p + this->offset(kWdt), size_t(d) * dt_rank_, rng, 1.0 / std::sqrt(double(dt_rank_)));
  // Mamba's dt init: delta log-uniform in [1e-3, 1e-1] at init, stored as its softplus inverse.
  T* dt_bias = p + this->offset(kDtBias);
  for (int i = 0; i < d; ++i) {
    const double dt = std::exp(rng.uniform() * (std::log(0.1) - std::log(0.001)) + std::log(0.001));
    dt_bias[i] = T(dt + std::log(-std::expm1(-dt)));
  }
  // S4D-real init: A_in = -(n + 1).
  T* a_log = p + this->offset(kALog);
  for (int i = 0; i < d; ++i)
    for (int n = 0; n < N; ++n) a_log[size_t(i) * N + n] = T(std::log(double(n + 1)));
  init_constant(p + this->offset(kD), size_t(d), 1.0);
  init_normal(p + this->offset(kWout), size_t(hidden_) * d, rng, 0.5 / std::sqrt(double(d)));
}

template <typename T>
void MambaLayer<T>::do_forward(int mb, const MicroBatchData&, const T* p, const T* x, T* y) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, d = inner_, N = state_n_, K = conv_k_, R = dt_rank_;
  const int xw = R + 2 * N;  // width of xdbl rows
  s.x.assign(x, x + size_t(n) * h);
  s.rstd.resize(n);
  s.xn.resize(size_t(n) * h);
  rmsnorm_forward(s.xn.data(), s.rstd.data(), x, p + this->offset(kGain), n, h, this->cfg_.norm_eps);
  s.uz.resize(size_t(n) * 2 * d);
  linear_forward(s.uz.data(), s.xn.data(), p + this->offset(kWin), n, h, 2 * d);

  // Causal depthwise conv over each sequence (history before position 0 is zero), then SiLU.
  const T* cw = p + this->offset(kConvW);
  const T* cb = p + this->offset(kConvB);
  s.conv.resize(size_t(n) * d);
  s.uc.resize(size_t(n) * d);
  for (const SequenceSpan& sp : this->spans(mb))
    for (int t = 0; t < sp.len; ++t)
      for (int i = 0; i < d; ++i) {
        T acc = cb[i];
        for (int k = 0; k < K; ++k) {
          const int tt = t - (K - 1) + k;
          if (tt >= 0) acc += cw[size_t(i) * K + k] * s.uz[size_t(sp.start + tt) * 2 * d + i];
        }
        const size_t at = size_t(sp.start + t) * d + i;
        s.conv[at] = acc;
        s.uc[at] = silu(acc);
      }

  // Data-dependent dt, B, C.
  s.xdbl.resize(size_t(n) * xw);
  linear_forward(s.xdbl.data(), s.uc.data(), p + this->offset(kWx), n, d, xw);
  std::vector<T> dl(size_t(n) * R);
  for (int t = 0; t < n; ++t) std::copy_n(s.xdbl.data() + size_t(t) * xw, R, dl.data() + size_t(t) * R);
  s.dt_pre.resize(size_t(n) * d);
  linear_forward(s.dt_pre.data(), dl.data(), p + this->offset(kWdt), n, R, d);
  const T* dt_bias = p + this->offset(kDtBias);
  s.delta.resize(size_t(n) * d);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i) {
      T& v = s.dt_pre[size_t(t) * d + i];
      v += dt_bias[i];
      s.delta[size_t(t) * d + i] = softplus(v);
    }

  // Selective scan, sequential in time; all states are kept for the backward pass.
  const T* a_log = p + this->offset(kALog);
  const T* Dp = p + this->offset(kD);
  std::vector<T> A(size_t(d) * N);
  for (size_t j = 0; j < A.size(); ++j) A[j] = -std::exp(a_log[j]);
  s.h.resize(size_t(n) * d * N);
  s.ys.resize(size_t(n) * d);
  for (const SequenceSpan& sp : this->spans(mb))
    for (int t = 0; t < sp.len; ++t) {
      const size_t row = size_t(sp.start + t);
      const T* Bm = s.xdbl.data() + row * xw + R;
      const T* Cm = Bm + N;
      for (int i = 0; i < d; ++i) {
        const T dt = s.delta[row * d + i], u = s.uc[row * d + i];
        const T* hprev = t > 0 ? s.h.data() + ((row - 1) * d + i) * N : nullptr;
        T* hcur = s.h.data() + (row * d + i) * N;
        T out = 0;
        for (int k = 0; k < N; ++k) {
          const T a = std::exp(dt * A[size_t(i) * N + k]);
          hcur[k] = (hprev ? a * hprev[k] : T(0)) + dt * Bm[k] * u;
          out += Cm[k] * hcur[k];
        }
        s.ys[row * d + i] = out + Dp[i] * u;
      }
    }

  // Gate with SiLU(z), project out, residual.
  s.gated.resize(size_t(n) * d);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i)
      s.gated[size_t(t) * d + i] = s.ys[size_t(t) * d + i] * silu(s.uz[size_t(t) * 2 * d + d + i]);
  linear_forward(y, s.gated.data(), p + this->offset(kWout), n, d, h);
  for (size_t i = 0; i < size_t(n) * h; ++i) y[i] += s.x[i];
}

template <typename T>
void MambaLayer<T>::do_backward_input(int mb, const T* p, const T* dy, T* dx) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, d = inner_, N = state_n_, K = conv_k_, R = dt_rank_;
  const int xw = R + 2 * N;
  s.dy.assign(dy, dy + size_t(n) * h);
  std::vector<T> dgated(size_t(n) * d);
  linear_backward_input(dgated.data(), dy, p + this->offset(kWout), n, d, h, false);

  // Gate backward: dys for the scan output, dz into the second half of duz.
  s.duz.assign(size_t(n) * 2 * d, T(0));
  std::vector<T> dys(size_t(n) * d);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i) {
      const size_t at = size_t(t) * d + i;
      const T z = s.uz[size_t(t) * 2 * d + d + i];
      dys[at] = dgated[at] * silu(z);
      s.duz[size_t(t) * 2 * d + d + i] = dgated[at] * s.ys[at] * silu_grad(z);
    }

  // Scan backward in reverse time. g = dL/dh_t (incl. the path through h_{t+1}); with a_t = exp(delta A):
  //   d delta += g (h_{t-1} a A + B u'),  dA += g h_{t-1} a delta,  dB += g delta u',  du' += g delta B,
  //   dC += dys h_t,  dL/dh_{t-1} = g a.
  const T* a_log = p + this->offset(kALog);
  const T* Dp = p + this->offset(kD);
  std::vector<T> A(size_t(d) * N);
  for (size_t j = 0; j < A.size(); ++j) A[j] = -std::exp(a_log[j]);
  std::vector<T> dA(size_t(d) * N, T(0)), ddelta(size_t(n) * d, T(0)), duc(size_t(n) * d, T(0));
  s.dxdbl.assign(size_t(n) * xw, T(0));
  s.dD.assign(size_t(d), T(0));
  std::vector<T> dh(size_t(d) * N);
  for (const SequenceSpan& sp : this->spans(mb)) {
    std::fill(dh.begin(), dh.end(), T(0));
    for (int t = sp.len - 1; t >= 0; --t) {
      const size_t row = size_t(sp.start + t);
      const T* Bm = s.xdbl.data() + row * xw + R;
      const T* Cm = Bm + N;
      T* dBm = s.dxdbl.data() + row * xw + R;
      T* dCm = dBm + N;
      for (int i = 0; i < d; ++i) {
        const T dt = s.delta[row * d + i], u = s.uc[row * d + i], dyv = dys[row * d + i];
        const T* hcur = s.h.data() + (row * d + i) * N;
        const T* hprev = t > 0 ? s.h.data() + ((row - 1) * d + i) * N : nullptr;
        T* dhi = dh.data() + size_t(i) * N;
        T d_delta = 0, d_u = 0;
        for (int k = 0; k < N; ++k) {
          const T Aik = A[size_t(i) * N + k];
          const T a = std::exp(dt * Aik);
          const T g = dhi[k] + Cm[k] * dyv;
          dCm[k] += dyv * hcur[k];
          if (hprev) {
            const T da = g * hprev[k];
            d_delta += da * a * Aik;
            dA[size_t(i) * N + k] += da * a * dt;
          }
          d_delta += g * Bm[k] * u;
          dBm[k] += g * dt * u;
          d_u += g * dt * Bm[k];
          dhi[k] = g * a;
        }
        ddelta[row * d + i] = d_delta;
        duc[row * d + i] = d_u + Dp[i] * dyv;
        s.dD[i] += dyv * u;
      }
    }
  }
  s.dA_log.resize(size_t(d) * N);
  for (size_t j = 0; j < A.size(); ++j) s.dA_log[j] = dA[j] * A[j];  // A = -exp(A_log) => dA/dA_log = A

  // delta = softplus(dt_pre): d dt_pre = d delta * sigmoid(dt_pre); then through Wdt into xdbl's dl columns.
  s.d_dt_pre.resize(size_t(n) * d);
  s.ddt_bias.assign(size_t(d), T(0));
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i) {
      const size_t at = size_t(t) * d + i;
      s.d_dt_pre[at] = ddelta[at] * sigmoid(s.dt_pre[at]);
      s.ddt_bias[i] += s.d_dt_pre[at];
    }
  std::vector<T> ddl(size_t(n) * R);
  linear_backward_input(ddl.data(), s.d_dt_pre.data(), p + this->offset(kWdt), n, R, d, false);
  for (int t = 0; t < n; ++t) std::copy_n(ddl.data() + size_t(t) * R, R, s.dxdbl.data() + size_t(t) * xw);
  linear_backward_input(duc.data(), s.dxdbl.data(), p + this->offset(kWx), n, d, xw, true);

  // SiLU and causal conv backward into du (first half of duz).
  const T* cw = p + this->offset(kConvW);
  s.dconv_w.assign(size_t(d) * K, T(0));
  s.dconv_b.assign(size_t(d), T(0));
  for (const SequenceSpan& sp : this->spans(mb))
    for (int t = 0; t < sp.len; ++t)
      for (int i = 0; i < d; ++i) {
        const size_t at = size_t(sp.start + t) * d + i;
        const T dc = duc[at] * silu_grad(s.conv[at]);
        s.dconv_b[i] += dc;
        for (int k = 0; k < K; ++k) {
          const int tt = t - (K - 1) + k;
          if (tt < 0) continue;
          const size_t src = size_t(sp.start + tt) * 2 * d + i;
          s.dconv_w[size_t(i) * K + k] += dc * s.uz[src];
          s.duz[src] += dc * cw[size_t(i) * K + k];
        }
      }

  std::vector<T> dxn(size_t(n) * h);
  linear_backward_input(dxn.data(), s.duz.data(), p + this->offset(kWin), n, h, 2 * d, false);
  prenorm_backward(dx, dy, dxn.data(), s.x.data(), s.rstd.data(), p + this->offset(kGain), n, h, s.dgain);
  release(s.x);
  release(s.rstd);
  release(s.uz);
  release(s.conv);
  release(s.dt_pre);
  release(s.delta);
  release(s.h);
  release(s.ys);
}

template <typename T>
void MambaLayer<T>::do_backward_weight(int mb, T* g) {
  State& s = state_[mb];
  const int n = this->tokens(mb), h = hidden_, d = inner_, R = dt_rank_;
  const int xw = R + 2 * state_n_;
  auto add = [&](int tensor, const std::vector<T>& v) {
    T* dst = g + this->offset(tensor);
    for (size_t i = 0; i < v.size(); ++i) dst[i] += v[i];
  };
  add(kGain, s.dgain);
  add(kConvW, s.dconv_w);
  add(kConvB, s.dconv_b);
  add(kDtBias, s.ddt_bias);
  add(kALog, s.dA_log);
  add(kD, s.dD);
  linear_backward_weight(g + this->offset(kWin), s.duz.data(), s.xn.data(), n, h, 2 * d);
  linear_backward_weight(g + this->offset(kWx), s.dxdbl.data(), s.uc.data(), n, d, xw);
  std::vector<T> dl(size_t(n) * R);
  for (int t = 0; t < n; ++t) std::copy_n(s.xdbl.data() + size_t(t) * xw, R, dl.data() + size_t(t) * R);
  linear_backward_weight(g + this->offset(kWdt), s.d_dt_pre.data(), dl.data(), n, R, d);
  linear_backward_weight(g + this->offset(kWout), s.dy.data(), s.gated.data(), n, d, h);
  state_[mb] = State{};
}

template <typename T>
size_t MambaLayer<T>::saved_bytes() const {
  size_t n = 0;
  for (const State& s : state_)
    n += vector_bytes(s.x, s.rstd, s.uz, s.conv, s.dt_pre, s.delta, s.h, s.ys, s.xn, s.uc, s.xdbl, s.gated, s.dy,
                      s.d_dt_pre, s.dxdbl, s.duz, s.dgain, s.dconv_w, s.dconv_b, s.ddt_bias, s.dA_log, s.dD);
  return n;
}

template <typename T>
void MambaLayer<T>::for_each_saved(int mb, const typename Layer<T>::FloatVisitor& f,
                                const typename Layer<T>::IntVisitor& g) {
  State& s = state_[mb];
  for (std::vector<T>* v : {&s.x, &s.rstd, &s.uz, &s.conv, &s.dt_pre, &s.delta, &s.h, &s.ys, &s.xn, &s.uc, &s.xdbl, &s.gated, &s.dy, &s.d_dt_pre, &s.dxdbl, &s.duz, &s.dgain, &s.dconv_w, &s.dconv_b, &s.ddt_bias, &s.dA_log, &s.dD}) f(*v);
  (void)g;
}

template class MambaLayer<float>;
template class MambaLayer<double>;

}  // namespace adaptis::exec
