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
// Speed (the optimizer and the cluster search simulate many plans, a 64-device plan has 10^5
// actions): what the loop reads per action is computed once per stage (each op's duration on the
// stage's device, the transfer time to the neighbouring stages' devices); consumers are looked up
// from (op, stage, micro-batch) instead of kept as edge lists; each action's start and end go
// straight into the result's timeline, since a device runs its list in order; and the per-action
// state is two small arrays. Allocating and first touching memory costs more than the arithmetic
// here, so the producer bookkeeping the gap causes need is kept only when gaps are recorded. The
// arithmetic of every time is the same expressions in the same order as a plain event loop.
struct Sim {
  const Plan& plan;
  const std::vector<StageCost>& stages;
  const Cluster& cluster;
  const SimOptions& opt;
  ActionIndex idx;
  const int nd;
  const bool track_producers;  // last dependency of each action, for gap causes
  HostCopies host;  // activation offload copies (memory policies); inactive without them
  std::vector<double> reload_end;  // per slot: when its reload ends (-1 = none); only with copies
  // Variable-length units hook (Plan::units, units.h): every (stage, unit)'s costs, [stage * U + unit];
  // null = every micro-batch costs its stage's costs.
  const std::vector<UnitStageCost>* units = nullptr;
  int U = 0;
  const UnitStageCost& unit_cost(int stage, int mb) const { return (*units)[static_cast<size_t>(stage) * U + mb]; }
  double out_bytes(int stage, int mb) const { return units ? unit_cost(stage, mb).out_bytes : stages[stage].out_bytes; }

  // What a consumer's producers update: how many inputs are still missing and when its last input
  // arrives, by slot (action_index.h): position-major, so the consumers of what the devices run at
  // one moment share cache lines. (Keeping the arrivals in the timeline entries instead saves
  // memory but scatters them 40 bytes apart per device, and misses the cache far more.)
  std::vector<uint8_t> remaining;
  std::vector<double> arrival;
  std::vector<double> producer_end_of_last;  // only with track_producers
  std::vector<int> last_dep;                 // only with track_producers: the producer's slot
  std::vector<int> head;
  std::vector<double> free_at;
  std::vector<double> link_free;  // [src * D + dst]
  // Per row: each op's duration [row * kNumOps + op]; the transfer of F's output to the next
  // stage's device and of B/BW's input gradient to the previous stage's device (ms, latency included).
  // A row is a stage, or with units a (stage, unit): row = stage * rows_per_stage + (mb & row_mb_mask),
  // so plans without units index per stage with no branch and no table per micro-batch.
  std::vector<double> dur, to_next, to_prev;
  int rows_per_stage = 1, row_mb_mask = 0;
  std::vector<int> work;
  std::vector<char> queued;
  double makespan = 0;  // the latest end so far
  // Parallel-configuration hook (sim_collectives.h): ZeRO-3 weight gathers delay each F and B.
  sim::ParamGatherLane* gather = nullptr;
  std::vector<double> prev_start;  // per device, the start of its last action (when gathers are issued)

  // `unit_costs`: null, or every (stage, unit)'s costs (checked by the caller).
  Sim(const Plan& p, const std::vector<StageCost>& s, const Cluster& c, const SimOptions& o,
      const std::vector<UnitStageCost>* unit_costs)
      : plan(p),
        stages(s),
        cluster(c),
        opt(o),
        idx(p),
        nd(p.num_devices()),
        track_producers(o.record_gaps),
        host(p.schedule, s, p.placement.stage_device(), c, p.num_microbatches, unit_costs),
        units(unit_costs),
        U(unit_costs ? static_cast<int>(p.units.size()) : 0) {}

  int D() const { return nd; }

  size_t row(int stage, int mb) const {
    return static_cast<size_t>(stage) * rows_per_stage + static_cast<size_t>(mb & row_mb_mask);
  }
  double duration(const Action& a) const { return dur[row(a.stage, a.mb) * kNumOps + static_cast<int>(a.op)]; }

  bool done(int k) const { return idx.slot_position(k) < head[idx.slot_device(k)]; }

  bool head_ready(int d) const {
    const int h = head[d];
    const int n = idx.device_size(d);
    if (h >= n) return false;
    const uint8_t r = remaining[idx.slot(d, h)];
    if (r & ActionIndex::kCountMask) return false;
    if ((r & ActionIndex::kNextOverlaps) && (remaining[idx.slot(d, h + 1)] & ActionIndex::kCountMask)) return false;
    return true;
  }

