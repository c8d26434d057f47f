// The simulator against a plain reference kept only here: every device's list run in order by
// repeated sweeps, producers found by name in a std::map, each P2P transfer timed when its
// producer ends (FIFO per link in the sender's order), and the activation ledger summed action by
// action. The simulator's fast path (flat tables, slots, no edge lists) must reproduce it bit for
// bit: every action's start and end, the iteration time, each device's busy time and peak memory,
// on every schedule, several sizes, clusters with slow and fast links and uneven speeds, the
// options that change timing (no comm/compute overlap, latency override, per-action overhead,
// DualPipe pair overlap), recompute policies and parallel configurations. Deadlocks must agree too.
// Plans with variable-length units (Plan::units) too: every (stage, unit) has its own times, bytes
// sent and activation bytes, and slices of one row add same-stage dependencies (F after the previous
// slice's F, B/BW after the next slice's input-gradient backward), found here from the units' row and
// slice fields by name.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"

using namespace adaptis;

namespace {

struct Reference {
  bool ok = false;
  std::vector<std::vector<double>> start, end;  // per device, per position
  double iteration_ms = 0;
  std::vector<double> busy_ms, peak_activation;
};

// Independent of the simulator's code: only the documented rules (simulator.h, action_index.h,
// units.h). `units`, when given: every (stage, unit)'s costs, [stage * units + unit].
Reference reference_simulate(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                             const SimOptions& opt, const std::vector<UnitStageCost>* units = nullptr) {
  const int D = plan.num_devices(), S = plan.num_stages();
  const int U = static_cast<int>(plan.units.size());
  auto unit = [&](int s, int mb) -> const UnitStageCost& { return (*units)[static_cast<size_t>(s) * U + mb]; };
  // Slices: (row, slice) -> micro-batch; the neighbours of a slice are the same row's slice -/+ 1.
  std::map<std::pair<int, int>, int> slice_mb;
  for (int mb = 0; mb < U; ++mb)
    if (plan.units[mb].row >= 0) slice_mb[{plan.units[mb].row, plan.units[mb].slice}] = mb;
  auto neighbour_slice = [&](int mb, int step) {
    if (mb >= U || plan.units[mb].row < 0) return -1;
    auto it = slice_mb.find({plan.units[mb].row, plan.units[mb].slice + step});
    return it == slice_mb.end() ? -1 : it->second;
  };
  std::vector<int> stage_device = plan.placement.stage_device();
  using Key = std::tuple<int, int, int>;  // op, stage, mb
  std::map<Key, std::pair<int, int>> where;  // -> device, position
  for (int d = 0; d < D; ++d)
    for (int i = 0; i < static_cast<int>(plan.schedule[d].size()); ++i) {
      const Action& a = plan.schedule[d][i];
      where[{static_cast<int>(a.op), a.stage, a.mb}] = {d, i};
    }
  auto has = [&](Op op, int s, int mb) { return where.count({static_cast<int>(op), s, mb}) > 0; };
  auto producers = [&](const Action& a) {
    std::vector<Key> p;
    auto key = [](Op op, int s, int mb) { return Key{static_cast<int>(op), s, mb}; };
    auto grad = [&](int s, int mb) { return has(Op::B, s, mb) ? key(Op::B, s, mb) : key(Op::BW, s, mb); };
    if (a.op == Op::F && a.stage > 0) p.push_back(key(Op::F, a.stage - 1, a.mb));
    if (a.op == Op::F && neighbour_slice(a.mb, -1) >= 0) p.push_back(key(Op::F, a.stage, neighbour_slice(a.mb, -1)));
    if (a.op == Op::R) p.push_back(key(Op::F, a.stage, a.mb));
    if (a.op == Op::W) p.push_back(key(Op::B, a.stage, a.mb));
    if (a.op == Op::B || a.op == Op::BW) {
      p.push_back(key(Op::F, a.stage, a.mb));
      if (has(Op::R, a.stage, a.mb)) p.push_back(key(Op::R, a.stage, a.mb));
      if (a.stage + 1 < S) p.push_back(grad(a.stage + 1, a.mb));
      if (neighbour_slice(a.mb, +1) >= 0) p.push_back(grad(a.stage, neighbour_slice(a.mb, +1)));
    }
    return p;
  };
  auto duration = [&](const Action& a, int d) {
    double t = 0;
    if (units) {  // R: the unit's own recompute (per-unit checkpointing)
      const UnitStageCost& u = unit(a.stage, a.mb);
      t = a.op == Op::F ? u.f_ms : a.op == Op::B ? u.b_ms : a.op == Op::W ? u.w_ms
        : a.op == Op::BW ? u.b_ms + u.w_ms : u.recompute_ms;
    } else {
      const StageCost& c = stages[a.stage];
      t = a.op == Op::F ? c.f_ms : a.op == Op::B ? c.b_ms : a.op == Op::W ? c.w_ms
        : a.op == Op::BW ? c.b_ms + c.w_ms : c.recompute_ms;
    }
    return t / cluster.devices[d].speed + opt.action_overhead_ms;
  };
  auto out_bytes = [&](int s, int mb) { return units ? unit(s, mb).out_bytes : stages[s].out_bytes; };

  Reference r;
  r.start.resize(D), r.end.resize(D);
  for (int d = 0; d < D; ++d) {
    r.start[d].assign(plan.schedule[d].size(), 0);
    r.end[d].assign(plan.schedule[d].size(), 0);
  }
  std::vector<int> head(D, 0);
  std::vector<double> free_at(D, 0);
  std::map<std::pair<int, int>, double> link_free;
  std::map<std::pair<Key, Key>, double> arrival;  // (producer, consumer) -> when the output is there
  std::map<Key, bool> done;

  // Every action's consumers: the actions whose producers include it, in their devices' order.
  std::map<Key, std::vector<std::pair<std::pair<int, int>, Key>>> consumers_of;
  for (const auto& [k, at] : where) {
    const Action c{static_cast<Op>(std::get<0>(k)), std::get<1>(k), std::get<2>(k), false};
    for (const Key& p : producers(c)) consumers_of[p].push_back({at, k});
  }
  for (auto& [k, list] : consumers_of) std::sort(list.begin(), list.end());

  auto finish = [&](const Action& a, int d, double t_end) {
    const Key self{static_cast<int>(a.op), a.stage, a.mb};
    done[self] = true;
    for (const auto& [at, k] : consumers_of[self]) {
      double t = t_end;
      if (at.first != d) {
        const Link& l = cluster.link(d, at.first);
        const int cs = std::get<1>(k);
        // Another device runs only a neighbouring stage (a slice's neighbours share its stage).
        EXPECT_NE(cs, a.stage);
        const double bytes = a.op == Op::F ? out_bytes(a.stage, a.mb) : out_bytes(cs, a.mb);
        const double latency = opt.comm_latency_ms ? *opt.comm_latency_ms : l.latency_ms;
        double& lf = link_free[{d, at.first}];
        t = std::max(t_end, lf) + (latency + (l.bandwidth > 0 ? bytes / l.bandwidth * 1e3 : 0.0));
        lf = t;
        if (!opt.overlap_comm) free_at[d] = std::max(free_at[d], t);
      }
      arrival[{self, k}] = t;
    }
  };
  auto ready = [&](const Action& a) {
    for (const Key& p : producers(a))
      if (!done.count(p)) return false;
    return true;
  };
  auto inputs_at = [&](const Action& a) {
    double t = 0;
    for (const Key& p : producers(a)) t = std::max(t, arrival.at({p, Key{static_cast<int>(a.op), a.stage, a.mb}}));
    return t;
  };

  for (bool progress = true; progress;) {
    progress = false;
    for (int d = 0; d < D; ++d) {
      const auto& list = plan.schedule[d];
      const int n = static_cast<int>(list.size());
      while (head[d] < n) {
        const int h = head[d];
        const Action& a = list[h];
        const bool pair = h + 1 < n && list[h + 1].overlap_prev;
        if (!ready(a) || (pair && !ready(list[h + 1]))) break;
        double t0 = std::max(free_at[d], inputs_at(a));
        if (pair) {
          t0 = std::max(t0, inputs_at(list[h + 1]));
          const double d1 = duration(a, d), d2 = duration(list[h + 1], d);
          const double total = d1 + d2 - opt.pair_overlap * std::min(d1, d2);
          const double scale = (d1 + d2) > 0 ? total / (d1 + d2) : 0;
          r.start[d][h] = t0;
          r.end[d][h] = t0 + d1 * scale;
          r.start[d][h + 1] = r.end[d][h];
          r.end[d][h + 1] = t0 + total;
          free_at[d] = r.end[d][h + 1];
          finish(a, d, r.end[d][h + 1]);
          finish(list[h + 1], d, r.end[d][h + 1]);
          head[d] += 2;
        } else {
          r.start[d][h] = t0;
          r.end[d][h] = t0 + duration(a, d);
          free_at[d] = r.end[d][h];
          finish(a, d, r.end[d][h]);
          head[d] += 1;
        }
        progress = true;
      }
    }
  }
  r.ok = true;
  for (int d = 0; d < D; ++d) r.ok = r.ok && head[d] == static_cast<int>(plan.schedule[d].size());
  if (!r.ok) return r;

  // Busy time and the activation ledger (memory_policy.h): F keeps kept() from its start, R
  // re-creates the rest at its start, B / W / BW free theirs at their end; a B / BW of a slice creates
  // the key/value gradient carries of the earlier slices it last reads at its start and frees its own
  // carry at its end.
  r.busy_ms.assign(D, 0);
  r.peak_activation.assign(D, 0);
  for (int d = 0; d < D; ++d) {
    double live = 0;
    for (size_t i = 0; i < plan.schedule[d].size(); ++i) {
      const Action& a = plan.schedule[d][i];
      const StageCost& c = stages[a.stage];
      // A unit's own bytes, and what its F keeps when that (stage, unit) recomputes.
      const double act_b = units ? unit(a.stage, a.mb).act_b_bytes : c.act_b_bytes;
      const double act_w = units ? unit(a.stage, a.mb).act_w_bytes : c.act_w_bytes;
      const double kept = units ? unit(a.stage, a.mb).kept() : c.kept();
      r.busy_ms[d] += r.end[d][i] - r.start[d][i];
      r.iteration_ms = std::max(r.iteration_ms, r.end[d][i]);
      if (a.op == Op::F) live += kept;
      if (a.op == Op::R) live += std::max(0.0, act_b + act_w - kept);
      if (units && (a.op == Op::B || a.op == Op::BW)) {
        live += unit(a.stage, a.mb).carries_created_bytes;
        r.peak_activation[d] = std::max(r.peak_activation[d], live);
        live -= unit(a.stage, a.mb).carry_bytes;
      }
      if (a.op == Op::B) live -= act_b;
      if (a.op == Op::W) live -= act_w;
      if (a.op == Op::BW) live -= act_b + act_w;
      r.peak_activation[d] = std::max(r.peak_activation[d], live);
    }
  }
  return r;
}

CostTable uneven_costs(int layers) {
  CostTable t;
  t.model = "uneven";
  for (int l = 0; l < layers; ++l) {
    LayerCost c;
    c.name = "l";
    c.name += std::to_string(l);
    c.f_ms = 1.0 + 0.13 * (l % 5);
    c.b_ms = 1.7 * c.f_ms + 0.01 * l;
    c.w_ms = 0.6 * c.f_ms;
    c.act_b_bytes = 3e6 + 1e5 * (l % 3);
    c.act_w_bytes = 1e6;
    c.out_bytes = 2e6 + 3e5 * (l % 4);
    c.state_bytes = 1e8;
    c.kept_full_bytes = 2e6;
    c.kept_selective_bytes = 2.5e6;
    c.kv_bytes = 0.6e6 + 0.1e6 * (l % 2);  // what a recomputed slice that later slices read still keeps
    c.recompute_selective_ms = 0.4 * c.f_ms;
    c.param_bytes = 5e6;
    c.parallel.grad_bytes = 4e6;
    c.parallel.optimizer_ms = 0.3;
    t.layers.push_back(c);
  }
  t.tokens_per_microbatch = 4096;
  t.model_flops_per_microbatch = 1e13;
  return t;
}

// Two nodes: slower links between them, and the second node's devices 1.3x as fast.
Cluster two_nodes(int p) {
  Cluster c = make_uniform_cluster(p);
  for (int d = p / 2; d < p; ++d) c.devices[d].node = 1, c.devices[d].speed = 1.3;
  c.intra_node = Link{0.005, 300e9};
  c.inter_node = Link{0.02, 25e9};
  return c;
}

// Every field the reference computes, exactly (EXPECT_EQ on doubles: bit-identical, not close).
void expect_same_result(const Plan& plan, const Reference& ref, const SimResult& sim, const std::string& what) {
  ASSERT_EQ(sim.ok, ref.ok) << what << ": " << sim.error;
  if (!ref.ok) return;
  // With a parallel configuration the iteration also holds the gradient sync and optimizer step.
  const double pipeline_ms = sim.has_parallel ? sim.parallel.pipeline_ms : sim.iteration_ms;
  EXPECT_EQ(pipeline_ms, ref.iteration_ms) << what;
  if (sim.has_parallel) {
    EXPECT_GE(sim.iteration_ms, ref.iteration_ms) << what;
  }
  ASSERT_EQ(sim.timeline.size(), plan.schedule.size()) << what;
  for (size_t d = 0; d < plan.schedule.size(); ++d) {
    ASSERT_EQ(sim.timeline[d].size(), plan.schedule[d].size()) << what << " device " << d;
    for (size_t i = 0; i < plan.schedule[d].size(); ++i) {
      const TimedAction& ta = sim.timeline[d][i];
      ASSERT_TRUE(ta.action == plan.schedule[d][i]) << what << " device " << d << " position " << i;
      ASSERT_EQ(ta.device, static_cast<int>(d));
      ASSERT_EQ(ta.start, ref.start[d][i]) << what << " device " << d << " '" << to_string(ta.action) << "' start";
      ASSERT_EQ(ta.end, ref.end[d][i]) << what << " device " << d << " '" << to_string(ta.action) << "' end";
    }
    EXPECT_EQ(sim.devices[d].busy_ms, ref.busy_ms[d]) << what << " device " << d;
    EXPECT_EQ(sim.devices[d].peak_activation_bytes, ref.peak_activation[d]) << what << " device " << d;
  }
}

void expect_same(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& opt,
                 const std::string& what) {
  const std::vector<StageCost> stages = stage_costs(costs, plan.partition, plan.memory);
  // With units, the cost model's per-unit costs (units.h); simulate() derives the same ones itself.
  std::vector<UnitStageCost> per_unit;
  if (!plan.units.empty()) unit_stage_costs(stages, plan.units, cost_reference(costs), per_unit, plan.memory);
  const Reference ref = reference_simulate(plan, stages, cluster, opt, plan.units.empty() ? nullptr : &per_unit);
  expect_same_result(plan, ref, simulate(plan, costs, cluster, opt), what);
}

Plan plan_for(const std::string& schedule, int p, int m, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = p;
  r.microbatches = m;
  return build_plan(r, layers);
}

}  // namespace

