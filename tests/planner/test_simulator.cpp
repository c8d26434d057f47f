// The performance model: textbook values on uniform costs, the AdaPtis authors' reference number,
// memory accounting, bubble attribution and deadlock diagnosis.
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"

using namespace adaptis;

namespace {

CostTable uniform_costs(int layers, double f, double b, double w) {
  CostTable t;
  t.model = "uniform";
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = "l";  // appended, not "l" + ...: GCC 12 warns falsely (-Wrestrict) on that once inlined
    c.name += std::to_string(i);
    c.f_ms = f;
    c.b_ms = b;
    c.w_ms = w;
    t.layers.push_back(c);
  }
  return t;
}

SimOptions no_latency() {
  SimOptions o;
  o.comm_latency_ms = 0;
  return o;
}

Plan plan_for(const std::string& schedule, int p, int m, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = p;
  r.microbatches = m;
  return build_plan(r, layers);
}

}  // namespace

TEST(Simulator, OneFOneBUniformBubbleIsTextbook) {
  for (int p : {2, 4, 8}) {
    for (int m : {p, 2 * p, 3 * p + 1}) {
      CostTable c = uniform_costs(p, 1.0, 2.0, 0.0);
      Plan plan = plan_for("1f1b", p, m, p);
      SimResult r = simulate(plan, c, make_uniform_cluster(p), no_latency());
      ASSERT_TRUE(r.ok) << r.error;
      EXPECT_DOUBLE_EQ(r.iteration_ms, (m + p - 1) * 3.0) << "p=" << p << " m=" << m;
      for (const auto& d : r.devices) {
        EXPECT_DOUBLE_EQ(d.busy_ms, m * 3.0);
        EXPECT_DOUBLE_EQ(d.bubble_ms, (p - 1) * 3.0);  // (p-1)(F+B)
      }
      EXPECT_NEAR(r.bubble_ratio, double(p - 1) / (m + p - 1), 1e-12);
    }
  }
}

TEST(Simulator, GPipeUniformBubbleIsTextbook) {
  const int p = 4, m = 8;
  CostTable c = uniform_costs(8, 0.5, 1.0, 0.5);  // 2 layers per stage: F=1, BW=3
  SimResult r = simulate(plan_for("gpipe", p, m, 8), c, make_uniform_cluster(p), no_latency());
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.iteration_ms, (m + p - 1) * 4.0);
  EXPECT_DOUBLE_EQ(r.devices[0].bubble_ms, (p - 1) * 4.0);
  // Rank 0 waits (p-1) forwards at the start of the backward phase; the last rank idles at the start.
  EXPECT_DOUBLE_EQ(r.devices[3].warmup_bubble_ms, 3.0);
}

TEST(Simulator, ReproducesAuthorsNemotronOneFOneB) {
  // shared/peer-profiles, 4 devices, 8 micro-batches, 1F1B, 14 layers per stage, zero latency:
  // the AdaPtis authors' simulator gives 13372 units of 0.1 ms.
  CostTable c = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json");
  ASSERT_EQ(c.num_layers(), 56);
  PlanRequest r;
  r.schedule = "1f1b";
  r.devices = 4;
  r.microbatches = 8;
  r.partition = {14, 14, 14, 14};
  SimResult s = simulate(build_plan(r, 56), c, make_uniform_cluster(4), no_latency());
  ASSERT_TRUE(s.ok);
  EXPECT_NEAR(s.iteration_ms, 1337.2, 1e-9);
}

TEST(Simulator, LatencyAndBandwidthDelayCrossDeviceEdgesOnly) {
  CostTable c = uniform_costs(2, 1.0, 1.0, 0.0);
  for (auto& l : c.layers) l.out_bytes = 1e9;  // 1 GB at 100 GB/s = 10 ms
  Cluster cl = make_uniform_cluster(2);
  cl.intra_node = Link{0.5, 100e9};
  SimOptions o;
  SimResult r = simulate(plan_for("1f1b", 2, 1, 2), c, cl, o);
  ASSERT_TRUE(r.ok);
  // F0 (1) -> send 10.5 -> F1 (1) -> B1 (1) -> send 10.5 -> B0 (1)
  EXPECT_NEAR(r.iteration_ms, 4 + 2 * 10.5, 1e-9);
  bool saw_transfer = false;
  for (const auto& g : r.gaps) saw_transfer |= g.cause == GapCause::Transfer;
  EXPECT_TRUE(saw_transfer);
  // Without overlap the sender is blocked for its send as well.
  o.overlap_comm = false;
  SimResult r2 = simulate(plan_for("1f1b", 2, 1, 2), c, cl, o);
  EXPECT_NEAR(r2.devices[0].busy_ms, 2.0, 1e-9);
  EXPECT_NEAR(r2.iteration_ms, 25.0, 1e-9);
}