  void try_queue(int d) {
    if (!queued[d] && head_ready(d)) {
      queued[d] = 1;
      work.push_back(d);
    }
  }

  // Per row: durations and neighbour transfers, as Link::transfer_ms computes them (with the
  // --comm-latency-ms override). F -> F of the next stage sends the activation; an input gradient
  // (B/BW -> B/BW of the previous stage) sends the gradient of the same tensor. With units each
  // (stage, unit) has its own times and bytes, and R the time of its own recompute.
  void precompute() {
    const int S = static_cast<int>(stages.size());
    rows_per_stage = units ? U : 1;
    row_mb_mask = units ? ~0 : 0;
    const size_t rows = static_cast<size_t>(S) * rows_per_stage;
    dur.assign(rows * kNumOps, 0.0);
    to_next.assign(rows, 0.0);
    to_prev.assign(rows, 0.0);
    auto transfer = [&](int src, int dst, double bytes) {
      const Link& l = cluster.link(src, dst);
      const double latency = opt.comm_latency_ms ? *opt.comm_latency_ms : l.latency_ms;
      const double bw = l.bandwidth;
      return latency + (bw > 0 ? bytes / bw * 1e3 : 0.0);
    };
    for (int s = 0; s < S; ++s) {
      const StageCost& c = stages[s];
      const int d = idx.stage_device(s);
      const double speed = cluster.devices[d].speed;
      double* t = &dur[static_cast<size_t>(s) * kNumOps];
      t[static_cast<int>(Op::F)] = c.f_ms / speed + opt.action_overhead_ms;
      t[static_cast<int>(Op::B)] = c.b_ms / speed + opt.action_overhead_ms;
      t[static_cast<int>(Op::W)] = c.w_ms / speed + opt.action_overhead_ms;
      t[static_cast<int>(Op::BW)] = (c.b_ms + c.w_ms) / speed + opt.action_overhead_ms;
      t[static_cast<int>(Op::R)] = c.recompute_ms / speed + opt.action_overhead_ms;
      if (s + 1 < S) to_next[s] = transfer(d, idx.stage_device(s + 1), c.out_bytes);
      if (s > 0) to_prev[s] = transfer(d, idx.stage_device(s - 1), stages[s - 1].out_bytes);
    }
    if (!units) return;
    for (int s = 0; s < S; ++s) {
      const int d = idx.stage_device(s);
      const double speed = cluster.devices[d].speed;
      for (int mb = 0; mb < U; ++mb) {
        const UnitStageCost& u = unit_cost(s, mb);
        const size_t r = row(s, mb);
        double* t = &dur[r * kNumOps];
        t[static_cast<int>(Op::F)] = u.f_ms / speed + opt.action_overhead_ms;
        t[static_cast<int>(Op::B)] = u.b_ms / speed + opt.action_overhead_ms;
        t[static_cast<int>(Op::W)] = u.w_ms / speed + opt.action_overhead_ms;
        t[static_cast<int>(Op::BW)] = (u.b_ms + u.w_ms) / speed + opt.action_overhead_ms;
        t[static_cast<int>(Op::R)] = u.recompute_ms / speed + opt.action_overhead_ms;
        to_next[r] = s + 1 < S ? transfer(d, idx.stage_device(s + 1), u.out_bytes) : 0.0;
        to_prev[r] = s > 0 ? transfer(d, idx.stage_device(s - 1), unit_cost(s - 1, mb).out_bytes) : 0.0;
      }
    }
  }

