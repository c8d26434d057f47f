// Built-in schedules through the simulator on uniform costs with zero P2P latency: the textbook
// iteration time / bubble of each schedule and its in-flight activation memory.
//
// Conventions: F, B, W are the per-device times (a device's share of the model); a schedule with
// v chunks per device runs each chunk in F/v, B/v, W/v. Full-backward schedules (GPipe, 1F1B,
// interleaved, BFS) run BW = B + W. Memory is counted in "stage-micro-batches": every stage
// keeps 1 byte per micro-batch from its F until its W (or BW).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adaptis/model.h"
#include "adaptis/planner.h"

using namespace adaptis;

namespace {

struct Costs {
  double f, b, w;
};

// One layer per stage so that stage costs are exactly the per-chunk costs.
CostTable chunk_costs(int stages, Costs c, int chunks_per_device) {
  CostTable t;
  t.model = "uniform";
  for (int i = 0; i < stages; ++i) {
    LayerCost l;
    l.name = "l";  // appended, not "l" + ...: GCC 12 warns falsely (-Wrestrict) on that once inlined
    l.name += std::to_string(i);
    l.f_ms = c.f / chunks_per_device;
    l.b_ms = c.b / chunks_per_device;
    l.w_ms = c.w / chunks_per_device;
    l.act_b_bytes = 0;
    l.act_w_bytes = 1;  // held until W (or BW)
    t.layers.push_back(l);
  }
  return t;
}

SimResult run(const std::string& schedule, int p, int m, Costs c, int v = 0, double pair_overlap = 0) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = p;
  r.microbatches = m;
  r.stages_per_device = v;
  ScheduleKind kind = parse_schedule_kind(schedule);
  ScheduleOptions so;
  so.stages_per_device = v;
  int chunks = schedule_stages_per_device(kind, so);
  Plan plan = build_plan(r, p * chunks);
  SimOptions o;
  o.comm_latency_ms = 0;
  o.pair_overlap = pair_overlap;
  SimResult s = simulate(plan, chunk_costs(p * chunks, c, chunks), make_uniform_cluster(p), o);
  EXPECT_TRUE(s.ok) << s.error;
  return s;
}

std::string at(const std::string& s, int p, int m, Costs c, int v = 0) {
  return s + " p=" + std::to_string(p) + " m=" + std::to_string(m) + " v=" + std::to_string(v) + " F=" +
         std::to_string(c.f) + " B=" + std::to_string(c.b) + " W=" + std::to_string(c.w);
}

// Per device: first start, last end, and whether it ran without an idle gap in between.
struct Span {
  double first = 0, last = 0;
  bool contiguous = true;
};
Span span(const SimResult& s, int d) {
  Span sp;
  const auto& tl = s.timeline[d];
  sp.first = tl.front().start;
  double prev = tl.front().start;
  for (const auto& ta : tl) {
    if (ta.start > prev + 1e-9) sp.contiguous = false;
    prev = std::max(prev, ta.end);
  }
  sp.last = prev;
  return sp;
}

const std::vector<Costs> kCosts = {{1, 1, 1}, {1, 2, 1}, {2, 1, 1}, {1, 2, 0.5}, {1.5, 2.5, 1}};

}  // namespace

// GPipe and 1F1B: T = (m+p-1)(F+B+W), every device idles (p-1)(F+B+W).
TEST(ScheduleTextbook, GPipeAndOneFOneB) {
  for (const char* s : {"gpipe", "1f1b"})
    for (int p : {1, 2, 4, 7})
      for (int m : {p, 2 * p + 1})
        for (Costs c : kCosts) {
          SimResult r = run(s, p, m, c);
          double t = c.f + c.b + c.w;
          EXPECT_NEAR(r.iteration_ms, (m + p - 1) * t, 1e-9) << at(s, p, m, c);
          for (const auto& d : r.devices) EXPECT_NEAR(d.bubble_ms, (p - 1) * t, 1e-9) << at(s, p, m, c);
        }
}

// Interleaved 1F1B (Megatron and PyTorch) and breadth-first: the bubble shrinks by v,
// T = m(F+B+W) + (p-1)(F+B+W)/v, whenever the schedule accepts m (for Megatron with g = p that
// is m a multiple of p; PyTorch's rounds variant also gives it for m = 10 on p = 4, ...).
TEST(ScheduleTextbook, InterleavedBubbleDividedByChunks) {
  for (const char* s : {"interleaved-1f1b", "interleaved-1f1b-torch", "looped-bfs"})
    for (int p : {2, 3, 4, 6})
      for (int v : {2, 3})
        for (int m = p; m <= 3 * p; ++m) {
          if (std::string(s) == "interleaved-1f1b" && m % p != 0) continue;
          if (std::string(s) == "interleaved-1f1b-torch" && m % std::max(1, m / p) != 0) continue;
          for (Costs c : kCosts) {
            SimResult r = run(s, p, m, c, v);
            double t = c.f + c.b + c.w;
            EXPECT_NEAR(r.iteration_ms, m * t + (p - 1) * t / v, 1e-9) << at(s, p, m, c, v);
            for (const auto& d : r.devices) EXPECT_NEAR(d.bubble_ms, (p - 1) * t / v, 1e-9) << at(s, p, m, c, v);
          }
        }
}

