#include "adaptis/planner/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "action_index.h"
#include "adaptis/model/error.h"

namespace adaptis {

const char* bubble_phase_name(BubblePhase p) {
  switch (p) {
    case BubblePhase::WarmUp: return "warm-up";
    case BubblePhase::InBetween: return "in-between";
    case BubblePhase::CoolDown: return "cool-down";
  }
  return "?";
}

const char* gap_cause_name(GapCause c) {
  switch (c) {
    case GapCause::Dependency: return "dependency";
    case GapCause::Transfer: return "transfer";
    case GapCause::Drain: return "drain";
  }
  return "?";
}

namespace {

constexpr double kEps = 1e-9;

// Why: the simulator follows the per-device orders exactly (a static list per device). Start
// times then depend only on dependency arrival and device availability, so a worklist in any
// topological order gives the same answer as a time-ordered event queue. Transfers on one link
// are FIFO in the sender's order, which is also the order the worklist issues them.
struct Sim {
  const Plan& plan;
  const std::vector<StageCost>& stages;
  const Cluster& cluster;
  const SimOptions& opt;
  ActionIndex idx;
  // Plans with units: every (stage, unit)'s costs, [stage * U + unit]; null = the stage costs.
  const std::vector<UnitStageCost>* units = nullptr;
  int U = 0;

  std::vector<double> start, end, arrival, producer_end_of_last;
  std::vector<int> remaining, last_dep;
  std::vector<char> done;
  std::vector<int> head;
  std::vector<double> free_at;
  std::vector<double> link_free;  // [src * D + dst]
  std::vector<int> work;
  std::vector<char> queued;

  Sim(const Plan& p, const std::vector<StageCost>& s, const Cluster& c, const SimOptions& o)
      : plan(p), stages(s), cluster(c), opt(o), idx(p) {}

  int D() const { return plan.num_devices(); }

  // What (stage, mb) costs: its unit's costs, or the stage's.
  UnitStageCost cost(int stage, int mb) const {
    if (units) return (*units)[static_cast<size_t>(stage) * U + mb];
    const StageCost& c = stages[stage];
    return {c.f_ms, c.b_ms, c.w_ms, c.act_b_bytes, c.act_w_bytes, c.out_bytes, c.in_bytes};
  }

  double duration(int g) const {
    const Action& a = idx.action(g);
    const UnitStageCost c = cost(a.stage, a.mb);
    double t = 0;
    switch (a.op) {
      case Op::F: t = c.f_ms; break;
      case Op::B: t = c.b_ms; break;
      case Op::W: t = c.w_ms; break;
      case Op::BW: t = c.b_ms + c.w_ms; break;
    }
    return t / cluster.devices[idx.device(g)].speed + opt.action_overhead_ms;
  }

  double transfer_ms(int src, int dst, double bytes) const {
    Link l = cluster.link(src, dst);
    if (opt.comm_latency_ms >= 0) l.latency_ms = opt.comm_latency_ms;
    return l.transfer_ms(bytes);
  }

  // Bytes a dependency edge carries: F -> F of the next stage sends the activation; an input
  // gradient (B/BW -> B/BW of the previous stage) sends the gradient of the same tensor.
  double edge_bytes(int producer, int consumer) const {
    const Action& p = idx.action(producer);
    const Action& c = idx.action(consumer);
    if (p.stage == c.stage) return 0;
    if (p.op == Op::F) return cost(p.stage, p.mb).out_bytes;
    return cost(c.stage, c.mb).out_bytes;
  }

  bool head_ready(int d) const {
    int h = head[d];
    int n = idx.device_size(d);
    if (h >= n) return false;
    int g = idx.global(d, h);
    if (remaining[g] != 0) return false;
    if (h + 1 < n && idx.action(g + 1).overlap_prev && remaining[g + 1] != 0) return false;
    return true;
  }

  void try_queue(int d) {
    if (!queued[d] && head_ready(d)) {
      queued[d] = 1;
      work.push_back(d);
    }
  }

