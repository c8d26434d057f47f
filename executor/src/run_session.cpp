#include "adaptis/executor/run_session.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "adaptis/executor/machine_info.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

class CpuRunBackend final : public RunBackend {
 public:
  CpuRunBackend(const Program& program, const NetConfig& cfg, const RuntimeOptions& options)
      : runtime_(program, real_stage_factory(cfg), make_mailbox_transport(program.num_devices()), options) {}
  std::string name() const override { return "cpu"; }
  std::string device_name(int device) const override { return "cpu-thread-" + std::to_string(device); }
  StepResult run_step(int step, const DataSource& data) override { return runtime_.run_step(step, data); }
  std::vector<NamedTensor> grads() const override { return runtime_.grads(); }
  std::vector<NamedTensor> params() const override { return runtime_.params(); }

 private:
  PipelineRuntime runtime_;
};

int64_t to_ns(double ms) { return static_cast<int64_t>(std::llround(ms * 1e6)); }

// The device holding executor layer `layer` ("layers.<i>." tensor names), or -1.
int device_of_tensor(const std::string& name, const Program& program) {
  if (name.rfind("layers.", 0) != 0) return -1;
  const int layer = std::atoi(name.c_str() + 7);
  for (int s = 0; s + 1 < static_cast<int>(program.stage_bounds.size()); ++s)
    if (layer >= program.stage_bounds[s] && layer < program.stage_bounds[s + 1]) return program.stage_device[s];
  return -1;
}

std::string first_non_finite(const std::vector<NamedTensor>& tensors, const Program& program) {
  for (const NamedTensor& t : tensors)
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i])) {
        const int d = device_of_tensor(t.name, program);
        return t.name + "[" + std::to_string(i) + "] = " + std::to_string(t.data[i]) +
               (d >= 0 ? " on device " + std::to_string(d) : std::string());
      }
  return {};
}

// Why step `r` diverged: a non-finite micro-batch loss (computed on the device holding the last stage), a
// non-finite gradient, or a parameter the optimizer step made non-finite; "" when everything is finite.
std::string divergence(const StepResult& r, const RunBackend& backend, const Program& program) {
  const std::string at = "step " + std::to_string(r.step) + ": ";
  const int loss_device = program.stage_device.empty() ? -1 : program.stage_device.back();
  for (size_t mb = 0; mb < r.mb_losses.size(); ++mb)
    if (!std::isfinite(r.mb_losses[mb]))
      return at + "the loss of micro-batch " + std::to_string(mb) + " is " + std::to_string(r.mb_losses[mb]) +
             " (computed on device " + std::to_string(loss_device) + ", which holds the last stage)";
  if (!std::isfinite(r.loss)) return at + "the loss is " + std::to_string(r.loss);
  if (std::string g = first_non_finite(backend.grads(), program); !g.empty())
    return at + "a gradient is not finite: " + g;
  if (std::string p = first_non_finite(backend.params(), program); !p.empty())
    return at + "the optimizer step made a parameter non-finite: " + p;
  return {};
}

}  // namespace

std::unique_ptr<RunBackend> make_cpu_run_backend(const Program& program, const NetConfig& cfg,
                                                 const RuntimeOptions& options) {
  return std::make_unique<CpuRunBackend>(program, cfg, options);
}

RunPrediction predict_run(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& sim) {
  RunPrediction p;
  p.sim = simulate(plan, costs, cluster, sim);
  if (!p.sim.ok) throw InputError("plan '" + plan.name + "' deadlocks in the simulator:\n" + p.sim.error);
  p.iteration_ms = p.sim.iteration_ms;
  for (int d = 0; d < plan.num_devices(); ++d) {
    DeviceInfo di;
    di.device = d;
    std::string stages;
    for (int s : plan.placement.device_stages[d]) {
      if (!stages.empty()) stages += ',';
      stages += std::to_string(s);
    }
    di.stages = stages;
    if (d < static_cast<int>(p.sim.devices.size())) {
      di.predicted_busy_ms = p.sim.devices[d].busy_ms;
      di.predicted_peak_activation_bytes = p.sim.devices[d].peak_activation_bytes;
    }
    if (d < static_cast<int>(p.sim.timeline.size()))
      for (const TimedAction& t : p.sim.timeline[d]) {
        di.predicted_end_ms = std::max(di.predicted_end_ms, t.end);
        p.intervals.push_back({d, t.action.op, t.action.stage, t.action.mb, to_ns(t.start), to_ns(t.end)});
      }
    p.devices.push_back(di);
  }
  return p;
}

