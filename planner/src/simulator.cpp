#include "adaptis/planner/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>

#include "action_index.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"
#include "sim_collectives.h"
#include "sim_host_link.h"

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
    case GapCause::Reload: return "reload";
  }
  return "?";
}

namespace {

constexpr double kEps = 1e-9;

// Why: the simulator follows the per-device orders exactly (a static list per device). Start
// times then depend only on dependency arrival and device availability, so a worklist in any
// topological order gives the same answer as a time-ordered event queue. Transfers on one link
// are FIFO in the sender's order, which is also the order a device issues them.
//
// Speed (the optimizer and the cluster search simulate many plans): every per-action quantity is
// computed once into flat arrays (duration, the link of each device pair), a device is drained
// as far as its dependencies allow each time it is taken from the worklist, and the producer
// bookkeeping the gap causes need is kept only when gaps are recorded. The arithmetic of every
// time is the same expressions in the same order as a plain event loop.
struct Sim {
  const Plan& plan;
  const std::vector<StageCost>& stages;
  const Cluster& cluster;
  const SimOptions& opt;
  ActionIndex idx;
  const int nd;
  const bool track_producers;  // last dependency of each action, for gap causes
  HostCopies host;  // activation offload copies (memory policies); inactive without them
  std::vector<double> reload_end;  // per action: when its reload ends (-1 = none)
  // Variable-length units hook (Plan::units, units.h): every (stage, unit)'s costs, [stage * U + unit];
  // null = every micro-batch costs its stage's costs.
  const std::vector<UnitStageCost>* units = nullptr;
  int U = 0;
  const UnitStageCost& unit_cost(int stage, int mb) const { return (*units)[static_cast<size_t>(stage) * U + mb]; }
  double out_bytes(int stage, int mb) const { return units ? unit_cost(stage, mb).out_bytes : stages[stage].out_bytes; }

  std::vector<double> start, end;
  // What a consumer's producers update, together: when its last input arrives and how many inputs
  // are still missing. Laid out position-major (the i-th action of every device side by side), so
  // the consumers a device's next actions feed (neighbouring devices, similar positions) sit in a
  // few cache lines instead of one line per device segment.
  struct Pending {
    double arrival = 0;
    int remaining = 0;
  };
  std::vector<Pending> pending;  // [position * D + device]
  Pending& pend(int d, int pos) { return pending[static_cast<size_t>(pos) * nd + d]; }
  const Pending& pend(int d, int pos) const { return pending[static_cast<size_t>(pos) * nd + d]; }
  std::vector<double> producer_end_of_last;  // only with track_producers
  std::vector<int> last_dep;                 // only with track_producers
  std::vector<int> head;
  std::vector<double> free_at;
  std::vector<double> link_free;     // [src * D + dst]
  std::vector<double> link_latency;  // [src * D + dst], ms (with the --comm-latency-ms override)
  std::vector<double> link_bw;       // [src * D + dst], bytes/s (0 = infinite)
  std::vector<int> work;
  std::vector<char> queued;
  // Parallel-configuration hook (sim_collectives.h): ZeRO-3 weight gathers delay each F and B.
  sim::ParamGatherLane* gather = nullptr;
  std::vector<double> prev_start;  // per device, the start of its last action (when gathers are issued)

  Sim(const Plan& p, const std::vector<StageCost>& s, const Cluster& c, const SimOptions& o)
      : plan(p),
        stages(s),
        cluster(c),
        opt(o),
        idx(p),
        nd(p.num_devices()),
        track_producers(o.record_gaps),
        host(p.schedule, s, p.placement.stage_device(), c, p.num_microbatches) {}

  int D() const { return nd; }

  double duration(int g) const {
    const Action& a = idx.action(g);
    const StageCost& c = stages[a.stage];
    double t = 0;
    if (units) {
      const UnitStageCost& u = unit_cost(a.stage, a.mb);
      t = a.op == Op::F ? u.f_ms : a.op == Op::B ? u.b_ms : a.op == Op::W ? u.w_ms : a.op == Op::BW ? u.b_ms + u.w_ms : 0.0;
      return t / cluster.devices[idx.device(g)].speed + opt.action_overhead_ms;
    }
    switch (a.op) {
      case Op::F: t = c.f_ms; break;
      case Op::B: t = c.b_ms; break;
      case Op::W: t = c.w_ms; break;
      case Op::BW: t = c.b_ms + c.w_ms; break;
      case Op::R: t = c.recompute_ms; break;
    }
    return t / cluster.devices[idx.device(g)].speed + opt.action_overhead_ms;
  }

  bool done(int g) const { return g - idx.global(idx.device(g), 0) < head[idx.device(g)]; }

