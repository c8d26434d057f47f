// Mixture-of-experts block on the GPU, F / B / W (twin of layers/moe.cpp). Routed slots are packed by expert
// (tokens ascending within each), so expert e's SwiGLU runs as plain GEMMs on rows [offsets[e],
// offsets[e+1]) of packed buffers. The expert sizes are needed on the host to size those GEMMs: F copies the
// E+1 offsets back, which synchronises this stream once per MoE forward (the one host sync of the layer math).
#include <string>

#include "cuda/gpu_layers.h"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

class GpuMoe final : public GpuLayer {
 public:
  GpuMoe(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::Moe, cfg, m, std::move(specs), ctx),
        E_(cfg.experts),
        k_(cfg.top_k),
        ef_(cfg.expert_ffn),
        sf_(cfg.shared_ffn()),
        state_(size_t(m)) {
    expect_tensor(kGain, "norm");
    expect_tensor(kRouter, "router");
    for (int e = 0; e < E_; ++e) {
      const std::string pre = "experts." + std::to_string(e) + ".";
      expect_tensor(kFirstExpert + 3 * size_t(e) + 0, pre + "w1");
      expect_tensor(kFirstExpert + 3 * size_t(e) + 1, pre + "w3");
      expect_tensor(kFirstExpert + 3 * size_t(e) + 2, pre + "w2");
    }
    if (sf_ > 0) expect_tensor(kFirstExpert + 3 * size_t(E_), "shared.w1");
    enable_loss();
  }
  bool has_loss() const override { return true; }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_) {
      n += bytes_of({&s.x, &s.rstd, &s.probs, &s.load_frac, &s.xn, &s.out, &s.a, &s.b, &s.u, &s.dout, &s.da, &s.db,
                     &s.sa, &s.sb, &s.su, &s.sdout, &s.sda, &s.sdb, &s.drouter, &s.dgain});
      n += s.slot_expert.bytes() + s.slot_row.bytes() + s.offsets.bytes() + s.row_token.bytes() + s.row_expert.bytes();
    }
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.x, &s.rstd, &s.probs, &s.load_frac, &s.xn, &s.out, &s.a, &s.b, &s.u, &s.dout, &s.da, &s.db, &s.sa, &s.sb, &s.su, &s.sdout, &s.sda, &s.sdb, &s.drouter, &s.dgain}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch&, ParamView p, const float* x, float* y) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, slots = n * k_;
    prenorm_forward(ctx_, s.x, s.rstd, s.xn, x, p.f32 + offset(kGain), n, h, float(cfg_.norm_eps));

    // Router softmax and top-k, then the slots packed by expert.
    s.probs.allocate(size_t(n) * E_, stream());
    // Router logits in fp32 even in bf16 mode (as MoE implementations do): routing is a discrete decision.
    linear_forward(ctx_, s.probs.get(), s.xn.get(), p.at(offset(kRouter)), n, h, E_, false, true);
    softmax_rows_div(stream(), s.probs.get(), n, E_);
    s.slot_expert.allocate(size_t(slots), stream());
    moe_topk(stream(), s.slot_expert.get(), s.probs.get(), n, E_, k_);
    s.offsets.allocate(size_t(E_) + 1, stream());
    s.row_token.allocate(size_t(slots), stream());
    s.row_expert.allocate(size_t(slots), stream());
    s.slot_row.allocate(size_t(slots), stream());
    moe_build_lists(stream(), s.offsets.get(), s.row_token.get(), s.row_expert.get(), s.slot_row.get(),
                    s.slot_expert.get(), n, E_, k_);
    s.host_offsets.assign(size_t(E_) + 1, 0);
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(s.host_offsets.data(), s.offsets.get(), sizeof(int) * (size_t(E_) + 1),
                                       cudaMemcpyDeviceToHost, stream()));
    ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(stream()));

    // Experts on their gathered tokens (the gathered inputs are rebuilt in W rather than kept).
    Buf xin(size_t(slots) * h, stream());
    gather_rows(stream(), xin.get(), s.xn.get(), s.row_token.get(), slots, h);
    s.out.allocate(size_t(slots) * h, stream());
    s.a.allocate(size_t(slots) * ef_, stream());
    s.b.allocate(size_t(slots) * ef_, stream());
    s.u.allocate(size_t(slots) * ef_, stream());
    for (int e = 0; e < E_; ++e) {
      const int off = s.host_offsets[e], rows = s.host_offsets[e + 1] - off;
      if (rows == 0) continue;
      swiglu_forward(ctx_, s.out.get() + size_t(off) * h, xin.get() + size_t(off) * h, expert_weights(p, e), rows, h,
                     ef_, s.a.get() + size_t(off) * ef_, s.b.get() + size_t(off) * ef_, s.u.get() + size_t(off) * ef_);
    }

    // Combine per token in a fixed order (shared expert, then slots 0..k-1), plus the residual.
    Buf shared;
    if (sf_ > 0) {
      shared.allocate(size_t(n) * h, stream());
      s.sa.allocate(size_t(n) * sf_, stream());
      s.sb.allocate(size_t(n) * sf_, stream());
      s.su.allocate(size_t(n) * sf_, stream());
      swiglu_forward(ctx_, shared.get(), s.xn.get(), expert_weights(p, E_), n, h, sf_, s.sa.get(), s.sb.get(),
                     s.su.get());
    }
    moe_combine(stream(), y, s.x.get(), sf_ > 0 ? shared.get() : nullptr, s.probs.get(), s.slot_expert.get(),
                s.slot_row.get(), s.offsets.get(), s.out.get(), n, h, E_, k_);

    // Load-balancing aux loss.
    s.load_frac.allocate(size_t(E_), stream());
    DeviceBuffer<double> scratch(size_t(E_), stream());
    moe_aux_loss(stream(), loss_slot_mut(mb), s.load_frac.get(), scratch.get(), s.probs.get(), s.offsets.get(), n, E_,
                 k_, cfg_.aux_loss_coef);
  }

  void do_backward_input(int mb, ParamView p, const float* dy, float* dx) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, slots = n * k_;
    Buf dxn(size_t(n) * h, stream());
    if (sf_ > 0) {
      s.sdout = copy_of(ctx_, dy, size_t(n) * h);
      s.sda.allocate(size_t(n) * sf_, stream());
      s.sdb.allocate(size_t(n) * sf_, stream());
      swiglu_backward_input(ctx_, dxn.get(), false, dy, expert_weights(p, E_), n, h, sf_, s.sa.get(), s.sb.get(),
                            s.sda.get(), s.sdb.get());
      s.sa.reset();
      s.sb.reset();
    } else {
      ADAPTIS_CUDA_CHECK(cudaMemsetAsync(dxn.get(), 0, dxn.bytes(), stream()));
    }

    // Experts: d(out) = gate * dy per routed row; d(gate) = <dy, out> into the router probabilities.
    Buf dprobs;
    dprobs.zeros(size_t(n) * E_, stream());
    s.dout.allocate(size_t(slots) * h, stream());
    moe_expert_dout(stream(), s.dout.get(), dprobs.get(), dy, s.out.get(), s.probs.get(), s.row_token.get(),
                    s.row_expert.get(), slots, h, E_);
    Buf dxin(size_t(slots) * h, stream());
    s.da.allocate(size_t(slots) * ef_, stream());
    s.db.allocate(size_t(slots) * ef_, stream());
    for (int e = 0; e < E_; ++e) {
      const int off = s.host_offsets[e], rows = s.host_offsets[e + 1] - off;
      if (rows == 0) continue;
      swiglu_backward_input(ctx_, dxin.get() + size_t(off) * h, false, s.dout.get() + size_t(off) * h,
                            expert_weights(p, e), rows, h, ef_, s.a.get() + size_t(off) * ef_,
                            s.b.get() + size_t(off) * ef_, s.da.get() + size_t(off) * ef_,
                            s.db.get() + size_t(off) * ef_);
    }
    s.out.reset();
    s.a.reset();
    s.b.reset();
    moe_scatter_add(stream(), dxn.get(), dxin.get(), s.slot_expert.get(), s.slot_row.get(), s.offsets.get(), n, h, k_);

    // Aux-loss gradient (f_i constant) and the router softmax backward.
    const float aux_scale = loss_scale() * float(cfg_.aux_loss_coef) * float(E_) / float(n);
    s.drouter.allocate(size_t(n) * E_, stream());
    moe_router_backward(stream(), s.drouter.get(), dprobs.get(), s.probs.get(), s.load_frac.get(), aux_scale, n, E_);
    linear_backward_input(ctx_, dxn.get(), s.drouter.get(), p.at(offset(kRouter)), n, h, E_, true);

    prenorm_backward_input(ctx_, dx, s.dgain, dy, dxn.get(), s.x.get(), s.rstd.get(), p.f32 + offset(kGain), n, h);
    s.x.reset();
    s.rstd.reset();
    s.probs.reset();
    s.load_frac.reset();
  }

  void do_backward_weight(int mb, float* g) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, slots = n * k_;
    add_inplace(stream(), g + offset(kGain), s.dgain.get(), size_t(h));
    linear_backward_weight(ctx_, g + offset(kRouter), s.drouter.get(), s.xn.get(), n, h, E_);
    Buf xin(size_t(slots) * h, stream());
    gather_rows(stream(), xin.get(), s.xn.get(), s.row_token.get(), slots, h);
    for (int e = 0; e < E_; ++e) {
      const int off = s.host_offsets[e], rows = s.host_offsets[e + 1] - off;
      if (rows == 0) continue;
      const size_t base = kFirstExpert + size_t(3) * e;
      swiglu_backward_weight(ctx_, g + offset(base), g + offset(base + 1), g + offset(base + 2),
                             xin.get() + size_t(off) * h, rows, h, ef_, s.u.get() + size_t(off) * ef_,
                             s.dout.get() + size_t(off) * h, s.da.get() + size_t(off) * ef_,
                             s.db.get() + size_t(off) * ef_);
    }
    if (sf_ > 0) {
      const size_t base = kFirstExpert + size_t(3) * E_;
      swiglu_backward_weight(ctx_, g + offset(base), g + offset(base + 1), g + offset(base + 2), s.xn.get(), n, h, sf_,
                             s.su.get(), s.sdout.get(), s.sda.get(), s.sdb.get());
    }
    s = State{};
  }

 private:
  static constexpr size_t kGain = 0, kRouter = 1, kFirstExpert = 2;
  // Expert e for e < E; e == E is the shared expert.
  SwigluWeights expert_weights(ParamView p, int e) const {
    const size_t base = kFirstExpert + size_t(3) * e;
    return {p.at(offset(base)), p.at(offset(base + 1)), p.at(offset(base + 2))};
  }
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    Buf x, rstd, probs, load_frac;  // F -> B
    Buf xn;                         // F -> W
    DeviceBuffer<int> slot_expert, slot_row, offsets, row_token, row_expert;  // routing, F -> W
    std::vector<int> host_offsets;  // the same offsets on the host (GEMM sizes)
    Buf out, a, b;                  // packed expert outputs and gate inputs: F -> B
    Buf u;                          // packed W2 inputs: F -> W
    Buf dout, da, db;               // packed expert carries: B -> W
    Buf sa, sb, su, sdout, sda, sdb;  // shared expert (when present)
    Buf drouter, dgain;             // B -> W
  };
  int E_, k_, ef_, sf_;
  std::vector<State> state_;
};

}  // namespace

std::unique_ptr<GpuLayer> make_gpu_moe(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx) {
  return std::make_unique<GpuMoe>(cfg, m, std::move(specs), ctx);
}

}  // namespace adaptis::exec::gpu
