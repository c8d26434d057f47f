// Megatron's rank layout for the NCCL data/tensor-parallel groups (nccl_groups.h).
#include "adaptis/executor/nccl_groups.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

std::vector<int> ParallelRankLayout::tp_group(int r) const {
  std::vector<int> g;
  for (int k = 0; k < tp; ++k) g.push_back(rank(pp_rank(r), dp_rank(r), k));
  return g;
}

std::vector<int> ParallelRankLayout::dp_group(int r) const {
  std::vector<int> g;
  for (int k = 0; k < dp; ++k) g.push_back(rank(pp_rank(r), k, tp_rank(r)));
  return g;
}

std::vector<int> ParallelRankLayout::pp_group(int r) const {
  std::vector<int> g;
  for (int k = 0; k < pp; ++k) g.push_back(rank(k, dp_rank(r), tp_rank(r)));
  return g;
}

void check_rank_layout(const ParallelRankLayout& l, int ranks) {
  if (l.pp < 1 || l.dp < 1 || l.tp < 1)
    throw InputError("NCCL groups: pp, dp and tp must be >= 1 (got pp " + std::to_string(l.pp) + ", dp " +
                     std::to_string(l.dp) + ", tp " + std::to_string(l.tp) + ")");
  if (l.world() != ranks)
    throw InputError("NCCL groups: pp x dp x tp = " + std::to_string(l.world()) + " ranks, but the world has " +
                     std::to_string(ranks));
}

}  // namespace adaptis::exec
