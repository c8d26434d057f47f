// run_device_list: the one instruction interpreter (interpreter.h).
#include "interpreter.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace adaptis::exec {

const char* device_state_name(DeviceState s) {
  switch (s) {
    case DeviceState::Idle: return "idle";
    case DeviceState::Computing: return "computing";
    case DeviceState::Communicating: return "communicating";
    case DeviceState::Waiting: return "waiting";
    case DeviceState::Epilogue: return "in the optimizer step";
    case DeviceState::Done: return "done";
  }
  return "?";
}

std::string failure_site(const Program& program, int device, int current) {
  const auto& list = program.devices.at(static_cast<size_t>(device));
  if (current >= 0 && current < static_cast<int>(list.size()))
    return "at #" + std::to_string(current) + " '" + list[static_cast<size_t>(current)].to_string() + "'";
  return "at the optimizer step";
}

void ExecDevice::recompute(int stage, int, const MicroBatchData&) {
  throw std::logic_error("recomputes stage " + std::to_string(stage) + " but this device cannot recompute");
}
void ExecDevice::offload(int stage, int) {
  throw std::logic_error("offloads stage " + std::to_string(stage) + " but this device cannot offload");
}
void ExecDevice::reload(int stage, int) {
  throw std::logic_error("reloads stage " + std::to_string(stage) + " but this device cannot offload");
}
void ExecDevice::wait_reload(int stage, int) {
  throw std::logic_error("waits for a reload of stage " + std::to_string(stage) + " but this device cannot offload");
}

namespace {

// F / B / W / BW / R of one (stage, mb): inputs taken from the store, outputs put into it.
void compute(const Instruction& ins, int num_stages, ExecDevice& dev, const MicroBatchData& data) {
  const int s = ins.stage, mb = ins.mb;
  if (!dev.holds(s)) throw std::logic_error("computes stage " + std::to_string(s) + " which lives elsewhere");
  TensorStore& store = dev.store();
  const size_t n = dev.activation_floats(s);
  if (ins.op == Op::R) {
    dev.recompute(s, mb, data);
  } else if (ins.op == Op::F) {
    const TensorTag in{TensorKind::Activation, s - 1, mb};
    const float* input = s > 0 ? store.get(in, "input activation").data() : nullptr;
    float* output = s + 1 < num_stages ? store.create({TensorKind::Activation, s, mb}, n).data() : nullptr;
    dev.forward(s, mb, data, input, output);
    if (s > 0) store.release(in);
  } else if (ins.op == Op::B || ins.op == Op::BW) {
    const TensorTag gout{TensorKind::Gradient, s + 1, mb};
    const float* grad_output = s + 1 < num_stages ? store.get(gout, "output gradient").data() : nullptr;
    float* grad_input = s > 0 ? store.create({TensorKind::Gradient, s, mb}, n).data() : nullptr;
    dev.backward_input(s, mb, data, grad_output, grad_input);
    if (ins.op == Op::BW) dev.backward_weight(s, mb);
    if (s + 1 < num_stages) store.release(gout);
  } else {
    dev.backward_weight(s, mb);
  }
}

DeviceState state_of(InstrKind k) {
  switch (k) {
    case InstrKind::Compute: return DeviceState::Computing;
    case InstrKind::WaitRecv: return DeviceState::Waiting;
    case InstrKind::Send:
    case InstrKind::PostRecv:
    case InstrKind::Offload:
    case InstrKind::Reload:
    // A reload always ends (its copy needs no other device), so waiting for it is not a wait on peers.
    case InstrKind::WaitReload: return DeviceState::Communicating;
  }
  return DeviceState::Communicating;
}

}  // namespace

DeviceStepOutput run_device_list(const Program& program, int device, ExecDevice& dev, Transport& tr,
                                 const StepSettings& settings, DeviceStatus& status, std::atomic<uint64_t>* progress) {
  const auto& list = program.devices.at(static_cast<size_t>(device));
  const int S = program.num_stages();
  const auto& data = *settings.data;
  DeviceStepOutput out;
  dev.begin_step(list.size());
  if (settings.begun) settings.begun(device);
  for (size_t i = 0; i < list.size(); ++i) {
    if (tr.aborted()) throw TransportAborted("aborted");
    const Instruction& ins = list[i];
    status.current.store(static_cast<int>(i), std::memory_order_relaxed);
    status.set(state_of(ins.kind));
    dev.instruction_started(i);
    switch (ins.kind) {
      case InstrKind::Compute:
        compute(ins, S, dev, data.at(static_cast<size_t>(ins.mb)));
        break;
      case InstrKind::Send:
        tr.send(device, ins.peer, ins.tensor);
        break;
      case InstrKind::PostRecv: {
        const TensorTag& t = ins.tensor;
        const int consumer = t.kind == TensorKind::Activation ? t.stage + 1 : t.stage - 1;
        if (consumer < 0 || consumer >= S || !dev.holds(consumer))
          throw std::logic_error("receives '" + to_string(t) + "' which no stage of this device consumes");
        tr.post_recv(device, ins.peer, t, dev.activation_floats(consumer));
        break;
      }
      case InstrKind::WaitRecv:
        tr.wait_recv(device, ins.peer, ins.tensor);
        break;
      case InstrKind::Offload:
        dev.offload(ins.stage, ins.mb);
        break;
      case InstrKind::Reload:
        dev.reload(ins.stage, ins.mb);
        break;
      case InstrKind::WaitReload:
        dev.wait_reload(ins.stage, ins.mb);
        break;
    }
    dev.instruction_ended(i);
    if (ins.kind != InstrKind::WaitRecv) out.peak_bytes = std::max(out.peak_bytes, dev.store().bytes() + dev.saved_bytes());
    tr.progress(device);
    if (progress) progress->fetch_add(1, std::memory_order_relaxed);
  }
  status.current.store(-1, std::memory_order_relaxed);
  // Blocked until the receivers have what this device sent: a wait on peers, like WAIT.
  status.set(DeviceState::Waiting);
  tr.finish_sends(device);
  status.set(DeviceState::Epilogue);
  dev.epilogue_started();
  dev.finish_backward();
  if (settings.optimizer_step) dev.optimizer_step(settings.optimizer, settings.step);
  dev.epilogue_ended();
  dev.synchronize();
  out.intervals = dev.intervals();
  out.optimizer = dev.epilogue_interval();
  out.peak_saved_bytes = dev.peak_saved_bytes();
  out.offloaded_bytes = dev.offloaded_bytes();
  for (int s : program.device_stages.at(static_cast<size_t>(device))) {
    auto& per_mb = out.loss_terms[s];
    for (int mb = 0; mb < program.num_microbatches; ++mb) per_mb.push_back(dev.loss_terms(s, mb));
  }
  return out;
}

void gather_losses(const Program& program, const std::vector<DeviceStepOutput>& outputs, StepResult& r) {
  const int m = program.num_microbatches;
  r.mb_losses.assign(static_cast<size_t>(m), 0.0);
  for (int mb = 0; mb < m; ++mb)
    for (int s = 0; s < program.num_stages(); ++s) {
      const DeviceStepOutput& o = outputs.at(static_cast<size_t>(program.stage_device[s]));
      for (double t : o.loss_terms.at(s).at(static_cast<size_t>(mb))) r.mb_losses[mb] += t;
    }
  r.loss = step_loss(r.mb_losses, program.mb_loss_weight);
}

}  // namespace adaptis::exec
