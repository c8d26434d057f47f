// The GPU entry points of a build without CUDA (executor/CMakeLists.txt compiles this file only when
// ADAPTIS_HAVE_CUDA is off): nothing pretends to work; every entry point refuses with one clear message.
#include "adaptis/executor/gpu.h"
#include "adaptis/executor/gpu_layer_chain.h"
#include "adaptis/executor/nccl_groups.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {
constexpr const char* kNoCuda = "this adaptis was built without CUDA";
[[noreturn]] void no_cuda(const std::string& what) {
  throw InputError(what + ": " + kNoCuda + " (reconfigure with -DADAPTIS_CUDA=ON on a machine with the CUDA toolkit)");
}
}  // namespace

bool built_with_cuda() { return false; }
bool built_with_mpi() { return false; }

bool gpu_available(std::string* why) {
  if (why) *why = kNoCuda;
  return false;
}

std::vector<GpuInfo> list_gpus() { no_cuda("listing GPUs"); }
void require_gpu(const std::string& what) { no_cuda(what); }
GpuInfo describe_gpu(int, const std::string& what) { no_cuda(what); }

std::unique_ptr<StageCompute> make_gpu_stage(const NetConfig&, int, int, int, const GpuStageOptions&) {
  no_cuda("GPU stage");
}

StageFactory gpu_stage_factory(const NetConfig&, const GpuStageOptions&) { no_cuda("GPU stage"); }

struct GpuLayerChain::Impl {};
GpuLayerChain::GpuLayerChain(const NetConfig&, const LayerUnits&, GpuPrecision, int) { no_cuda("GPU layer chain"); }
GpuLayerChain::~GpuLayerChain() = default;
int GpuLayerChain::num_units() const { no_cuda("GPU layer chain"); }
std::vector<ChainPassTimes> GpuLayerChain::iterate(const MicroBatchData&, const ChainPassHooks&, double*) {
  no_cuda("GPU layer chain");
}
size_t GpuLayerChain::num_params(int) const { no_cuda("GPU layer chain"); }
double GpuLayerChain::saved_after_forward(int) const { no_cuda("GPU layer chain"); }
double GpuLayerChain::saved_after_backward(int) const { no_cuda("GPU layer chain"); }
size_t GpuLayerChain::peak_memory_bytes() const { no_cuda("GPU layer chain"); }

struct GpuPipelineRuntime::Impl {};

void require_gpu_backend(GpuBackend b) {
  throw InputError("backend", std::string("the ") + gpu_backend_name(b) + " backend needs a build with CUDA: " + kNoCuda +
                                  " (reconfigure with -DADAPTIS_CUDA=ON on a machine with the CUDA toolkit)");
}

GpuPipelineRuntime::GpuPipelineRuntime(Program, const NetConfig&, const GpuRunOptions& opt) {
  require_gpu_backend(opt.backend);
}
GpuPipelineRuntime::~GpuPipelineRuntime() = default;
StepResult GpuPipelineRuntime::run_step(int, const DataSource&) { no_cuda("GPU run"); }
const Program& GpuPipelineRuntime::program() const { no_cuda("GPU run"); }
const GpuRunInfo& GpuPipelineRuntime::info() const { no_cuda("GPU run"); }
std::vector<NamedTensor> GpuPipelineRuntime::grads() const { no_cuda("GPU run"); }
std::vector<NamedTensor> GpuPipelineRuntime::params() const { no_cuda("GPU run"); }

std::string nccl_unique_id_hex() { no_cuda("NCCL"); }
NcclBootstrap nccl_bootstrap_from_environment(double) { no_cuda("NCCL bootstrap"); }
void nccl_bootstrap_finalize() {}

struct NcclPipelineRank::Impl {};

NcclPipelineRank::NcclPipelineRank(Program, const NetConfig&, const GpuRunOptions&, const NcclBootstrap&) {
  require_gpu_backend(GpuBackend::Nccl);
}
NcclPipelineRank::~NcclPipelineRank() = default;
StepResult NcclPipelineRank::run_step(int, const DataSource&) { no_cuda("NCCL run"); }
int NcclPipelineRank::rank() const { no_cuda("NCCL run"); }
const GpuRunInfo& NcclPipelineRank::info() const { no_cuda("NCCL run"); }
std::vector<NamedTensor> NcclPipelineRank::grads() const { no_cuda("NCCL run"); }
std::vector<NamedTensor> NcclPipelineRank::params() const { no_cuda("NCCL run"); }

// NCCL data/tensor-parallel communicators (nccl_groups.h).
NcclParallelGroups::NcclParallelGroups(void*, const ParallelRankLayout& layout, int rank) : layout_(layout), rank_(rank) {
  no_cuda("NCCL groups");
}
NcclParallelGroups::~NcclParallelGroups() = default;
void NcclParallelGroups::all_reduce_tp(float*, size_t, void*) { no_cuda("NCCL groups"); }
void NcclParallelGroups::all_reduce_dp(float*, size_t, void*) { no_cuda("NCCL groups"); }
void NcclParallelGroups::reduce_scatter_dp(const float*, float*, size_t, void*) { no_cuda("NCCL groups"); }
void NcclParallelGroups::all_gather_dp(const float*, float*, size_t, void*) { no_cuda("NCCL groups"); }
bool nccl_groups_self_test(const ParallelRankLayout&, std::string* why) {
  if (why) *why = kNoCuda;
  return false;
}

}  // namespace adaptis::exec
