// GpuStage (gpu_stage.h) and the host-buffer StageCompute adapter behind make_gpu_stage (gpu.h).
#include "cuda/gpu_stage.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/model/error.h"
#include "cuda/green_context.h"
#include "cuda/ops.h"

namespace adaptis::exec::gpu {

GpuStage::GpuStage(const NetConfig& cfg, int first, int last, int m, GpuContext& ctx)
    : cfg_(cfg), first_(first), last_(last), m_(m), ctx_(ctx) {
  validate_net_config(cfg, "model '" + cfg.name + "'");
  if (first < 0 || last > cfg.num_layers() || first >= last)
    throw InputError("model '" + cfg.name + "': stage layer range [" + std::to_string(first) + ", " +
                     std::to_string(last) + ") is not a non-empty range within [0, " +
                     std::to_string(cfg.num_layers()) + ")");
  if (m < 1) throw InputError("model '" + cfg.name + "': num_microbatches must be >= 1, got " + std::to_string(m));
  const cudaStream_t s = ctx.stream();

  // The CPU layers define the parameter layout and draw the initial values (same seeds, same order).
  std::vector<float> host;
  for (int li = first; li < last; ++li) {
    auto cpu = make_layer<float>(cfg.layers[li], cfg, 1);
    layer_offset_.push_back(num_params_);
    for (const ParamSpec& spec : cpu->param_specs()) {
      tensors_.push_back(StageCompute::Tensor{"layers." + std::to_string(li) + "." +
                                                  layer_param_prefix(cfg.layers[li]) + "." + spec.name,
                                              num_params_, spec.size()});
      decay_.push_back(spec.decay ? 1 : 0);
      num_params_ += spec.size();
    }
    host.resize(num_params_);
    Rng rng(layer_seed(cfg.seed, li));
    cpu->init_params(host.data() + layer_offset_.back(), rng);
    layers_.push_back(make_gpu_layer(cfg.layers[li], cfg, m, cpu->param_specs(), ctx));
  }
  params_.allocate(num_params_, s);
  ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(params_.get(), host.data(), num_params_ * sizeof(float), cudaMemcpyHostToDevice, s));
  grads_.zeros(num_params_, s);
  adam_m_.zeros(num_params_, s);
  adam_v_.zeros(num_params_, s);
  if (ctx.bf16()) {
    params16_.allocate(num_params_, s);
    refresh_bf16();
  }
  mb_grads_.resize(size_t(m));
  w_done_.assign(size_t(m), 0);
  tokens_.resize(size_t(m));
  targets_.resize(size_t(m));
  buf_[0].allocate(cfg.activation_floats(), s);
  buf_[1].allocate(cfg.activation_floats(), s);
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(s));  // `host` is freed when this returns
}

GpuStage::~GpuStage() = default;

bool GpuStage::is_first() const { return cfg_.layers[first_] == LayerType::Embedding; }
bool GpuStage::is_last() const { return cfg_.layers[last_ - 1] == LayerType::LmHead; }

std::string GpuStage::where() const {
  return "GPU stage [" + std::to_string(first_) + ", " + std::to_string(last_) + ")";
}

void GpuStage::check_mb(int mb, const char* pass) const {
  if (mb < 0 || mb >= m_)
    throw std::logic_error(where() + ": " + pass + " of micro-batch " + std::to_string(mb) + " out of range [0, " +
                           std::to_string(m_) + ")");
}

ParamView GpuStage::layer_params(size_t j) const {
  ParamView p{params_.get(), ctx_.bf16() ? params16_.get() : nullptr};
  return p.at(layer_offset_[j]);
}

void GpuStage::refresh_bf16() {
  if (ctx_.bf16()) to_bf16(ctx_.stream(), params16_.get(), params_.get(), num_params_);
}

