// Activation offload over variable-length units: each (stage, unit) copies the stage's offload fraction of
// what its own F keeps (UnitStageCost::offload_bytes), to host after its F and back before its R or B; the
// simulator and the list scheduler's replay price and hold those copies alike.
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

using test::packed;
using test::split_costs;

Cluster host_cluster(int p, double host_gbs) {
  Cluster c = make_uniform_cluster(p);
  for (auto& d : c.devices) {
    d.host_link.bandwidth = host_gbs * 1e9;
    d.host_link.latency_ms = 0;
    d.host_link.group = -1;
  }
  return c;
}

std::vector<WorkUnit> mixed_units() {
  std::vector<WorkUnit> units = {packed({300, 200}), packed({1500})};
  for (auto& u : slice_row({4000}, {2000, 1200, 800}, 0)) units.push_back(u);
  units.push_back(packed({900, 10}));
  return units;
}

StageMemoryPolicy offload(double fraction, Recompute r = Recompute::None) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.offload_fraction = fraction;
  return p;
}

}  // namespace

TEST(UnitOffload, EachUnitCopiesItsShareOfWhatItsForwardKeeps) {
  const std::vector<WorkUnit> units = mixed_units();
  const CostTable costs = split_costs(4, 2.0, 1.0, 0.1);
  const Partition part = Partition::from_sizes({2, 2});
  std::vector<UnitStageCost> uc;
  // Stage 0 offloads half of everything; stage 1 recomputes units 1 and 3 fully and offloads all it keeps.
  StageMemoryPolicy rec = offload(1.0, Recompute::Full);
  rec.units = {1, 3};
  unit_stage_costs(stage_costs(costs, part, {offload(0.5), rec}), units, cost_reference(costs), uc, {offload(0.5), rec});
  const size_t U = units.size();
  for (size_t u = 0; u < U; ++u) {
    EXPECT_DOUBLE_EQ(uc[u].offload_bytes, 0.5 * uc[u].kept()) << u;
    EXPECT_DOUBLE_EQ(uc[U + u].offload_bytes, uc[U + u].kept()) << u;
  }
  // A recomputed unit copies only its checkpoint; the others everything.
  EXPECT_LT(uc[U + 1].offload_bytes, uc[U + 1].act_b_bytes);
  EXPECT_DOUBLE_EQ(uc[U + 0].offload_bytes, uc[U + 0].act_b_bytes + uc[U + 0].act_w_bytes);
  EXPECT_DOUBLE_EQ(uc[1].offload_bytes, 0.5 * 1.5 * 2 * 1000);  // 1500 tokens, 2 layers of 1000 per 1000
}

// Every copy is the unit's own size, the host link's time follows, and the activation peak falls.
TEST(UnitOffload, TheSimulatorCopiesEachUnitsBytes) {
  const std::vector<WorkUnit> units = mixed_units();
  const CostTable costs = split_costs(4, 2.0, 1.0, 0.1);
  PlanRequest r;
  r.schedule = "gpipe";
  r.devices = 2;
  r.units = units;
  const Plan base = build_plan(r, 4);
  Plan off = base;
  set_memory_policy(off, {offload(1.0), offload(1.0)});
  ASSERT_TRUE(validate_plan(off, 4).ok()) << validate_plan(off, 4).message();
  const SimResult r0 = simulate(base, costs, host_cluster(2, 50));
  const SimResult r1 = simulate(off, costs, host_cluster(2, 50));
  ASSERT_TRUE(r0.ok && r1.ok) << r0.error << r1.error;
  std::vector<UnitStageCost> uc;
  unit_stage_costs(stage_costs(costs, off.partition, off.memory), units, cost_reference(costs), uc, off.memory);
  size_t copies = 0;
  for (const HostTransfer& x : r1.host_transfers) {
    EXPECT_DOUBLE_EQ(x.bytes, uc[static_cast<size_t>(x.stage) * units.size() + x.mb].offload_bytes);
    const double ms = x.bytes / 50e9 * 1e3;
    EXPECT_NEAR(x.end - x.start, ms, 1e-9);
    ++copies;
  }
  // GPipe: every F of each stage goes out and comes back, but one whose consumer follows it at once.
  EXPECT_EQ(copies % 2, 0u);
  EXPECT_GE(copies, 2 * 2 * (units.size() - 1));
  EXPECT_LT(r1.devices[0].peak_activation_bytes, r0.devices[0].peak_activation_bytes);
  EXPECT_GT(r1.devices[0].offloaded_bytes, 0);
  // A slow link delays the backwards that wait for their reload.
  const SimResult slow = simulate(off, costs, host_cluster(2, 1e-6));
  ASSERT_TRUE(slow.ok) << slow.error;
  EXPECT_GT(slow.iteration_ms, r0.iteration_ms);
}

