#pragma once
// The executor's one interpreter: what a pipeline device does with its lowered instruction list, whatever it
// runs on. A backend supplies the device (ExecDevice: its stages' math, its tensor store, its clock) and the
// communication (Transport); the interpreter walks the list, moves tensors between the store and the stages,
// hands messages to the transport, times every instruction through the device's clock, tracks the most bytes
// held, and runs the epilogue (gradient reduction and optimizer step).
//
// CPU device threads (runtime.cpp), GPU virtual devices (cuda/virtual_runtime.cpp) and NCCL ranks
// (cuda/nccl_runtime.cpp) all run their lists through run_device_list; the first two also share the
// threaded driver (device_threads.h) with its start barrier and watchdog.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/executor/transport.h"

namespace adaptis::exec {

// The host's steady clock as ns since an origin shared by the devices of one runtime (CPU devices time their
// instructions on it; the threaded driver takes the step's start from it).
struct HostClock {
  std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin).count();
  }
};

// One pipeline device as the interpreter drives it. Called only from the device's own thread.
class ExecDevice {
 public:
  virtual ~ExecDevice() = default;

  virtual TensorStore& store() = 0;

  // The math of the stages this device holds (stage numbers are global); std::logic_error for a stage that
  // lives elsewhere.
  virtual bool holds(int stage) const = 0;
  virtual size_t activation_floats(int stage) const = 0;
  virtual void forward(int stage, int mb, const MicroBatchData& data, const float* input, float* output) = 0;
  virtual void backward_input(int stage, int mb, const MicroBatchData& data, const float* grad_output,
                              float* grad_input) = 0;
  virtual void backward_weight(int stage, int mb) = 0;
  virtual size_t saved_bytes() const = 0;  // saved activations of all its stages, right now

  // Memory policies (Program::memory): R re-creates what F dropped; OFFLOAD / RELOAD move a kept micro-batch's
  // activations to host memory and back, WAIT_RELOAD blocks until they are back. A device that cannot do them
  // refuses with std::logic_error (the lowering only emits them for policies the plan asks for).
  virtual void recompute(int stage, int mb, const MicroBatchData& data);
  virtual void offload(int stage, int mb);
  virtual void reload(int stage, int mb);
  virtual void wait_reload(int stage, int mb);
  // The step failed or was aborted: copies in flight stop (their waiters throw).
  virtual void abort_copies() {}
  // This step's most bytes of saved activations alone (0 when the device does not track them) and the bytes
  // it moved to host memory.
  virtual size_t peak_saved_bytes() const { return 0; }
  virtual int64_t offloaded_bytes() const { return 0; }
  virtual void zero_grad() = 0;
  virtual void finish_backward() = 0;
  virtual void optimizer_step(const AdamW& opt, int step_index) = 0;
  // Stage s's share of micro-batch mb's loss, one term per loss-producing layer (valid after the step).
  virtual std::vector<double> loss_terms(int stage, int mb) const = 0;

  // The clock: one interval per instruction and one for the epilogue. begin_step runs first (a GPU lines
  // its streams up behind the step's start there), synchronize last (a GPU waits for its streams); the
  // intervals are read after it.
  virtual void begin_step(size_t num_instructions) = 0;
  virtual void instruction_started(size_t index) = 0;
  virtual void instruction_ended(size_t index) = 0;
  virtual void epilogue_started() = 0;
  virtual void epilogue_ended() = 0;
  virtual void synchronize() {}
  virtual std::vector<Interval> intervals() const = 0;
  virtual Interval epilogue_interval() const = 0;
};

// What a device is doing, for the watchdog and for error messages (read from other threads).
enum class DeviceState : int { Idle, Computing, Communicating, Waiting, Epilogue, Done };
const char* device_state_name(DeviceState s);

struct DeviceStatus {
  std::atomic<int> state{static_cast<int>(DeviceState::Idle)};
  std::atomic<int> current{-1};  // index of the instruction being run; -1 outside the list
  void set(DeviceState s) { state.store(static_cast<int>(s), std::memory_order_relaxed); }
  DeviceState get() const { return static_cast<DeviceState>(state.load(std::memory_order_relaxed)); }
};

// One device's share of a step's result.
struct DeviceStepOutput {
  std::vector<Interval> intervals;  // one per instruction, in list order
  Interval optimizer;               // finish_backward + optimizer step
  size_t peak_bytes = 0;            // most bytes held at once: tensors in the store + saved activations
  size_t peak_saved_bytes = 0;      // most bytes of saved activations alone (ExecDevice::peak_saved_bytes)
  int64_t offloaded_bytes = 0;      // moved to host memory
  std::map<int, std::vector<std::vector<double>>> loss_terms;  // stage -> mb -> terms
};

struct StepSettings {
  int step = 0;
  const std::vector<MicroBatchData>* data = nullptr;  // one per micro-batch
  AdamW optimizer;
  bool optimizer_step = true;
  // Called (optional) on the device's thread once its step has begun (its clock's begin_step is done).
  std::function<void(int device)> begun;
};

// Runs device `device`'s list of `program` on `dev`, then its epilogue, then synchronizes it. `status` follows
// the instruction being run; `progress` (optional) counts completed instructions. Throws TransportAborted when
// the transport was aborted (another device failed, or the watchdog fired), anything else when this device
// failed (status.current then names the instruction, -1 = the epilogue).
DeviceStepOutput run_device_list(const Program& program, int device, ExecDevice& dev, Transport& transport,
                                 const StepSettings& settings, DeviceStatus& status,
                                 std::atomic<uint64_t>* progress = nullptr);

// "at #3 'F s0 mb2'" for the instruction `status` names, "in the optimizer step" otherwise.
std::string failure_site(const Program& program, int device, int current);

// The step's per-micro-batch losses and their mean from every device's terms: stage by stage in stage order
// (= global layer order), as microbatch_loss adds them, so a pipeline's loss is bitwise a single stage's.
void gather_losses(const Program& program, const std::vector<DeviceStepOutput>& outputs, StepResult& r);

}  // namespace adaptis::exec