void GpuStage::set_batch(int mb, const MicroBatchData& data) {
  check_mb(mb, "set_batch");
  const size_t n = size_t(cfg_.micro_batch) * cfg_.seq;
  auto upload = [&](const std::vector<int32_t>& ids, DeviceBuffer<int32_t>& dst, const char* what) {
    if (ids.size() != n)
      throw InputError("micro-batch " + std::to_string(mb) + ": " + std::to_string(ids.size()) + " " + what +
                       ", expected micro_batch * seq = " + std::to_string(n));
    for (size_t t = 0; t < n; ++t)
      if (ids[t] < 0 || ids[t] >= cfg_.vocab)
        throw InputError("micro-batch " + std::to_string(mb) + ": " + std::string(what).substr(0, 6) + " id " +
                         std::to_string(ids[t]) + " at position " + std::to_string(t) +
                         " outside the vocabulary [0, " + std::to_string(cfg_.vocab) + ")");
    if (dst.size() != n) dst.allocate(n, ctx_.stream());
    // Pageable source: the copy is staged before this returns, so `data` need not outlive it.
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(dst.get(), ids.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice,
                                       ctx_.stream()));
  };
  if (is_first()) upload(data.tokens, tokens_[mb], "tokens");
  if (is_last()) upload(data.targets, targets_[mb], "targets");
}

void GpuStage::forward(int mb, const float* input, float* output) {
  check_mb(mb, "F");
  if (!is_first() && input == nullptr) throw std::logic_error(where() + ": F needs an input buffer");
  if (!is_last() && output == nullptr) throw std::logic_error(where() + ": F needs an output buffer");
  if ((is_first() && tokens_[mb].empty()) || (is_last() && targets_[mb].empty()))
    throw std::logic_error(where() + ": F of micro-batch " + std::to_string(mb) + " before set_batch");
  const DeviceBatch batch{tokens_[mb].get(), targets_[mb].get()};
  const float* in = input;
  const int count = static_cast<int>(layers_.size());
  size_t run = 0;
  for (int j = 0; j < count; ++j) {
    float* out = j + 1 == count ? output : buf_[j % 2].get();
    const bool dropped = !drop_.empty() && drop_[j];
    if (dropped && run < runs_.size() && runs_[run].first == j && in != nullptr)
      kept_in_[mb][run] = copy_of(ctx_, in, activation_floats());
    layers_[j]->forward(mb, batch, layer_params(size_t(j)), in, out);
    if (dropped) layers_[j]->discard(mb);
    if (dropped && run < runs_.size() && runs_[run].second == j + 1) ++run;
    in = out;
  }
}

void GpuStage::set_recompute(Recompute policy, int full_end) {
  DroppedLayers d = dropped_layers(cfg_, first_, last_, policy, full_end);  // the CPU stage's rule
  drop_ = std::move(d.drop);
  runs_ = std::move(d.runs);
  kept_in_.clear();
  kept_in_.resize(size_t(m_));
  for (auto& v : kept_in_) v.resize(runs_.size());
}

void GpuStage::recompute(int mb) {
  check_mb(mb, "R");
  const DeviceBatch batch{tokens_[mb].get(), targets_[mb].get()};
  for (size_t r = 0; r < runs_.size(); ++r) {
    const auto [j0, j1] = runs_[r];
    const float* in = j0 == 0 && is_first() ? nullptr : kept_in_[mb][r].get();
    for (int j = j0; j < j1; ++j) {
      float* out = buf_[j % 2].get();
      layers_[j]->forward(mb, batch, layer_params(size_t(j)), in, out);
      in = out;
    }
    kept_in_[mb][r].reset();
  }
}

size_t GpuStage::saved_bytes(int mb) {
  size_t n = 0;
  for (auto& layer : layers_) n += layer->saved_bytes(mb);
  if (!kept_in_.empty())
    for (const auto& b : kept_in_[mb]) n += b.bytes();
  return n;
}

void GpuStage::for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f) {
  if (!kept_in_.empty())
    for (auto& b : kept_in_[mb]) f(b);
  for (auto& layer : layers_) layer->for_each_saved(mb, f);
}

