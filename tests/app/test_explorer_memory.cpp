// The memory dimension in the explorer core, driven by its commands alone: recompute and offload
// per stage or on every stage re-simulate exactly as the simulator says, undo restores the plan,
// schedule changes keep the policy, "auto" picks the weakest policy that fits the cap, and the
// timeline and legend carry R actions and host-link copies.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "explorer/explorer.h"
#include "explorer/legend.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

// Activation-heavy layers with the recompute figures given: selective keeps a third, full keeps
// the layer input; selective recompute costs a fifth of F.
CostTable memory_costs(int layers = 12) {
  CostTable t;
  t.model = "memory-test";
  t.source = "test";
  for (int i = 0; i < layers; ++i) {
    LayerCost l;
    l.name = "layers." + std::to_string(i);
    l.f_ms = 1.0 + 0.25 * (i % 3);
    l.b_ms = 2 * l.f_ms;
    l.w_ms = 0.5 * l.f_ms;
    l.state_bytes = 1e9;
    l.act_b_bytes = 6e8;
    l.act_w_bytes = 3e8;
    l.out_bytes = 2e7;
    l.kept_selective_bytes = 3e8;
    l.recompute_selective_ms = 0.2 * l.f_ms;
    l.kept_full_bytes = 2e7;
    t.layers.push_back(l);
  }
  return t;
}

Explorer make_explorer(const std::string& schedule = "1f1b") {
  Explorer ex(app::Inputs{memory_costs(), make_uniform_cluster(4), SimOptions{}}, ExplorerConfig{});
  PlanRequest req;
  req.schedule = schedule;
  req.devices = 4;
  req.microbatches = 8;
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

// The plan on screen simulated afresh (not the core's cached numbers).
SimResult resimulated(const Explorer& ex) {
  return simulate(ex.editor().plan(), ex.editor().costs(), ex.editor().cluster(), ex.editor().sim_options());
}

double max_peak(const SimResult& r) {
  double m = 0;
  for (const auto& d : r.devices) m = std::max(m, d.peak_memory_bytes);
  return m;
}

size_t count_r(const Plan& p) {
  size_t n = 0;
  for (const auto& list : p.schedule)
    for (const Action& a : list) n += a.op == Op::R;
  return n;
}

StageMemoryPolicy policy(Recompute r, double offload = 0) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.offload_fraction = offload;
  return p;
}

}  // namespace

TEST(ExplorerMemory, FullRecomputeOnEveryStageResimulatesAndUndoRestores) {
  Explorer ex = make_explorer();
  const double base_ms = ex.editor().sim().iteration_ms;
  const double base_peak = max_peak(ex.editor().sim());
  ASSERT_EQ(count_r(ex.editor().plan()), 0u);

  // What the simulator says for the same plan with full recompute on every stage.
  Plan expected = ex.editor().plan();
  set_uniform_memory_policy(expected, policy(Recompute::Full));
  const SimResult want = simulate(expected, ex.editor().costs(), ex.editor().cluster(), ex.editor().sim_options());

  EditResult r = ex.set_memory_policy(-1, policy(Recompute::Full));
  ASSERT_TRUE(r.applied) << r.message << ex.message().text;
  const Plan& p = ex.editor().plan();
  EXPECT_EQ(count_r(p), static_cast<size_t>(p.num_stages() * p.num_microbatches));
  EXPECT_NEAR(ex.editor().sim().iteration_ms, want.iteration_ms, 1e-9);
  EXPECT_NEAR(max_peak(ex.editor().sim()), max_peak(want), 1.0);
  EXPECT_GT(ex.editor().sim().iteration_ms, base_ms);  // R costs compute
  EXPECT_LT(max_peak(ex.editor().sim()), base_peak);   // and frees activations
  EXPECT_NEAR(resimulated(ex).iteration_ms, ex.editor().sim().iteration_ms, 1e-9);
  // The evaluation the views draw carries the split and the policy.
  const MemoryOverview& m = ex.memory();
  ASSERT_EQ(m.devices.size(), 4u);
  EXPECT_TRUE(m.policies);
  EXPECT_NE(m.policy_text.find("full"), std::string::npos) << m.policy_text;
  EXPECT_EQ(m.recompute_actions, count_r(p));
  double recomputed = 0;
  for (const auto& d : m.devices) {
    EXPECT_GT(d.recompute_ms, 0);
    EXPECT_NEAR(d.kept_bytes + d.recomputed_bytes + d.static_bytes, d.peak_bytes, 1.0);
    recomputed += d.recomputed_bytes;
  }
  EXPECT_GT(recomputed, 0);
  EXPECT_NE(ex.message().text.find("full"), std::string::npos) << ex.message().text;

  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(count_r(ex.editor().plan()), 0u);
  EXPECT_TRUE(ex.editor().plan().memory.empty() || !has_memory_policy(ex.editor().plan()));
  EXPECT_DOUBLE_EQ(ex.editor().sim().iteration_ms, base_ms);
  EXPECT_DOUBLE_EQ(max_peak(ex.editor().sim()), base_peak);
  EXPECT_FALSE(ex.memory().policies);
  ASSERT_TRUE(ex.redo());
  EXPECT_NEAR(ex.editor().sim().iteration_ms, want.iteration_ms, 1e-9);
}

