// The NCCL backend's tensor- and data-parallel communicators (nccl_groups.h): ncclCommSplit of the world
// communicator by Megatron's rank layout, in-place all-reduces, ZeRO-1 reduce-scatter / all-gather, and a
// self-test that runs every rank as a thread of this process.
#include "adaptis/executor/nccl_groups.h"

#include <exception>
#include <thread>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/model/error.h"
#include "cuda/cuda_check.h"

#if ADAPTIS_HAVE_NCCL
#include <nccl.h>
#endif

namespace adaptis::exec {

#if ADAPTIS_HAVE_NCCL

#define ADAPTIS_NCCL_GROUP_CHECK(call)                                                                          \
  do {                                                                                                          \
    ncclResult_t adaptis_nr_ = (call);                                                                          \
    if (adaptis_nr_ != ncclSuccess)                                                                             \
      throw gpu::CudaError(std::string(#call) + " failed at " + __FILE__ + ":" + std::to_string(__LINE__) + ": " + \
                           ncclGetErrorString(adaptis_nr_));                                                    \
  } while (0)

NcclParallelGroups::NcclParallelGroups(void* world_comm, const ParallelRankLayout& layout, int rank)
    : layout_(layout), rank_(rank) {
  auto world = static_cast<ncclComm_t>(world_comm);
  int size = 0;
  ADAPTIS_NCCL_GROUP_CHECK(ncclCommCount(world, &size));
  check_rank_layout(layout, size);
  ncclComm_t tp = nullptr, dp = nullptr;
  // Collective over the world: every rank splits twice, in the same order. The key orders each group by
  // its rank inside the group.
  ADAPTIS_NCCL_GROUP_CHECK(ncclCommSplit(world, layout.tp_color(rank), layout.tp_rank(rank), &tp, nullptr));
  ADAPTIS_NCCL_GROUP_CHECK(ncclCommSplit(world, layout.dp_color(rank), layout.dp_rank(rank), &dp, nullptr));
  tp_comm_ = tp;
  dp_comm_ = dp;
}

NcclParallelGroups::~NcclParallelGroups() {
  if (tp_comm_) ncclCommDestroy(static_cast<ncclComm_t>(tp_comm_));
  if (dp_comm_) ncclCommDestroy(static_cast<ncclComm_t>(dp_comm_));
}

void NcclParallelGroups::all_reduce_tp(float* buf, size_t count, void* stream) {
  ADAPTIS_NCCL_GROUP_CHECK(ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, static_cast<ncclComm_t>(tp_comm_),
                                         static_cast<cudaStream_t>(stream)));
}

void NcclParallelGroups::all_reduce_dp(float* buf, size_t count, void* stream) {
  ADAPTIS_NCCL_GROUP_CHECK(ncclAllReduce(buf, buf, count, ncclFloat32, ncclSum, static_cast<ncclComm_t>(dp_comm_),
                                         static_cast<cudaStream_t>(stream)));
}

void NcclParallelGroups::reduce_scatter_dp(const float* full, float* slice, size_t count, void* stream) {
  if (count % size_t(layout_.dp) != 0)
    throw InputError("NCCL reduce-scatter: " + std::to_string(count) + " values do not split over " +
                     std::to_string(layout_.dp) + " data-parallel ranks");
  ADAPTIS_NCCL_GROUP_CHECK(ncclReduceScatter(full, slice, count / size_t(layout_.dp), ncclFloat32, ncclSum,
                                             static_cast<ncclComm_t>(dp_comm_), static_cast<cudaStream_t>(stream)));
}

void NcclParallelGroups::all_gather_dp(const float* slice, float* full, size_t count, void* stream) {
  if (count % size_t(layout_.dp) != 0)
    throw InputError("NCCL all-gather: " + std::to_string(count) + " values do not split over " +
                     std::to_string(layout_.dp) + " data-parallel ranks");
  ADAPTIS_NCCL_GROUP_CHECK(ncclAllGather(slice, full, count / size_t(layout_.dp), ncclFloat32,
                                         static_cast<ncclComm_t>(dp_comm_), static_cast<cudaStream_t>(stream)));
}

bool nccl_groups_self_test(const ParallelRankLayout& layout, std::string* why) {
  if (!gpu_available(why)) return false;
  int gpus = 0;
  ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&gpus));
  const int world = layout.world();
  if (world > gpus) {
    if (why) *why = "needs " + std::to_string(world) + " GPUs, this machine has " + std::to_string(gpus);
    return false;
  }
  std::vector<ncclComm_t> comms(size_t(world), nullptr);
  std::vector<int> devices(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) devices[r] = r;
  ADAPTIS_NCCL_GROUP_CHECK(ncclCommInitAll(comms.data(), world, devices.data()));
  // Rank r contributes (r + 1) in every element: a tensor-parallel group sums its members' (r + 1), a
  // data-parallel group its members'.
  constexpr size_t kCount = 1024;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world));
  std::vector<int> ok(size_t(world), 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        ADAPTIS_CUDA_CHECK(cudaSetDevice(r));
        NcclParallelGroups groups(comms[r], layout, r);
        cudaStream_t stream;
        ADAPTIS_CUDA_CHECK(cudaStreamCreate(&stream));
        std::vector<float> host(kCount, float(r + 1));
        float* dev = nullptr;
        ADAPTIS_CUDA_CHECK(cudaMalloc(&dev, kCount * sizeof(float)));
        bool good = true;
        for (int pass = 0; pass < 2; ++pass) {
          ADAPTIS_CUDA_CHECK(cudaMemcpy(dev, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice));
          if (pass == 0) groups.all_reduce_tp(dev, kCount, stream);
          else groups.all_reduce_dp(dev, kCount, stream);
          ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(stream));
          std::vector<float> back(kCount);
          ADAPTIS_CUDA_CHECK(cudaMemcpy(back.data(), dev, kCount * sizeof(float), cudaMemcpyDeviceToHost));
          float want = 0;
          for (int m : pass == 0 ? layout.tp_group(r) : layout.dp_group(r)) want += float(m + 1);
          for (float x : back) good = good && x == want;
        }
        ADAPTIS_CUDA_CHECK(cudaFree(dev));
        ADAPTIS_CUDA_CHECK(cudaStreamDestroy(stream));
        ok[r] = good;
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto c : comms) ncclCommDestroy(c);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  for (int r = 0; r < world; ++r)
    if (!ok[r]) {
      if (why) *why = "rank " + std::to_string(r) + " got a wrong sum";
      return false;
    }
  return true;
}

#else  // !ADAPTIS_HAVE_NCCL

namespace {
[[noreturn]] void no_nccl_groups() {
  throw InputError("NCCL groups: this adaptis was built without NCCL (libnccl and nccl.h were not found at configure time)");
}
}  // namespace

NcclParallelGroups::NcclParallelGroups(void*, const ParallelRankLayout& layout, int rank) : layout_(layout), rank_(rank) {
  no_nccl_groups();
}
NcclParallelGroups::~NcclParallelGroups() = default;
void NcclParallelGroups::all_reduce_tp(float*, size_t, void*) { no_nccl_groups(); }
void NcclParallelGroups::all_reduce_dp(float*, size_t, void*) { no_nccl_groups(); }
void NcclParallelGroups::reduce_scatter_dp(const float*, float*, size_t, void*) { no_nccl_groups(); }
void NcclParallelGroups::all_gather_dp(const float*, float*, size_t, void*) { no_nccl_groups(); }
bool nccl_groups_self_test(const ParallelRankLayout&, std::string* why) {
  if (why) *why = "this adaptis was built without NCCL";
  return false;
}

#endif

}  // namespace adaptis::exec