  bool head_ready(int d) const {
    int h = head[d];
    int n = idx.device_size(d);
    if (h >= n) return false;
    int g = idx.global(d, h);
    if (pend(d, h).remaining != 0) return false;
    if (h + 1 < n && idx.action(g + 1).overlap_prev && pend(d, h + 1).remaining != 0) return false;
    return true;
  }

  void try_queue(int d) {
    if (!queued[d] && head_ready(d)) {
      queued[d] = 1;
      work.push_back(d);
    }
  }

  void complete(int g, double t_end, int d) {
    const size_t row = static_cast<size_t>(d) * nd;
    const Action& pa = idx.action(g);
    const int e_end = idx.consumer_end(g);
    for (int e = idx.consumer_begin(g); e < e_end; ++e) {
      const int c = idx.edge_consumer(e);
      const int dc = idx.edge_device(e);
      double arr = t_end;
      if (dc != d) {
        double& lf = link_free[row + dc];
        const double ts = std::max(t_end, lf);
        const double bw = link_bw[row + dc];
        // Bytes the edge carries: F -> F of the next stage sends the activation; an input gradient
        // (B/BW -> B/BW of the previous stage) sends the gradient of the same tensor. Then
        // Link::transfer_ms: latency + bytes / bandwidth.
        const int cs = idx.edge_stage(e);
        const double bytes = pa.stage == cs ? 0.0 : pa.op == Op::F ? out_bytes(pa.stage, pa.mb) : out_bytes(cs, pa.mb);
        const double te = ts + (link_latency[row + dc] + (bw > 0 ? bytes / bw * 1e3 : 0.0));
        lf = te;
        arr = te;
        if (!opt.overlap_comm) free_at[d] = std::max(free_at[d], te);
      }
      Pending& pc = pend(dc, idx.edge_position(e));
      if (track_producers) {
        if (arr >= pc.arrival || last_dep[c] < 0) {
          pc.arrival = std::max(pc.arrival, arr);
          last_dep[c] = g;
          producer_end_of_last[c] = t_end;
        }
      } else if (arr > pc.arrival) {
        pc.arrival = arr;
      }
      if (--pc.remaining == 0) try_queue(dc);
    }
  }

  // Action g (device d) starts at t: the reloads it triggers are issued, and their consumers wait for them.
  void on_start(int g, int d, double t) {
    if (!host.active()) return;
    const int first = idx.global(d, 0);
    const int k = host.on_start(d, g - first, t);
    for (int i = 0; i < k; ++i) {
      const int pos = host.reload(i).consumer;
      Pending& pc = pend(d, pos);
      pc.arrival = std::max(pc.arrival, host.reload(i).end);
      reload_end[first + pos] = host.reload(i).end;
    }
  }
  void on_end(int g, int d, double t) {
    if (host.active() && idx.action(g).op == Op::F) host.on_forward_end(d, g - idx.global(d, 0), t);
  }