TEST(ExplorerMemory, PerStageCyclingAndOffloadSteps) {
  Explorer ex = make_explorer();
  ASSERT_TRUE(ex.cycle_recompute(1, +1).applied) << ex.message().text;
  EXPECT_EQ(ex.memory_policy(1).recompute, Recompute::Selective);
  EXPECT_EQ(ex.memory_policy(0).recompute, Recompute::None);
  EXPECT_EQ(ex.memory_policy(2).recompute, Recompute::None);
  ASSERT_TRUE(ex.cycle_recompute(1, +1).applied);
  EXPECT_EQ(ex.memory_policy(1).recompute, Recompute::Full);
  ASSERT_TRUE(ex.cycle_recompute(1, +1).applied);  // wraps back to none
  EXPECT_EQ(ex.memory_policy(1).recompute, Recompute::None);
  ASSERT_TRUE(ex.cycle_recompute(1, -1).applied);  // and backwards to full
  EXPECT_EQ(ex.memory_policy(1).recompute, Recompute::Full);
  // Only stage 1's micro-batches are recomputed.
  const Plan& p = ex.editor().plan();
  for (const auto& list : p.schedule)
    for (const Action& a : list) {
      if (a.op == Op::R) {
        EXPECT_EQ(a.stage, 1);
      }
    }
  EXPECT_EQ(count_r(p), static_cast<size_t>(p.num_microbatches));

  // Offload on every stage: a quarter per step, host copies simulated and drawn on the host lane.
  ASSERT_TRUE(ex.step_offload(-1, +1).applied) << ex.message().text;
  for (int s = 0; s < ex.editor().plan().num_stages(); ++s)
    EXPECT_DOUBLE_EQ(ex.memory_policy(s).offload_fraction, 0.25);
  EXPECT_EQ(ex.memory_policy(1).recompute, Recompute::Full);  // the recompute choice stays
  const SimResult& sim = ex.editor().sim();
  ASSERT_FALSE(sim.host_transfers.empty());
  const TimelineData& tl = ex.side(0).timeline();
  size_t offloads = 0, reloads = 0, rs = 0;
  for (const auto& dev : tl.devices) {
    for (const TimelineBox& b : dev.host.boxes) {
      offloads += b.kind == BoxKind::Offload;
      reloads += b.kind == BoxKind::Reload;
      EXPECT_GE(b.end, b.start);
    }
    for (const TimelineBox& b : dev.compute.boxes) rs += b.kind == BoxKind::R;
  }
  size_t want_off = 0;
  for (const HostTransfer& h : sim.host_transfers) want_off += h.to_host;
  EXPECT_EQ(offloads, want_off);
  EXPECT_EQ(reloads, sim.host_transfers.size() - want_off);
  EXPECT_EQ(rs, count_r(ex.editor().plan()));
  EXPECT_EQ(ex.memory().host_copies, sim.host_transfers.size());
  // Stepping down past zero stays at zero; up past one stays at one.
  ASSERT_TRUE(ex.step_offload(-1, -1).applied);
  EXPECT_DOUBLE_EQ(ex.memory_policy(0).offload_fraction, 0.0);
  EXPECT_FALSE(ex.step_offload(-1, -1).applied);  // nothing to change
  EXPECT_FALSE(ex.cycle_recompute(9, +1).applied);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("stage 9"), std::string::npos) << ex.message().text;
}

