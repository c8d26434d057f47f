// Per-unit checkpointing in the planner's search: the list scheduler schedules R only for the selected
// (stage, unit) pairs and its replay still equals the simulator; the variable-length optimizer chooses
// checkpointing only when no plan fits without it, its plan validates and fits, the search repeats, and
// when nothing can fit it says which device and what holds it there.
#include <gtest/gtest.h>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"
#include "adaptis/planner/varlen_optimizer.h"
#include "units_test_support.h"

using namespace adaptis;

namespace {

using test::ckpt_costs;
using test::limited;
using test::packed;
using test::skewed_lengths;

VarlenOptimizeOptions varlen_options(int devices) {
  VarlenOptimizeOptions o;
  o.search.devices = devices;
  o.search.time_limit_s = 30;
  o.search.threads = 1;
  o.search.max_evaluations = 60;
  o.search.seed = 5;
  o.allow_slicing = false;
  o.finalists = 1;
  return o;
}

}  // namespace

// Units of very different lengths, some (stage, unit) pairs recomputing: only those get an R, each as long
// as its own unit's recompute, and the list scheduler's time and peaks are what simulate() replays.
TEST(VarlenCheckpointing, ListSchedulerWithSelectedUnitsIsReplayedExactly) {
  const CostTable c = ckpt_costs(8);
  const std::vector<WorkUnit> units = {packed({3000}), packed({200, 300}), packed({1500}), packed({100}),
                                       packed({2500, 400}), packed({700})};
  const Cluster cluster = make_uniform_cluster(4);
  for (int S : {4, 8}) {
    for (Recompute kind : {Recompute::Full, Recompute::Selective}) {
      ListScheduleProblem pb;
      pb.microbatches = static_cast<int>(units.size());
      pb.num_devices = 4;
      pb.stage_device = S == 4 ? looped_stage_devices(4, 4) : wave_stage_devices(8, 4);
      const Partition part = even_partition(8, S);
      pb.memory.assign(static_cast<size_t>(S), StageMemoryPolicy{});
      // Early stages recompute the long units, one stage every unit, the last none.
      for (int s = 0; s + 1 < S; ++s) {
        pb.memory[s].recompute = kind;
        if (s != 1) pb.memory[s].units = {0, 2, 4};
      }
      pb.stages = stage_costs(c, part, pb.memory);
      unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs, pb.memory);
      for (auto rp : {ListSchedulePolicy::EarlyRecompute::JustInTime, ListSchedulePolicy::EarlyRecompute::BeforeW,
                      ListSchedulePolicy::EarlyRecompute::AfterW}) {
        ListSchedulePolicy pol;
        pol.order = ListSchedulePolicy::Order::Alternate;
        pol.recompute = rp;
        pol.improve_passes = 2;
        ListScheduler ls;
        const ListScheduleResult lr = ls.run(pb, cluster, SimOptions{}, pol, true);
        ASSERT_TRUE(lr.ok) << lr.error;
        Plan p = list_schedule_plan(pb, part, cluster, SimOptions{}, pol, "ls");
        p.units = units;
        const ValidationReport v = validate_plan(p, 8);
        ASSERT_TRUE(v.ok()) << v.message();
        int r_count = 0;
        for (const auto& dev : p.schedule)
          for (const Action& a : dev)
            if (a.op == Op::R) {
              ++r_count;
              EXPECT_TRUE(recomputes_unit(p.memory[a.stage], a.mb)) << to_string(a);
            }
        EXPECT_EQ(r_count, (S - 2) * 3 + 6) << "S=" << S;
        const SimResult s = simulate(p, c, cluster);
        ASSERT_TRUE(s.ok);
        EXPECT_NEAR(s.iteration_ms, lr.iteration_ms, 1e-9 * s.iteration_ms) << "S=" << S << " " << describe(pol);
        for (int d = 0; d < 4; ++d) EXPECT_NEAR(s.devices[d].peak_memory_bytes, lr.peak_bytes[d], 1e-3) << "device " << d;
        double rec = 0;
        for (const auto& dev : s.devices) rec += dev.recompute_ms;
        EXPECT_GT(rec, 0);
      }
    }
  }
}