void GpuStage::backward_input(int mb, const float* grad_output, float* grad_input) {
  check_mb(mb, "B");
  if (!is_last() && grad_output == nullptr) throw std::logic_error(where() + ": B needs an output gradient");
  if (!is_first() && grad_input == nullptr) throw std::logic_error(where() + ": B needs an input-gradient buffer");
  const float* dy = grad_output;
  for (int j = static_cast<int>(layers_.size()) - 1; j >= 0; --j) {
    float* dx = j == 0 ? grad_input : buf_[j % 2].get();
    layers_[j]->backward_input(mb, layer_params(size_t(j)), dy, dx);
    dy = dx;
  }
}

void GpuStage::backward_weight(int mb) {
  check_mb(mb, "W");
  DeviceBuffer<float>& g = mb_grads_[mb];
  if (g.empty()) g.allocate(num_params_, ctx_.stream());
  ADAPTIS_CUDA_CHECK(cudaMemsetAsync(g.get(), 0, g.bytes(), ctx_.stream()));
  for (size_t j = 0; j < layers_.size(); ++j) layers_[j]->backward_weight(mb, g.get() + layer_offset_[j]);
  w_done_[mb] = 1;
}

void GpuStage::zero_grad() {
  ADAPTIS_CUDA_CHECK(cudaMemsetAsync(grads_.get(), 0, grads_.bytes(), ctx_.stream()));
  std::fill(w_done_.begin(), w_done_.end(), 0);
}

void GpuStage::finish_backward() {
  for (int mb = 0; mb < m_; ++mb)
    if (!w_done_[mb])
      throw std::logic_error(where() + ": finish_backward before W of micro-batch " + std::to_string(mb));
  for (int mb = 0; mb < m_; ++mb) {
    add_inplace(ctx_.stream(), grads_.get(), mb_grads_[mb].get(), num_params_);
    w_done_[mb] = 0;
  }
}

void GpuStage::step(const AdamW& opt, int step_index) {
  if (step_index < 0) throw std::logic_error(where() + ": step_index must be >= 0");
  const double t = double(step_index) + 1.0;
  const float c1 = float(1.0 - std::pow(double(opt.beta1), t));
  const float c2 = float(1.0 - std::pow(double(opt.beta2), t));
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const float wd = decay_[k] ? opt.weight_decay : 0.0f;
    const size_t off = tensors_[k].offset;
    adamw(ctx_.stream(), params_.get() + off, adam_m_.get() + off, adam_v_.get() + off, grads_.get() + off,
          tensors_[k].size, opt.lr, opt.beta1, opt.beta2, opt.eps, wd, c1, c2);
  }
  refresh_bf16();
}

std::vector<double> GpuStage::loss_terms(int mb) const {
  check_mb(mb, "loss");
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  std::vector<double> terms;
  for (const auto& layer : layers_)
    if (layer->has_loss()) {
      double v = 0;
      ADAPTIS_CUDA_CHECK(cudaMemcpy(&v, layer->loss_slot(mb), sizeof(double), cudaMemcpyDeviceToHost));
      terms.push_back(v);
    }
  return terms;
}

std::vector<float> GpuStage::download_params() const {
  std::vector<float> out(num_params_);
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  ADAPTIS_CUDA_CHECK(cudaMemcpy(out.data(), params_.get(), num_params_ * sizeof(float), cudaMemcpyDeviceToHost));
  return out;
}

std::vector<float> GpuStage::download_grads() const {
  std::vector<float> out(num_params_);
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream()));
  ADAPTIS_CUDA_CHECK(cudaMemcpy(out.data(), grads_.get(), num_params_ * sizeof(float), cudaMemcpyDeviceToHost));
  return out;
}

size_t GpuStage::saved_bytes() const {
  size_t n = 0;
  for (const auto& layer : layers_) n += layer->saved_bytes();
  for (const auto& per_mb : kept_in_)
    for (const auto& b : per_mb) n += b.bytes();
  return n;
}

size_t GpuStage::static_bytes() const {
  size_t n = params_.bytes() + params16_.bytes() + grads_.bytes() + adam_m_.bytes() + adam_v_.bytes();
  for (const auto& g : mb_grads_) n += g.bytes();
  return n;
}

