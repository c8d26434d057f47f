// The NCCL backend's data- and tensor-parallel groups: Megatron's rank layout (no GPU needed), and the
// communicators themselves on a GPU machine (skipped cleanly without one).
#include <gtest/gtest.h>

#include <set>

#include "adaptis/executor/nccl_groups.h"
#include "adaptis/model/error.h"
#include "gpu_test_util.h"

namespace adaptis::exec {
namespace {

TEST(NcclGroups, RankLayoutIsMegatrons) {
  ParallelRankLayout l{2, 3, 4};  // pp 2, dp 3, tp 4: 24 ranks
  ASSERT_EQ(l.world(), 24);
  std::set<std::vector<int>> tp_groups, dp_groups;
  for (int r = 0; r < l.world(); ++r) {
    EXPECT_EQ(l.rank(l.pp_rank(r), l.dp_rank(r), l.tp_rank(r)), r);
    const auto tp = l.tp_group(r);
    const auto dp = l.dp_group(r);
    ASSERT_EQ(tp.size(), 4u);
    ASSERT_EQ(dp.size(), 3u);
    EXPECT_EQ(tp[l.tp_rank(r)], r);
    EXPECT_EQ(dp[l.dp_rank(r)], r);
    for (size_t k = 1; k < tp.size(); ++k) EXPECT_EQ(tp[k], tp[k - 1] + 1);  // adjacent: one node
    for (size_t k = 1; k < dp.size(); ++k) EXPECT_EQ(dp[k], dp[k - 1] + 4);  // stride tp
    for (int m : tp) EXPECT_EQ(l.tp_color(m), l.tp_color(r));
    for (int m : dp) EXPECT_EQ(l.dp_color(m), l.dp_color(r));
    tp_groups.insert(tp);
    dp_groups.insert(dp);
    EXPECT_EQ(l.pp_group(r)[l.pp_rank(r)], r);
  }
  EXPECT_EQ(tp_groups.size(), 6u);  // pp * dp groups of tp
  EXPECT_EQ(dp_groups.size(), 8u);  // pp * tp groups of dp
  // Colors separate the groups.
  std::set<int> tp_colors, dp_colors;
  for (const auto& g : tp_groups) tp_colors.insert(l.tp_color(g[0]));
  for (const auto& g : dp_groups) dp_colors.insert(l.dp_color(g[0]));
  EXPECT_EQ(tp_colors.size(), tp_groups.size());
  EXPECT_EQ(dp_colors.size(), dp_groups.size());
}

TEST(NcclGroups, LayoutMustCoverTheWorld) {
  EXPECT_THROW(check_rank_layout({2, 2, 2}, 6), InputError);
  EXPECT_THROW(check_rank_layout({0, 2, 2}, 0), InputError);
  EXPECT_NO_THROW(check_rank_layout({2, 2, 2}, 8));
}

TEST(NcclGroups, CommunicatorsSumOverTheirGroupsOnGpus) {
  ADAPTIS_REQUIRE_GPU();
  std::string why;
  ParallelRankLayout l{1, 2, 2};
  const bool ok = nccl_groups_self_test(l, &why);
  if (!ok && why.find("needs") != std::string::npos) GTEST_SKIP() << why;  // fewer than 4 GPUs
  EXPECT_TRUE(ok) << why;
}

}  // namespace
}  // namespace adaptis::exec