// The list scheduler's picks on a fixed problem that exercises every rule of its ready lists: slices
// (rows of 3 and 2), R on some (stage, unit) pairs under every early-R rule, a limit that holds units back
// and puts weight gradients first, admission on live memory, jitter, a fused backward with an in-flight
// cap, and a V placement (two stages per device). The orders were recorded from the scheduler that kept
// one unsorted list of ready actions per device and scanned it whole; keeping each kind's list in
// priority order, leaving a list once nothing in it can win, and looking at an R only once its B waits
// for nothing else (or it may go early) must pick exactly the same action at every step.
TEST(VarlenCheckpointing, ListSchedulerPicksAsTheWholeScanDid) {
  const CostTable c = ckpt_costs(8);
  std::vector<WorkUnit> units = slice_row({5000}, {2500, 1500, 1000}, 0);
  units.push_back(packed({400, 300}));
  for (const WorkUnit& u : slice_row({1500, 2500}, {2000, 2000}, 1)) units.push_back(u);
  units.push_back(packed({1200}));
  units.push_back(packed({200}));
  const Cluster cluster = limited(2, 4e7);
  ListScheduleProblem pb;
  pb.microbatches = static_cast<int>(units.size());
  pb.num_devices = 2;
  pb.stage_device = wave_stage_devices(4, 2);
  const Partition part = even_partition(8, 4);
  pb.memory.assign(4, StageMemoryPolicy{});
  pb.memory[0].recompute = Recompute::Selective;
  pb.memory[0].units = {0, 1, 4, 6};
  pb.memory[1].recompute = Recompute::Full;
  pb.memory[1].units = {0, 2, 4};
  pb.memory[2].recompute = Recompute::Selective;
  pb.stages = stage_costs(c, part, pb.memory);
  unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs, pb.memory);
  const SliceLinks links = slice_links(units);
  pb.slice_prev = links.prev;
  pb.slice_next = links.next;

  using P = ListSchedulePolicy;
  std::vector<P> policies(4);
  policies[1].order = P::Order::Alternate;
  policies[1].backward = P::Pick::EarliestStage;
  policies[1].recompute = P::EarlyRecompute::AfterW;
  policies[1].reserve_memory = false;
  policies[2].order = P::Order::ForwardFirst;
  policies[2].backward = P::Pick::FurthestStage;
  policies[2].recompute = P::EarlyRecompute::JustInTime;
  policies[2].jitter = 2;
  policies[2].jitter_seed = 7;
  policies[3].order = P::Order::Alternate;
  policies[3].split_backward = false;
  policies[3].max_inflight = 3;
  struct Expected {
    std::string policy;
    bool fits;
    double ms;
    std::vector<std::string> orders;  // per device: op, stage "." unit
  };
  const std::vector<Expected> expected = {
      {"B>F>W F:oldest-mb B:oldest-mb split-BW", true, 412.255225,
       {
        "F0.0 F0.1 F0.2 F3.0 R0.0 F3.1 F3.2 B3.2 B3.1 B3.0 F0.3 W3.0 F0.4 W3.1 W3.2 F0.5 B0.2 "
        "W0.2 R0.1 B0.1 W0.1 B0.0 W0.0 F3.3 B3.3 F3.4 F0.6 F0.7 R0.4 W3.3 B0.3 W0.3 F3.5 B3.5 "
        "B3.4 F3.6 B3.6 F3.7 B3.7 W3.4 W3.5 W3.6 W3.7 B0.5 B0.4 R0.6 B0.6 B0.7 W0.4 W0.5 W0.6 "
        "W0.7",
        "F1.0 F2.0 F1.1 F2.1 F1.2 F2.2 R1.0 R2.2 B2.2 R1.2 R2.1 B2.1 R2.0 B2.0 B1.2 B1.1 B1.0 "
        "F1.3 F2.3 F1.4 F2.4 F1.5 W1.0 W2.0 W1.1 R2.3 W2.1 B2.3 B1.3 F2.5 F1.6 F2.6 F1.7 F2.7 "
        "R1.4 W1.2 W2.2 R2.5 B2.5 R2.4 B2.4 B1.5 B1.4 R2.6 B2.6 B1.6 R2.7 B2.7 B1.7 W1.3 W2.3 "
        "W1.4 W2.4 W1.5 W2.5 W1.6 W2.6 W1.7 W2.7"}},
      {"F<->B>W F:oldest-mb B:earliest-stage split-BW admit-on-live-memory R:bubbles", true, 418.615300,
       {
        "F0.0 F0.1 F0.2 F3.0 F0.3 R0.0 F3.1 F3.2 B3.2 W3.2 F3.3 B3.1 W3.1 B3.0 F0.4 W3.0 B3.3 "
        "W3.3 F0.5 F3.4 B0.2 W0.2 R0.1 B0.1 W0.1 F3.5 B3.5 W3.5 F0.6 B3.4 F0.7 B0.0 B0.3 F3.6 "
        "B3.6 W0.0 B0.5 F3.7 B3.7 W0.3 W3.4 W0.5 R0.4 B0.4 R0.6 B0.6 B0.7 W0.4 W0.6 W3.6 W0.7 "
        "W3.7",
        "F1.0 F2.0 F1.1 F2.1 F1.2 F2.2 F1.3 F2.3 R2.0 R2.2 B2.2 W2.2 R1.2 R2.1 B2.1 W2.1 B2.0 "
        "F1.4 W2.0 R2.3 B2.3 F2.4 W2.3 B1.2 W1.2 F1.5 B1.1 W1.1 F2.5 R1.0 B1.0 B1.3 W1.0 R2.5 "
        "B2.5 F1.6 R2.4 B2.4 F2.6 B1.5 F1.7 R2.6 B2.6 F2.7 R1.4 B1.4 R2.7 B2.7 B1.6 B1.7 W1.3 "
        "W1.4 W2.4 W1.5 W2.5 W1.6 W2.6 W1.7 W2.7"}},
      {"F>B>W F:oldest-mb B:furthest-stage split-BW jitter 2/7 R:just-in-time", false, 423.605225,
       {
        "F0.0 F0.1 F0.2 F3.0 F3.1 F3.2 B3.2 F0.3 W3.2 B3.1 W3.1 F3.3 B3.0 F0.4 W3.0 F0.5 B0.2 "
        "W0.2 B3.3 W3.3 R0.1 B0.1 W0.1 F3.4 F3.5 B3.5 W3.5 F0.6 F0.7 B3.4 W3.4 R0.0 B0.0 F3.6 "
        "F3.7 B3.7 B3.6 W0.0 W3.6 W3.7 B0.5 R0.6 B0.6 W0.5 W0.6 R0.4 B0.4 B0.7 B0.3 W0.4 W0.3 "
        "W0.7",
        "F1.0 F2.0 F1.1 F2.1 F1.2 F2.2 R2.2 B2.2 F1.3 W2.2 F2.3 R1.2 B1.2 W1.2 R2.1 B2.1 W2.1 "
        "B1.1 F1.4 W1.1 F2.4 F1.5 F2.5 R2.0 B2.0 W2.0 R1.0 B1.0 F1.6 F2.6 F1.7 F2.7 R2.5 W1.0 "
        "B2.5 B1.5 R2.6 B2.6 B1.6 R2.4 B2.4 R1.4 B1.4 R2.3 B2.3 B1.3 R2.7 B2.7 B1.7 W1.3 W1.5 "
        "W2.3 W1.4 W2.5 W2.4 W2.6 W1.6 W2.7 W1.7"}},
      {"F<->B>W F:oldest-mb B:oldest-mb inflight<=3 fused-BW", true, 476.950720,
       {
        "F0.0 F0.1 F0.2 F3.0 R0.0 F3.1 F3.2 BW3.2 BW3.1 BW3.0 BW0.2 F0.3 R0.1 BW0.1 F0.4 "
        "BW0.0 F3.3 BW3.3 F3.4 F0.5 BW0.3 F0.6 R0.4 F3.5 BW3.5 F3.6 BW3.4 BW3.6 BW0.5 F0.7 "
        "BW0.4 F3.7 R0.6 BW0.6 BW3.7 BW0.7",
        "F1.0 F2.0 F1.1 F2.1 F1.2 F2.2 R1.0 R2.2 BW2.2 R1.2 R2.1 BW2.1 R2.0 BW2.0 BW1.2 BW1.1 "
        "F1.3 BW1.0 F2.3 R2.3 F1.4 F2.4 BW2.3 BW1.3 R1.4 F1.5 F2.5 F1.6 F2.6 R2.5 BW2.5 R2.4 "
        "BW2.4 BW1.5 BW1.4 R2.6 BW2.6 F1.7 BW1.6 F2.7 R2.7 BW2.7 BW1.7"}},
  };
  ASSERT_EQ(policies.size(), expected.size());
  ListScheduler ls;
  for (size_t i = 0; i < policies.size(); ++i) {
    const ListScheduleResult r = ls.run(pb, cluster, SimOptions{}, policies[i], true);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(describe(policies[i]), expected[i].policy);
    EXPECT_EQ(r.fits_memory, expected[i].fits) << expected[i].policy;
    EXPECT_NEAR(r.iteration_ms, expected[i].ms, 1e-6) << expected[i].policy;
    ASSERT_EQ(r.orders.size(), expected[i].orders.size());
    for (size_t d = 0; d < r.orders.size(); ++d) {
      std::string got;
      for (const Action& a : r.orders[d]) {
        if (!got.empty()) got += ' ';
        got.append(op_name(a.op)).append(std::to_string(a.stage)).append(".").append(std::to_string(a.mb));
      }
      EXPECT_EQ(got, expected[i].orders[d]) << expected[i].policy << ", device " << d;
    }
  }
}