TEST(SimulatorReference, EverySchedulePlanAndTimingOptionIsBitIdentical) {
  int compared = 0;
  for (const ScheduleInfo& info : all_schedules()) {
    for (auto [p, m] : {std::pair{2, 4}, std::pair{4, 8}, std::pair{4, 12}, std::pair{8, 16}}) {
      Plan plan;
      try {
        plan = plan_for(info.name, p, m, 4 * p);
      } catch (const InputError&) {
        continue;  // a size the schedule's own rule does not allow
      }
      const CostTable costs = uneven_costs(4 * p);
      for (int two = 0; two < 2; ++two) {
        const Cluster cluster = two ? two_nodes(p) : make_uniform_cluster(p);
        for (int v = 0; v < 5; ++v) {
          SimOptions o;
          if (v == 1) o.overlap_comm = false;
          if (v == 2) o.comm_latency_ms = 0.05, o.action_overhead_ms = 0.01;
          if (v == 3) o.pair_overlap = 0.5;
          if (v == 4) o.record_gaps = false, o.record_memory_timeline = false, o.pair_overlap = 0.3;
          expect_same(plan, costs, cluster, o,
                      std::string(info.name) + " p=" + std::to_string(p) + " m=" + std::to_string(m) + " variant " +
                          std::to_string(v) + (two ? " two nodes" : " one node"));
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 200);
}

// Recompute adds R actions (their own dependencies and durations) and changes what F keeps.
TEST(SimulatorReference, RecomputePoliciesAreBitIdentical) {
  for (const char* schedule : {"1f1b", "interleaved-1f1b", "zb-h1", "zb-v", "dualpipev"}) {
    for (Recompute policy : {Recompute::Full, Recompute::Selective}) {
      Plan plan = plan_for(schedule, 4, 8, 16);
      StageMemoryPolicy sp;
      sp.recompute = policy;
      if (policy == Recompute::Full) sp.full_layers = 1;
      set_uniform_memory_policy(plan, sp);
      for (bool fast : {false, true}) {
        SimOptions o;
        o.record_gaps = !fast;
        o.record_memory_timeline = !fast;
        o.overlap_comm = fast;
        expect_same(plan, uneven_costs(16), two_nodes(4), o,
                    std::string(schedule) + " recompute " + recompute_name(policy) + (fast ? " fast" : ""));
      }
    }
  }
}

// Data-parallel sync, ZeRO 1 and 2 and the optimizer step run beside the pipeline: its timeline
// must be the bare pipeline's.
TEST(SimulatorReference, ParallelConfigurationKeepsThePipelineBitIdentical) {
  for (const char* schedule : {"1f1b", "interleaved-1f1b", "zb-v"}) {
    for (int zero = 0; zero <= 2; ++zero) {
      Plan plan = plan_for(schedule, 4, 8, 16);
      ParallelConfig cfg;
      cfg.pp = 4;
      cfg.dp = 2;
      cfg.microbatches = 8;
      cfg.global_batch_size = 16;
      cfg.zero = zero;
      cfg.bucket_params = 2e6;
      plan.parallel = cfg;
      expect_same(plan, uneven_costs(16), make_uniform_cluster(8), SimOptions{},
                  std::string(schedule) + " zero " + std::to_string(zero));
    }
  }
}

// Orders that cannot run: both must stop, and on the plans around them both must agree.
TEST(SimulatorReference, DeadlocksAgree) {
  for (const char* schedule : {"1f1b", "interleaved-1f1b", "zb-v", "dualpipev"}) {
    Plan plan = plan_for(schedule, 4, 8, 16);
    auto& last = plan.schedule.back();
    std::swap(last.front(), last.back());
    expect_same(plan, uneven_costs(16), make_uniform_cluster(4), SimOptions{}, std::string(schedule) + " swapped");
    const SimResult r = simulate(plan, uneven_costs(16), make_uniform_cluster(4));
    EXPECT_FALSE(r.ok) << schedule;
    EXPECT_NE(r.error.find("deadlock"), std::string::npos) << r.error;
    EXPECT_TRUE(r.timeline.empty()) << schedule;
  }
}

// Lists longer than 32767 actions: the index switches to its 32-bit table.
TEST(SimulatorReference, LongListsAreBitIdentical) {
  Plan plan = plan_for("zb-h1", 2, 12000, 4);  // 36,000 actions per device
  ASSERT_GT(plan.schedule[0].size(), 32767u);
  expect_same(plan, uneven_costs(4), two_nodes(2), SimOptions{}, "zb-h1 p=2 m=12000");
}

namespace {

// uneven_costs with an attention part that grows with the causal pairs (units.h): units of equal
// tokens but different documents then cost differently.
CostTable uneven_pair_costs(int layers) {
  CostTable t = uneven_costs(layers);
  t.pairs_per_microbatch = 0.5 * 4096.0 * 4096.0;
  for (size_t l = 0; l < t.layers.size(); ++l) {
    LayerCost& c = t.layers[l];
    c.f_pair_ms = 0.3 * c.f_ms;
    c.b_pair_ms = 0.35 * c.b_ms;
    c.f_fixed_ms = 0.02;
    c.b_fixed_ms = 0.03;
    c.w_fixed_ms = 0.01 * (l % 2);
  }
  return t;
}

WorkUnit packed_unit(std::vector<long long> docs) {
  WorkUnit u;
  u.docs = std::move(docs);
  return u;
}

// Packed units of different sizes and documents, a row of three slices and a packed row of two, with
// `rows` offsetting the row indices (several copies in one plan keep their rows apart).
std::vector<WorkUnit> mixed_units(int copies) {
  std::vector<WorkUnit> out;
  for (int c = 0; c < copies; ++c) {
    out.push_back(packed_unit({1500, 900}));
    for (auto& u : slice_row({9000}, {4000, 3000, 2000}, 2 * c)) out.push_back(u);
    out.push_back(packed_unit({3000}));
    for (auto& u : slice_row({500, 6000}, {3500, 3000}, 2 * c + 1)) out.push_back(u);
    out.push_back(packed_unit({200, 200, 200}));
  }
  return out;  // 8 units per copy
}

Plan unit_plan_for(const std::string& schedule, int p, const std::vector<WorkUnit>& units, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = p;
  r.units = units;
  return build_plan(r, layers);
}

}  // namespace

// Units from the cost model (every schedule that runs over units, the unit-only Seq1F1B and TeraPipe
// included): per-unit times, bytes sent and activation bytes, and the slices' same-stage dependencies.
TEST(SimulatorReference, UnitsAndSlicesOnEveryScheduleAreBitIdentical) {
  int compared = 0, sliced = 0;
  std::vector<std::string> schedules;
  for (const ScheduleInfo& info : all_schedules()) schedules.push_back(info.name);
  for (const char* s : {"seq1f1b", "terapipe"})
    if (std::find(schedules.begin(), schedules.end(), s) == schedules.end()) schedules.push_back(s);
  for (const std::string& name : schedules) {
    for (auto [p, copies] : {std::pair{2, 1}, std::pair{4, 1}, std::pair{4, 2}, std::pair{8, 2}}) {
      const std::vector<WorkUnit> units = mixed_units(copies);
      Plan plan;
      try {
        plan = unit_plan_for(name, p, units, 4 * p);
      } catch (const InputError&) {
        continue;  // a schedule or size that does not run over units
      }
      ASSERT_EQ(plan.units, units) << name;
      const CostTable costs = uneven_pair_costs(4 * p);
      for (int two = 0; two < 2; ++two) {
        const Cluster cluster = two ? two_nodes(p) : make_uniform_cluster(p);
        for (int v = 0; v < 4; ++v) {
          SimOptions o;
          if (v == 1) o.overlap_comm = false;
          if (v == 2) o.comm_latency_ms = 0.05, o.action_overhead_ms = 0.01;
          if (v == 3) o.record_gaps = false, o.record_memory_timeline = false, o.pair_overlap = 0.3;
          expect_same(plan, costs, cluster, o,
                      name + " units p=" + std::to_string(p) + " x" + std::to_string(copies) + " variant " +
                          std::to_string(v) + (two ? " two nodes" : " one node"));
          ++compared;
        }
      }
      ++sliced;
    }
  }
  EXPECT_GT(sliced, 20);
  EXPECT_GT(compared, 150);
}

// Per-unit checkpointing: each stage recomputes its own selection of units under its own policy, so R's
// time and what F keeps differ per (stage, unit) (a slice that later slices read keeps its keys and
// values); an empty selection recomputes every unit.
TEST(SimulatorReference, PerUnitRecomputeIsBitIdentical) {
  int compared = 0;
  for (const char* schedule : {"1f1b", "gpipe", "zb-h1", "interleaved-1f1b", "zb-v", "seq1f1b"}) {
    const std::vector<WorkUnit> units = mixed_units(2);
    Plan plan;
    try {
      plan = unit_plan_for(schedule, 4, units, 16);
    } catch (const InputError& e) {
      ADD_FAILURE() << schedule << ": " << e.what();
      continue;
    }
    std::vector<int> droppable;
    for (int u = 0; u < static_cast<int>(units.size()); ++u) droppable.push_back(u);
    std::vector<StageMemoryPolicy> mem(static_cast<size_t>(plan.num_stages()));
    for (int s = 0; s < plan.num_stages(); ++s) {
      StageMemoryPolicy& p = mem[static_cast<size_t>(s)];
      p.recompute = s % 3 == 2 ? Recompute::None : s % 3 == 1 ? Recompute::Selective : Recompute::Full;
      if (s % 4 == 0 && plan.partition.stage_size(s) > 1) p.full_layers = p.recompute == Recompute::Full ? 1 : 0;
      for (size_t k = 0; k < droppable.size(); ++k)
        if ((k + static_cast<size_t>(s)) % 2 == 0) p.units.push_back(droppable[k]);
      if (p.recompute == Recompute::None) p.units.clear();
    }
    set_memory_policy(plan, mem);
    const ValidationReport v = validate_plan(plan, 16);
    ASSERT_TRUE(v.ok()) << schedule << ": " << v.message();
    const CostTable costs = uneven_pair_costs(16);
    for (int two = 0; two < 2; ++two) {
      const Cluster cluster = two ? two_nodes(4) : make_uniform_cluster(4);
      for (int variant = 0; variant < 3; ++variant) {
        SimOptions o;
        if (variant == 1) o.comm_latency_ms = 0.05, o.action_overhead_ms = 0.01;
        if (variant == 2) o.record_gaps = false, o.record_memory_timeline = false;
        expect_same(plan, costs, cluster, o, std::string(schedule) + " per-unit recompute variant " + std::to_string(variant));
        ++compared;
      }
    }
    // The recompute is really there: R actions of the selected units take time and F keeps less.
    const SimResult with = simulate(plan, costs, make_uniform_cluster(4));
    Plan bare = plan;
    set_memory_policy(bare, {});
    const SimResult without = simulate(bare, costs, make_uniform_cluster(4));
    ASSERT_TRUE(with.ok && without.ok) << schedule;
    double rec = 0, rec_bytes = 0, peak_with = 0, peak_without = 0;
    for (size_t d = 0; d < with.devices.size(); ++d) {
      rec += with.devices[d].recompute_ms;
      rec_bytes += with.devices[d].recomputed_bytes;
      peak_with += with.devices[d].peak_activation_bytes;  // summed: a device without recompute keeps its peak
      peak_without += without.devices[d].peak_activation_bytes;
    }
    EXPECT_GT(rec, 0) << schedule;
    EXPECT_GT(rec_bytes, 0) << schedule;
    // GPipe holds every unit's activations at once, so dropping some lowers its peak; the 1F1B family may
    // peak where nothing selected is in flight.
    if (std::string(schedule) == "gpipe") {
      EXPECT_LT(peak_with, peak_without);
    }
    EXPECT_LE(peak_with, peak_without) << schedule;
  }
  EXPECT_EQ(compared, 36);
}

// Hand-made unit costs far apart from unit to unit and stage to stage (times, bytes sent, the split of
// activation bytes between B and W), so a unit's cost taken from the wrong (stage, unit) shows.
TEST(SimulatorReference, HandMadeUnitCostsAreBitIdentical) {
  for (const char* schedule : {"1f1b", "gpipe", "zb-h1", "interleaved-1f1b", "zb-v", "seq1f1b"}) {
    const std::vector<WorkUnit> units = mixed_units(2);
    Plan plan;
    try {
      plan = unit_plan_for(schedule, 4, units, 16);
    } catch (const InputError& e) {
      ADD_FAILURE() << schedule << ": " << e.what();
      continue;
    }
    const std::vector<StageCost> stages = stage_costs(uneven_costs(16), plan.partition, plan.memory);
    const int S = plan.num_stages(), U = static_cast<int>(units.size());
    std::vector<UnitStageCost> per_unit(static_cast<size_t>(S) * U);
    for (int s = 0; s < S; ++s)
      for (int u = 0; u < U; ++u) {
        UnitStageCost& c = per_unit[static_cast<size_t>(s) * U + u];
        c.f_ms = 0.5 + 0.37 * ((3 * u + s) % 7);
        c.b_ms = 0.8 + 0.53 * ((5 * u + 2 * s) % 6);
        c.w_ms = 0.1 * ((u + 3 * s) % 4);
        c.act_b_bytes = 1e6 * (1 + (7 * u + s) % 9);
        c.act_w_bytes = 3e5 * ((u + s) % 3);
        c.out_bytes = 2e6 * (1 + (11 * u + 3 * s) % 13);
      }
    // Key/value gradient carries of the slices, sized apart per (stage, unit), created by the B of the
    // last slice reading them.
    const KeyReaders keys = key_readers(units);
    int carried = 0;
    for (int s = 0; s < S; ++s)
      for (int u = 0; u < U; ++u)
        if (keys.last_reader[static_cast<size_t>(u)] >= 0) {
          const double b = 4e5 * (1 + (5 * u + 2 * s) % 7);
          per_unit[static_cast<size_t>(s) * U + u].carry_bytes = b;
          per_unit[static_cast<size_t>(s) * U + keys.last_reader[static_cast<size_t>(u)]].carries_created_bytes += b;
          ++carried;
        }
    EXPECT_GT(carried, 0) << schedule;
    for (bool fast : {false, true}) {
      SimOptions o;
      o.record_gaps = !fast;
      o.record_memory_timeline = !fast;
      o.overlap_comm = fast;
      const Cluster cluster = two_nodes(4);
      const Reference ref = reference_simulate(plan, stages, cluster, o, &per_unit);
      expect_same_result(plan, ref, simulate_stages(plan, stages, cluster, o, per_unit),
                         std::string(schedule) + " hand-made unit costs" + (fast ? " fast" : ""));
    }
  }
}

// A row's forwards out of slice order, or its backwards in slice order, on one device: both stop, and
// the simulator says why. (On one device the slice edges change no time, only whether the order runs.)
TEST(SimulatorReference, SliceDeadlocksAgree) {
  for (const char* schedule : {"1f1b", "zb-h1", "seq1f1b"}) {
    for (bool backward : {false, true}) {
      Plan plan = unit_plan_for(schedule, 4, mixed_units(1), 16);
      // Units 1, 2, 3 are slices 0, 1, 2 of row 0, on stage 0's device: swap the forwards of slices 0
      // and 1, or the input-gradient backwards (B, else BW) of slices 1 and 2.
      auto& list = plan.schedule[plan.placement.stage_device()[0]];
      auto at = [&](Op op, int mb) {
        return std::find(list.begin(), list.end(), Action{op, 0, mb, false}) - list.begin();
      };
      auto grad = [&](int mb) { return at(Op::B, mb) < static_cast<long>(list.size()) ? at(Op::B, mb) : at(Op::BW, mb); };
      if (backward) {
        ASSERT_LT(grad(2), static_cast<long>(list.size())) << schedule;
        std::swap(list[grad(2)], list[grad(3)]);
      } else {
        std::swap(list[at(Op::F, 1)], list[at(Op::F, 2)]);
      }
      const std::string what = std::string(schedule) + (backward ? " backward" : " forward") + " slices swapped";
      expect_same(plan, uneven_pair_costs(16), make_uniform_cluster(4), SimOptions{}, what);
      const SimResult r = simulate(plan, uneven_pair_costs(16), make_uniform_cluster(4));
      EXPECT_FALSE(r.ok) << what;
      EXPECT_NE(r.error.find("deadlock"), std::string::npos) << what << ": " << r.error;
    }
  }
}

// A slice whose neighbour's action is in no list: the error names the missing slice dependency.
TEST(SimulatorReference, MissingSliceProducersAreNamed) {
  Plan p;
  p.name = "custom";
  p.num_microbatches = 2;
  p.partition = Partition::from_sizes({1});
  p.placement = sequential_placement(1);
  p.units = slice_row({100}, {60, 40}, 0);
  const std::vector<StageCost> stages = stage_costs(uneven_costs(1), p.partition, p.memory);
  auto error_of = [&](std::vector<Action> list) {
    p.schedule = {std::move(list)};
    try {
      simulate_stages(p, stages, make_uniform_cluster(1), SimOptions{});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string no_prev_f = error_of({Action{Op::F, 0, 1}, Action{Op::BW, 0, 1}, Action{Op::BW, 0, 0}});
  EXPECT_NE(no_prev_f.find("the forward of the previous slice of its row"), std::string::npos) << no_prev_f;
  const std::string no_next_b = error_of({Action{Op::F, 0, 0}, Action{Op::F, 0, 1}, Action{Op::BW, 0, 0}});
  EXPECT_NE(no_next_b.find("the backward of the next slice of its row"), std::string::npos) << no_next_b;
  const std::string fine = error_of({Action{Op::F, 0, 0}, Action{Op::F, 0, 1}, Action{Op::BW, 0, 1}, Action{Op::BW, 0, 0}});
  EXPECT_EQ(fine, "no error");
}