TEST(ExplorerMemory, TimelineEdgesAndLegendShowRecompute) {
  Explorer ex = make_explorer();
  ASSERT_TRUE(ex.set_memory_policy(-1, policy(Recompute::Full, 0.5)).applied) << ex.message().text;
  const TimelineData& tl = ex.side(0).timeline();
  // B (or the fused BW 1F1B uses) waits for its R; R needs its F.
  const Op bop = tl.locate(Op::B, 1, 2).device >= 0 ? Op::B : Op::BW;
  ASSERT_GE(tl.locate(bop, 1, 2).device, 0);
  bool b_needs_r = false;
  for (const ActionEdge& e : action_edges(tl, bop, 1, 2)) b_needs_r = b_needs_r || (e.incoming && e.op == Op::R);
  EXPECT_TRUE(b_needs_r);
  bool r_needs_f = false, r_feeds_b = false;
  for (const ActionEdge& e : action_edges(tl, Op::R, 1, 2)) {
    r_needs_f = r_needs_f || (e.incoming && e.op == Op::F && e.stage == 1);
    r_feeds_b = r_feeds_b || (!e.incoming && e.op == bop && e.stage == 1);
  }
  EXPECT_TRUE(r_needs_f);
  EXPECT_TRUE(r_feeds_b);
  // The R box runs before its B and after its F on the same device.
  const PathStep f = tl.locate(Op::F, 1, 2), r = tl.locate(Op::R, 1, 2), b = tl.locate(bop, 1, 2);
  ASSERT_GE(r.device, 0);
  ASSERT_EQ(f.device, r.device);
  ASSERT_EQ(b.device, r.device);
  const auto& boxes = tl.devices[static_cast<size_t>(r.device)].compute.boxes;
  EXPECT_EQ(boxes[static_cast<size_t>(r.index)].kind, BoxKind::R);
  EXPECT_LE(boxes[static_cast<size_t>(f.index)].end, boxes[static_cast<size_t>(r.index)].start + 1e-9);
  EXPECT_LE(boxes[static_cast<size_t>(r.index)].end, boxes[static_cast<size_t>(b.index)].start + 1e-9);
  // A search for R finds the recompute actions.
  ASSERT_TRUE(ex.set_filter("R s1"));
  ASSERT_TRUE(ex.select_next_match(+1));
  ASSERT_NE(ex.selected_box(), nullptr);
  EXPECT_EQ(ex.selected_box()->op, Op::R);

  LegendContext c;
  c.recompute = true;
  c.host_copies = true;
  std::vector<LegendMark> marks;
  for (const LegendEntry& e : legend(c)) marks.push_back(e.mark);
  for (LegendMark m : {LegendMark::Recompute, LegendMark::Offload, LegendMark::Reload})
    EXPECT_NE(std::find(marks.begin(), marks.end(), m), marks.end());
  EXPECT_EQ(legend(LegendContext{}).size(), legend(LegendContext{}).size());
  for (const LegendEntry& e : legend(LegendContext{}))
    EXPECT_TRUE(e.mark != LegendMark::Recompute && e.mark != LegendMark::Offload && e.mark != LegendMark::Reload);
}

