#pragma once
// The NCCL backend's data- and tensor-parallel communicators. A whole-cluster run has
// pp x dp x tp ranks laid out as Megatron-LM lays them out (tensor-parallel ranks adjacent):
//   world rank r = tp_rank + tp * (dp_rank + dp * pp_rank).
// Each rank splits the world communicator into its tensor-parallel group (the tp ranks with its
// dp_rank and pp_rank: the per-layer all-reduces of split GEMMs) and its data-parallel group (the dp
// ranks with its tp_rank and pp_rank: the gradient all-reduce, or reduce-scatter + all-gather for
// ZeRO-1). Pipeline neighbours keep using the world communicator's point-to-point sends.
//
// ParallelRankLayout is plain arithmetic (tested everywhere); NcclParallelGroups needs CUDA and
// NCCL (ncclCommSplit) and refuses clearly in builds without them.
#include <cstddef>
#include <string>
#include <vector>

namespace adaptis::exec {

struct ParallelRankLayout {
  int pp = 1, dp = 1, tp = 1;

  int world() const { return pp * dp * tp; }
  int tp_rank(int r) const { return r % tp; }
  int dp_rank(int r) const { return (r / tp) % dp; }
  int pp_rank(int r) const { return r / (tp * dp); }
  int rank(int pp_rank, int dp_rank, int tp_rank) const { return tp_rank + tp * (dp_rank + dp * pp_rank); }
  // The world ranks of r's groups, in group-rank order (what ncclCommSplit's key orders by).
  std::vector<int> tp_group(int r) const;
  std::vector<int> dp_group(int r) const;
  std::vector<int> pp_group(int r) const;  // r's pipeline: its stage ranks, pipeline rank order
  // ncclCommSplit colors: equal for ranks of one group, distinct across groups.
  int tp_color(int r) const { return dp_rank(r) + dp * pp_rank(r); }
  int dp_color(int r) const { return tp_rank(r) + tp * pp_rank(r); }
};

// InputError unless every degree is >= 1 and world() == ranks.
void check_rank_layout(const ParallelRankLayout& layout, int ranks);

// One rank's tensor- and data-parallel communicators, split from an initialized world communicator.
class NcclParallelGroups {
 public:
  // `world_comm` is the rank's ncclComm_t (passed as void* to keep NCCL out of this header); every rank of
  // the world must construct its groups (ncclCommSplit is collective).
  NcclParallelGroups(void* world_comm, const ParallelRankLayout& layout, int rank);
  ~NcclParallelGroups();
  NcclParallelGroups(const NcclParallelGroups&) = delete;
  NcclParallelGroups& operator=(const NcclParallelGroups&) = delete;

  int tp_size() const { return layout_.tp; }
  int dp_size() const { return layout_.dp; }
  // In-place sums of `count` floats in device memory over the group, enqueued on `stream` (cudaStream_t).
  void all_reduce_tp(float* device_buffer, size_t count, void* stream);
  void all_reduce_dp(float* device_buffer, size_t count, void* stream);
  // ZeRO-1: each dp rank gets the sum of its 1/dp slice (count divisible by dp); then the updated slices
  // are gathered back into every rank's full buffer.
  void reduce_scatter_dp(const float* device_full, float* device_slice, size_t count, void* stream);
  void all_gather_dp(const float* device_slice, float* device_full, size_t count, void* stream);

 private:
  ParallelRankLayout layout_;
  int rank_ = 0;
  void* tp_comm_ = nullptr;  // ncclComm_t
  void* dp_comm_ = nullptr;
};

// Starts layout.world() ranks as threads of this process on GPUs 0..world-1 (world <= GPU count),
// builds every rank's groups and checks one tensor-parallel and one data-parallel all-reduce against
// the expected sums. False with `why` when it cannot run (no CUDA / NCCL / not enough GPUs).
bool nccl_groups_self_test(const ParallelRankLayout& layout, std::string* why);

}  // namespace adaptis::exec
