#pragma once
#include <functional>
// The executor's layers on the GPU: the same F / B / W split, the same saved state and the same B -> W
// carry as the CPU layers (executor/src/layers/), with device buffers. Each method mirrors its CPU twin line
// by line, so the CPU code is the reference to read next to it.
//
// A layer owns no parameters: the stage hands it its slice of the fp32 arena (and of the bf16 shadow in
// bf16 mode) laid out exactly as the CPU layer's param_specs(), which the constructor checks by name. What a
// layer owns is per-micro-batch state in stream-ordered buffers: F fills it, B frees what only B needed,
// W frees the rest. Out-of-order passes throw std::logic_error like the CPU layers.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/net_config.h"
#include "cuda/gpu_context.h"

namespace adaptis::exec::gpu {

// A micro-batch's token ids and targets on the device (micro_batch * seq each).
struct DeviceBatch {
  const int32_t* tokens = nullptr;
  const int32_t* targets = nullptr;
};

class GpuLayer {
 public:
  // `specs`: the CPU layer's parameter tensors (names checked against what this layer expects).
  GpuLayer(LayerType type, const NetConfig& cfg, int num_microbatches, std::vector<ParamSpec> specs,
           GpuContext& ctx);
  virtual ~GpuLayer() = default;
  GpuLayer(const GpuLayer&) = delete;
  GpuLayer& operator=(const GpuLayer&) = delete;

  LayerType type() const { return type_; }
  const std::vector<ParamSpec>& param_specs() const { return specs_; }
  size_t num_params() const;
  int num_microbatches() const { return static_cast<int>(phase_.size()); }

  void forward(int mb, const DeviceBatch& batch, ParamView params, const float* x, float* y);
  void backward_input(int mb, ParamView params, const float* dy, float* dx);
  void backward_weight(int mb, float* grads);

  // Loss-producing layers (LM head, MoE) keep one double per micro-batch on the device.
  virtual bool has_loss() const { return false; }
  const double* loss_slot(int mb) const { return losses_.get() + mb; }
  // Device bytes held in saved activations and carried gradients right now.
  virtual size_t saved_bytes() const = 0;

  // Recompute and offload, as on the CPU (layers/layer.h): discard(mb) between F and B drops what F saved
  // for mb and lets F run again; for_each_saved(mb, f) visits mb's float buffers (integer routing and
  // token buffers stay on the device).
  void discard(int mb);
  virtual void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) = 0;
  size_t saved_bytes(int mb);

 protected:
  virtual void do_forward(int mb, const DeviceBatch& batch, ParamView p, const float* x, float* y) = 0;
  virtual void do_backward_input(int mb, ParamView p, const float* dy, float* dx) = 0;
  virtual void do_backward_weight(int mb, float* grads) = 0;
  virtual void drop_state(int mb) = 0;

  // Offset of tensor i in the slice, after checking its name (guards against the CPU layout changing).
  size_t offset(size_t i) const { return offsets_[i]; }
  void expect_tensor(size_t i, const std::string& name) const;
  float loss_scale() const { return 1.0f / float(num_microbatches()); }
  double* loss_slot_mut(int mb) { return losses_.get() + mb; }
  void enable_loss();
  cudaStream_t stream() const { return ctx_.stream(); }

  NetConfig cfg_;
  int tokens_;  // micro_batch * seq
  GpuContext& ctx_;

 private:
  enum class Phase : unsigned char { Idle, Forwarded, InputGradDone };
  void check_mb(int mb, const char* pass) const;
  LayerType type_;
  std::vector<ParamSpec> specs_;
  std::vector<size_t> offsets_;
  std::vector<Phase> phase_;
  DeviceBuffer<double> losses_;
};

// Builds the GPU layer of `type` over the CPU layer's `specs`.
std::unique_ptr<GpuLayer> make_gpu_layer(LayerType type, const NetConfig& cfg, int num_microbatches,
                                         std::vector<ParamSpec> specs, GpuContext& ctx);

// ---- helpers shared by the layers ------------------------------------------------------------------------

using Buf = DeviceBuffer<float>;
// A stream-ordered device copy of n floats.
Buf copy_of(GpuContext& ctx, const float* src, size_t n);
void copy_into(GpuContext& ctx, float* dst, const float* src, size_t n);
size_t bytes_of(std::initializer_list<const Buf*> bufs);

// The RMSNorm in front of a pre-norm block's body, y = x + body(rmsnorm(x) g), and of the LM head's
// projection. F: keeps a copy of x and rstd for B, and writes xn = rmsnorm(x) g, the body's input (the
// caller keeps it for W); x_saved, rstd and xn are allocated here.
void prenorm_forward(GpuContext& ctx, Buf& x_saved, Buf& rstd, Buf& xn, const float* x, const float* gain, int rows,
                     int h, float eps);
// B, once the body has produced dxn (its input gradient): dx = residual + the norm's input gradient, where
// residual is dy for a residual block and nullptr (zero) for the LM head, which has no residual path; dgain
// (allocated here, h floats) = the gain gradient, which W adds to the gradients.
void prenorm_backward_input(GpuContext& ctx, float* dx, Buf& dgain, const float* residual, const float* dxn,
                            const float* x, const float* rstd, const float* gain, int rows, int h);

// SwiGLU core (layers/swiglu.h) on caller-owned rows x f buffers a, b, u (the MoE packs its experts' rows
// into one buffer and runs each expert on its slice).
struct SwigluWeights {
  ParamView w1, w3, w2;  // gate (f x h), up (f x h), down (h x f)
};
void swiglu_forward(GpuContext& ctx, float* out, const float* x, const SwigluWeights& w, int rows, int h, int f,
                    float* a, float* b, float* u);
// dx = (or += when accumulate) the input gradient from dout; writes da, db (the W1 / W3 output gradients).
void swiglu_backward_input(GpuContext& ctx, float* dx, bool accumulate, const float* dout, const SwigluWeights& w,
                           int rows, int h, int f, const float* a, const float* b, float* da, float* db);
// dw1 += da^T x, dw3 += db^T x, dw2 += dout^T u.
void swiglu_backward_weight(GpuContext& ctx, float* dw1, float* dw3, float* dw2, const float* x, int rows, int h,
                            int f, const float* u, const float* dout, const float* da, const float* db);

}  // namespace adaptis::exec::gpu

namespace adaptis::exec::gpu {
// One factory per layer file (gpu_layer_*.cpp); make_gpu_layer dispatches to them.
std::unique_ptr<GpuLayer> make_gpu_embedding(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
std::unique_ptr<GpuLayer> make_gpu_lm_head(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
std::unique_ptr<GpuLayer> make_gpu_mlp(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
std::unique_ptr<GpuLayer> make_gpu_attention(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
std::unique_ptr<GpuLayer> make_gpu_moe(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
std::unique_ptr<GpuLayer> make_gpu_mamba(const NetConfig&, int, std::vector<ParamSpec>, GpuContext&);
}  // namespace adaptis::exec::gpu