  void complete(int g, double t_end, int d) {
    done[g] = 1;
    for (int c : idx.consumers(g)) {
      int dc = idx.device(c);
      double arr = t_end;
      if (dc != d) {
        double& lf = link_free[static_cast<size_t>(d) * D() + dc];
        double ts = std::max(t_end, lf);
        double te = ts + transfer_ms(d, dc, edge_bytes(g, c));
        lf = te;
        arr = te;
        if (!opt.overlap_comm) free_at[d] = std::max(free_at[d], te);
      }
      if (arr >= arrival[c] || last_dep[c] < 0) {
        arrival[c] = std::max(arrival[c], arr);
        last_dep[c] = g;
        producer_end_of_last[c] = t_end;
      }
      if (--remaining[c] == 0) try_queue(dc);
    }
  }

  void run(SimResult& r) {
    size_t n = idx.size();
    start.assign(n, 0);
    end.assign(n, 0);
    arrival.assign(n, 0);
    producer_end_of_last.assign(n, 0);
    last_dep.assign(n, -1);
    done.assign(n, 0);
    remaining.resize(n);
    for (size_t g = 0; g < n; ++g) remaining[g] = static_cast<int>(idx.deps(static_cast<int>(g)).size());
    head.assign(D(), 0);
    free_at.assign(D(), 0);
    link_free.assign(static_cast<size_t>(D()) * D(), 0);
    queued.assign(D(), 0);
    work.clear();
    for (int d = 0; d < D(); ++d) try_queue(d);

    while (!work.empty()) {
      int d = work.back();
      work.pop_back();
      queued[d] = 0;
      // A device is queued again when an action it just ran readies a consumer on the same device; by then
      // its head has moved on, so check the new head is ready (slices make such consumers common).
      if (!head_ready(d)) continue;
      int g = idx.global(d, head[d]);
      bool pair = head[d] + 1 < idx.device_size(d) && idx.action(g + 1).overlap_prev;
      double t0 = std::max(free_at[d], arrival[g]);
      if (pair) {
        t0 = std::max(t0, arrival[g + 1]);
        double d1 = duration(g), d2 = duration(g + 1);
        double total = d1 + d2 - opt.pair_overlap * std::min(d1, d2);
        double scale = (d1 + d2) > 0 ? total / (d1 + d2) : 0;
        start[g] = t0;
        end[g] = t0 + d1 * scale;
        start[g + 1] = end[g];
        end[g + 1] = t0 + total;
        free_at[d] = end[g + 1];
        // Both halves release their consumers when the pair finishes: the fused kernel stream
        // hands over outputs at the end.
        complete(g, end[g + 1], d);
        complete(g + 1, end[g + 1], d);
        head[d] += 2;
      } else {
        start[g] = t0;
        end[g] = t0 + duration(g);
        free_at[d] = end[g];
        complete(g, end[g], d);
        head[d] += 1;
      }
      try_queue(d);
    }

    for (int d = 0; d < D(); ++d) {
      if (head[d] < idx.device_size(d)) {
        r.ok = false;
        r.error = deadlock_message();
        return;
      }
    }
    r.ok = true;
    collect(r);
  }

  std::string describe(int g) const {
    int d = idx.device(g);
    return "'" + to_string(idx.action(g)) + "' (device " + std::to_string(d) + ", position " +
           std::to_string(g - idx.global(d, 0)) + ")";
  }

  // Names every stuck device, the action at the head of its list, the dependency it waits for
  // and what that dependency is itself queued behind, then the cycle of devices if there is one.
  std::string deadlock_message() const {
    std::ostringstream os;
    os << "deadlock: the per-device orders cannot make progress";
    std::vector<int> waits_on(D(), -1);
    for (int d = 0; d < D(); ++d) {
      if (head[d] >= idx.device_size(d)) continue;
      int g = idx.global(d, head[d]);
      int blocked = g;
      if (remaining[g] == 0 && head[d] + 1 < idx.device_size(d)) blocked = g + 1;  // overlapped partner
      os << "\n  device " << d << " waits at " << describe(blocked);
      for (int dep : idx.deps(blocked)) {
        if (done[dep]) continue;
        int dd = idx.device(dep);
        os << " for " << describe(dep);
        int hd = idx.global(dd, head[dd]);
        if (hd != dep) os << ", which is queued behind " << describe(hd);
        if (waits_on[d] < 0) waits_on[d] = dd;
        break;
      }
    }
    // Follow device -> device waits to show the cycle.
    for (int d0 = 0; d0 < D(); ++d0) {
      if (waits_on[d0] < 0) continue;
      std::vector<int> seen(D(), -1);
      int d = d0, step = 0;
      while (d >= 0 && seen[d] < 0) {
        seen[d] = step++;
        d = waits_on[d];
      }
      if (d >= 0) {
        os << "\n  cycle: device " << d;
        int e = waits_on[d];
        while (e != d) {
          os << " -> device " << e;
          e = waits_on[e];
        }
        os << " -> device " << d;
        break;
      }
    }
    return os.str();
  }

