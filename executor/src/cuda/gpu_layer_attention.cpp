// Causal GQA self-attention block with RoPE on the GPU, F / B / W (twin of layers/attention.cpp).
#include <cmath>

#include "adaptis/executor/layers/rope.h"
#include "cuda/gpu_layers.h"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

namespace {

class GpuAttention final : public GpuLayer {
 public:
  GpuAttention(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::Attention, cfg, m, std::move(specs), ctx),
        heads_(cfg.heads),
        kv_heads_(cfg.kv_heads),
        hd_(cfg.head_dim()),
        state_(size_t(m)) {
    expect_tensor(kGain, "norm");
    expect_tensor(kWq, "wq");
    expect_tensor(kWk, "wk");
    expect_tensor(kWv, "wv");
    expect_tensor(kWo, "wo");
    // The CPU's float table (angles computed in double), uploaded once.
    const RopeTable<float> rope = make_rope_table<float>(cfg.seq, hd_, cfg.rope_theta);
    cos_.allocate(rope.cos.size(), stream());
    sin_.allocate(rope.sin.size(), stream());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(cos_.get(), rope.cos.data(), cos_.bytes(), cudaMemcpyHostToDevice, stream()));
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(sin_.get(), rope.sin.data(), sin_.bytes(), cudaMemcpyHostToDevice, stream()));
    ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(stream()));  // the host tables die with this scope
  }

  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_)
      n += bytes_of({&s.x, &s.rstd, &s.q, &s.k, &s.v, &s.probs, &s.xn, &s.o, &s.dy, &s.dq, &s.dk, &s.dv, &s.dgain});
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.x, &s.rstd, &s.q, &s.k, &s.v, &s.probs, &s.xn, &s.o, &s.dy, &s.dq, &s.dk, &s.dv, &s.dgain}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch&, ParamView p, const float* x, float* y) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, qw = heads_ * hd_, kv = kv_heads_ * hd_;
    prenorm_forward(ctx_, s.x, s.rstd, s.xn, x, p.f32 + offset(kGain), n, h, float(cfg_.norm_eps));
    s.q.allocate(size_t(n) * qw, stream());
    s.k.allocate(size_t(n) * kv, stream());
    s.v.allocate(size_t(n) * kv, stream());
    linear_forward(ctx_, s.q.get(), s.xn.get(), p.at(offset(kWq)), n, h, qw);
    linear_forward(ctx_, s.k.get(), s.xn.get(), p.at(offset(kWk)), n, h, kv);
    linear_forward(ctx_, s.v.get(), s.xn.get(), p.at(offset(kWv)), n, h, kv);
    rope_apply(stream(), s.q.get(), cos_.get(), sin_.get(), n, cfg_.seq, heads_, hd_, false);
    rope_apply(stream(), s.k.get(), cos_.get(), sin_.get(), n, cfg_.seq, kv_heads_, hd_, false);
    s.probs.allocate(size_t(cfg_.micro_batch) * heads_ * cfg_.seq * cfg_.seq, stream());
    s.o.allocate(size_t(n) * qw, stream());
    attention_forward(stream(), s.probs.get(), s.o.get(), s.q.get(), s.k.get(), s.v.get(), cfg_.micro_batch, cfg_.seq,
                      heads_, kv_heads_, hd_, scale());
    linear_forward(ctx_, y, s.o.get(), p.at(offset(kWo)), n, qw, h);
    add_inplace(stream(), y, s.x.get(), size_t(n) * h);
  }

  void do_backward_input(int mb, ParamView p, const float* dy, float* dx) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, qw = heads_ * hd_, kv = kv_heads_ * hd_;
    s.dy = copy_of(ctx_, dy, size_t(n) * h);
    Buf d_o(size_t(n) * qw, stream());
    linear_backward_input(ctx_, d_o.get(), dy, p.at(offset(kWo)), n, qw, h, false);
    s.dq.allocate(size_t(n) * qw, stream());
    s.dk.allocate(size_t(n) * kv, stream());
    s.dv.allocate(size_t(n) * kv, stream());
    Buf ds(s.probs.size(), stream());
    attention_backward(stream(), s.dq.get(), s.dk.get(), s.dv.get(), ds.get(), d_o.get(), s.q.get(), s.k.get(),
                       s.v.get(), s.probs.get(), cfg_.micro_batch, cfg_.seq, heads_, kv_heads_, hd_, scale());
    // Undo the rotation: dq, dk become the output gradients of the Wq / Wk linears.
    rope_apply(stream(), s.dq.get(), cos_.get(), sin_.get(), n, cfg_.seq, heads_, hd_, true);
    rope_apply(stream(), s.dk.get(), cos_.get(), sin_.get(), n, cfg_.seq, kv_heads_, hd_, true);
    Buf dxn(size_t(n) * h, stream());
    linear_backward_input(ctx_, dxn.get(), s.dq.get(), p.at(offset(kWq)), n, h, qw, false);
    linear_backward_input(ctx_, dxn.get(), s.dk.get(), p.at(offset(kWk)), n, h, kv, true);
    linear_backward_input(ctx_, dxn.get(), s.dv.get(), p.at(offset(kWv)), n, h, kv, true);
    prenorm_backward_input(ctx_, dx, s.dgain, dy, dxn.get(), s.x.get(), s.rstd.get(), p.f32 + offset(kGain), n, h);
    s.x.reset();
    s.rstd.reset();
    s.q.reset();
    s.k.reset();
    s.v.reset();
    s.probs.reset();
  }

  void do_backward_weight(int mb, float* g) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, qw = heads_ * hd_, kv = kv_heads_ * hd_;
    add_inplace(stream(), g + offset(kGain), s.dgain.get(), size_t(h));
    linear_backward_weight(ctx_, g + offset(kWq), s.dq.get(), s.xn.get(), n, h, qw);
    linear_backward_weight(ctx_, g + offset(kWk), s.dk.get(), s.xn.get(), n, h, kv);
    linear_backward_weight(ctx_, g + offset(kWv), s.dv.get(), s.xn.get(), n, h, kv);
    linear_backward_weight(ctx_, g + offset(kWo), s.dy.get(), s.o.get(), n, qw, h);
    s = State{};
  }

 private:
  enum Tensor { kGain, kWq, kWk, kWv, kWo };
  float scale() const { return 1.0f / std::sqrt(float(hd_)); }
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    Buf x, rstd, q, k, v, probs;  // F -> B (q, k rotated; probs: batch x heads x seq x seq)
    Buf xn, o;                    // F -> W
    Buf dy, dq, dk, dv, dgain;    // B -> W
  };
  int heads_, kv_heads_, hd_;
  Buf cos_, sin_;
  std::vector<State> state_;
};

}  // namespace

std::unique_ptr<GpuLayer> make_gpu_attention(const NetConfig& cfg, int m, std::vector<ParamSpec> specs,
                                             GpuContext& ctx) {
  return std::make_unique<GpuAttention>(cfg, m, std::move(specs), ctx);
}

}  // namespace adaptis::exec::gpu