// Offload over units needs a host link on the stage's device: the list scheduler names the missing one.
TEST(VarlenCheckpointing, ListSchedulerRefusesOffloadWithoutAHostLink) {
  const CostTable c = ckpt_costs(4);
  const std::vector<WorkUnit> units = {packed({1000}), packed({500})};
  ListScheduleProblem pb;
  pb.microbatches = 2;
  pb.num_devices = 2;
  pb.stage_device = looped_stage_devices(2, 2);
  pb.memory.assign(2, StageMemoryPolicy{});
  pb.memory[0].offload_fraction = 0.5;
  pb.stages = stage_costs(c, even_partition(4, 2), pb.memory);
  unit_stage_costs(pb.stages, units, cost_reference(c), pb.unit_costs, pb.memory);
  ListScheduler ls;
  EXPECT_TRUE(ls.run(pb, make_uniform_cluster(2), SimOptions{}, ListSchedulePolicy{}, false).ok);
  Cluster none = make_uniform_cluster(2);
  for (auto& d : none.devices) d.host_link = HostLink{};
  try {
    ls.run(pb, none, SimOptions{}, ListSchedulePolicy{}, false);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stage 0 offloads activations but device 0 has no host link"),
              std::string::npos)
        << e.what();
  }
}

// Where recomputing every unit it can still leaves a device over its limit, the search copies kept
// activations to host memory on devices with a host link: the closest try then overflows less than without
// host links, and the reason says what it offloads (or that there is no host link).
TEST(VarlenCheckpointing, OffloadWhereRecomputeIsNotEnough) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const int D = 4;
  const VarlenOptimizeOptions o = varlen_options(D);
  double peak = 0, state = 0;
  for (const auto& d : optimize_lengths(c, make_uniform_cluster(D), data, o).best.sim.devices)
    peak = std::max(peak, d.peak_memory_bytes);
  for (const auto& l : c.layers) state += l.state_bytes;
  state /= D;
  // Too tight for any plan (one unit re-creates more there in its backward than the limit leaves).
  const double limit = state + 0.1 * (peak - state);
  Cluster host = limited(D, limit);
  for (auto& d : host.devices) d.host_link.bandwidth = 25e9, d.host_link.latency_ms = 0.01, d.host_link.group = -1;
  Cluster none = limited(D, limit);
  for (auto& d : none.devices) d.host_link = HostLink{};
  const VarlenOptimizeResult without = optimize_lengths(c, none, data, o);
  const VarlenOptimizeResult with = optimize_lengths(c, host, data, o);
  ASSERT_FALSE(without.best.feasible);
  ASSERT_FALSE(with.best.feasible);
  EXPECT_NE(without.memory_note.find("and no host link to offload to"), std::string::npos) << without.memory_note;
  EXPECT_NE(with.memory_note.find("offloading 100% of stage"), std::string::npos) << with.memory_note;
  // "device D still peaks at X MiB": the closest try with offload peaks lower.
  auto peak_mib = [](const std::string& note) {
    const size_t at = note.find("still peaks at ");
    return at == std::string::npos ? -1.0 : std::stod(note.substr(at + 15));
  };
  EXPECT_GT(peak_mib(without.memory_note), 0) << without.memory_note;
  EXPECT_GT(peak_mib(with.memory_note), 0) << with.memory_note;
  EXPECT_LT(peak_mib(with.memory_note), peak_mib(without.memory_note));
}

