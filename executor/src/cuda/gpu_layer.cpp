// GPU layer base (phase checks, parameter offsets, loss slots), shared helpers, the SwiGLU core, and the
// simple layers: embedding, LM head, SwiGLU MLP block. Twins of layers/{layer,swiglu,embedding,lm_head,mlp}.cpp.
#include <stdexcept>
#include <string>

#include "cuda/gpu_layers.h"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

// ---- base ------------------------------------------------------------------------------------------------

GpuLayer::GpuLayer(LayerType type, const NetConfig& cfg, int num_microbatches, std::vector<ParamSpec> specs,
                   GpuContext& ctx)
    : cfg_(cfg),
      tokens_(cfg.micro_batch * cfg.seq),
      ctx_(ctx),
      type_(type),
      specs_(std::move(specs)),
      phase_(size_t(num_microbatches), Phase::Idle) {
  if (num_microbatches < 1) throw std::invalid_argument("GpuLayer: num_microbatches must be >= 1");
  size_t off = 0;
  for (const ParamSpec& s : specs_) {
    offsets_.push_back(off);
    off += s.size();
  }
}

size_t GpuLayer::num_params() const {
  size_t n = 0;
  for (const ParamSpec& s : specs_) n += s.size();
  return n;
}

void GpuLayer::expect_tensor(size_t i, const std::string& name) const {
  if (i >= specs_.size() || specs_[i].name != name)
    throw std::logic_error(std::string("GPU ") + layer_type_name(type_) + " layer: expected parameter tensor " +
                           std::to_string(i) + " to be '" + name + "', the CPU layer has '" +
                           (i < specs_.size() ? specs_[i].name : std::string("nothing")) + "'");
}

void GpuLayer::enable_loss() { losses_.zeros(phase_.size(), ctx_.stream()); }

void GpuLayer::check_mb(int mb, const char* pass) const {
  if (mb < 0 || mb >= num_microbatches())
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer (GPU): " + pass + " of micro-batch " +
                           std::to_string(mb) + " out of range [0, " + std::to_string(num_microbatches()) + ")");
}

void GpuLayer::forward(int mb, const DeviceBatch& batch, ParamView params, const float* x, float* y) {
  check_mb(mb, "F");
  if (phase_[mb] != Phase::Idle)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer (GPU): F of micro-batch " +
                           std::to_string(mb) + " while its previous F has not finished B and W");
  do_forward(mb, batch, params, x, y);
  phase_[mb] = Phase::Forwarded;
}

void GpuLayer::discard(int mb) {
  check_mb(mb, "discard");
  if (phase_[mb] != Phase::Forwarded)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer (GPU): discarding micro-batch " +
                           std::to_string(mb) + (phase_[mb] == Phase::Idle ? " before its F" : " after its B"));
  drop_state(mb);
  phase_[mb] = Phase::Idle;
}

size_t GpuLayer::saved_bytes(int mb) {
  size_t n = 0;
  for_each_saved(mb, [&](DeviceBuffer<float>& b) { n += b.bytes(); });
  return n;
}

void GpuLayer::backward_input(int mb, ParamView params, const float* dy, float* dx) {
  check_mb(mb, "B");
  if (phase_[mb] != Phase::Forwarded)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer (GPU): B of micro-batch " +
                           std::to_string(mb) + (phase_[mb] == Phase::Idle ? " before its F" : " twice"));
  do_backward_input(mb, params, dy, dx);
  phase_[mb] = Phase::InputGradDone;
}

void GpuLayer::backward_weight(int mb, float* grads) {
  check_mb(mb, "W");
  if (phase_[mb] != Phase::InputGradDone)
    throw std::logic_error(std::string(layer_type_name(type_)) + " layer (GPU): W of micro-batch " +
                           std::to_string(mb) + (phase_[mb] == Phase::Idle ? " before its F and B" : " before its B"));
  do_backward_weight(mb, grads);
  phase_[mb] = Phase::Idle;
}