Cluster cpu_thread_cluster(int devices, double host_bandwidth_gbs, double host_latency_ms) {
  if (devices < 1) throw InputError("devices", "must be >= 1, got " + std::to_string(devices));
  Cluster c;
  c.name = "cpu-threads";
  const nlohmann::json m = machine_info();
  const double memory = m.contains("memory_bytes") ? m["memory_bytes"].get<double>() : 0.0;
  for (int d = 0; d < devices; ++d) {
    Device dev;
    dev.name = "cpu-thread";
    dev.peak_tflops = 0.05;  // unused: the profile's times are already this machine's
    dev.speed = 1.0;
    // Threads share the machine's memory; give each an equal share so OOM flags mean something.
    dev.hbm_bytes = memory > 0 ? memory / devices : 8.0 * (1ull << 30);
    dev.hbm_bandwidth = 10e9;
    dev.node = 0;
    // Offload copies go to a host arena through copy threads paced to this link (RuntimeOptions).
    dev.host_link.bandwidth = host_bandwidth_gbs * 1e9;
    dev.host_link.latency_ms = host_latency_ms;
    dev.host_link.group = -1;
    c.devices.push_back(dev);
  }
  // A mailbox hand-over: a lock, a condition-variable wake-up and a memcpy.
  c.intra_node = Link{0.01, 5e9};
  c.inter_node = c.intra_node;
  return c;
}

SimOptions cpu_sim_options() {
  SimOptions o;
  o.overlap_comm = false;
  return o;
}

double cpu_capacity_bound_ms(const RunPrediction& p, int cores) {
  double busy = 0;
  for (const DeviceInfo& d : p.devices) busy += d.predicted_busy_ms;
  const int usable = std::max(1, std::min(cores, static_cast<int>(p.devices.size())));
  return std::max(p.iteration_ms, busy / usable);
}

RunOutcome execute_run(RunBackend& backend, const Program& program, int steps, const DataSource& data,
                       RunStore* store, RunInfo info, const std::function<void(const RecordedStep&)>& on_step) {
  if (steps < 1) throw InputError("steps", "must be >= 1, got " + std::to_string(steps));
  RunOutcome out;
  info.backend = backend.name();
  info.steps = steps;
  for (DeviceInfo& d : info.devices) d.name = backend.device_name(d.device);
  if (store) out.run_id = store->begin_run(info);
  try {
    for (int step = 0; step < steps; ++step) {
      RecordedStep rec;
      rec.result = backend.run_step(step, data);
      // A diverged step is not recorded (its numbers mean nothing); the run is marked failed with the reason.
      if (const std::string why = divergence(rec.result, backend, program); !why.empty())
        throw TrainingDiverged("training diverged at " + why + " (is the learning rate too high?)" +
                               (store ? "; run " + std::to_string(out.run_id) + " is recorded as failed in " +
                                            store->path()
                                      : std::string()));
      rec.grad_checksum = checksum_hex(tensor_checksum(backend.grads()));
      if (store) store->record_step(out.run_id, make_step_record(program, rec.result, rec.grad_checksum));
      out.steps.push_back(std::move(rec));
      if (on_step) on_step(out.steps.back());
    }
  } catch (const std::exception& e) {
    if (store) {
      try {
        store->finish_run(out.run_id, RunStatus::Failed, e.what());
      } catch (...) {
        // The original failure matters more than a failure to record it.
      }
    }
    throw;
  }
  if (store) store->finish_run(out.run_id, RunStatus::Complete);
  std::vector<double> times;
  for (const RecordedStep& s : out.steps) times.push_back(s.result.iteration_ms());
  out.measured_iteration_ms = measured_iteration_ms(times);
  return out;
}

}  // namespace adaptis::exec
