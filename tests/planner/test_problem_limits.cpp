// The planning problem limits (model/problem_limits.h) and the planner pieces that must stay linear on
// inputs near them: the balanced partition of a 100,000-layer model (its proportional fallback above the
// exact dynamic program's size) and the lower bound's bins term.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "adaptis/model/problem_limits.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/partitioner.h"

namespace adaptis {
namespace {

TEST(ProblemLimits, EachSizeIsCheckedAndNamedByField) {
  EXPECT_NO_THROW(check_problem_size({ProblemLimits::kLayers, ProblemLimits::kDevices, 8, 0}));
  struct Case {
    ProblemSize size;
    ProblemField field;
    const char* text;
  };
  const Case cases[] = {
      {{ProblemLimits::kLayers + 1, 4, 8, 0}, ProblemField::Layers, "layers: 100001 is above the limit of 100000"},
      {{64, 1 << 20, 0, 0}, ProblemField::Devices, "devices: 1048576 is above the limit of 4096"},
      {{64, 4, 100000, 0}, ProblemField::Microbatches, "microbatches: 100000 is above the limit of 16384"},
      {{64, 64, 16384, 0}, ProblemField::Actions, "actions: 3145728 is above the limit of 1000000"},
      // A stage count from a bad plan file: the product is computed without overflow.
      {{0, 0, 16384, 1LL << 40}, ProblemField::Actions, "actions: "},
  };
  for (const Case& c : cases) {
    try {
      check_problem_size(c.size);
      ADD_FAILURE() << c.text;
    } catch (const ProblemTooLarge& e) {
      EXPECT_EQ(e.field, c.field) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(c.text, 0), 0u) << e.what();
      EXPECT_GT(e.value, e.limit);
    }
  }
}

TEST(ProblemLimits, BalancedPartitionOfAHundredThousandLayersIsValidAndBalanced) {
  const int L = 100000, S = 16;
  std::vector<double> w(L);
  for (int l = 0; l < L; ++l) w[l] = 1.0 + (l % 7) * 0.25 + (l == L - 1 ? 50.0 : 0.0);
  std::vector<double> speed(S, 1.0);
  speed[3] = 2.0;  // one stage on a device twice as fast gets about twice the layers' weight
  const Partition p = balanced_partition(w, speed);
  ASSERT_EQ(p.num_stages(), S);
  EXPECT_EQ(p.bounds.front(), 0);
  EXPECT_EQ(p.bounds.back(), L);
  double total = 0;
  for (double x : w) total += x;
  const double unit = total / (S + 1);  // the speed sum is S + 1
  for (int s = 0; s < S; ++s) {
    ASSERT_GE(p.stage_size(s), 1);
    double t = 0;
    for (int l = p.bounds[s]; l < p.bounds[s + 1]; ++l) t += w[l];
    EXPECT_NEAR(t / speed[s], unit, 60.0) << "stage " << s;  // within the heaviest layer of its share
  }
  // More stages than the exact program would take, up to one layer each.
  const Partition one_each = balanced_partition(std::vector<double>(5000, 1.0), 5000);
  for (int s = 0; s < 5000; ++s) ASSERT_EQ(one_each.stage_size(s), 1);
}

TEST(ProblemLimits, SmallPartitionsStayExact) {
  // Under kExactPartitionWork the dynamic program decides: 7 equal layers on 2 stages split 4 + 3
  // (ties go to the later split, as even_partition does).
  const Partition p = balanced_partition(std::vector<double>(7, 1.0), 2);
  EXPECT_EQ(p.bounds, (std::vector<int>{0, 4, 7}));
}

TEST(ProblemLimits, LowerBoundBinsMatchTheirDefinition) {
  CostTable costs;
  for (int l = 0; l < 37; ++l) {
    LayerCost c;
    c.f_ms = 1 + (l * 7919 % 13);
    c.b_ms = 2 * c.f_ms;
    costs.layers.push_back(c);
  }
  const Cluster cluster = make_uniform_cluster(4);
  const IterationLowerBound b = iteration_lower_bound(costs, cluster, 4, 8, {});
  std::vector<double> t;
  for (const auto& c : costs.layers) t.push_back(c.f_ms + c.b_ms);
  std::sort(t.begin(), t.end(), std::greater<>());
  double bins = 0;
  for (int k = 0; k * 4 + 1 <= 37; ++k) {
    double s = 0;
    for (int i = k * 4 - k; i <= k * 4; ++i) s += t[i];
    bins = std::max(bins, s * 8 / cluster.devices[0].speed);
  }
  EXPECT_NEAR(b.bins_ms, bins, 1e-9 * bins);
}

}  // namespace
}  // namespace adaptis