  // Action `pa` (slot g, device d) ended at t_end: its outputs travel to its consumers.
  void complete(const Action& pa, int g, double t_end, int d) {
    ActionIndex::Consumer cons[ActionIndex::kMaxConsumers];
    const int k = idx.consumers(pa, cons);
    for (int e = 0; e < k; ++e) {
      const int dc = cons[e].device;
      const int c = idx.slot(dc, cons[e].pos);
      double arr = t_end;
      if (dc != d) {
        double& lf = link_free[static_cast<size_t>(d) * nd + dc];
        const double ts = std::max(t_end, lf);
        // Only a neighbour stage's action is on another device (slice consumers share the stage).
        const size_t pr = row(pa.stage, pa.mb);
        const double te = ts + (pa.op == Op::F ? to_next[pr] : to_prev[pr]);
        lf = te;
        arr = te;
        if (!opt.overlap_comm) free_at[d] = std::max(free_at[d], te);
      }
      if (track_producers) {
        if (arr >= arrival[c] || last_dep[c] < 0) {
          arrival[c] = std::max(arrival[c], arr);
          last_dep[c] = g;
          producer_end_of_last[c] = t_end;
        }
      } else if (dc != d && arr > arrival[c]) {
        // A producer on the consumer's own device ran before it, so the device is free no earlier
        // than that producer's end: only outputs from other devices can make the start later.
        // Skipping the others leaves the start times as they are and spares a cache line per edge.
        arrival[c] = arr;
      }
      if ((--remaining[c] & ActionIndex::kCountMask) == 0) try_queue(dc);
    }
  }
  // Action at position `pos` of device d starts at t: the reloads it triggers are issued, and their
  // consumers wait for them.
  void on_start(int pos, int d, double t) {
    if (!host.active()) return;
    const int k = host.on_start(d, pos, t);
    for (int i = 0; i < k; ++i) {
      const int c = idx.slot(d, host.reload(i).consumer);
      arrival[c] = std::max(arrival[c], host.reload(i).end);
      reload_end[c] = host.reload(i).end;
    }
  }
  void on_end(const Action& a, int pos, int d, double t) {
    if (host.active() && a.op == Op::F) host.on_forward_end(d, pos, t);
  }

  void run(SimResult& r) {
    const size_t n = idx.num_slots();
    precompute();
    if (host.active()) reload_end.assign(n, -1.0);
    remaining = idx.take_producer_counts();
    arrival.assign(n, 0.0);
    if (track_producers) {
      producer_end_of_last.assign(n, 0);
      last_dep.assign(n, -1);
    }
    head.assign(nd, 0);
    free_at.assign(nd, 0);
    link_free.assign(static_cast<size_t>(nd) * nd, 0);
    queued.assign(nd, 0);
    if (gather) prev_start.assign(nd, 0);
    // Each device runs its list in order: its entries are appended.
    r.timeline.assign(nd, {});
    for (int d = 0; d < nd; ++d) r.timeline[d].reserve(idx.device_size(d));
    makespan = 0;
    work.clear();
    for (int d = 0; d < nd; ++d) try_queue(d);

    while (!work.empty()) {
      const int d = work.back();
      work.pop_back();
      // Drain the device while its head is ready; it stays marked queued meanwhile, so consumers
      // on the same device do not push it again.
      const int size = idx.device_size(d);
      const Action* acts = idx.device_actions(d);
      std::vector<TimedAction>& tl = r.timeline[d];
      while (head_ready(d)) {
        const int h = head[d];
        // 64 devices read their lists side by side, more streams than the hardware prefetcher follows.
        __builtin_prefetch(acts + std::min(h + 8, size - 1));
        const int g = idx.slot(d, h);
        const Action& a = acts[h];
        const bool pair = remaining[g] & ActionIndex::kNextOverlaps;
        double t0 = std::max(free_at[d], arrival[g]);
        if (gather) {
          t0 = std::max(t0, gather->ready(d, a, prev_start[d]));
          if (pair) t0 = std::max(t0, gather->ready(d, acts[h + 1], prev_start[d]));
          prev_start[d] = t0;
        }
        if (pair) {
          const Action& a2 = acts[h + 1];
          t0 = std::max(t0, arrival[g + nd]);
          double d1 = duration(a), d2 = duration(a2);
          double total = d1 + d2 - opt.pair_overlap * std::min(d1, d2);
          double scale = (d1 + d2) > 0 ? total / (d1 + d2) : 0;
          const double end1 = t0 + d1 * scale;
          const double end2 = t0 + total;
          tl.push_back({a, d, t0, end1});
          tl.push_back({a2, d, end1, end2});
          free_at[d] = end2;
          makespan = std::max(makespan, std::max(end1, end2));
          on_start(h, d, t0);
          on_start(h + 1, d, end1);
          on_end(a, h, d, end2);
          on_end(a2, h + 1, d, end2);
          head[d] += 2;
          // Both halves release their consumers when the pair finishes: the fused kernel stream
          // hands over outputs at the end.
          complete(a, g, end2, d);
          complete(a2, g + nd, end2, d);
        } else {
          const double end = t0 + duration(a);
          tl.push_back({a, d, t0, end});
          free_at[d] = end;
          makespan = std::max(makespan, end);
          on_start(h, d, t0);
          on_end(a, h, d, end);
          head[d] += 1;
          complete(a, g, end, d);
        }
      }
      queued[d] = 0;
    }

    for (int d = 0; d < nd; ++d) {
      if (head[d] < idx.device_size(d)) {
        r.ok = false;
        r.error = deadlock_message();
        r.timeline.clear();
        return;
      }
    }
    r.ok = true;
    collect(r);
  }