namespace {

// StageCompute over a GpuStage with host buffers in and out (gpu.h make_gpu_stage). Each call copies its
// inputs up, runs, copies its outputs down and synchronises: meant for checks against the CPU, not speed.
class HostGpuStage final : public StageCompute {
 public:
  HostGpuStage(const NetConfig& cfg, int first, int last, int m, const GpuStageOptions& opt)
      : ctx_(opt.device, opt.precision), stage_(cfg, first, last, m, ctx_) {
    const size_t n = stage_.activation_floats();
    in_.allocate(n, ctx_.stream());
    out_.allocate(n, ctx_.stream());
  }

  bool is_first() const override { return stage_.is_first(); }
  bool is_last() const override { return stage_.is_last(); }
  size_t activation_floats() const override { return stage_.activation_floats(); }

  void forward(int mb, const MicroBatchData& data, const float* input, float* output) override {
    stage_.set_batch(mb, data);
    if (!is_first() && input) upload(in_.get(), input);
    stage_.forward(mb, is_first() ? nullptr : (input ? in_.get() : nullptr), is_last() ? nullptr : (output ? out_.get() : nullptr));
    if (!is_last() && output) download(output, out_.get());
    sync();
  }
  void backward_input(int mb, const MicroBatchData&, const float* grad_output, float* grad_input) override {
    if (!is_last() && grad_output) upload(in_.get(), grad_output);
    stage_.backward_input(mb, is_last() ? nullptr : (grad_output ? in_.get() : nullptr),
                          is_first() ? nullptr : (grad_input ? out_.get() : nullptr));
    if (!is_first() && grad_input) download(grad_input, out_.get());
    sync();
  }
  void backward_weight(int mb) override {
    stage_.backward_weight(mb);
    sync();
  }
  double loss(int mb) const override {
    double total = 0;
    for (double t : loss_terms(mb)) total += t;
    return total;
  }
  std::vector<double> loss_terms(int mb) const override { return stage_.loss_terms(mb); }
  void zero_grad() override { stage_.zero_grad(); }
  void finish_backward() override {
    stage_.finish_backward();
    sync();
  }
  void step(const AdamW& opt, int step_index) override {
    stage_.step(opt, step_index);
    sync();
  }
  std::span<const float> params() const override {
    params_host_ = stage_.download_params();
    return params_host_;
  }
  std::span<const float> grads() const override {
    grads_host_ = stage_.download_grads();
    return grads_host_;
  }
  const std::vector<Tensor>& tensors() const override { return stage_.tensors(); }
  size_t saved_bytes() const override { return stage_.saved_bytes(); }

 private:
  void upload(float* dst, const float* src) {
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(dst, src, stage_.activation_floats() * sizeof(float), cudaMemcpyHostToDevice,
                                       ctx_.stream()));
  }
  void download(float* dst, const float* src) {
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(dst, src, stage_.activation_floats() * sizeof(float), cudaMemcpyDeviceToHost,
                                       ctx_.stream()));
  }
  void sync() { ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream())); }

  GpuContext ctx_;
  GpuStage stage_;
  DeviceBuffer<float> in_, out_;
  mutable std::vector<float> params_host_, grads_host_;
};

}  // namespace

}  // namespace adaptis::exec::gpu

namespace adaptis::exec {

std::unique_ptr<StageCompute> make_gpu_stage(const NetConfig& cfg, int first_layer, int last_layer,
                                             int num_microbatches, const GpuStageOptions& opt) {
  require_gpu("GPU stage");
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || opt.device < 0 || opt.device >= count)
    throw InputError("gpu", "device " + std::to_string(opt.device) + " does not exist (" + std::to_string(count) +
                     " CUDA devices)");
  return std::make_unique<gpu::HostGpuStage>(cfg, first_layer, last_layer, num_microbatches, opt);
}

StageFactory gpu_stage_factory(const NetConfig& cfg, const GpuStageOptions& opt) {
  require_gpu("GPU stage");
  return [cfg, opt](int first, int last, int m) { return make_gpu_stage(cfg, first, last, m, opt); };
}

}  // namespace adaptis::exec
