#pragma once
// The threaded driver shared by every backend whose devices are driven from host threads of this process (CPU
// device threads, GPU virtual devices): one persistent thread per device builds its ExecDevice there (so its
// memory, and a GPU's context, belong to that thread) and runs its list through run_device_list each step.
//
// A step: every thread zeroes its gradients, then waits at a barrier; all are released together. A StepGate
// (optional) lines the devices' own timelines up: a GPU backend holds its devices' streams behind one start
// event until every device has begun its step.
//
// The watchdog: when no device completes an instruction for `watchdog_ms` and no device is busy (computing,
// communicating or in its epilogue), the step is stuck (a wait that can never be satisfied). The driver then
// aborts the transport, which wakes every waiter, and throws ExecutionError naming each device's waiting
// instruction and the transport's pending messages. It never hangs. A device that fails aborts the transport
// too, so the others stop at once; the error names the device and the instruction.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "interpreter.h"

namespace adaptis::exec {

// Lines the devices' timelines up at the start of a step (main thread only).
class StepGate {
 public:
  virtual ~StepGate() = default;
  virtual void before_release() {}  // every device is ready; they are about to begin their step
  virtual void all_begun() {}       // every device has begun its step (or failed to)
  virtual void after_step() {}      // every device has finished (or failed)
  // The step's start on the devices' clocks, given the host's clock when the devices were released.
  virtual int64_t start_ns(int64_t released_ns) const { return released_ns; }
};

class DeviceThreads {
 public:
  // Builds device d with make_device(d) on its own thread (then attaches its store to `transport`). Throws
  // ExecutionError naming every device that could not be built. `name` prefixes messages ("executor").
  using DeviceFactory = std::function<std::unique_ptr<ExecDevice>(int device)>;
  DeviceThreads(const Program& program, DeviceFactory make_device, Transport& transport, double watchdog_ms,
                std::string name, const HostClock& clock, StepGate* gate = nullptr);
  ~DeviceThreads();  // joins the threads; each destroys its device on its own thread
  DeviceThreads(const DeviceThreads&) = delete;
  DeviceThreads& operator=(const DeviceThreads&) = delete;

  // One step on every device. ExecutionError when a device fails or the step is stuck; the driver is then
  // unusable (later calls throw).
  StepResult run_step(int step, const DataSource& data, const AdamW& optimizer, bool optimizer_step);

  ExecDevice& device(int d) const;

 private:
  struct Slot;
  void worker(int d);
  void stop();

  const Program& program_;
  DeviceFactory make_device_;
  Transport& transport_;
  double watchdog_ms_;
  std::string name_;
  const HostClock& clock_;
  StepGate* gate_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bool broken_ = false;

  // Shared with the threads; `mu` guards every plain field.
  std::mutex mu_;
  std::condition_variable to_workers_, to_main_;
  bool shutdown_ = false;
  int built_ = 0, ready_ = 0, begun_ = 0, finished_ = 0;
  uint64_t generation_ = 0;     // one per run_step
  uint64_t go_generation_ = 0;  // set when every device is ready: the step starts
  StepSettings settings_;
  std::atomic<uint64_t> progress_{0};
};

}  // namespace adaptis::exec