std::unique_ptr<GpuLayer> make_gpu_layer(LayerType type, const NetConfig& cfg, int m, std::vector<ParamSpec> specs,
                                         GpuContext& ctx) {
  switch (type) {
    case LayerType::Embedding: return make_gpu_embedding(cfg, m, std::move(specs), ctx);
    case LayerType::Attention: return make_gpu_attention(cfg, m, std::move(specs), ctx);
    case LayerType::Mlp: return make_gpu_mlp(cfg, m, std::move(specs), ctx);
    case LayerType::Moe: return make_gpu_moe(cfg, m, std::move(specs), ctx);
    case LayerType::Mamba: return make_gpu_mamba(cfg, m, std::move(specs), ctx);
    case LayerType::LmHead: return make_gpu_lm_head(cfg, m, std::move(specs), ctx);
  }
  throw std::invalid_argument("make_gpu_layer: unknown layer type");
}

// ---- helpers ---------------------------------------------------------------------------------------------

Buf copy_of(GpuContext& ctx, const float* src, size_t n) {
  Buf b(n, ctx.stream());
  copy_into(ctx, b.get(), src, n);
  return b;
}

void copy_into(GpuContext& ctx, float* dst, const float* src, size_t n) {
  if (n > 0) ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream()));
}

size_t bytes_of(std::initializer_list<const Buf*> bufs) {
  size_t n = 0;
  for (const Buf* b : bufs) n += b->bytes();
  return n;
}

// ---- pre-norm RMSNorm ------------------------------------------------------------------------------------

void prenorm_forward(GpuContext& ctx, Buf& x_saved, Buf& rstd, Buf& xn, const float* x, const float* gain, int rows,
                     int h, float eps) {
  x_saved = copy_of(ctx, x, size_t(rows) * h);
  rstd.allocate(size_t(rows), ctx.stream());
  xn.allocate(size_t(rows) * h, ctx.stream());
  rmsnorm_forward(ctx.stream(), xn.get(), rstd.get(), x, gain, rows, h, eps);
}

void prenorm_backward_input(GpuContext& ctx, float* dx, Buf& dgain, const float* residual, const float* dxn,
                            const float* x, const float* rstd, const float* gain, int rows, int h) {
  if (residual)
    copy_into(ctx, dx, residual, size_t(rows) * h);
  else
    ADAPTIS_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * size_t(rows) * h, ctx.stream()));
  rmsnorm_backward_input(ctx.stream(), dx, dxn, x, rstd, gain, rows, h);  // dx +=
  dgain.zeros(size_t(h), ctx.stream());
  rmsnorm_backward_gain(ctx.stream(), dgain.get(), dxn, x, rstd, rows, h);
}

// ---- SwiGLU core -----------------------------------------------------------------------------------------

void swiglu_forward(GpuContext& ctx, float* out, const float* x, const SwigluWeights& w, int rows, int h, int f,
                    float* a, float* b, float* u) {
  linear_forward(ctx, a, x, w.w1, rows, h, f);
  linear_forward(ctx, b, x, w.w3, rows, h, f);
  swiglu_gate_forward(ctx.stream(), u, a, b, size_t(rows) * f);
  linear_forward(ctx, out, u, w.w2, rows, f, h);
}

void swiglu_backward_input(GpuContext& ctx, float* dx, bool accumulate, const float* dout, const SwigluWeights& w,
                           int rows, int h, int f, const float* a, const float* b, float* da, float* db) {
  Buf du(size_t(rows) * f, ctx.stream());
  linear_backward_input(ctx, du.get(), dout, w.w2, rows, f, h, false);
  swiglu_gate_backward(ctx.stream(), da, db, du.get(), a, b, size_t(rows) * f);
  linear_backward_input(ctx, dx, da, w.w1, rows, h, f, accumulate);
  linear_backward_input(ctx, dx, db, w.w3, rows, h, f, true);
}

void swiglu_backward_weight(GpuContext& ctx, float* dw1, float* dw3, float* dw2, const float* x, int rows, int h,
                            int f, const float* u, const float* dout, const float* da, const float* db) {
  linear_backward_weight(ctx, dw1, da, x, rows, h, f);
  linear_backward_weight(ctx, dw3, db, x, rows, h, f);
  linear_backward_weight(ctx, dw2, dout, u, rows, f, h);
}

