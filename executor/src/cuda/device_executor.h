#pragma once
// One pipeline device of a GPU run: its stages, the tensors it holds between instructions, a compute stream
// (with its cuBLAS handle) and a communication stream, and the CUDA events that time every instruction. It
// walks the device's lowered instruction list on the calling host thread, enqueueing work without waiting for
// the GPU; how messages move is left to a Comm (device-to-device copies between virtual devices, NCCL between
// ranks), so both GPU backends share the compute side.
//
// Timing: `begin_step` records a base event on the compute stream after it waits for the step's start event;
// every interval is measured from that base with cudaEventElapsedTime (same context, so it also works with
// green contexts). Compute and WAIT intervals are compute-stream event pairs; SEND / RECV intervals are what
// the Comm records around the transfer on the communication stream.
#include <cuda_runtime.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/runtime.h"
#include "cuda/gpu_context.h"
#include "cuda/gpu_offload.h"
#include "cuda/gpu_stage.h"

namespace adaptis::exec::gpu {

// An event created on the current thread's context, destroyed with its owner.
class Event {
 public:
  explicit Event(bool timing = true);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return ev_; }
  void record(cudaStream_t s) const;

 private:
  cudaEvent_t ev_ = nullptr;
};

class DeviceExecutor;

// How a device's SEND / POST_RECV / WAIT instructions move tensors. Called on the device's host thread.
class Comm {
 public:
  virtual ~Comm() = default;
  // `index` is the instruction's position in the device's list (for timing: see DeviceExecutor::time_comm).
  virtual void send(DeviceExecutor& dev, const Instruction& ins, int index) = 0;
  virtual void post_recv(DeviceExecutor& dev, const Instruction& ins, int index) = 0;
  virtual void wait_recv(DeviceExecutor& dev, const Instruction& ins, int index) = 0;
  // Between instructions: a chance to make progress on transfers (optional).
  virtual void progress(DeviceExecutor& dev) {}
  // After the list: release what the comm still holds for this step (called before the final sync).
  virtual void end_step(DeviceExecutor& dev) {}
};

class DeviceExecutor {
 public:
  // Builds the device's stages on `gpu` under the calling thread's current context.
  DeviceExecutor(const Program& program, int device, const NetConfig& cfg, GpuPrecision precision, int gpu);
  ~DeviceExecutor();

  int id() const { return device_; }
  const Program& program() const { return program_; }
  GpuContext& context() { return *ctx_; }
  cudaStream_t compute() const { return ctx_->stream(); }
  cudaStream_t comm() const { return comm_; }
  const std::vector<std::unique_ptr<GpuStage>>& stages() const { return stages_; }
  GpuStage* stage(int s) const;  // nullptr when stage s lives elsewhere
  // Floats of the message `t` (the consumer's activation size).
  size_t message_floats() const { return cfg_.activation_floats(); }

  // Zero the gradients (outside the timed region).
  void zero_grad();
  // Makes the compute and comm streams wait for `start` (recorded by whoever starts the step), records the
  // base event, then runs the list, then finish_backward and (optionally) the optimizer step.
  // Throws on any failure; `abort_check` is polled between instructions and throws to stop early.
  // `on_started` is called once the base event is enqueued (the caller may then release `start`).
  void run(const std::vector<MicroBatchData>& data, cudaEvent_t start, Comm& comm, const AdamW& opt, bool opt_step,
           int step_index, const std::function<void()>& abort_check, const std::function<void()>& on_started);
  // Waits for both streams.
  void synchronize();
  // After synchronize(): intervals in ns from the base event.
  std::vector<Interval> intervals() const;
  Interval optimizer_interval() const;
  size_t peak_bytes() const { return peak_bytes_; }

  // Tensors held between instructions.
  float* create(const TensorTag& t, size_t floats, cudaStream_t alloc_stream);
  float* get(const TensorTag& t, const char* what) const;
  DeviceBuffer<float> take(const TensorTag& t);
  void release(const TensorTag& t);
  void put(const TensorTag& t, DeviceBuffer<float> buf);
  // Comm instructions time themselves with a pair of events on the comm stream (recorded by the Comm).
  void time_comm(int index, const Event* start, const Event* end);
  int current_instruction() const { return current_; }

 private:
  void account();

  const Program& program_;
  int device_;
  NetConfig cfg_;
  std::unique_ptr<GpuContext> ctx_;
  cudaStream_t comm_ = nullptr;
  std::vector<std::unique_ptr<GpuStage>> stages_;
  std::map<int, GpuStage*> by_stage_;
  std::map<TensorTag, DeviceBuffer<float>> store_;
  size_t store_bytes_ = 0, peak_bytes_ = 0;
  std::unique_ptr<Event> base_, opt_start_, opt_end_;
  std::vector<std::unique_ptr<Event>> start_, end_;       // per instruction, compute stream
  std::vector<const Event*> comm_start_, comm_end_;       // per instruction, when the Comm timed it
  int current_ = -1;
  std::unique_ptr<GpuHostOffload> offload_;  // when a stage of this device offloads (Program::memory)
};

}  // namespace adaptis::exec::gpu
