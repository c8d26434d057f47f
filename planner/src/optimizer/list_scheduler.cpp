#include "adaptis/planner/list_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>

#include "adaptis/model/error.h"

namespace adaptis {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = 1e-9;
constexpr int kF = 0, kB = 1, kW = 2;

const char* order_text(ListSchedulePolicy::Order o) {
  switch (o) {
    case ListSchedulePolicy::Order::BackwardFirst: return "B>F>W";
    case ListSchedulePolicy::Order::ForwardFirst: return "F>B>W";
    case ListSchedulePolicy::Order::Alternate: return "F<->B>W";
  }
  return "?";
}

const char* pick_text(ListSchedulePolicy::Pick p) {
  switch (p) {
    case ListSchedulePolicy::Pick::OldestMicrobatch: return "oldest-mb";
    case ListSchedulePolicy::Pick::FurthestStage: return "furthest-stage";
    case ListSchedulePolicy::Pick::EarliestStage: return "earliest-stage";
    case ListSchedulePolicy::Pick::Grouped: return "grouped";
  }
  return "?";
}

// Rank of an action kind under the policy (lower runs first); `last` is the device's last F/B.
int kind_rank(ListSchedulePolicy::Order order, int kind, int last) {
  if (kind == kW) return 2;
  switch (order) {
    case ListSchedulePolicy::Order::BackwardFirst: return kind == kB ? 0 : 1;
    case ListSchedulePolicy::Order::ForwardFirst: return kind == kF ? 0 : 1;
    case ListSchedulePolicy::Order::Alternate:
      // After a forward, the backward goes first (and the reverse), as in the 1F1B steady state.
      return (last == kF) == (kind == kB) ? 0 : 1;
  }
  return 1;
}

// Position of an action among those of its kind (lower runs first). F chains run stage 0 -> S-1,
// B chains run S-1 -> 0: "furthest along" means a high stage for F and a low stage for B.
uint64_t sub_key(ListSchedulePolicy::Pick pick, int kind, int s, int mb, int S, int m, int g) {
  if (kind == kW) return static_cast<uint64_t>(mb) * S + s;  // FIFO, like a weight-grad store
  const uint64_t along = kind == kF ? static_cast<uint64_t>(s) : static_cast<uint64_t>(S - 1 - s);
  const uint64_t ahead = static_cast<uint64_t>(S - 1) - along;  // 0 for the furthest stage
  switch (pick) {
    case ListSchedulePolicy::Pick::OldestMicrobatch: return static_cast<uint64_t>(mb) * S + ahead;
    case ListSchedulePolicy::Pick::FurthestStage: return ahead * m + mb;
    case ListSchedulePolicy::Pick::EarliestStage: return along * m + mb;
    case ListSchedulePolicy::Pick::Grouped:
      return static_cast<uint64_t>(mb / g) * S * g + along * g + static_cast<uint64_t>(mb % g);
  }
  return 0;
}

// SplitMix64 finaliser: a well-mixed hash of (seed, action) for priority jitter.
uint64_t mix(uint32_t seed, uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ULL * (static_cast<uint64_t>(seed) + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string describe(const ListSchedulePolicy& p) {
  std::string s = std::string(order_text(p.order)) + " F:" + pick_text(p.forward) + " B:" + pick_text(p.backward);
  if ((p.forward == ListSchedulePolicy::Pick::Grouped || p.backward == ListSchedulePolicy::Pick::Grouped) &&
      p.group_size > 0)
    s += " group=" + std::to_string(p.group_size);
  if (p.max_inflight > 0) s += " inflight<=" + std::to_string(p.max_inflight);
  s += p.split_backward ? " split-BW" : " fused-BW";
  if (p.improve_passes > 0) s += " justify x" + std::to_string(p.improve_passes);
  if (p.jitter > 0) s += " jitter " + std::to_string(p.jitter) + "/" + std::to_string(p.jitter_seed);
  if (!p.reserve_memory) s += " admit-on-live-memory";
  return s;
}

void ListScheduler::setup(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim,
                          const ListSchedulePolicy& pol) {
  S_ = static_cast<int>(pb.stages.size());
  m_ = pb.microbatches;
  D_ = pb.num_devices;
  if (S_ < 1 || m_ < 1 || D_ < 1 || static_cast<int>(pb.stage_device.size()) != S_)
    throw InputError("list scheduler: inconsistent problem (stages, micro-batches or devices)");
  if (D_ > cluster.num_devices())
    throw InputError("list scheduler: " + std::to_string(D_) + " devices but the cluster has " +
                     std::to_string(cluster.num_devices()));
  for (int d : pb.stage_device)
    if (d < 0 || d >= D_) throw InputError("list scheduler: a stage is placed on a missing device");
  units_ = !pb.unit_costs.empty();
  slices_ = !pb.slice_prev.empty();
  if (units_ && pb.unit_costs.size() != static_cast<size_t>(S_) * m_)
    throw InputError("list scheduler: " + std::to_string(pb.unit_costs.size()) + " unit costs for " +
                     std::to_string(S_) + " stages x " + std::to_string(m_) + " micro-batches");
  if (slices_ && (pb.slice_prev.size() != static_cast<size_t>(m_) || pb.slice_next.size() != static_cast<size_t>(m_)))
    throw InputError("list scheduler: slice links must have one entry per micro-batch");
  pb_ = &pb;
  sim_ = &sim;

  bool has_w = false;
  for (const auto& c : pb.stages) has_w = has_w || c.w_ms > 0;
  split_ = pol.split_backward && has_w;
  kinds_ = split_ ? 3 : 2;
  const size_t n = static_cast<size_t>(S_) * m_ * 3;

  duration_.assign(n, 0.0);
  start_.assign(n, 0.0);
  key_.assign(n, 0);
  pending_.resize(D_);
  for (int d = 0; d < D_; ++d) pending_[d].clear();
  dev_orders_.resize(D_);
  for (int d = 0; d < D_; ++d) dev_orders_[d].clear();
  static_.assign(D_, 0.0);
  limit_.assign(D_, 0.0);
  mb_bytes_.assign(D_, 0.0);
  fwd_xfer_.assign(S_, 0.0);
  bwd_xfer_.assign(S_, 0.0);

  for (int s = 0; s < S_; ++s) {
    int d = pb.stage_device[s];
    static_[d] += pb.stages[s].state_bytes;
    mb_bytes_[d] += pb.stages[s].act_b_bytes + pb.stages[s].act_w_bytes;
  }
  if (units_) {
    const size_t sm = static_cast<size_t>(S_) * m_;
    uact_b_.resize(sm);
    uact_w_.resize(sm);
    umb_bytes_.assign(static_cast<size_t>(D_) * m_, 0.0);
    for (int s = 0; s < S_; ++s)
      for (int mb = 0; mb < m_; ++mb) {
        const UnitStageCost& u = pb.unit_costs[static_cast<size_t>(s) * m_ + mb];
        uact_b_[static_cast<size_t>(s) * m_ + mb] = u.act_b_bytes;
        uact_w_[static_cast<size_t>(s) * m_ + mb] = u.act_w_bytes;
        umb_bytes_[static_cast<size_t>(pb.stage_device[s]) * m_ + mb] += u.act_b_bytes + u.act_w_bytes;
      }
  }
  for (int d = 0; d < D_; ++d) limit_[d] = cluster.devices[d].memory_limit();
  // The cap is only enforceable when one micro-batch fits next to the static state; otherwise
  // the scheduler runs unconstrained and reports how far the plan overflows.
  enforce_ = pb.enforce_memory;
  for (int d = 0; d < D_ && enforce_; ++d)
    for (int mb = 0; mb < (units_ ? m_ : 1) && enforce_; ++mb)
      if (static_[d] + mb_bytes(d, mb) > limit_[d]) enforce_ = false;

  auto transfer = [&](int src, int dst, double bytes) {
    Link l = cluster.link(src, dst);
    if (sim.comm_latency_ms >= 0) l.latency_ms = sim.comm_latency_ms;
    return l.transfer_ms(bytes);
  };
  for (int s = 0; s < S_; ++s) {
    int d = pb.stage_device[s];
    if (s + 1 < S_ && pb.stage_device[s + 1] != d)
      fwd_xfer_[s] = transfer(d, pb.stage_device[s + 1], pb.stages[s].out_bytes);
    if (s > 0 && pb.stage_device[s - 1] != d) bwd_xfer_[s] = transfer(d, pb.stage_device[s - 1], pb.stages[s - 1].out_bytes);
  }
  if (units_) {
    ufwd_xfer_.assign(static_cast<size_t>(S_) * m_, 0.0);
    ubwd_xfer_.assign(static_cast<size_t>(S_) * m_, 0.0);
    for (int s = 0; s < S_; ++s) {
      const int d = pb.stage_device[s];
      for (int mb = 0; mb < m_; ++mb) {
        if (s + 1 < S_ && pb.stage_device[s + 1] != d)
          ufwd_xfer_[static_cast<size_t>(s) * m_ + mb] =
              transfer(d, pb.stage_device[s + 1], pb.unit_costs[static_cast<size_t>(s) * m_ + mb].out_bytes);
        if (s > 0 && pb.stage_device[s - 1] != d)
          ubwd_xfer_[static_cast<size_t>(s) * m_ + mb] =
              transfer(d, pb.stage_device[s - 1], pb.unit_costs[static_cast<size_t>(s - 1) * m_ + mb].out_bytes);
      }
    }
  }
  act_mb_.resize(n);
  for (int s = 0; s < S_; ++s) {
    const StageCost& c = pb.stages[s];
    const double speed = cluster.devices[pb.stage_device[s]].speed;
    for (int mb = 0; mb < m_; ++mb) {
      size_t a = (static_cast<size_t>(s) * m_ + mb) * 3;
      for (int k = 0; k < 3; ++k) act_mb_[a + k] = mb;
      if (units_) {
        const UnitStageCost& u = pb.unit_costs[static_cast<size_t>(s) * m_ + mb];
        duration_[a + kF] = u.f_ms / speed + sim.action_overhead_ms;
        duration_[a + kB] = (split_ ? u.b_ms : u.b_ms + u.w_ms) / speed + sim.action_overhead_ms;
        duration_[a + kW] = u.w_ms / speed + sim.action_overhead_ms;
      } else {
        duration_[a + kF] = c.f_ms / speed + sim.action_overhead_ms;
        duration_[a + kB] = (split_ ? c.b_ms : c.b_ms + c.w_ms) / speed + sim.action_overhead_ms;
        duration_[a + kW] = c.w_ms / speed + sim.action_overhead_ms;
      }
      for (int k = 0; k < kinds_; ++k) {
        const int group = pol.group_size > 0 ? pol.group_size : D_;
        uint64_t base = sub_key(k == kF ? pol.forward : pol.backward, k, s, mb, S_, m_, group);
        // Jitter counts in steps of the key's major field (a micro-batch for oldest-mb, a stage
        // for the stage picks), drawn at the key's full resolution.
        const auto pick = k == kF ? pol.forward : pol.backward;
        const uint64_t unit = k == kW || pick == ListSchedulePolicy::Pick::OldestMicrobatch ? S_
                              : pick == ListSchedulePolicy::Pick::Grouped                  ? group
                                                                                            : m_;
        uint64_t shift = pol.jitter > 0 ? mix(pol.jitter_seed, a + k) % (static_cast<uint64_t>(pol.jitter) * unit + 1) : 0;
        // Low bits keep the key unique and the order total: ties go to the lower action id.
        key_[a + k] = ((base + shift) << 24) | ((a + k) & 0xFFFFFF);
      }
    }
  }
}

double ListScheduler::act_b(int s, int mb) const {
  return units_ ? uact_b_[static_cast<size_t>(s) * m_ + mb] : pb_->stages[s].act_b_bytes;
}

double ListScheduler::act_w(int s, int mb) const {
  return units_ ? uact_w_[static_cast<size_t>(s) * m_ + mb] : pb_->stages[s].act_w_bytes;
}

void ListScheduler::reset_dependencies() {
  const size_t n = static_cast<size_t>(S_) * m_ * 3;
  arrival_.assign(n, 0.0);
  remaining_.assign(n, 0);
  for (int s = 0; s < S_; ++s)
    for (int mb = 0; mb < m_; ++mb) {
      size_t a = (static_cast<size_t>(s) * m_ + mb) * 3;
      remaining_[a + kF] = (s > 0 ? 1 : 0) + (prev_slice(mb) >= 0 ? 1 : 0);
      remaining_[a + kB] = (s + 1 < S_ ? 2 : 1) + (next_slice(mb) >= 0 ? 1 : 0);
      remaining_[a + kW] = 1;
    }
  free_at_.assign(D_, 0.0);
  link_free_.assign(static_cast<size_t>(D_) * D_, 0.0);
  live_.assign(D_, 0.0);
  peak_live_.assign(D_, 0.0);
}

bool ListScheduler::list_pass(const ListSchedulePolicy& pol, ListScheduleResult& r) {
  const ListScheduleProblem& pb = *pb_;
  const int S = S_, m = m_, D = D_;
  next_time_.assign(D, kInf);
  reserved_.assign(D, 0.0);
  inflight_.assign(D, 0);
  next_admit_.assign(D, 0);
  last_kind_.assign(D, kB);
  left_on_device_.assign(static_cast<size_t>(D) * m, 0);
  started_mb_.assign(static_cast<size_t>(D) * m, 0);
  for (int s = 0; s < S; ++s)
    for (int mb = 0; mb < m; ++mb) left_on_device_[static_cast<size_t>(pb.stage_device[s]) * m + mb] += kinds_ - 1;
  // Kind ranks under the policy, by the device's last F/B kind: rank_[last][kind].
  uint64_t rank[3][3];
  for (int last = 0; last < 3; ++last)
    for (int k = 0; k < 3; ++k) rank[last][k] = static_cast<uint64_t>(kind_rank(pol.order, k, last)) << 60;

  auto id = [m](int s, int mb, int kind) { return (static_cast<size_t>(s) * m + mb) * 3 + kind; };
  // Micro-batches are admitted to a device in order (no memory deadlock), under the in-flight and
  // memory caps; only the first F of a micro-batch on a device needs admitting.
  mb_left_.assign(m, S * kinds_);
  oldest_ = 0;
  auto admissible = [&](int d, size_t a) {
    if (a % 3 != kF) return true;
    const int mb = act_mb_[a];
    const bool started = started_mb_[static_cast<size_t>(d) * m + mb];
    if (!started) {
      if (mb != next_admit_[d]) return false;
      // A later slice of a row already on this device: the row's backward needs it, so no cap holds it.
      const int prev = prev_slice(mb);
      if (prev >= 0 && started_mb_[static_cast<size_t>(d) * m + prev]) return true;
      if (pol.max_inflight > 0 && inflight_[d] >= pol.max_inflight) return false;
    }
    if (!enforce_) return true;
    if (pol.reserve_memory) return started || static_[d] + reserved_[d] + mb_bytes(d, mb) <= limit_[d];
    // A new micro-batch needs room for all its activations on this device; a continuing one only
    // for this stage's, except that the oldest micro-batch may always go on.
    if (!started) return static_[d] + live_[d] + mb_bytes(d, mb) <= limit_[d];
    const int s = static_cast<int>(a / 3 / m);
    return mb == oldest_ || static_[d] + live_[d] + act_b(s, mb) + act_w(s, mb) <= limit_[d];
  };
  auto refresh = [&](int d) {
    double t = kInf;
    const double free = free_at_[d];
    for (int a : pending_[d])
      if (arrival_[a] < t && admissible(d, static_cast<size_t>(a))) t = arrival_[a];
    next_time_[d] = std::max(t, free);
  };
  auto make_ready = [&](size_t a, int d) {
    pending_[d].push_back(static_cast<int>(a));
    if (admissible(d, a)) next_time_[d] = std::min(next_time_[d], std::max(free_at_[d], arrival_[a]));
  };
  // Stage 0's forwards enter in micro-batch order (the admission rule allows no other), so each
  // is released when the previous one starts: the pending lists stay short. (A later slice's forward
  // also waits for its previous slice's; it is released by whichever comes last.)
  f0_open_.assign(m, 0);
  f0_open_[0] = 1;
  if (remaining_[id(0, 0, kF)] == 0) make_ready(id(0, 0, kF), pb.stage_device[0]);

  const size_t total = static_cast<size_t>(S) * m * kinds_;
  double makespan = 0;
  for (size_t done = 0; done < total; ++done) {
    int d = -1;
    double t = kInf;
    for (int i = 0; i < D; ++i)
      if (next_time_[i] < t) t = next_time_[i], d = i;
    if (d < 0) {
      r.ok = false;
      r.error = "list scheduler: no device can proceed (the per-device micro-batch cap or memory limit blocks every ready action)";
      return false;
    }
    // The best ready, admissible action at time t.
    auto& pend = pending_[d];
    int best = -1;
    uint64_t best_key = std::numeric_limits<uint64_t>::max();
    const uint64_t* rk = rank[last_kind_[d]];
    // When memory keeps the next micro-batch out, weight gradients go first: each frees the
    // activations its B left behind (the zero-bubble schedules' memory rule).
    const double next_bytes = !units_ ? mb_bytes_[d] : next_admit_[d] < m ? mb_bytes(d, next_admit_[d]) : 0.0;
    const bool w_first =
        split_ && enforce_ && static_[d] + (pol.reserve_memory ? reserved_[d] : live_[d]) + next_bytes > limit_[d];
    const uint64_t w_first_rank[3] = {rk[0] + (1ULL << 60), rk[1] + (1ULL << 60), 0};
    if (w_first) rk = w_first_rank;
    for (size_t i = 0; i < pend.size(); ++i) {
      const size_t a = static_cast<size_t>(pend[i]);
      if (arrival_[a] > t) continue;
      const uint64_t k = rk[a % 3] | key_[a];
      if (k < best_key && admissible(d, a)) best_key = k, best = static_cast<int>(i);
    }
    const size_t a = static_cast<size_t>(pend[best]);
    pend[best] = pend.back();
    pend.pop_back();
    const int kind = static_cast<int>(a % 3);
    const int mb = act_mb_[a];
    const int s = static_cast<int>(a / 3 / m);
    const double end = t + duration_[a];
    start_[a] = t;
    free_at_[d] = end;
    makespan = std::max(makespan, end);
    if (kind != kW) last_kind_[d] = kind;
    dev_orders_[d].push_back(static_cast<int>(a));
    const size_t dm = static_cast<size_t>(d) * m + mb;

    if (kind == kF) {
      if (!started_mb_[dm]) {
        started_mb_[dm] = 1;
        ++next_admit_[d];
        ++inflight_[d];
        reserved_[d] += mb_bytes(d, mb);
      }
      live_[d] += act_b(s, mb) + act_w(s, mb);
      peak_live_[d] = std::max(peak_live_[d], live_[d]);
      if (s == 0 && mb + 1 < m) {
        f0_open_[mb + 1] = 1;
        if (remaining_[id(0, mb + 1, kF)] == 0) make_ready(id(0, mb + 1, kF), d);
      }
    } else {
      double freed = kind == kW ? act_w(s, mb) : split_ ? act_b(s, mb) : act_b(s, mb) + act_w(s, mb);
      live_[d] -= freed;
      reserved_[d] -= freed;
      if (--left_on_device_[dm] == 0) --inflight_[d];
    }

    // Release consumers. Cross-device edges go through the directed link's FIFO, in this device's
    // completion order: the order the simulator issues them in.
    auto release = [&](size_t c_id, int dc, double xfer) {
      double arr = end;
      if (dc != d) {
        double& lf = link_free_[static_cast<size_t>(d) * D + dc];
        double te = std::max(end, lf) + xfer;
        lf = te;
        arr = te;
        if (!sim_->overlap_comm) free_at_[d] = std::max(free_at_[d], te);
      }
      arrival_[c_id] = std::max(arrival_[c_id], arr);
      // A stage-0 forward also waits until the one before it in micro-batch order has started.
      if (--remaining_[c_id] == 0 && (c_id >= static_cast<size_t>(m) * 3 || c_id % 3 != kF || f0_open_[act_mb_[c_id]]))
        make_ready(c_id, dc);
    };
    if (kind == kF) {
      if (s + 1 < S) release(id(s + 1, mb, kF), pb.stage_device[s + 1], fwd_xfer(s, mb));
      release(id(s, mb, kB), d, 0.0);
      if (const int nx = next_slice(mb); nx >= 0) release(id(s, nx, kF), d, 0.0);
    } else if (kind == kB) {
      if (s > 0) release(id(s - 1, mb, kB), pb.stage_device[s - 1], bwd_xfer(s, mb));
      if (split_) release(id(s, mb, kW), d, 0.0);
      if (const int pv = prev_slice(mb); pv >= 0) release(id(s, pv, kB), d, 0.0);
    }
    // Memory freed or a micro-batch finished: a blocked admission on this device may now pass.
    refresh(d);
    if (--mb_left_[mb] == 0 && mb == oldest_) {
      // The oldest micro-batch finished: the next one is exempt from the headroom rule everywhere.
      while (oldest_ < m && mb_left_[oldest_] == 0) ++oldest_;
      if (enforce_ && !pol.reserve_memory)
        for (int i = 0; i < D; ++i) refresh(i);
    }
  }
  r.ok = true;
  r.iteration_ms = makespan;
  r.mean_device_end_ms = 0;
  for (int d = 0; d < D; ++d) r.mean_device_end_ms += free_at_[d] / D;
  return true;
}

bool ListScheduler::replay(ListScheduleResult& r) {
  const ListScheduleProblem& pb = *pb_;
  const int m = m_, D = D_;
  reset_dependencies();
  std::vector<size_t> head(D, 0);
  std::vector<int> work;
  auto head_ready = [&](int d) {
    return head[d] < dev_orders_[d].size() && remaining_[dev_orders_[d][head[d]]] == 0;
  };
  for (int d = 0; d < D; ++d)
    if (head_ready(d)) work.push_back(d);
  std::vector<char> queued(D, 0);
  for (int d : work) queued[d] = 1;
  double makespan = 0;
  auto id = [m](int s, int mb, int kind) { return (static_cast<size_t>(s) * m + mb) * 3 + kind; };
  while (!work.empty()) {
    int d = work.back();
    work.pop_back();
    queued[d] = 0;
    while (head_ready(d)) {
      const size_t a = static_cast<size_t>(dev_orders_[d][head[d]++]);
      const int kind = static_cast<int>(a % 3);
      const int mb = static_cast<int>((a / 3) % m);
      const int s = static_cast<int>(a / 3 / m);
      const double t = std::max(free_at_[d], arrival_[a]);
      const double end = t + duration_[a];
      start_[a] = t;
      free_at_[d] = end;
      makespan = std::max(makespan, end);
      if (kind == kF) {
        live_[d] += act_b(s, mb) + act_w(s, mb);
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
      } else {
        live_[d] -= kind == kW ? act_w(s, mb) : split_ ? act_b(s, mb) : act_b(s, mb) + act_w(s, mb);
      }
      auto release = [&](size_t c_id, int dc, double xfer) {
        double arr = end;
        if (dc != d) {
          double& lf = link_free_[static_cast<size_t>(d) * D + dc];
          double te = std::max(end, lf) + xfer;
          lf = te;
          arr = te;
          if (!sim_->overlap_comm) free_at_[d] = std::max(free_at_[d], te);
        }
        arrival_[c_id] = std::max(arrival_[c_id], arr);
        if (--remaining_[c_id] == 0 && dc != d && !queued[dc] && head_ready(dc)) {
          queued[dc] = 1;
          work.push_back(dc);
        }
      };
      if (kind == kF) {
        if (s + 1 < S_) release(id(s + 1, mb, kF), pb.stage_device[s + 1], fwd_xfer(s, mb));
        release(id(s, mb, kB), d, 0.0);
        if (const int nx = next_slice(mb); nx >= 0) release(id(s, nx, kF), d, 0.0);
      } else if (kind == kB) {
        if (s > 0) release(id(s - 1, mb, kB), pb.stage_device[s - 1], bwd_xfer(s, mb));
        if (split_) release(id(s, mb, kW), d, 0.0);
        if (const int pv = prev_slice(mb); pv >= 0) release(id(s, pv, kB), d, 0.0);
      }
    }
  }
  for (int d = 0; d < D; ++d)
    if (head[d] < dev_orders_[d].size()) return false;
  r.ok = true;
  r.iteration_ms = makespan;
  r.mean_device_end_ms = 0;
  for (int d = 0; d < D; ++d) r.mean_device_end_ms += free_at_[d] / D;
  return true;
}

double ListScheduler::serial_pass(bool reversed, std::vector<double>& out) {
  const int S = S_, m = m_;
  const size_t n = static_cast<size_t>(S) * m * 3;
  auto id = [m](int s, int mb, int kind) { return static_cast<int>((static_cast<size_t>(s) * m + mb) * 3 + kind); };
  // Dependency edges with their transfer lag, in either direction.
  auto for_preds = [&](int a, auto&& f) {
    const int kind = a % 3, mb = (a / 3) % m, s = a / 3 / m;
    if (kind == kF) {
      if (s > 0) f(id(s - 1, mb, kF), fwd_xfer(s - 1, mb));
      if (const int pv = prev_slice(mb); pv >= 0) f(id(s, pv, kF), 0.0);
    } else if (kind == kB) {
      f(id(s, mb, kF), 0.0);
      if (s + 1 < S) f(id(s + 1, mb, kB), bwd_xfer(s + 1, mb));
      if (const int nx = next_slice(mb); nx >= 0) f(id(s, nx, kB), 0.0);
    } else {
      f(id(s, mb, kB), 0.0);
    }
  };
  auto for_succs = [&](int a, auto&& f) {
    const int kind = a % 3, mb = (a / 3) % m, s = a / 3 / m;
    if (kind == kF) {
      if (s + 1 < S) f(id(s + 1, mb, kF), fwd_xfer(s, mb));
      f(id(s, mb, kB), 0.0);
      if (const int nx = next_slice(mb); nx >= 0) f(id(s, nx, kF), 0.0);
    } else if (kind == kB) {
      if (s > 0) f(id(s - 1, mb, kB), bwd_xfer(s, mb));
      if (split_) f(id(s, mb, kW), 0.0);
      if (const int pv = prev_slice(mb); pv >= 0) f(id(s, pv, kB), 0.0);
    }
  };
  count_.assign(n, 0);
  using Item = std::pair<double, int>;
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (int s = 0; s < S; ++s)
    for (int mb = 0; mb < m; ++mb)
      for (int k = 0; k < kinds_; ++k) {
        int a = id(s, mb, k);
        int c = 0;
        if (reversed) for_succs(a, [&](int, double) { ++c; });
        else for_preds(a, [&](int, double) { ++c; });
        count_[a] = c;
        if (c == 0) heap.emplace(prio_[a], a);
      }
  busy_.resize(D_);
  for (int d = 0; d < D_; ++d) busy_[d].clear();
  double makespan = 0;
  while (!heap.empty()) {
    const int a = heap.top().second;
    heap.pop();
    double est = 0;
    auto bound = [&](int p, double lag) { est = std::max(est, out[p] + duration_[p] + lag); };
    if (reversed) for_succs(a, bound);
    else for_preds(a, bound);
    // Earliest gap on the device at or after est that holds the action.
    auto& iv = busy_[pb_->stage_device[a / 3 / m]];
    const double dur = duration_[a];
    size_t i = static_cast<size_t>(std::upper_bound(iv.begin(), iv.end(), est,
                                                    [](double v, const std::pair<double, double>& x) { return v < x.second; }) -
                                   iv.begin());
    double t = est;
    for (; i < iv.size(); ++i) {
      if (t + dur <= iv[i].first + kEps) break;
      t = std::max(t, iv[i].second);
    }
    iv.insert(iv.begin() + static_cast<long>(i), {t, t + dur});
    out[a] = t;
    makespan = std::max(makespan, t + dur);
    auto unlock = [&](int c, double) {
      if (--count_[c] == 0) heap.emplace(prio_[c], c);
    };
    if (reversed) for_preds(a, unlock);
    else for_succs(a, unlock);
  }
  return makespan;
}

void ListScheduler::improve(int passes) {
  const int m = m_;
  const size_t n = static_cast<size_t>(S_) * m * 3;
  prio_.assign(n, 0.0);
  rstart_.assign(n, 0.0);
  fstart_.assign(n, 0.0);
  double cur = 0;
  for (int d = 0; d < D_; ++d)
    for (int a : dev_orders_[d]) cur = std::max(cur, start_[a] + duration_[a]);
  for (int p = 0; p < passes; ++p) {
    // Right-justify: in the reversed graph, the action that finishes last goes first.
    for (int d = 0; d < D_; ++d)
      for (int a : dev_orders_[d]) prio_[a] = -(start_[a] + duration_[a]);
    double tb = serial_pass(true, rstart_);
    // Left-justify: in order of the right-justified start times.
    for (int d = 0; d < D_; ++d)
      for (int a : dev_orders_[d]) prio_[a] = tb - (rstart_[a] + duration_[a]);
    double tf = serial_pass(false, fstart_);
    if (tf >= cur - kEps) break;
    cur = tf;
    std::swap(start_, fstart_);
    fstart_.resize(n);
    // The new per-device orders are the start-time orders of the left-justified schedule.
    for (int d = 0; d < D_; ++d) {
      auto& o = dev_orders_[d];
      std::stable_sort(o.begin(), o.end(), [&](int x, int y) {
        if (start_[x] != start_[y]) return start_[x] < start_[y];
        return prio_[x] < prio_[y];
      });
    }
  }
}

void ListScheduler::finish(ListScheduleResult& r) {
  r.peak_bytes.assign(D_, 0.0);
  r.fits_memory = true;
  double worst = -kInf;
  for (int d = 0; d < D_; ++d) {
    r.peak_bytes[d] = static_[d] + peak_live_[d];
    worst = std::max(worst, r.peak_bytes[d] - limit_[d]);
    if (r.peak_bytes[d] > limit_[d] * (1 + 1e-12)) r.fits_memory = false;
  }
  r.overflow_bytes = r.fits_memory ? 0.0 : worst;
}

void ListScheduler::emit_orders(ListScheduleResult& r) const {
  r.orders.assign(D_, {});
  for (int d = 0; d < D_; ++d) {
    r.orders[d].reserve(dev_orders_[d].size());
    for (int a : dev_orders_[d]) {
      const int kind = a % 3, mb = (a / 3) % m_, s = a / 3 / m_;
      Op op = kind == kF ? Op::F : kind == kW ? Op::W : split_ ? Op::B : Op::BW;
      r.orders[d].push_back(Action{op, s, mb, false});
    }
  }
}

ListScheduleResult ListScheduler::run(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim,
                                      const ListSchedulePolicy& pol, bool want_orders) {
  ListScheduleResult r;
  setup(pb, cluster, sim, pol);
  reset_dependencies();
  if (!list_pass(pol, r)) return r;
  finish(r);
  if (pol.improve_passes > 0) {
    saved_orders_ = dev_orders_;
    improve(pol.improve_passes);
    ListScheduleResult r2;
    bool keep = false;
    if (dev_orders_ != saved_orders_ && replay(r2)) {
      finish(r2);
      // A tighter schedule may hold more activations at once: never trade a fitting plan for one
      // that does not fit.
      keep = (r2.fits_memory || !r.fits_memory) && r2.iteration_ms < r.iteration_ms - kEps;
    }
    if (keep) r = std::move(r2);
    else dev_orders_.swap(saved_orders_);
  }
  if (want_orders) emit_orders(r);
  return r;
}

Plan list_schedule_plan(const ListScheduleProblem& problem, const Partition& partition, const Cluster& cluster,
                        const SimOptions& sim, const ListSchedulePolicy& policy, const std::string& name) {
  ListScheduler ls;
  ListScheduleResult r = ls.run(problem, cluster, sim, policy, true);
  if (!r.ok) throw InputError(r.error);
  Plan plan;
  plan.name = name;
  plan.num_microbatches = problem.microbatches;
  plan.partition = partition;
  plan.placement.device_stages.assign(problem.num_devices, {});
  for (int s = 0; s < static_cast<int>(problem.stage_device.size()); ++s)
    plan.placement.device_stages[problem.stage_device[s]].push_back(s);
  plan.schedule = std::move(r.orders);
  return plan;
}

}  // namespace adaptis
