// The RunBackend adapters of the GPU runtimes (gpu.h make_gpu_run_backend), so `adaptis run` and the run store
// treat GPU runs like CPU runs. Compiled in every build: without CUDA the runtimes refuse with InputError.
#include <cstdlib>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

class VirtualDeviceBackend final : public RunBackend {
 public:
  VirtualDeviceBackend(const Program& program, const NetConfig& cfg, const GpuRunOptions& opt)
      : rt_(program, cfg, opt) {}
  std::string name() const override { return gpu_backend_name(kind()); }
  std::string device_name(int device) const override {
    const auto& names = rt_.info().device_names;
    return device >= 0 && device < static_cast<int>(names.size()) ? names[device] : "gpu-device-" + std::to_string(device);
  }
  StepResult run_step(int step, const DataSource& data) override { return rt_.run_step(step, data); }
  std::vector<NamedTensor> grads() const override { return rt_.grads(); }
  std::vector<NamedTensor> params() const override { return rt_.params(); }

 private:
  GpuBackend kind() const { return rt_.info().backend == "nccl" ? GpuBackend::Nccl : GpuBackend::VirtualDevices; }
  GpuPipelineRuntime rt_;
};

class NcclRankBackend final : public RunBackend {
 public:
  NcclRankBackend(const Program& program, const NetConfig& cfg, const GpuRunOptions& opt, const NcclBootstrap& boot)
      : rank_(program, cfg, opt, boot) {}
  ~NcclRankBackend() override { nccl_bootstrap_finalize(); }
  std::string name() const override { return "nccl"; }
  std::string device_name(int device) const override {
    const auto& names = rank_.info().device_names;
    return device >= 0 && device < static_cast<int>(names.size()) ? names[device] : "rank" + std::to_string(device);
  }
  StepResult run_step(int step, const DataSource& data) override { return rank_.run_step(step, data); }
  // This rank's stages only (the checksum printed by rank 0 covers rank 0's stages).
  std::vector<NamedTensor> grads() const override { return rank_.grads(); }
  std::vector<NamedTensor> params() const override { return rank_.params(); }

 private:
  NcclPipelineRank rank_;
};

bool launched_as_rank() {
  for (const char* v : {"ADAPTIS_NCCL_RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"})
    if (const char* s = std::getenv(v); s && *s) return true;
  return false;
}

}  // namespace

GpuRunBackend make_gpu_run_backend(const Program& program, const NetConfig& cfg, const GpuRunOptions& opt) {
  // The GPU layers run equal micro-batches only (no per-document masks, no slices).
  if (!program.mb_loss_weight.empty())
    throw InputError("the GPU backends do not run variable-length units (packed documents or slices); run them on "
                     "the CPU backend");
  // The GPU stages drop and recompute every micro-batch of a recomputing stage alike.
  for (size_t s = 0; s < program.memory.size(); ++s)
    if (!program.memory[s].microbatches.empty())
      throw InputError("the GPU backends do not run per-unit checkpointing (stage " + std::to_string(s) +
                       "'s memory policy recomputes chosen units only); run it on the CPU backend");
  GpuRunBackend out;
  if (opt.backend == GpuBackend::Nccl && launched_as_rank()) {
    const NcclBootstrap boot = nccl_bootstrap_from_environment();
    out.rank = boot.rank;
    out.world = boot.world;
    out.primary = boot.rank == 0;
    out.backend = std::make_unique<NcclRankBackend>(program, cfg, opt, boot);
    return out;
  }
  out.backend = std::make_unique<VirtualDeviceBackend>(program, cfg, opt);
  return out;
}

}  // namespace adaptis::exec