// Without a memory limit nothing is checkpointed. Tightening the limit, the optimizer first finds plans
// that fit without recompute, then (when no processing fits) checkpoints some units, and the plan
// validates, simulates within the limit and carries its selection; too tight, it says why.
TEST(VarlenCheckpointing, CheckpointsOnlyWhenMemoryBinds) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const int D = 4;
  const VarlenOptimizeOptions o = varlen_options(D);
  const VarlenOptimizeResult free_run = optimize_lengths(c, make_uniform_cluster(D), data, o);
  ASSERT_TRUE(free_run.best.feasible);
  EXPECT_TRUE(free_run.checkpointing.empty()) << free_run.checkpointing;
  EXPECT_EQ(free_run.checkpointed_pairs, 0);
  EXPECT_TRUE(free_run.memory_note.empty());
  double state = 0, peak = 0;
  for (const auto& d : free_run.best.sim.devices) peak = std::max(peak, d.peak_memory_bytes);
  for (const auto& l : c.layers) state += l.state_bytes;
  state /= D;

  bool saw_checkpointing = false, saw_reason = false;
  for (double f : {0.9, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.02}) {
    const double limit = state + f * (peak - state);
    const Cluster cl = limited(D, limit);
    const VarlenOptimizeResult r = optimize_lengths(c, cl, data, o);
    bool screen_fits = false;
    for (const auto& t : r.trials) screen_fits = screen_fits || t.fits;
    if (r.checkpointed_pairs > 0) {
      saw_checkpointing = true;
      // Chosen only when memory binds: nothing fits without it, or what fits is slower.
      if (screen_fits) {
        EXPECT_GT(r.without_checkpointing_ms, 0) << "f=" << f;
      }
      if (r.without_checkpointing_ms > 0) {
        EXPECT_LT(r.best.sim.iteration_ms, r.without_checkpointing_ms) << "f=" << f;
      }
      ASSERT_TRUE(r.best.feasible) << r.message;
      EXPECT_FALSE(r.checkpointing.empty());
      EXPECT_GT(r.recompute_ms, 0);
      const ValidationReport v = validate_plan(r.best.best, c.num_layers());
      ASSERT_TRUE(v.ok()) << v.message();
      const SimResult s = simulate(r.best.best, c, cl);
      ASSERT_TRUE(s.ok);
      EXPECT_FALSE(s.oom);
      for (const auto& d : s.devices) EXPECT_LE(d.peak_memory_bytes, limit * (1 + 1e-9));
      // The plan file keeps what it checkpoints.
      const Plan back = plan_from_json(plan_to_json(r.best.best), "test");
      EXPECT_EQ(back.memory, r.best.best.memory);
    } else if (!r.best.feasible) {
      saw_reason = true;
      EXPECT_NE(r.memory_note.find("even with per-unit activation checkpointing"), std::string::npos) << r.memory_note;
      EXPECT_NE(r.memory_note.find("device"), std::string::npos) << r.memory_note;
    } else {
      EXPECT_TRUE(r.checkpointing.empty());
    }
  }
  EXPECT_TRUE(saw_checkpointing) << "no limit made the optimizer checkpoint units";
  EXPECT_TRUE(saw_reason) << "no limit was too tight to fit";
}

// Same inputs and evaluation budget, same plan and selection.
TEST(VarlenCheckpointing, SearchIsDeterministic) {
  const CostTable c = ckpt_costs(8);
  const SequenceLengths data = skewed_lengths();
  const VarlenOptimizeOptions o = varlen_options(4);
  double peak = 0;
  {
    const VarlenOptimizeResult free_run = optimize_lengths(c, make_uniform_cluster(4), data, o);
    for (const auto& d : free_run.best.sim.devices) peak = std::max(peak, d.peak_memory_bytes);
  }
  // Tight enough that the search runs (whatever it finds).
  const Cluster cl = limited(4, 0.55 * peak);
  const VarlenOptimizeResult a = optimize_lengths(c, cl, data, o);
  const VarlenOptimizeResult b = optimize_lengths(c, cl, data, o);
  EXPECT_EQ(a.best.best.schedule, b.best.best.schedule);
  EXPECT_EQ(a.best.best.memory, b.best.best.memory);
  EXPECT_EQ(a.best.best.partition.bounds, b.best.best.partition.bounds);
  EXPECT_EQ(a.memory_note, b.memory_note);
  EXPECT_DOUBLE_EQ(a.best.sim.iteration_ms, b.best.sim.iteration_ms);
}