  std::string describe(int k) const {
    std::string out = "'";
    out += to_string(idx.action_in(k));
    out += "' (device ";
    out += std::to_string(idx.slot_device(k));
    out += ", position ";
    out += std::to_string(idx.slot_position(k));
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
      int g = idx.slot(d, head[d]);
      int blocked = g;
      if ((remaining[g] & ActionIndex::kCountMask) == 0 && head[d] + 1 < idx.device_size(d)) blocked = idx.slot(d, head[d] + 1);  // overlapped partner
      os << "\n  device " << d << " waits at " << describe(blocked);
      int deps[ActionIndex::kMaxProducers];
      const int k = idx.producers(idx.action_in(blocked), deps);
      for (int j = 0; j < k; ++j) {
        const int dep = deps[j];
        if (done(dep)) continue;
        int dd = idx.slot_device(dep);
        os << " for " << describe(dep);
        int hd = idx.slot(dd, head[dd]);
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
    MemoryLedgerScratch scratch;
    struct Idle {
      int pos;       // the action that starts after it
      double after;  // the latest end before it
      double until;  // that action's start
    };
    std::vector<Idle> idle;
    std::vector<const HostTransfer*> copies;
    r.devices.assign(nd, {});
    if (opt.record_memory_timeline) r.memory.assign(nd, {});
    const double T = makespan;
    r.iteration_ms = T;
    double total_bubble = 0;
    const int S = static_cast<int>(stages.size());

    for (int d = 0; d < nd; ++d) {
      DeviceStats& st = r.devices[d];
      int n = idx.device_size(d);
      const auto& tl = r.timeline[d];
      for (int s : plan.placement.device_stages[d]) st.static_bytes += stages[s].state_bytes;
      st.memory_limit_bytes = cluster.devices[d].memory_limit();

      double first_b = std::numeric_limits<double>::infinity();
      double last_f_end = 0;
      auto* mem = opt.record_memory_timeline ? &r.memory[d] : nullptr;
      // Idle intervals before each action, found in the same pass (their phases need first_b and
      // last_f_end, known only at the end of it).
      idle.clear();
      double prev_end = 0;
      // Sums in locals (the same additions in the same order): through `st` each would be a store
      // and a reload the compiler cannot keep in a register.
      double busy = 0, recompute = 0, send = 0;
      for (int i = 0; i < n; ++i) {
        const TimedAction& ta = tl[i];
        const Action& a = ta.action;
        if (ta.start > prev_end + kEps) idle.push_back({i, prev_end, ta.start});
        prev_end = std::max(prev_end, ta.end);
        busy += ta.end - ta.start;
        if (a.op == Op::R) recompute += ta.end - ta.start;
        if (a.op == Op::F) last_f_end = std::max(last_f_end, ta.end);
        if (a.op == Op::B || a.op == Op::BW) first_b = std::min(first_b, ta.start);
        // Bytes this device sends over P2P links.
        if (a.op == Op::F && a.stage + 1 < S && idx.stage_device(a.stage + 1) != d) send += out_bytes(a.stage, a.mb);
        if ((a.op == Op::B || a.op == Op::BW) && a.stage > 0 && idx.stage_device(a.stage - 1) != d)
          send += out_bytes(a.stage - 1, a.mb);
      }
      st.busy_ms = busy;
      st.recompute_ms = recompute;
      st.send_bytes = send;
      // Activation memory over time: what F keeps, what R re-creates, and the host copies.
      copies.clear();
      for (const HostTransfer& x : r.host_transfers)
        if (x.device == d) {
          copies.push_back(&x);
          st.host_copy_ms += x.end - x.start;
          if (x.to_host) st.offloaded_bytes += x.bytes;
        }
      if (mem) mem->reserve(static_cast<size_t>(n) + copies.size() + 2);  // at most one sample per event
      const DeviceMemory dm =
          device_memory(tl, copies, stages, plan.num_microbatches, st.static_bytes, T, mem, scratch, units);
      st.recomputed_bytes = dm.recomputed_bytes;
      st.peak_kept_bytes = dm.peak_kept;
      st.peak_recomputed_bytes = dm.peak_recomputed;
      st.peak_offloaded_bytes = dm.peak_offloaded;
      st.peak_carried_bytes = dm.peak_carried;
      st.peak_w_grad_bytes = dm.peak_w_grad;
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
      // Splits the idle interval [a, b) into the phases; returns the phase holding most of it.
      auto split = [&](double a, double b) {
        double w = std::max(0.0, std::min(b, w_end) - a);
        double cd = std::max(0.0, b - std::max(a, c_start));
        double mid = std::max(0.0, (b - a) - w - cd);
        st.warmup_bubble_ms += w;
        st.cooldown_bubble_ms += cd;
        st.inbetween_bubble_ms += mid;
        return w >= cd && w >= mid ? BubblePhase::WarmUp : cd >= mid ? BubblePhase::CoolDown : BubblePhase::InBetween;
      };
      auto add_gap = [&](double a, double b, int pos) {  // pos < 0: the trailing drain
        const BubblePhase phase = split(a, b);
        if (!opt.record_gaps) return;
        Gap gap;
        gap.device = d;
        gap.start = a;
        gap.end = b;
        gap.phase = phase;
        if (pos >= 0) explain_gap(gap, d, pos, a);
        else gap.cause = GapCause::Drain;
        r.gaps.push_back(gap);
      };
      for (const Idle& w : idle) add_gap(w.after, w.until, w.pos);
      if (T > prev_end + kEps) add_gap(prev_end, T, -1);
    }
    r.bubble_ratio = (T > 0 && nd > 0) ? total_bubble / (nd * T) : 0.0;
    if (units) {
      r.unit_work_ms.assign(static_cast<size_t>(U), 0.0);
      for (int s = 0; s < S; ++s)
        for (int u = 0; u < U; ++u) {
          const UnitStageCost& c = unit_cost(s, u);
          r.unit_work_ms[static_cast<size_t>(u)] += c.f_ms + c.b_ms + c.w_ms;
        }
    }
  }

  // The cause of the gap before position i of device d (which starts at gap.end): the action (or
  // its overlapped partner) whose last dependency arrived then, and that dependency.
  void explain_gap(Gap& gap, int d, int i, double prev_end) const {
    const int n = idx.device_size(d);
    const int g = idx.slot(d, i);
    int w = g;
    if (i + 1 < n && idx.action(d, i + 1).overlap_prev && arrival[g + nd] > arrival[g]) w = g + nd;
    const Action& aw = idx.action_in(w);
    gap.waiting = aw;
    const int p = last_dep[w];
    const double reload = host.active() ? reload_end[w] : -1.0;
    if (reload >= 0 && reload >= arrival[w] - kEps && reload > prev_end + kEps) {
      // Its activations were still coming back from host memory.
      gap.producer = Action{Op::F, aw.stage, aw.mb, false};
      gap.producer_device = d;
      gap.producer_end = reload;
      gap.arrival = reload;
      gap.cause = GapCause::Reload;
    } else if (p >= 0) {
      gap.producer = idx.action_in(p);
      gap.producer_device = idx.slot_device(p);
      gap.producer_end = producer_end_of_last[w];
      gap.arrival = arrival[w];
      gap.cause = (gap.producer_device != d && gap.arrival > gap.producer_end + kEps && gap.producer_end < gap.end - kEps)
                      ? GapCause::Transfer
                      : GapCause::Dependency;
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
  if (!unit_costs.empty() && (plan.units.empty() || unit_costs.size() != stages.size() * plan.units.size()))
    throw InputError("simulate: " + std::to_string(unit_costs.size()) + " unit costs for " +
                     std::to_string(stages.size()) + " stages x " + std::to_string(plan.units.size()) + " units");
  Sim sim(plan, stages, cluster, opt, unit_costs.empty() ? nullptr : &unit_costs);
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
  if (!plan.units.empty()) unit_stage_costs(stages, plan.units, cost_reference(costs), per_unit, plan.memory);
  return simulate_impl(plan, stages, cluster, opt, &costs, per_unit);
}

}  // namespace adaptis