// The list scheduler issues the same copies: its time and peaks are the simulator's over its plan.
TEST(UnitOffload, ListSchedulerIsReplayedExactly) {
  const std::vector<WorkUnit> units = mixed_units();
  const CostTable c = split_costs(8, 2.0, 1.0, 0.1);
  StageCostCache cache(c);
  for (double gbs : {50.0, 0.002}) {
    ListScheduleProblem pb;
    pb.microbatches = static_cast<int>(units.size());
    pb.num_devices = 4;
    pb.stage_device = looped_stage_devices(4, 4);
    const Partition part = even_partition(8, 4);
    const std::vector<StageMemoryPolicy> memory(4, offload(0.75));
    cache.stages(part.bounds, pb.stages, &memory);
    unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs, memory);
    pb.memory = memory;
    const SliceLinks links = slice_links(units);
    pb.slice_prev = links.prev;
    pb.slice_next = links.next;
    const Cluster cl = host_cluster(4, gbs);
    ListSchedulePolicy pol;
    ListScheduler ls;
    const ListScheduleResult lr = ls.run(pb, cl, SimOptions{}, pol, true);
    ASSERT_TRUE(lr.ok) << lr.error;
    Plan p = list_schedule_plan(pb, part, cl, SimOptions{}, pol, "ls");
    p.units = units;
    ASSERT_TRUE(validate_plan(p, 8).ok()) << validate_plan(p, 8).message();
    const SimResult s = simulate(p, c, cl);
    ASSERT_TRUE(s.ok) << s.error;
    EXPECT_FALSE(s.host_transfers.empty());
    EXPECT_NEAR(s.iteration_ms, lr.iteration_ms, 1e-9 * s.iteration_ms) << gbs;
    for (int d = 0; d < 4; ++d) EXPECT_NEAR(s.devices[d].peak_memory_bytes, lr.peak_bytes[d], 1e-6) << d << " " << gbs;
  }
}

// Later slices attend to a read slice's keys and values while it waits for its backward: they stay on the
// device, and only the rest is copied.
TEST(UnitOffload, AReadSliceKeepsItsKeysAndValuesOnTheDevice) {
  const std::vector<WorkUnit> units = mixed_units();  // units 2, 3, 4: slices 0, 1, 2 of row 0
  CostTable costs = split_costs(4, 2.0, 1.0, 0.1);
  for (LayerCost& l : costs.layers) l.kv_bytes = 300;
  const Partition part = Partition::from_sizes({2, 2});
  const std::vector<StageMemoryPolicy> all(2, offload(1.0));
  std::vector<UnitStageCost> uc;
  unit_stage_costs(stage_costs(costs, part, all), units, cost_reference(costs), uc, all);
  EXPECT_DOUBLE_EQ(uc[2].carry_bytes, 2 * 2 * 300.0);  // 2000 tokens, 2 layers
  EXPECT_DOUBLE_EQ(uc[2].offload_bytes, uc[2].kept() - uc[2].carry_bytes);
  EXPECT_DOUBLE_EQ(uc[3].offload_bytes, uc[3].kept() - uc[3].carry_bytes);
  EXPECT_DOUBLE_EQ(uc[4].offload_bytes, uc[4].kept());  // the last slice: nobody reads it
  EXPECT_DOUBLE_EQ(uc[0].offload_bytes, uc[0].kept());
  // A small fraction is within what may move: no cap.
  const std::vector<StageMemoryPolicy> quarter(2, offload(0.25));
  unit_stage_costs(stage_costs(costs, part, quarter), units, cost_reference(costs), uc, quarter);
  EXPECT_DOUBLE_EQ(uc[2].offload_bytes, 0.25 * uc[2].kept());
}