  void collect(SimResult& r) {
    int nd = D();
    r.timeline.assign(nd, {});
    r.devices.assign(nd, {});
    if (opt.record_memory_timeline) r.memory.assign(nd, {});
    double T = 0;
    for (size_t g = 0; g < idx.size(); ++g) T = std::max(T, end[g]);
    r.iteration_ms = T;
    double total_bubble = 0;

    for (int d = 0; d < nd; ++d) {
      DeviceStats& st = r.devices[d];
      int n = idx.device_size(d);
      auto& tl = r.timeline[d];
      tl.reserve(n);
      for (int s : plan.placement.device_stages[d]) st.static_bytes += stages[s].state_bytes;
      st.memory_limit_bytes = cluster.devices[d].memory_limit();

      double first_b = std::numeric_limits<double>::infinity();
      double last_f_end = 0;
      double live = 0, peak_live = 0;
      auto* mem = opt.record_memory_timeline ? &r.memory[d] : nullptr;
      if (mem) mem->push_back({0.0, st.static_bytes});
      for (int i = 0; i < n; ++i) {
        int g = idx.global(d, i);
        const Action& a = idx.action(g);
        tl.push_back({a, d, start[g], end[g]});
        st.busy_ms += end[g] - start[g];
        const UnitStageCost c = cost(a.stage, a.mb);
        if (a.op == Op::F) {
          last_f_end = std::max(last_f_end, end[g]);
          live += c.act_b_bytes + c.act_w_bytes;
          peak_live = std::max(peak_live, live);
          if (mem) mem->push_back({start[g], st.static_bytes + live});
        } else {
          if (a.op == Op::B || a.op == Op::BW) first_b = std::min(first_b, start[g]);
          double freed = a.op == Op::B ? c.act_b_bytes : a.op == Op::W ? c.act_w_bytes : c.act_b_bytes + c.act_w_bytes;
          live -= freed;
          if (mem && freed > 0) mem->push_back({end[g], st.static_bytes + live});
        }
      }
      st.peak_activation_bytes = peak_live;
      st.peak_memory_bytes = st.static_bytes + peak_live;
      st.oom = st.peak_memory_bytes > st.memory_limit_bytes * (1 + 1e-12);
      r.oom = r.oom || st.oom;
      st.bubble_ms = std::max(0.0, T - st.busy_ms);
      total_bubble += st.bubble_ms;

      // Phase boundaries of this device: warm-up ends when its first backward starts, cool-down
      // begins when its last forward ends.
      double w_end = std::isfinite(first_b) ? first_b : T;
      double c_start = std::max(last_f_end, w_end);
      auto add_gap = [&](Gap gap) {
        double a = gap.start, b = gap.end;
        double w = std::max(0.0, std::min(b, w_end) - a);
        double cd = std::max(0.0, b - std::max(a, c_start));
        double mid = std::max(0.0, (b - a) - w - cd);
        st.warmup_bubble_ms += w;
        st.cooldown_bubble_ms += cd;
        st.inbetween_bubble_ms += mid;
        if (opt.record_gaps) {
          gap.phase = w >= cd && w >= mid ? BubblePhase::WarmUp : cd >= mid ? BubblePhase::CoolDown
                                                                             : BubblePhase::InBetween;
          r.gaps.push_back(gap);
        }
      };
      double prev_end = 0;
      for (int i = 0; i < n; ++i) {
        int g = idx.global(d, i);
        if (start[g] > prev_end + kEps) {
          Gap gap;
          gap.device = d;
          gap.start = prev_end;
          gap.end = start[g];
          // The action (or its overlapped partner) whose last dependency arrived at start[g].
          int w = g;
          if (i + 1 < n && idx.action(g + 1).overlap_prev && arrival[g + 1] > arrival[g]) w = g + 1;
          gap.waiting = idx.action(w);
          int p = last_dep[w];
          if (p >= 0) {
            gap.producer = idx.action(p);
            gap.producer_device = idx.device(p);
            gap.producer_end = producer_end_of_last[w];
            gap.arrival = arrival[w];
            gap.cause = (gap.producer_device != d && gap.arrival > gap.producer_end + kEps &&
                         gap.producer_end < start[g] - kEps)
                            ? GapCause::Transfer
                            : GapCause::Dependency;
          }
          add_gap(gap);
        }
        prev_end = std::max(prev_end, end[g]);
      }
      if (T > prev_end + kEps) {
        Gap gap;
        gap.device = d;
        gap.start = prev_end;
        gap.end = T;
        gap.cause = GapCause::Drain;
        add_gap(gap);
      }
      if (mem) mem->push_back({T, st.static_bytes + live});
    }
    // Bytes each device sends over P2P links.
    std::vector<int> sd = plan.placement.stage_device();
    for (int d = 0; d < nd; ++d) {
      for (const auto& ta : r.timeline[d]) {
        const Action& a = ta.action;
        if (a.op == Op::F && a.stage + 1 < static_cast<int>(stages.size()) && sd[a.stage + 1] != d)
          r.devices[d].send_bytes += cost(a.stage, a.mb).out_bytes;
        if ((a.op == Op::B || a.op == Op::BW) && a.stage > 0 && sd[a.stage - 1] != d)
          r.devices[d].send_bytes += cost(a.stage - 1, a.mb).out_bytes;
      }
    }
    r.bubble_ratio = (T > 0 && nd > 0) ? total_bubble / (nd * T) : 0.0;
    if (!plan.units.empty()) {
      r.unit_work_ms.assign(plan.units.size(), 0.0);
      for (int s = 0; s < static_cast<int>(stages.size()); ++s)
        for (int u = 0; u < static_cast<int>(plan.units.size()); ++u) {
          const UnitStageCost c = cost(s, u);
          r.unit_work_ms[u] += c.f_ms + c.b_ms + c.w_ms;
        }
    }
  }
};

}  // namespace

SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt) {
  return simulate_stages(plan, stages, cluster, opt, {});
}

SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt, const std::vector<UnitStageCost>& unit_costs) {
  if (plan.num_devices() > cluster.num_devices())
    throw InputError("plan uses " + std::to_string(plan.num_devices()) + " devices but the cluster '" +
                     cluster.name + "' has " + std::to_string(cluster.num_devices()));
  if (static_cast<int>(stages.size()) != plan.num_stages())
    throw InputError("plan has " + std::to_string(plan.num_stages()) + " stages but " +
                     std::to_string(stages.size()) + " stage costs were given");
  Sim sim(plan, stages, cluster, opt);
  if (!unit_costs.empty()) {
    if (plan.units.empty() || unit_costs.size() != stages.size() * plan.units.size())
      throw InputError("simulate: " + std::to_string(unit_costs.size()) + " unit costs for " +
                       std::to_string(stages.size()) + " stages x " + std::to_string(plan.units.size()) + " units");
    sim.units = &unit_costs;
    sim.U = static_cast<int>(plan.units.size());
  }
  SimResult r;
  sim.run(r);
  return r;
}

SimResult simulate(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& opt) {
  std::vector<StageCost> stages = stage_costs(costs, plan.partition);
  if (plan.units.empty()) return simulate_stages(plan, stages, cluster, opt);
  std::vector<UnitStageCost> per_unit;
  unit_stage_costs(stages, plan.units, cost_reference(costs), per_unit);
  return simulate_stages(plan, stages, cluster, opt, per_unit);
}

}  // namespace adaptis
