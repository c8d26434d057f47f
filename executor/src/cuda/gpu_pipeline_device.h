#pragma once
// One pipeline device of a GPU run, as the executor's interpreter drives it (interpreter.h): its stages, the
// tensors it holds between instructions (device buffers, so it is its own TensorStore), a compute stream (with
// its cuBLAS handle) and a communication stream, and the CUDA events that time every instruction. The
// interpreter runs on the calling host thread and only enqueues work, never waiting for the GPU; how messages
// move is the transport's (device-to-device copies between virtual devices, NCCL between ranks), which reaches
// the streams through this class.
//
// Timing: begin_step makes both streams wait for the step's start event (recorded by whoever starts the step)
// and records a base event on the compute stream; every interval is measured from that base with
// cudaEventElapsedTime (same context, so it also works with green contexts). Compute and WAIT intervals are
// compute-stream event pairs; SEND / RECV intervals are what the transport records around the transfer on the
// communication stream (time_comm).
#include <cuda_runtime.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/transport.h"
#include "cuda/gpu_context.h"
#include "cuda/gpu_event.h"
#include "cuda/gpu_offload.h"
#include "cuda/gpu_stage.h"
#include "interpreter.h"

namespace adaptis::exec::gpu {

class GpuPipelineDevice final : public ExecDevice, public TensorStore {
 public:
  // Builds the device's stages on `gpu` under the calling thread's current context.
  GpuPipelineDevice(const Program& program, int device, const NetConfig& cfg, GpuPrecision precision, int gpu);
  ~GpuPipelineDevice() override;

  int id() const { return device_; }
  cudaStream_t compute() const { return ctx_->stream(); }
  cudaStream_t comm() const { return comm_; }
  GpuStage* stage(int s) const;  // nullptr when stage s lives elsewhere
  const std::vector<std::unique_ptr<GpuStage>>& stages() const { return stages_; }
  // Set before each step by whoever starts it: both streams wait for this event in begin_step.
  void set_step_start(cudaEvent_t start) { step_start_ = start; }

  // TensorStore: buffers allocated on the compute stream, freed in stream order.
  std::span<float> create(const TensorTag& t, size_t floats) override;
  std::span<float> get(const TensorTag& t, const char* what) override;
  void release(const TensorTag& t) override;
  size_t bytes() const override { return store_bytes_; }
  // What the transports move between devices: the buffer itself.
  DeviceBuffer<float> take(const TensorTag& t);
  void put(const TensorTag& t, DeviceBuffer<float> buf);
  // A transfer's events on the comm stream stand for instruction `index`'s interval (recorded by the transport).
  void time_comm(int index, const Event* start, const Event* end);
  int current_instruction() const { return current_; }

  // ExecDevice.
  TensorStore& store() override { return *this; }
  bool holds(int s) const override { return stage(s) != nullptr; }
  size_t activation_floats(int s) const override;
  void forward(int s, int mb, const MicroBatchData& data, const float* input, float* output) override;
  void backward_input(int s, int mb, const MicroBatchData& data, const float* grad_output, float* grad_input) override;
  void backward_weight(int s, int mb) override;
  size_t saved_bytes() const override;
  // Memory policies: R on the compute stream; offload / reload through the copy streams and pinned host
  // memory of GpuHostOffload (when a stage of this device offloads).
  void recompute(int s, int mb, const MicroBatchData& data) override;
  void offload(int s, int mb) override;
  void reload(int s, int mb) override;
  void wait_reload(int s, int mb) override;
  void zero_grad() override;
  void finish_backward() override;
  void optimizer_step(const AdamW& opt, int step_index) override;
  std::vector<double> loss_terms(int s, int mb) const override;
  void begin_step(size_t num_instructions) override;
  void instruction_started(size_t index) override;
  void instruction_ended(size_t index) override;
  void epilogue_started() override;
  void epilogue_ended() override;
  void synchronize() override;  // waits for both streams
  std::vector<Interval> intervals() const override;
  Interval epilogue_interval() const override;

 private:
  GpuStage& at(int s) const;

  int device_;
  std::unique_ptr<GpuContext> ctx_;
  cudaStream_t comm_ = nullptr;
  cudaEvent_t step_start_ = nullptr;
  std::vector<std::unique_ptr<GpuStage>> stages_;
  std::map<int, GpuStage*> by_stage_;
  std::map<TensorTag, DeviceBuffer<float>> store_;
  size_t store_bytes_ = 0;
  std::unique_ptr<Event> base_, opt_start_, opt_end_;
  std::vector<std::unique_ptr<Event>> start_, end_;  // per instruction, compute stream
  std::vector<const Event*> comm_start_, comm_end_;  // per instruction, when the transport timed it
  int current_ = -1;
  std::vector<double> offload_fraction_;       // per global stage (Program::memory), empty without policies
  std::unique_ptr<GpuHostOffload> offload_;  // when a stage of this device offloads
};

}  // namespace adaptis::exec::gpu
