#pragma once
// One recorded execution of a plan, shared by `adaptis run` and the calibration benchmark:
//   1. the performance model's prediction for the plan (simulate with the given costs and cluster), kept as
//      the run's predicted timeline;
//   2. T iterations on a backend (CPU threads today; CUDA / NCCL adapters implement the same RunBackend),
//      each recorded into the run store as soon as it completes, so a run killed midway keeps its steps;
//   3. the run finished as complete, or as failed with the error (which is then rethrown).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adaptis/executor/run_store.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/error.h"
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis::exec {

// What executes a lowered Program, one iteration at a time.
class RunBackend {
 public:
  virtual ~RunBackend() = default;
  virtual std::string name() const = 0;               // "cpu", "cuda", "nccl"
  virtual std::string device_name(int device) const = 0;  // e.g. "cpu-thread-2"
  virtual StepResult run_step(int step, const DataSource& data) = 0;
  virtual std::vector<NamedTensor> grads() const = 0;  // after run_step
  virtual std::vector<NamedTensor> params() const = 0;
};

// The CPU backend: PipelineRuntime over the real layers, one thread per device, mailbox transport.
// `program` counts the executor's layers (map_program_layers first when the plan counts spec layers).
std::unique_ptr<RunBackend> make_cpu_run_backend(const Program& program, const NetConfig& cfg,
                                                 const RuntimeOptions& options = {});

struct RunPrediction {
  SimResult sim;
  double iteration_ms = 0;
  std::vector<DeviceInfo> devices;           // predicted busy / end / peak activations per device
  std::vector<PredictedInterval> intervals;  // every simulated action
};
// Simulates `plan` for the prediction; InputError when the plan deadlocks in the simulator.
RunPrediction predict_run(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& sim);

// The machine a CPU run executes on, as the simulator sees it: `devices` identical threads (speed 1, a CPU
// profile's times as measured), sharing this machine's memory, linked by in-process copies (latency of a
// mailbox hand-over, bandwidth of memcpy), each with a host link of the given speed: what the runtime's
// offload copy threads are paced to (RuntimeOptions::host_bandwidth_gbs / host_latency_ms).
Cluster cpu_thread_cluster(int devices, double host_bandwidth_gbs = 10.0, double host_latency_ms = 0.01);
// Simulator settings for CPU runs: a SEND is a copy done by the sending thread (no overlap with its compute).
SimOptions cpu_sim_options();

// The simulator gives every device thread a core of its own. With more device threads than `cores`, an
// iteration cannot beat all the predicted compute spread over the cores: max(prediction, busy total / cores).
double cpu_capacity_bound_ms(const RunPrediction& prediction, int cores);

struct RecordedStep {
  StepResult result;
  std::string grad_checksum;  // checksum_hex(tensor_checksum(grads)) after this step's backward
};

struct RunOutcome {
  int64_t run_id = 0;  // 0 when not recorded
  std::vector<RecordedStep> steps;
  double measured_iteration_ms = 0;  // measured_iteration_ms (run_store.h) of the steps
};

// A step whose loss, gradients or updated parameters are not finite (inf or nan): the run stops there.
// An InputError, since the cause is the input (usually a learning rate too high).
class TrainingDiverged : public InputError {
 public:
  using InputError::InputError;
};

// Runs `steps` iterations of `program` on `backend`, recording into `store` when given (begin_run with
// `info`, whose devices get the backend's names, one record per step, finish_run). `on_step` is called
// after each recorded step. Every step is checked for a non-finite loss, gradient or updated parameter
// (TrainingDiverged, naming the step, the micro-batch or tensor and its device). On any failure the run is
// finished as failed with the message, and the exception propagates.
RunOutcome execute_run(RunBackend& backend, const Program& program, int steps, const DataSource& data,
                       RunStore* store, RunInfo info, const std::function<void(const RecordedStep&)>& on_step = {});

}  // namespace adaptis::exec