// ZB-H1: T = m(F+B+W) + (p-1)(F+B-W) exactly, for m >= p and W <= min(F, B) (the deferred W's
// must fit into the gaps the drain leaves; with a W longer than F or B they spill over). At
// F=B=W that is a third of 1F1B's bubble.
TEST(ScheduleTextbook, ZeroBubbleH1) {
  for (int p : {1, 2, 3, 4, 6, 8})
    for (int m : {p, p + 1, 2 * p, 3 * p + 1})
      for (Costs c : kCosts) {
        ASSERT_LE(c.w, std::min(c.f, c.b));
        SimResult r = run("zb-h1", p, m, c);
        EXPECT_NEAR(r.iteration_ms, m * (c.f + c.b + c.w) + (p - 1) * (c.f + c.b - c.w), 1e-9) << at("zb-h1", p, m, c);
      }
  SimResult ones = run("zb-h1", 4, 8, {1, 1, 1});
  SimResult base = run("1f1b", 4, 8, {1, 1, 1});
  EXPECT_NEAR(ones.devices[0].bubble_ms * 3, base.devices[0].bubble_ms, 1e-9);
  // Outside the condition the formula is only a lower bound.
  SimResult heavy_w = run("zb-h1", 4, 8, {1, 1, 2});
  EXPECT_GT(heavy_w.iteration_ms, 8 * (1 + 1 + 2) + 3 * (1 + 1 - 2) + 1e-9);
}

// PyTorch's interleaved zero bubble (ZB1P on a loop): ZB-H1's bubble divided by v.
TEST(ScheduleTextbook, InterleavedZeroBubble) {
  for (int p : {2, 3, 4})
    for (int v : {2, 3})
      for (int m = p; m <= 3 * p; ++m) {
        if (m % std::max(1, m / p) != 0) continue;
        for (Costs c : kCosts) {
          SimResult r = run("interleaved-zb", p, m, c, v);
          EXPECT_NEAR(r.iteration_ms, m * (c.f + c.b + c.w) + (p - 1) * (c.f + c.b - c.w) / v, 1e-9)
              << at("interleaved-zb", p, m, c, v);
        }
      }
}

// ZB-H2 at F=B=W, m >= 2p-1: a parallelogram. Device i starts at i*F, never idles until it
// finishes at i*F + m(F+B+W); T = m(F+B+W) + (p-1)F, the fill/drain skew alone (which optimizer
// post-validation hides across iterations: the paper's "zero bubble"). For p <= m < 2p-1 the
// iteration time is the same, with some idle inside the devices.
TEST(ScheduleTextbook, ZeroBubbleH2IsAParallelogram) {
  for (int p : {1, 2, 3, 4, 6, 8})
    for (int m = p; m <= 3 * p + 1; ++m) {
      SimResult r = run("zb-h2", p, m, {1, 1, 1});
      EXPECT_NEAR(r.iteration_ms, 3.0 * m + (p - 1), 1e-9) << "p=" << p << " m=" << m;
      SimResult h1 = run("zb-h1", p, m, {1, 1, 1});
      EXPECT_LE(r.iteration_ms, h1.iteration_ms + 1e-9);
      if (m < 2 * p - 1) continue;
      for (int d = 0; d < p; ++d) {
        Span sp = span(r, d);
        EXPECT_TRUE(sp.contiguous) << "p=" << p << " m=" << m << " device " << d;
        EXPECT_NEAR(sp.first, d, 1e-9);
        EXPECT_NEAR(sp.last - sp.first, 3.0 * m, 1e-9);
        EXPECT_NEAR(r.devices[d].inbetween_bubble_ms, 0, 1e-9);
      }
    }
}

// ZB-V at F=B=W (chunk time F/2), m >= 2p-1: the same parallelogram with half the skew,
// T = m(F+B+W) + (p-1)F/2.
TEST(ScheduleTextbook, ZeroBubbleVIsAParallelogram) {
  for (int p : {1, 2, 3, 4, 6})
    for (int m = 2 * p - 1; m <= 3 * p + 1; ++m) {
      SimResult r = run("zb-v", p, m, {1, 1, 1});
      EXPECT_NEAR(r.iteration_ms, 3.0 * m + (p - 1) * 0.5, 1e-9) << "p=" << p << " m=" << m;
      for (int d = 0; d < p; ++d) {
        Span sp = span(r, d);
        EXPECT_TRUE(sp.contiguous) << "p=" << p << " m=" << m << " device " << d;
        EXPECT_NEAR(sp.first, 0.5 * d, 1e-9);
        EXPECT_NEAR(sp.last - sp.first, 3.0 * m, 1e-9);
      }
    }
}