namespace {

// ---- embedding (layers/embedding.cpp) --------------------------------------------------------------------

class GpuEmbedding final : public GpuLayer {
 public:
  GpuEmbedding(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::Embedding, cfg, m, std::move(specs), ctx), state_(size_t(m)) {
    expect_tensor(0, "wte");
  }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_) n += s.tokens.bytes() + s.dy.bytes();
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.dy}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch& batch, ParamView p, const float*, float* y) override {
    State& s = state_[mb];
    const int n = tokens_;
    s.tokens.allocate(size_t(n), stream());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(s.tokens.get(), batch.tokens, sizeof(int32_t) * n, cudaMemcpyDeviceToDevice,
                                       stream()));
    embedding_forward(stream(), y, s.tokens.get(), p.f32 + offset(0), n, cfg_.hidden);
  }
  void do_backward_input(int mb, ParamView, const float* dy, float*) override {
    state_[mb].dy = copy_of(ctx_, dy, size_t(tokens_) * cfg_.hidden);  // kept for the deferred scatter-add
  }
  void do_backward_weight(int mb, float* grads) override {
    State& s = state_[mb];
    embedding_backward_weight(stream(), grads + offset(0), s.tokens.get(), s.dy.get(), tokens_, cfg_.hidden);
    s.tokens.reset();
    s.dy.reset();
  }

 private:
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    DeviceBuffer<int32_t> tokens;  // F -> W
    Buf dy;                        // B -> W
  };
  std::vector<State> state_;
};

// ---- LM head (layers/lm_head.cpp) ------------------------------------------------------------------------

class GpuLmHead final : public GpuLayer {
 public:
  GpuLmHead(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::LmHead, cfg, m, std::move(specs), ctx), state_(size_t(m)) {
    expect_tensor(kGain, "norm");
    expect_tensor(kWout, "wout");
    enable_loss();
  }
  bool has_loss() const override { return true; }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_)
      n += bytes_of({&s.x, &s.rstd, &s.probs, &s.xn, &s.dlogits, &s.dgain}) + s.targets.bytes();
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.x, &s.rstd, &s.probs, &s.xn, &s.dlogits, &s.dgain}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch& batch, ParamView p, const float* x, float*) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, v = cfg_.vocab;
    s.targets.allocate(size_t(n), stream());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(s.targets.get(), batch.targets, sizeof(int32_t) * n,
                                       cudaMemcpyDeviceToDevice, stream()));
    prenorm_forward(ctx_, s.x, s.rstd, s.xn, x, p.f32 + offset(kGain), n, h, float(cfg_.norm_eps));
    s.probs.allocate(size_t(n) * v, stream());
    linear_forward(ctx_, s.probs.get(), s.xn.get(), p.at(offset(kWout)), n, h, v);
    DeviceBuffer<double> row_loss(size_t(n), stream());
    softmax_xent_forward(stream(), s.probs.get(), row_loss.get(), s.targets.get(), n, v);
    sum_doubles(stream(), loss_slot_mut(mb), row_loss.get(), n, double(n));
  }
  void do_backward_input(int mb, ParamView p, const float*, float* dx) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, v = cfg_.vocab;
    const float scale = loss_scale() / float(n);
    s.dlogits.allocate(size_t(n) * v, stream());
    xent_backward(stream(), s.dlogits.get(), s.probs.get(), s.targets.get(), n, v, scale);
    Buf dxn(size_t(n) * h, stream());
    linear_backward_input(ctx_, dxn.get(), s.dlogits.get(), p.at(offset(kWout)), n, h, v, false);
    prenorm_backward_input(ctx_, dx, s.dgain, nullptr, dxn.get(), s.x.get(), s.rstd.get(), p.f32 + offset(kGain), n, h);
    s.x.reset();
    s.rstd.reset();
    s.probs.reset();
    s.targets.reset();
  }
  void do_backward_weight(int mb, float* g) override {
    State& s = state_[mb];
    add_inplace(stream(), g + offset(kGain), s.dgain.get(), size_t(cfg_.hidden));
    linear_backward_weight(ctx_, g + offset(kWout), s.dlogits.get(), s.xn.get(), tokens_, cfg_.hidden, cfg_.vocab);
    s = State{};
  }

 private:
  enum Tensor { kGain, kWout };
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    Buf x, rstd, probs;               // F -> B
    DeviceBuffer<int32_t> targets;    // F -> B
    Buf xn;                           // F -> W
    Buf dlogits, dgain;               // B -> W
  };
  std::vector<State> state_;
};

// ---- SwiGLU MLP block (layers/mlp.cpp) -------------------------------------------------------------------

