// Mamba-1 style selective-scan block on the GPU, F / B / W (twin of layers/mamba.cpp).
#include "cuda/gpu_layers.h"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

class GpuMamba final : public GpuLayer {
 public:
  GpuMamba(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::Mamba, cfg, m, std::move(specs), ctx),
        d_(cfg.mamba_inner()),
        N_(cfg.mamba_state),
        K_(cfg.mamba_conv),
        R_(cfg.dt_rank()),
        state_(size_t(m)) {
    const char* names[] = {"norm", "win", "conv_w", "conv_b", "wx", "wdt", "dt_bias", "A_log", "D", "wout"};
    for (size_t i = 0; i < 10; ++i) expect_tensor(i, names[i]);
  }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_)
      n += bytes_of({&s.x, &s.rstd, &s.uz, &s.conv, &s.dt_pre, &s.delta, &s.h, &s.ys, &s.xn, &s.uc, &s.xdbl, &s.gated,
                     &s.dy, &s.d_dt_pre, &s.dxdbl, &s.duz, &s.dgain, &s.dconv_w, &s.dconv_b, &s.ddt_bias, &s.dA_log,
                     &s.dD});
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.x, &s.rstd, &s.uz, &s.conv, &s.dt_pre, &s.delta, &s.h, &s.ys, &s.xn, &s.uc, &s.xdbl, &s.gated, &s.dy, &s.d_dt_pre, &s.dxdbl, &s.duz, &s.dgain, &s.dconv_w, &s.dconv_b, &s.ddt_bias, &s.dA_log, &s.dD}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch&, ParamView p, const float* x, float* y) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, d = d_, N = N_, R = R_, xw = R_ + 2 * N_;
    const int batch = cfg_.micro_batch, seq = cfg_.seq;
    prenorm_forward(ctx_, s.x, s.rstd, s.xn, x, p.f32 + offset(kGain), n, h, float(cfg_.norm_eps));
    s.uz.allocate(size_t(n) * 2 * d, stream());
    linear_forward(ctx_, s.uz.get(), s.xn.get(), p.at(offset(kWin)), n, h, 2 * d);
    s.conv.allocate(size_t(n) * d, stream());
    s.uc.allocate(size_t(n) * d, stream());
    mamba_conv_forward(stream(), s.conv.get(), s.uc.get(), s.uz.get(), p.f32 + offset(kConvW), p.f32 + offset(kConvB),
                       batch, seq, d, K_);
    s.xdbl.allocate(size_t(n) * xw, stream());
    linear_forward(ctx_, s.xdbl.get(), s.uc.get(), p.at(offset(kWx)), n, d, xw);
    Buf dl(size_t(n) * R, stream());
    copy_block(stream(), dl.get(), R, s.xdbl.get(), xw, n, R);
    s.dt_pre.allocate(size_t(n) * d, stream());
    linear_forward(ctx_, s.dt_pre.get(), dl.get(), p.at(offset(kWdt)), n, R, d);
    s.delta.allocate(size_t(n) * d, stream());
    mamba_softplus(stream(), s.dt_pre.get(), s.delta.get(), p.f32 + offset(kDtBias), n, d);
    s.h.allocate(size_t(n) * d * N, stream());
    s.ys.allocate(size_t(n) * d, stream());
    mamba_scan_forward(stream(), s.h.get(), s.ys.get(), s.delta.get(), s.uc.get(), s.xdbl.get(), p.f32 + offset(kALog),
                       p.f32 + offset(kD), batch, seq, d, N, R);
    s.gated.allocate(size_t(n) * d, stream());
    mamba_gate_forward(stream(), s.gated.get(), s.ys.get(), s.uz.get(), n, d);
    linear_forward(ctx_, y, s.gated.get(), p.at(offset(kWout)), n, d, h);
    add_inplace(stream(), y, s.x.get(), size_t(n) * h);
  }

  void do_backward_input(int mb, ParamView p, const float* dy, float* dx) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, d = d_, N = N_, R = R_, xw = R_ + 2 * N_;
    const int batch = cfg_.micro_batch, seq = cfg_.seq;
    s.dy = copy_of(ctx_, dy, size_t(n) * h);
    Buf dgated(size_t(n) * d, stream());
    linear_backward_input(ctx_, dgated.get(), dy, p.at(offset(kWout)), n, d, h, false);

    // Gate backward: dys for the scan output, dz into the second half of duz.
    s.duz.zeros(size_t(n) * 2 * d, stream());
    Buf dys(size_t(n) * d, stream());
    mamba_gate_backward(stream(), dys.get(), s.duz.get(), dgated.get(), s.ys.get(), s.uz.get(), n, d);

    // Scan backward in reverse time.
    Buf ddelta(size_t(n) * d, stream()), duc(size_t(n) * d, stream());
    s.dxdbl.allocate(size_t(n) * xw, stream());
    s.dA_log.allocate(size_t(d) * N, stream());
    s.dD.allocate(size_t(d), stream());
    Buf scratch(mamba_scan_scratch_floats(batch, seq, d, N), stream());
    mamba_scan_backward(stream(), ddelta.get(), duc.get(), s.dxdbl.get(), s.dA_log.get(), s.dD.get(), scratch.get(),
                        dys.get(), s.h.get(), s.delta.get(), s.uc.get(), s.xdbl.get(), p.f32 + offset(kALog),
                        p.f32 + offset(kD), batch, seq, d, N, R);

    // softplus backward, dt bias, then through Wdt into xdbl's dl columns and through Wx into u'.
    s.d_dt_pre.allocate(size_t(n) * d, stream());
    mamba_softplus_backward(stream(), s.d_dt_pre.get(), ddelta.get(), s.dt_pre.get(), size_t(n) * d);
    s.ddt_bias.zeros(size_t(d), stream());
    column_sum_add(stream(), s.ddt_bias.get(), s.d_dt_pre.get(), n, d, d);
    Buf ddl(size_t(n) * R, stream());
    linear_backward_input(ctx_, ddl.get(), s.d_dt_pre.get(), p.at(offset(kWdt)), n, R, d, false);
    copy_block(stream(), s.dxdbl.get(), xw, ddl.get(), R, n, R);
    linear_backward_input(ctx_, duc.get(), s.dxdbl.get(), p.at(offset(kWx)), n, d, xw, true);

    // SiLU and causal conv backward into du (first half of duz).
    Buf dc(size_t(n) * d, stream());
    s.dconv_w.allocate(size_t(d) * K_, stream());
    s.dconv_b.allocate(size_t(d), stream());
    mamba_conv_backward(stream(), dc.get(), s.dconv_w.get(), s.dconv_b.get(), s.duz.get(), duc.get(), s.conv.get(),
                        s.uz.get(), p.f32 + offset(kConvW), batch, seq, d, K_);

    Buf dxn(size_t(n) * h, stream());
    linear_backward_input(ctx_, dxn.get(), s.duz.get(), p.at(offset(kWin)), n, h, 2 * d, false);
    prenorm_backward_input(ctx_, dx, s.dgain, dy, dxn.get(), s.x.get(), s.rstd.get(), p.f32 + offset(kGain), n, h);
    s.x.reset();
    s.rstd.reset();
    s.uz.reset();
    s.conv.reset();
    s.dt_pre.reset();
    s.delta.reset();
    s.h.reset();
    s.ys.reset();
  }

  void do_backward_weight(int mb, float* g) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, d = d_, R = R_, xw = R_ + 2 * N_;
    add_inplace(stream(), g + offset(kGain), s.dgain.get(), s.dgain.size());
    add_inplace(stream(), g + offset(kConvW), s.dconv_w.get(), s.dconv_w.size());
    add_inplace(stream(), g + offset(kConvB), s.dconv_b.get(), s.dconv_b.size());
    add_inplace(stream(), g + offset(kDtBias), s.ddt_bias.get(), s.ddt_bias.size());
    add_inplace(stream(), g + offset(kALog), s.dA_log.get(), s.dA_log.size());
    add_inplace(stream(), g + offset(kD), s.dD.get(), s.dD.size());
    linear_backward_weight(ctx_, g + offset(kWin), s.duz.get(), s.xn.get(), n, h, 2 * d);
    linear_backward_weight(ctx_, g + offset(kWx), s.dxdbl.get(), s.uc.get(), n, d, xw);
    Buf dl(size_t(n) * R, stream());
    copy_block(stream(), dl.get(), R, s.xdbl.get(), xw, n, R);
    linear_backward_weight(ctx_, g + offset(kWdt), s.d_dt_pre.get(), dl.get(), n, R, d);
    linear_backward_weight(ctx_, g + offset(kWout), s.dy.get(), s.gated.get(), n, d, h);
    s = State{};
  }

 private:
  enum Tensor { kGain, kWin, kConvW, kConvB, kWx, kWdt, kDtBias, kALog, kD, kWout };
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    Buf x, rstd, uz, conv, dt_pre, delta, h, ys;  // F -> B
    Buf xn, uc, xdbl, gated;                      // F -> W
    Buf dy, d_dt_pre, dxdbl, duz;                 // B -> W
    Buf dgain, dconv_w, dconv_b, ddt_bias, dA_log, dD;
  };
  int d_, N_, K_, R_;
  std::vector<State> state_;
};

}  // namespace

std::unique_ptr<GpuLayer> make_gpu_mamba(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx) {
  return std::make_unique<GpuMamba>(cfg, m, std::move(specs), ctx);
}

}  // namespace adaptis::exec::gpu
