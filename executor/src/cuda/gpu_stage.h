#pragma once
// One pipeline stage on a GPU: a contiguous run of layers over one fp32 parameter arena (plus a bf16 shadow in
// bf16 mode), one gradient arena, per-micro-batch gradient buffers summed in micro-batch order, AdamW. The
// device-resident twin of CpuStage (stage_compute.cpp); the runtimes pass device pointers and it enqueues on
// its context's stream without synchronising (except where a method says so).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/stage_compute.h"
#include "cuda/gpu_layers.h"

namespace adaptis::exec::gpu {

class GpuStage {
 public:
  // Validates like StageCompute::create (InputError); parameters drawn on the host exactly as the CPU stage
  // draws them, then uploaded (this synchronises the stream once).
  GpuStage(const NetConfig& cfg, int first_layer, int last_layer, int num_microbatches, GpuContext& ctx);
  ~GpuStage();

  bool is_first() const;
  bool is_last() const;
  size_t activation_floats() const { return cfg_.activation_floats(); }
  int first_layer() const { return first_; }
  int last_layer() const { return last_; }
  GpuContext& context() const { return ctx_; }

  // Uploads micro-batch mb's tokens (first stage) and targets (last stage); InputError on bad ids / sizes,
  // checked on the host before anything is enqueued. Must precede forward(mb).
  void set_batch(int mb, const MicroBatchData& data);
  void forward(int mb, const float* input, float* output);
  void backward_input(int mb, const float* grad_output, float* grad_input);
  void backward_weight(int mb);
  void zero_grad();
  void finish_backward();
  void step(const AdamW& opt, int step_index);

  // Synchronise the stream, then read back.
  std::vector<double> loss_terms(int mb) const;
  std::vector<float> download_params() const;
  std::vector<float> download_grads() const;
  const std::vector<StageCompute::Tensor>& tensors() const { return tensors_; }
  size_t num_params() const { return num_params_; }
  size_t saved_bytes() const;
  // Memory policies, as StageCompute's (stage_compute.h): F drops the chosen layers' state and keeps each
  // dropped run's input on the device; recompute(mb) re-runs them (stream-ordered); for_each_saved visits
  // mb's float buffers (what an offload may move to pinned host memory).
  void set_recompute(Recompute policy, int full_end);
  void recompute(int mb);
  size_t saved_bytes(int mb);
  void for_each_saved(int mb, const std::function<void(DeviceBuffer<float>&)>& f);
  // Parameter + gradient + AdamW + per-micro-batch gradient bytes held on the device.
  size_t static_bytes() const;

 private:
  std::string where() const;
  void check_mb(int mb, const char* pass) const;
  void refresh_bf16();
  ParamView layer_params(size_t j) const;

  NetConfig cfg_;
  int first_, last_, m_;
  GpuContext& ctx_;
  size_t num_params_ = 0;
  std::vector<std::unique_ptr<GpuLayer>> layers_;
  std::vector<size_t> layer_offset_;
  std::vector<StageCompute::Tensor> tensors_;
  std::vector<char> decay_;
  DeviceBuffer<float> params_, grads_, adam_m_, adam_v_;
  DeviceBuffer<__nv_bfloat16> params16_;
  std::vector<DeviceBuffer<float>> mb_grads_;
  std::vector<char> w_done_;
  std::vector<DeviceBuffer<int32_t>> tokens_, targets_;
  DeviceBuffer<float> buf_[2];  // ping-pong activations / gradients between this stage's layers
  std::vector<char> drop_;                      // per layer: F drops its state (recompute)
  std::vector<std::pair<int, int>> runs_;       // runs of dropped layers
  std::vector<std::vector<DeviceBuffer<float>>> kept_in_;  // per micro-batch, per run: its input
};

}  // namespace adaptis::exec::gpu