class GpuMlp final : public GpuLayer {
 public:
  GpuMlp(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx)
      : GpuLayer(LayerType::Mlp, cfg, m, std::move(specs), ctx), state_(size_t(m)) {
    expect_tensor(kGain, "norm");
    expect_tensor(kW1, "w1");
    expect_tensor(kW3, "w3");
    expect_tensor(kW2, "w2");
  }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const State& s : state_) n += bytes_of({&s.x, &s.rstd, &s.xn, &s.a, &s.b, &s.u, &s.dout, &s.da, &s.db, &s.dgain});
    return n;
  }
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) override {
    State& s = state_[mb];
    for (Buf* b : {&s.x, &s.rstd, &s.xn, &s.a, &s.b, &s.u, &s.dout, &s.da, &s.db, &s.dgain}) f(*b);
  }


 protected:
  void do_forward(int mb, const DeviceBatch&, ParamView p, const float* x, float* y) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, f = cfg_.ffn;
    prenorm_forward(ctx_, s.x, s.rstd, s.xn, x, p.f32 + offset(kGain), n, h, float(cfg_.norm_eps));
    s.a.allocate(size_t(n) * f, stream());
    s.b.allocate(size_t(n) * f, stream());
    s.u.allocate(size_t(n) * f, stream());
    swiglu_forward(ctx_, y, s.xn.get(), weights(p), n, h, f, s.a.get(), s.b.get(), s.u.get());
    add_inplace(stream(), y, s.x.get(), size_t(n) * h);
  }
  void do_backward_input(int mb, ParamView p, const float* dy, float* dx) override {
    State& s = state_[mb];
    const int n = tokens_, h = cfg_.hidden, f = cfg_.ffn;
    s.dout = copy_of(ctx_, dy, size_t(n) * h);
    s.da.allocate(size_t(n) * f, stream());
    s.db.allocate(size_t(n) * f, stream());
    Buf dxn(size_t(n) * h, stream());
    swiglu_backward_input(ctx_, dxn.get(), false, dy, weights(p), n, h, f, s.a.get(), s.b.get(), s.da.get(),
                          s.db.get());
    prenorm_backward_input(ctx_, dx, s.dgain, dy, dxn.get(), s.x.get(), s.rstd.get(), p.f32 + offset(kGain), n, h);
    s.x.reset();
    s.rstd.reset();
    s.a.reset();
    s.b.reset();
  }
  void do_backward_weight(int mb, float* g) override {
    State& s = state_[mb];
    add_inplace(stream(), g + offset(kGain), s.dgain.get(), size_t(cfg_.hidden));
    swiglu_backward_weight(ctx_, g + offset(kW1), g + offset(kW3), g + offset(kW2), s.xn.get(), tokens_, cfg_.hidden,
                           cfg_.ffn, s.u.get(), s.dout.get(), s.da.get(), s.db.get());
    s = State{};
  }

 private:
  enum Tensor { kGain, kW1, kW3, kW2 };
  SwigluWeights weights(ParamView p) const { return {p.at(offset(kW1)), p.at(offset(kW3)), p.at(offset(kW2))}; }
  void drop_state(int mb) override { state_[mb] = State{}; }
  struct State {
    Buf x, rstd;            // F -> B
    Buf xn;                 // F -> W
    Buf a, b, u;            // a, b: F -> B; u: F -> W
    Buf dout, da, db, dgain;  // B -> W
  };
  std::vector<State> state_;
};

}  // namespace

std::unique_ptr<GpuLayer> make_gpu_embedding(const NetConfig& cfg, int m, std::vector<ParamSpec> specs,
                                             GpuContext& ctx) {
  return std::make_unique<GpuEmbedding>(cfg, m, std::move(specs), ctx);
}
std::unique_ptr<GpuLayer> make_gpu_lm_head(const NetConfig& cfg, int m, std::vector<ParamSpec> specs,
                                           GpuContext& ctx) {
  return std::make_unique<GpuLmHead>(cfg, m, std::move(specs), ctx);
}
std::unique_ptr<GpuLayer> make_gpu_mlp(const NetConfig& cfg, int m, std::vector<ParamSpec> specs, GpuContext& ctx) {
  return std::make_unique<GpuMlp>(cfg, m, std::move(specs), ctx);
}

}  // namespace adaptis::exec::gpu
