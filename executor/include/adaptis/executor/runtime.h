#pragma once
// The pipeline runtime on CPU threads: one thread per device, each holding its stages (parameters, gradients,
// saved activations) and walking its own lowered instruction list through the executor's one interpreter
// (the same one the GPU backends run); tensors move through a Transport. Every instruction's start and end is
// measured on one steady clock shared by all threads.
//
// A watchdog guards every iteration: when no device completes an instruction for `watchdog_ms` and no
// device is inside a compute, the run is stuck (a wait that can never be satisfied). The runtime then
// aborts the transport, which wakes every waiter, and throws ExecutionError naming each device's
// waiting instruction. It never hangs.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/stage_compute.h"
#include "adaptis/executor/transport.h"

namespace adaptis::exec {

class DeviceThreads;  // the threaded driver (executor/src/device_threads.h)
struct HostClock;

// Builds the StageCompute for layers [first_layer, last_layer). Called on the owning device's thread
// (so its memory is first touched there); must be safe to call from several threads at once.
using StageFactory =
    std::function<std::unique_ptr<StageCompute>(int first_layer, int last_layer, int num_microbatches)>;
// The real layer math (StageCompute::create over `cfg`).
StageFactory real_stage_factory(const NetConfig& cfg);

// Micro-batch `mb` of iteration `step`.
using DataSource = std::function<MicroBatchData(int step, int mb)>;
// make_microbatch over `cfg` and `corpus` (empty corpus = synthetic tokens).
DataSource model_data(const NetConfig& cfg, std::vector<int32_t> corpus = {});
// Variable-length plans: micro-batch u is unit u packed (make_unit_microbatch), weighted by
// unit_loss_weights. Checks the units first (check_units_runnable: InputError naming units[i]).
DataSource unit_data(const NetConfig& cfg, std::vector<int32_t> corpus, std::vector<WorkUnit> units);

class ExecutionError : public std::runtime_error {
 public:
  explicit ExecutionError(const std::string& what) : std::runtime_error(what) {}
};

struct RuntimeOptions {
  AdamW optimizer;
  bool optimizer_step = true;  // apply AdamW after each iteration's backward
  double watchdog_ms = 10000;  // no progress (and nobody computing) this long = stuck
  bool check_program = true;   // refuse programs check_program rejects (tests turn it off to see the watchdog)
  // Activation offload (Program::memory): the host link each device's copy threads pace their copies to
  // (cpu_thread_cluster gives the simulator the same figures).
  double host_bandwidth_gbs = 10.0;
  double host_latency_ms = 0.01;
};

// One measured instruction: [start_ns, end_ns) relative to the runtime's clock origin, and the CPU time its
// thread actually got meanwhile (user + system). cpu_ns below end_ns - start_ns means the thread was not
// running part of the time: blocked in a wait, or preempted by other threads on a busy machine.
struct Interval {
  int64_t start_ns = 0, end_ns = 0;
  int64_t cpu_ns = 0;
};

// CPU time consumed by the calling thread so far (CLOCK_THREAD_CPUTIME_ID), in ns.
int64_t thread_cpu_ns();

struct StepResult {
  int step = 0;
  double loss = 0;                  // mean of the micro-batch losses, summed in micro-batch order
  std::vector<double> mb_losses;
  int64_t start_ns = 0;             // iteration start (all devices released together)
  int64_t pipeline_end_ns = 0;      // last instruction end over all devices
  int64_t end_ns = 0;               // after every device's gradient reduction and optimizer step
  // Per device, one interval per instruction of its list, in list order.
  std::vector<std::vector<Interval>> intervals;
  // Per device: finish_backward + optimizer step of its stages (empty interval when it holds none).
  std::vector<Interval> optimizer;
  // Per device: the most bytes held at once in saved activations and pipeline buffers.
  std::vector<size_t> peak_activation_bytes;
  // Per device: the most bytes held at once in saved activations alone (what F kept, what R re-created, what
  // came back from host memory; not pipeline buffers): what the simulator's peak activation predicts.
  std::vector<size_t> peak_saved_bytes;
  std::vector<int64_t> offloaded_bytes;  // per device: moved to host memory this iteration

  double iteration_ms() const { return static_cast<double>(pipeline_end_ns - start_ns) * 1e-6; }
  double step_ms() const { return static_cast<double>(end_ns - start_ns) * 1e-6; }
};

struct NamedTensor {
  std::string name;
  std::span<const float> data;
};

class HostOffload;

class PipelineRuntime {
 public:
  // Starts one thread per device and builds its stages with `make_stage`. Throws InputError when
  // `check_program` is on and the program is not runnable, ExecutionError when a stage cannot be built.
  PipelineRuntime(Program program, StageFactory make_stage, std::unique_ptr<Transport> transport,
                  RuntimeOptions options = {});
  ~PipelineRuntime();
  PipelineRuntime(const PipelineRuntime&) = delete;
  PipelineRuntime& operator=(const PipelineRuntime&) = delete;

  // One training iteration: zero grads, run every device's list, reduce per-micro-batch gradients in
  // micro-batch order, optimizer step. Throws ExecutionError when a device fails or the run is stuck; the
  // runtime is then unusable (later calls throw).
  StepResult run_step(int step, const DataSource& data);

  const Program& program() const { return program_; }
  const Transport& transport() const { return *transport_; }
  int num_stages() const { return program_.num_stages(); }
  const StageCompute& stage(int s) const;
  // Gradients (valid after run_step) and parameters of every stage, in stage order, each tensor named.
  std::vector<NamedTensor> grads() const;
  std::vector<NamedTensor> params() const;

 private:
  Program program_;
  std::unique_ptr<Transport> transport_;
  RuntimeOptions opt_;
  std::unique_ptr<HostClock> clock_;
  std::unique_ptr<DeviceThreads> threads_;  // declared last: its threads go before the transport and clock
  std::vector<StageCompute*> stages_;       // stage -> its compute (owned by its device)
};

// FNV-1a over the bit patterns of every value, tensor names included, in order: equal checksums mean
// bitwise-equal tensors. Printed as 16 hex digits.
uint64_t tensor_checksum(const std::vector<NamedTensor>& tensors);
std::string checksum_hex(uint64_t checksum);

}  // namespace adaptis::exec