TEST(Simulator, HeterogeneousDeviceSpeedScalesTimes) {
  CostTable c = uniform_costs(2, 1.0, 2.0, 0.0);
  Cluster cl = make_uniform_cluster(2);
  cl.devices[1].speed = 0.5;
  SimResult r = simulate(plan_for("gpipe", 2, 1, 2), c, cl, no_latency());
  ASSERT_TRUE(r.ok);
  EXPECT_DOUBLE_EQ(r.iteration_ms, 1 + 2 + 4 + 2);
}

TEST(Simulator, MemoryPeakAndOom) {
  const int p = 4, m = 8;
  CostTable c = uniform_costs(p, 1.0, 1.0, 1.0);
  for (auto& l : c.layers) {
    l.state_bytes = 100;
    l.act_b_bytes = 10;
    l.act_w_bytes = 0;
  }
  SimResult one = simulate(plan_for("1f1b", p, m, p), c, make_uniform_cluster(p), no_latency());
  SimResult gp = simulate(plan_for("gpipe", p, m, p), c, make_uniform_cluster(p), no_latency());
  // 1F1B keeps p - r micro-batches alive on rank r; GPipe keeps all m.
  for (int r = 0; r < p; ++r) {
    EXPECT_DOUBLE_EQ(one.devices[r].peak_memory_bytes, 100 + 10.0 * (p - r)) << r;
    EXPECT_DOUBLE_EQ(gp.devices[r].peak_memory_bytes, 100 + 10.0 * m) << r;
  }
  Cluster tight = make_uniform_cluster(p);
  for (auto& d : tight.devices) d.memory_limit_bytes = 135;
  SimResult o = simulate(plan_for("1f1b", p, m, p), c, tight, no_latency());
  EXPECT_TRUE(o.oom);
  EXPECT_TRUE(o.devices[0].oom);
  EXPECT_FALSE(o.devices[2].oom);  // 100 + 20
}

TEST(Simulator, EveryGapNamesItsCause) {
  CostTable c = uniform_costs(4, 1.0, 2.0, 0.0);
  SimResult r = simulate(plan_for("1f1b", 4, 8, 4), c, make_uniform_cluster(4), no_latency());
  ASSERT_TRUE(r.ok);
  double total = 0;
  for (const auto& g : r.gaps) {
    total += g.end - g.start;
    if (g.cause != GapCause::Drain) {
      EXPECT_GE(g.producer_device, 0);
      EXPECT_NEAR(g.arrival, g.end, 1e-9);  // the last dependency arrived exactly when the gap ended
    }
  }
  double bubble = 0;
  for (const auto& d : r.devices) bubble += d.bubble_ms;
  EXPECT_NEAR(total, bubble, 1e-9);
  // Device 3 (last) starts after three forwards: its first gap is warm-up, caused by F s2 mb0.
  const Gap* first = nullptr;
  for (const auto& g : r.gaps)
    if (g.device == 3 && (!first || g.start < first->start)) first = &g;
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->phase, BubblePhase::WarmUp);
  EXPECT_EQ(first->producer.stage, 2);
  EXPECT_EQ(first->producer.op, Op::F);
}

TEST(Simulator, DeadlockIsDiagnosedNotHung) {
  Plan plan = plan_for("1f1b", 2, 2, 2);
  // Device 0 wants the backward of mb1 before sending mb1's forward: B s0 mb1 needs B s1 mb1,
  // which needs F s1 mb1, which needs F s0 mb1 queued behind it.
  auto& d0 = plan.schedule[0];
  d0 = {Action{Op::F, 0, 0}, Action{Op::BW, 0, 0}, Action{Op::BW, 0, 1}, Action{Op::F, 0, 1}};
  CostTable c = uniform_costs(2, 1, 1, 0);
  ValidationReport v = validate_plan(plan, 2);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("stage 0 mb 1: BW comes before its F"), std::string::npos) << v.message();
  // A real cross-device cycle: device 1 runs mb1 before mb0 while device 0 keeps mb0 first.
  plan = plan_for("gpipe", 2, 2, 2);
  plan.schedule[1] = {Action{Op::F, 1, 1}, Action{Op::F, 1, 0}, Action{Op::BW, 1, 0}, Action{Op::BW, 1, 1}};
  plan.schedule[0] = {Action{Op::F, 0, 0}, Action{Op::BW, 0, 0}, Action{Op::F, 0, 1}, Action{Op::BW, 0, 1}};
  SimResult r = simulate(plan, c, make_uniform_cluster(2), no_latency());
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("deadlock"), std::string::npos);
  EXPECT_NE(r.error.find("cycle: device"), std::string::npos) << r.error;
}

TEST(Simulator, RejectsMismatchedInputs) {
  CostTable c = uniform_costs(8, 1, 1, 0);
  Plan plan = plan_for("1f1b", 4, 4, 8);
  EXPECT_THROW(simulate(plan, uniform_costs(7, 1, 1, 0), make_uniform_cluster(4)), InputError);
  EXPECT_THROW(simulate(plan, c, make_uniform_cluster(2)), InputError);
}
