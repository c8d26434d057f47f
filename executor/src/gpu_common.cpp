// The parts of the GPU backends that need no GPU and no CUDA headers: option parsing and validation, stated
// tolerances, and the global communication order of the NCCL backend. Compiled in every build, so they are
// unit-tested on machines without a GPU.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

const char* gpu_precision_name(GpuPrecision p) {
  switch (p) {
    case GpuPrecision::Fp32: return "fp32";
    case GpuPrecision::Bf16: return "bf16";
  }
  return "?";
}

GpuPrecision parse_gpu_precision(const std::string& text, const std::string& field) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (t == "fp32" || t == "float32" || t == "f32") return GpuPrecision::Fp32;
  if (t == "bf16" || t == "bfloat16") return GpuPrecision::Bf16;
  throw InputError(field, "unknown precision '" + text + "' (expected fp32 or bf16)");
}

GpuTolerance gpu_reference_tolerance(GpuPrecision p) {
  return p == GpuPrecision::Fp32 ? GpuTolerance{1e-4, 1e-5} : GpuTolerance{2e-2, 2e-2};
}

const char* gpu_backend_name(GpuBackend b) {
  switch (b) {
    case GpuBackend::VirtualDevices: return "cuda";
    case GpuBackend::Nccl: return "nccl";
  }
  return "?";
}

void validate_gpu_run_options(const GpuRunOptions& opt, int num_devices) {
  if (num_devices < 1) throw InputError("gpu run: the program has no devices");
  if (opt.gpu < 0) throw InputError("gpu", "must be >= 0, got " + std::to_string(opt.gpu));
  if (opt.sms_per_device < 0)
    throw InputError("sms_per_device", "must be >= 0 (0 = split evenly), got " + std::to_string(opt.sms_per_device));
  if (opt.sms_per_device > 0 && !opt.green_contexts)
    throw InputError("sms_per_device", "only meaningful with green contexts on");
  if (opt.backend == GpuBackend::Nccl && opt.green_contexts)
    throw InputError("green_contexts", "only for the virtual-device backend (cuda), not nccl");
  if (!opt.gpus.empty()) {
    if (opt.backend != GpuBackend::Nccl) throw InputError("gpus", "only for the nccl backend");
    if (static_cast<int>(opt.gpus.size()) != num_devices)
      throw InputError("gpus", "lists " + std::to_string(opt.gpus.size()) + " GPUs but the plan has " +
                       std::to_string(num_devices) + " devices (one GPU per device)");
    for (size_t i = 0; i < opt.gpus.size(); ++i) {
      if (opt.gpus[i] < 0) throw InputError("gpus", "GPU index " + std::to_string(opt.gpus[i]) + " is negative");
      for (size_t j = 0; j < i; ++j)
        if (opt.gpus[j] == opt.gpus[i])
          throw InputError("gpus", "GPU " + std::to_string(opt.gpus[i]) +
                           " is listed twice (NCCL allows one rank per GPU; use the cuda backend for virtual devices)");
    }
  }
  if (!(opt.watchdog_ms > 0)) throw InputError("watchdog_ms", "must be > 0");
  if (!(opt.optimizer.lr >= 0)) throw InputError("lr", "must be >= 0");
}

std::vector<std::vector<CommStep>> nccl_comm_sequence(const Program& program) {
  require_valid_program(program, "nccl");
  const int D = program.num_devices();
  // Simulate with non-blocking sends, each device run as far as it can before the next (the same rule as
  // check_program's deadlock pass, which proved this reaches the end). A message's order is when its SEND ran.
  std::map<TensorTag, int64_t> order;
  std::vector<size_t> head(size_t(D), 0);
  int64_t next = 0;
  for (bool progress = true; progress;) {
    progress = false;
    for (int d = 0; d < D; ++d) {
      const auto& list = program.devices[d];
      while (head[d] < list.size()) {
        const Instruction& ins = list[head[d]];
        if (ins.kind == InstrKind::WaitRecv && !order.count(ins.tensor)) break;
        if (ins.kind == InstrKind::Send) order[ins.tensor] = next++;
        ++head[d];
        progress = true;
      }
    }
  }
  std::vector<std::vector<CommStep>> seq(static_cast<size_t>(D));
  for (int d = 0; d < D; ++d) {
    const auto& list = program.devices[d];
    for (size_t i = 0; i < list.size(); ++i) {
      const Instruction& ins = list[i];
      if (ins.kind != InstrKind::Send && ins.kind != InstrKind::PostRecv) continue;
      CommStep c;
      c.send = ins.kind == InstrKind::Send;
      c.tensor = ins.tensor;
      c.peer = ins.peer;
      c.instruction = static_cast<int>(i);
      c.order = order.at(ins.tensor);
      seq[d].push_back(c);
    }
    std::stable_sort(seq[d].begin(), seq[d].end(), [](const CommStep& a, const CommStep& b) { return a.order < b.order; });
  }
  return seq;
}

}  // namespace adaptis::exec