TEST(ExplorerMemory, ScheduleChangesKeepThePolicy) {
  Explorer ex = make_explorer();
  ASSERT_TRUE(ex.set_memory_policy(-1, policy(Recompute::Selective)).applied);
  ASSERT_TRUE(ex.choose_schedule("zb-h1").applied) << ex.message().text;
  const Plan& p = ex.editor().plan();
  for (int s = 0; s < p.num_stages(); ++s) EXPECT_EQ(ex.memory_policy(s).recompute, Recompute::Selective);
  EXPECT_EQ(count_r(p), static_cast<size_t>(p.num_stages() * p.num_microbatches));
  ASSERT_TRUE(ex.set_microbatches(12).applied) << ex.message().text;
  EXPECT_EQ(count_r(ex.editor().plan()), static_cast<size_t>(ex.editor().plan().num_stages() * 12));
  // Per-stage choices survive an edit that keeps the stage count.
  ASSERT_TRUE(ex.set_memory_policy(2, policy(Recompute::Full)).applied);
  ASSERT_TRUE(ex.choose_schedule("1f1b").applied) << ex.message().text;
  EXPECT_EQ(ex.memory_policy(2).recompute, Recompute::Full);
  EXPECT_EQ(ex.memory_policy(0).recompute, Recompute::Selective);
  // Another stage count cannot keep per-stage choices: they are reset and the message says so.
  ASSERT_TRUE(ex.choose_schedule("interleaved-1f1b").applied) << ex.message().text;
  EXPECT_NE(ex.editor().plan().num_stages(), 4);
  EXPECT_FALSE(has_memory_policy(ex.editor().plan()));
  EXPECT_NE(ex.message().text.find("memory policies"), std::string::npos) << ex.message().text;
}

TEST(ExplorerMemory, AutoPicksTheWeakestPolicyThatFitsTheCap) {
  Explorer ex = make_explorer();
  const Plan base = ex.editor().plan();
  // A cap between what full and none need on the busiest device: none does not fit.
  auto peak_with = [&](Recompute r) {
    Plan p = base;
    set_uniform_memory_policy(p, policy(r));
    return max_peak(simulate(p, ex.editor().costs(), ex.editor().cluster(), ex.editor().sim_options()));
  };
  const double none = peak_with(Recompute::None), sel = peak_with(Recompute::Selective), full = peak_with(Recompute::Full);
  ASSERT_GT(none, sel);
  ASSERT_GT(sel, full);
  const double cap = (sel + none) / 2;  // selective fits, none does not
  for (int d = 0; d < 4; ++d) ASSERT_TRUE(ex.set_memory_limit(d, cap).applied) << ex.message().text;
  ASSERT_TRUE(ex.editor().sim().oom);
  EXPECT_TRUE(ex.memory().oom);
  ASSERT_GE(ex.memory().worst, 0);
  EXPECT_GT(ex.memory().devices[static_cast<size_t>(ex.memory().worst)].fill(), 1.0);

  ASSERT_TRUE(ex.auto_memory_policy().applied) << ex.message().text;
  EXPECT_FALSE(ex.editor().sim().oom);
  for (int s = 0; s < 4; ++s) EXPECT_EQ(ex.memory_policy(s).recompute, Recompute::Selective);
  EXPECT_NE(ex.message().text.find("selective"), std::string::npos) << ex.message().text;
  EXPECT_FALSE(ex.memory().oom);

  // Nothing fits: the strongest, and the message says nothing fits.
  for (int d = 0; d < 4; ++d) ASSERT_TRUE(ex.set_memory_limit(d, full / 2).applied);
  ASSERT_TRUE(ex.auto_memory_policy().applied) << ex.message().text;
  for (int s = 0; s < 4; ++s) EXPECT_EQ(ex.memory_policy(s).recompute, Recompute::Full);
  EXPECT_TRUE(ex.editor().sim().oom);
  EXPECT_NE(ex.message().text.find("nothing fits"), std::string::npos) << ex.message().text;
  // Undo walks back through auto's choice as one step.
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.memory_policy(0).recompute, Recompute::Selective);
}

TEST(ExplorerMemory, OffloadWithoutAHostLinkIsRefused) {
  Cluster cl = make_uniform_cluster(4);
  for (auto& d : cl.devices) d.host_link = HostLink{};
  Explorer ex(app::Inputs{memory_costs(), cl, SimOptions{}}, ExplorerConfig{});
  PlanRequest req;
  req.devices = 4;
  ASSERT_TRUE(ex.start_with_request(req).applied);
  const double before = ex.editor().sim().iteration_ms;
  EXPECT_FALSE(ex.step_offload(-1, +1).applied);
  EXPECT_TRUE(ex.message().error);
  EXPECT_NE(ex.message().text.find("host link"), std::string::npos) << ex.message().text;
  EXPECT_DOUBLE_EQ(ex.editor().sim().iteration_ms, before);
  EXPECT_FALSE(has_memory_policy(ex.editor().plan()));
}