// DualPipeV at F=B=W without overlap gain (pair_overlap = 0): T = m(F+B+W) + (p-1)F, which is the
// DualPipe README's (PP-1)(F&B + B - 3W) in chunk times (F&B = f+b+w, B = b+w, W = w, f = F/2).
// With a perfect F&B overlap the pairs shorten and the iteration gets faster.
TEST(ScheduleTextbook, DualPipeV) {
  for (int p : {1, 2, 3, 4, 6})
    for (int m : {2 * p, 2 * p + 1, 3 * p, 4 * p}) {
      SimResult r = run("dualpipev", p, m, {1, 1, 1});
      double f = 0.5, b = 0.5, w = 0.5;
      EXPECT_NEAR(r.iteration_ms, 3.0 * m + (p - 1) * ((f + b + w) + (b + w) - 3 * w), 1e-9) << "p=" << p << " m=" << m;
      if (p > 1) {
        SimResult ov = run("dualpipev", p, m, {1, 1, 1}, 0, 1.0);
        EXPECT_LT(ov.iteration_ms, r.iteration_ms);
      }
    }
}

// Peak in-flight activations, in stage-micro-batches held from F until W/BW.
TEST(ScheduleTextbook, InFlightActivationMemory) {
  const int p = 4, m = 12;
  auto peaks = [](const SimResult& r) {
    std::vector<double> out;
    for (const auto& d : r.devices) out.push_back(d.peak_activation_bytes);
    return out;
  };
  // GPipe: every micro-batch alive at the F->B turn.
  EXPECT_EQ(peaks(run("gpipe", p, m, {1, 1, 1})), (std::vector<double>{12, 12, 12, 12}));
  // 1F1B: p - r on rank r (rank 0 holds p).
  EXPECT_EQ(peaks(run("1f1b", p, m, {1, 1, 1})), (std::vector<double>{4, 3, 2, 1}));
  // ZB-H1: every rank holds p (1F1B's rank-0 peak, now on all ranks).
  EXPECT_EQ(peaks(run("zb-h1", p, m, {1, 1, 1})), (std::vector<double>{4, 4, 4, 4}));
  // ZB-H2: 2p-1 on every rank.
  EXPECT_EQ(peaks(run("zb-h2", p, m, {1, 1, 1})), (std::vector<double>{7, 7, 7, 7}));
  // Interleaved (Megatron, g = p, v = 2): rank r holds its warm-up + 1 chunk-micro-batches,
  // (v-1)g + 2(p-r-1) + 1, each half a device share: rank 0 = 11/2 = (1 + (p-1)/(pv)) p shares.
  EXPECT_EQ(peaks(run("interleaved-1f1b", p, m, {1, 1, 1}, 2)), (std::vector<double>{11, 9, 7, 5}));
  // Breadth-first: all m micro-batches on all v chunks.
  EXPECT_EQ(peaks(run("looped-bfs", p, m, {1, 1, 1}, 2)), (std::vector<double>{24, 24, 24, 24}));
  // ZB-V: 2p chunk-micro-batches = p device shares on every rank (1F1B's peak).
  EXPECT_EQ(peaks(run("zb-v", p, m, {1, 1, 1})), (std::vector<double>{8, 8, 8, 8}));
  // DualPipeV: 2p+1 chunk-micro-batches (the README's PP+1 in chunk units).
  EXPECT_EQ(peaks(run("dualpipev", p, m, {1, 1, 1})), (std::vector<double>{9, 9, 9, 9}));
}

// The zero-bubble family frees B's activations early: with all memory held until B (act_w = 0),
// ZB-H1's peak on rank 0 is 1F1B's p.
TEST(ScheduleTextbook, ZeroBubbleMemoryHeldUntilB) {
  PlanRequest r;
  r.schedule = "zb-h1";
  r.devices = 4;
  r.microbatches = 8;
  Plan plan = build_plan(r, 4);
  CostTable c = chunk_costs(4, {1, 1, 1}, 1);
  for (auto& l : c.layers) {
    l.act_b_bytes = 1;
    l.act_w_bytes = 0;
  }
  SimOptions o;
  o.comm_latency_ms = 0;
  SimResult s = simulate(plan, c, make_uniform_cluster(4), o);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.devices[0].peak_activation_bytes, 4);
  EXPECT_EQ(s.devices[3].peak_activation_bytes, 1);
}