  void run(SimResult& r) {
    const size_t n = idx.size();
    reload_end.assign(n, -1.0);
    start.assign(n, 0);
    end.assign(n, 0);
    pending.assign(static_cast<size_t>(idx.max_device_size()) * nd, Pending{});
    for (int d = 0; d < nd; ++d)
      for (int i = 0, size = idx.device_size(d); i < size; ++i)
        pend(d, i).remaining = static_cast<int>(idx.deps(idx.global(d, i)).size());
    if (track_producers) {
      producer_end_of_last.assign(n, 0);
      last_dep.assign(n, -1);
    }
    link_latency.resize(static_cast<size_t>(nd) * nd);
    link_bw.resize(static_cast<size_t>(nd) * nd);
    for (int a = 0; a < nd; ++a)
      for (int b = 0; b < nd; ++b) {
        const Link& l = cluster.link(a, b);
        link_latency[static_cast<size_t>(a) * nd + b] = opt.comm_latency_ms ? *opt.comm_latency_ms : l.latency_ms;
        link_bw[static_cast<size_t>(a) * nd + b] = l.bandwidth;
      }
    head.assign(nd, 0);
    free_at.assign(nd, 0);
    link_free.assign(static_cast<size_t>(nd) * nd, 0);
    queued.assign(nd, 0);
    if (gather) prev_start.assign(nd, 0);
    work.clear();
    for (int d = 0; d < nd; ++d) try_queue(d);

    while (!work.empty()) {
      const int d = work.back();
      work.pop_back();
      // Drain the device while its head is ready; it stays marked queued meanwhile, so consumers
      // on the same device do not push it again.
      const int size = idx.device_size(d);
      while (head_ready(d)) {
        const int g = idx.global(d, head[d]);
        const bool pair = head[d] + 1 < size && idx.action(g + 1).overlap_prev;
        double t0 = std::max(free_at[d], pend(d, head[d]).arrival);
        if (gather) {
          t0 = std::max(t0, gather->ready(d, idx.action(g), prev_start[d]));
          if (pair) t0 = std::max(t0, gather->ready(d, idx.action(g + 1), prev_start[d]));
          prev_start[d] = t0;
        }
        if (pair) {
          t0 = std::max(t0, pend(d, head[d] + 1).arrival);
          double d1 = duration(g), d2 = duration(g + 1);
          double total = d1 + d2 - opt.pair_overlap * std::min(d1, d2);
          double scale = (d1 + d2) > 0 ? total / (d1 + d2) : 0;
          start[g] = t0;
          end[g] = t0 + d1 * scale;
          start[g + 1] = end[g];
          end[g + 1] = t0 + total;
          free_at[d] = end[g + 1];
          on_start(g, d, start[g]);
          on_start(g + 1, d, start[g + 1]);
          on_end(g, d, end[g + 1]);
          on_end(g + 1, d, end[g + 1]);
          head[d] += 2;
          // Both halves release their consumers when the pair finishes: the fused kernel stream
          // hands over outputs at the end.
          complete(g, end[g + 1], d);
          complete(g + 1, end[g + 1], d);
        } else {
          start[g] = t0;
          end[g] = t0 + duration(g);
          free_at[d] = end[g];
          on_start(g, d, t0);
          on_end(g, d, end[g]);
          head[d] += 1;
          complete(g, end[g], d);
        }
      }
      queued[d] = 0;
    }

    for (int d = 0; d < nd; ++d) {
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
    std::string out = "'";
    out += to_string(idx.action(g));
    out += "' (device ";
    out += std::to_string(d);
    out += ", position ";
    out += std::to_string(g - idx.global(d, 0));
    out += ')';
    return out;
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
      if (pend(d, head[d]).remaining == 0 && head[d] + 1 < idx.device_size(d)) blocked = g + 1;  // overlapped partner
      os << "\n  device " << d << " waits at " << describe(blocked);
      for (int dep : idx.deps(blocked)) {
        if (done(dep)) continue;
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
    r.host_transfers = std::move(host.transfers());
    std::vector<double> scratch;
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
      auto* mem = opt.record_memory_timeline ? &r.memory[d] : nullptr;
      for (int i = 0; i < n; ++i) {
        int g = idx.global(d, i);
        const Action& a = idx.action(g);
        tl.push_back({a, d, start[g], end[g]});
        st.busy_ms += end[g] - start[g];
        if (a.op == Op::R) st.recompute_ms += end[g] - start[g];
        if (a.op == Op::F) last_f_end = std::max(last_f_end, end[g]);
        if (a.op == Op::B || a.op == Op::BW) first_b = std::min(first_b, start[g]);
      }
      // Activation memory over time: what F keeps, what R re-creates, and the host copies.
      std::vector<const HostTransfer*> copies;
      for (const HostTransfer& x : r.host_transfers)
        if (x.device == d) {
          copies.push_back(&x);
          st.host_copy_ms += x.end - x.start;
          if (x.to_host) st.offloaded_bytes += x.bytes;
        }
      const DeviceMemory dm = device_memory(tl, copies, stages, plan.num_microbatches, st.static_bytes, T, mem, scratch, units);
      st.recomputed_bytes = dm.recomputed_bytes;
      st.peak_kept_bytes = dm.peak_kept;
      st.peak_recomputed_bytes = dm.peak_recomputed;
      st.peak_offloaded_bytes = dm.peak_offloaded;
      st.peak_activation_bytes = dm.peak_activation;
      st.peak_memory_bytes = st.static_bytes + dm.peak_activation;
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
          if (i + 1 < n && idx.action(g + 1).overlap_prev && pend(d, i + 1).arrival > pend(d, i).arrival) w = g + 1;
          gap.waiting = idx.action(w);
          int p = track_producers ? last_dep[w] : -1;  // causes are only needed for recorded gaps
          if (reload_end[w] >= 0 && reload_end[w] >= pend(d, w - g + i).arrival - kEps && reload_end[w] > prev_end + kEps) {
            // Its activations were still coming back from host memory.
            const Action& aw = idx.action(w);
            gap.producer = Action{Op::F, aw.stage, aw.mb, false};
            gap.producer_device = d;
            gap.producer_end = reload_end[w];
            gap.arrival = reload_end[w];
            gap.cause = GapCause::Reload;
          } else if (p >= 0) {
            gap.producer = idx.action(p);
            gap.producer_device = idx.device(p);
            gap.producer_end = producer_end_of_last[w];
            gap.arrival = pend(d, w - g + i).arrival;
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
    }
    // Bytes each device sends over P2P links.
    std::vector<int> sd = plan.placement.stage_device();
    for (int d = 0; d < nd; ++d) {
      for (const auto& ta : r.timeline[d]) {
        const Action& a = ta.action;
        if (a.op == Op::F && a.stage + 1 < static_cast<int>(stages.size()) && sd[a.stage + 1] != d)
          r.devices[d].send_bytes += out_bytes(a.stage, a.mb);
        if ((a.op == Op::B || a.op == Op::BW) && a.stage > 0 && sd[a.stage - 1] != d)
          r.devices[d].send_bytes += out_bytes(a.stage - 1, a.mb);
      }
    }
    r.bubble_ratio = (T > 0 && nd > 0) ? total_bubble / (nd * T) : 0.0;
    if (units) {
      r.unit_work_ms.assign(static_cast<size_t>(U), 0.0);
      for (int s = 0; s < static_cast<int>(stages.size()); ++s)
        for (int u = 0; u < U; ++u) {
          const UnitStageCost& c = unit_cost(s, u);
          r.unit_work_ms[static_cast<size_t>(u)] += c.f_ms + c.b_ms + c.w_ms;
        }
    }
  }
};

}  // namespace

namespace {

SimResult simulate_impl(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                        const SimOptions& opt, const CostTable* workload, const std::vector<UnitStageCost>& unit_costs) {
  if (plan.num_devices() > cluster.num_devices())
    throw InputError("plan uses " + std::to_string(plan.num_devices()) + " devices but the cluster '" +
                     cluster.name + "' has " + std::to_string(cluster.num_devices()));
  if (static_cast<int>(stages.size()) != plan.num_stages())
    throw InputError("plan has " + std::to_string(plan.num_stages()) + " stages but " +
                     std::to_string(stages.size()) + " stage costs were given");
  // Offload needs a host link on the stage's device.
  const std::vector<int> sd = plan.placement.stage_device();
  require_host_links(plan, cluster);  // names the stage's policy, the device and the cluster
  for (size_t s = 0; s < stages.size() && s < sd.size(); ++s)
    if (stages[s].offload_bytes > 0 && sd[s] >= 0 && sd[s] < cluster.num_devices() &&
        !cluster.devices[sd[s]].host_link.present())
      throw InputError("plan: stage " + std::to_string(s) + " offloads activations but device " + std::to_string(sd[s]) +
                       " of cluster '" + cluster.name + "' has no host link (cluster file field 'host_link')");
  Sim sim(plan, stages, cluster, opt);
  if (!unit_costs.empty()) {
    if (plan.units.empty() || unit_costs.size() != stages.size() * plan.units.size())
      throw InputError("simulate: " + std::to_string(unit_costs.size()) + " unit costs for " +
                       std::to_string(stages.size()) + " stages x " + std::to_string(plan.units.size()) + " units");
    if (has_memory_policy(plan))
      throw InputError("plan: field 'memory' (per-stage recompute/offload) with variable-length units (field 'units') "
                       "is not supported yet");
    sim.units = &unit_costs;
    sim.U = static_cast<int>(plan.units.size());
  }
  SimResult r;
  if (!plan.parallel) {
    sim.run(r);
    return r;
  }
  // Hook: a plan with a parallel configuration (sim_collectives.h).
  sim::check_parallel_plan(plan, cluster);
  std::optional<sim::ParamGatherLane> gathers;
  if (plan.parallel->zero >= 3) gathers.emplace(plan, stages, cluster, opt.record_collectives);
  sim.gather = gathers ? &*gathers : nullptr;
  sim.run(r);
  if (r.ok) sim::add_parallel_collectives(plan, stages, cluster, opt, workload, gathers ? &*gathers : nullptr, r);
  return r;
}

}  // namespace

SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt) {
  return simulate_impl(plan, stages, cluster, opt, nullptr, {});
}

SimResult simulate_stages(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                          const SimOptions& opt, const std::vector<UnitStageCost>& unit_costs) {
  return simulate_impl(plan, stages, cluster, opt, nullptr, unit_costs);
}

SimResult simulate(const Plan& plan, const CostTable& costs, const Cluster& cluster, const SimOptions& opt) {
  require_host_links(plan, cluster);
  std::vector<StageCost> stages = stage_costs(costs, plan.partition, plan.memory);
  std::vector<UnitStageCost> per_unit;
  if (!plan.units.empty()) unit_stage_costs(stages, plan.units, cost_reference(costs), per_unit);
  return simulate_impl(plan, stages, cluster, opt, &costs, per_unit);
}

}  // namespace adaptis
