// The GPU profiler on a real GPU: a cost table with positive times for every layer unit, CUPTI records
// attributed to every (unit, pass), the event fallback, and the profile's simulation predicting the same
// order of magnitude as the run. Skipped without a GPU.
#include <gtest/gtest.h>

#include <set>

#include "adaptis/executor/gpu.h"
#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"

using namespace adaptis;
using namespace adaptis::prof;

#define ADAPTIS_REQUIRE_GPU()                                              \
  do {                                                                     \
    std::string why_;                                                      \
    if (!exec::gpu_available(&why_)) GTEST_SKIP() << why_;                 \
  } while (0)

namespace {
exec::NetConfig model() {
  exec::NetConfig cfg = exec::make_net_config({exec::LayerType::Attention, exec::LayerType::Mlp,
                                               exec::LayerType::Moe, exec::LayerType::Mamba});
  cfg.seq = 32;
  cfg.micro_batch = 2;
  return cfg;
}
}  // namespace

TEST(GpuProfiler, EveryUnitGetsPositiveTimesWithEvents) {
  ADAPTIS_REQUIRE_GPU();
  GpuProfileOptions o;
  o.timing = GpuTiming::CudaEvents;
  o.repeats = 3;
  o.warmup = 1;
  const GpuProfileResult r = profile_gpu(model(), o);
  EXPECT_EQ(r.timing, "events");
  ASSERT_EQ(r.costs.num_layers(), static_cast<int>(exec::plan_layer_units(model(), false).count()));
  for (const LayerCost& c : r.costs.layers) {
    EXPECT_GT(c.f_ms, 0) << c.name;
    EXPECT_GT(c.param_bytes, 0) << c.name;
    if (c.kind != "embedding") {
      EXPECT_GT(c.b_ms, 0) << c.name;
    }
    EXPECT_GT(c.w_ms, 0) << c.name;
  }
  EXPECT_GT(r.peak_memory_bytes, 0u);
  EXPECT_TRUE(r.records.empty());
}

TEST(GpuProfiler, CuptiAttributesKernelsToEveryPassOrSaysWhyNot) {
  ADAPTIS_REQUIRE_GPU();
  GpuProfileOptions o;
  o.repeats = 3;
  o.warmup = 1;
  o.split_blocks = true;
  const GpuProfileResult r = profile_gpu(model(), o);
  if (r.timing != "cupti") {
    EXPECT_FALSE(r.fallback_reason.empty());
    GTEST_SKIP() << "CUPTI unavailable here: " << r.fallback_reason;
  }
  std::set<std::pair<int, char>> seen;
  for (const ActivityRecord& a : r.records) {
    EXPECT_LE(a.start_ns, a.end_ns);
    EXPECT_GE(a.repeat, 0);
    EXPECT_LT(a.repeat, 3);
    if (a.kind == "kernel") seen.insert({a.unit, a.pass});
  }
  const int U = r.costs.num_layers();
  for (int u = 0; u < U; ++u) {
    EXPECT_TRUE(seen.count({u, 'F'})) << "unit " << u << " F has no kernels";
    EXPECT_TRUE(seen.count({u, 'W'})) << "unit " << u << " W has no kernels";
    EXPECT_GT(r.units[u].f_kernels, 0);
    EXPECT_LE(r.units[u].f_kernel_ms, r.units[u].f_ms * 1.0001) << "kernel time exceeds the pass span";
  }
  EXPECT_GT(r.events_total_ms, 0);
  EXPECT_GT(r.cupti_total_ms, 0);
  // Overhead is measured, and sane (CUPTI cannot make the same work 10x faster or slower).
  EXPECT_GT(r.cupti_overhead, -0.5);
  EXPECT_LT(r.cupti_overhead, 10.0);
}

TEST(GpuProfiler, CuptiOnlyModeFailsClearlyWhenCuptiCannotTrace) {
  ADAPTIS_REQUIRE_GPU();
  std::string why;
  if (cupti_available(&why)) GTEST_SKIP() << "CUPTI works here";
  GpuProfileOptions o;
  o.timing = GpuTiming::Cupti;
  o.repeats = 1;
  EXPECT_THROW(profile_gpu(model(), o), InputError);
}
