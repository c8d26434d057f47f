#include "adaptis/planner/list_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"

namespace adaptis {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
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
uint64_t sub_key(ListSchedulePolicy::Pick pick, int kind, int s, int mb, int S, int m) {
  const uint64_t along = kind == kF ? static_cast<uint64_t>(s) : static_cast<uint64_t>(S - 1 - s);
  const uint64_t ahead = static_cast<uint64_t>(S - 1) - along;  // 0 for the furthest stage
  if (kind == kW) return static_cast<uint64_t>(mb) * S + s;     // FIFO, like a weight-grad store
  switch (pick) {
    case ListSchedulePolicy::Pick::OldestMicrobatch: return static_cast<uint64_t>(mb) * S + ahead;
    case ListSchedulePolicy::Pick::FurthestStage: return ahead * m + mb;
    case ListSchedulePolicy::Pick::EarliestStage: return along * m + mb;
  }
  return 0;
}

}  // namespace

std::string describe(const ListSchedulePolicy& p) {
  std::string s = std::string(order_text(p.order)) + " F:" + pick_text(p.forward) + " B:" + pick_text(p.backward);
  if (p.max_inflight > 0) s += " inflight<=" + std::to_string(p.max_inflight);
  s += p.split_backward ? " split-BW" : " fused-BW";
  return s;
}

ListScheduleResult ListScheduler::run(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim,
                                      const ListSchedulePolicy& pol, bool want_orders) {
  ListScheduleResult r;
  const int S = static_cast<int>(pb.stages.size());
  const int m = pb.microbatches;
  const int D = pb.num_devices;
  if (S < 1 || m < 1 || D < 1 || static_cast<int>(pb.stage_device.size()) != S)
    throw InputError("list scheduler: inconsistent problem (stages, micro-batches or devices)");
  if (D > cluster.num_devices())
    throw InputError("list scheduler: " + std::to_string(D) + " devices but the cluster has " +
                     std::to_string(cluster.num_devices()));
  for (int d : pb.stage_device)
    if (d < 0 || d >= D) throw InputError("list scheduler: a stage is placed on a missing device");

  bool has_w = false;
  for (const auto& c : pb.stages) has_w = has_w || c.w_ms > 0;
  const bool split = pol.split_backward && has_w;
  const int kinds = split ? 3 : 2;
  const size_t n = static_cast<size_t>(S) * m * 3;

  arrival_.assign(n, 0.0);
  duration_.assign(n, 0.0);
  remaining_.assign(n, 0);
  key_.assign(n, 0);
  pending_.resize(D);
  for (int d = 0; d < D; ++d) pending_[d].clear();
  free_at_.assign(D, 0.0);
  next_time_.assign(D, kInf);
  link_free_.assign(static_cast<size_t>(D) * D, 0.0);
  reserved_.assign(D, 0.0);
  live_.assign(D, 0.0);
  peak_live_.assign(D, 0.0);
  static_.assign(D, 0.0);
  limit_.assign(D, 0.0);
  mb_bytes_.assign(D, 0.0);
  inflight_.assign(D, 0);
  next_admit_.assign(D, 0);
  last_kind_.assign(D, kB);
  left_on_device_.assign(static_cast<size_t>(D) * m, 0);
  started_mb_.assign(static_cast<size_t>(D) * m, 0);
  fwd_xfer_.assign(S, 0.0);
  bwd_xfer_.assign(S, 0.0);

  for (int s = 0; s < S; ++s) {
    int d = pb.stage_device[s];
    static_[d] += pb.stages[s].state_bytes;
    mb_bytes_[d] += pb.stages[s].act_b_bytes + pb.stages[s].act_w_bytes;
  }
  for (int d = 0; d < D; ++d) limit_[d] = cluster.devices[d].memory_limit();
  // The cap is only enforceable when one micro-batch fits next to the static state; otherwise
  // the scheduler runs unconstrained and reports how far the plan overflows.
  bool enforce = pb.enforce_memory;
  for (int d = 0; d < D && enforce; ++d)
    if (static_[d] + mb_bytes_[d] > limit_[d]) enforce = false;

  auto transfer = [&](int src, int dst, double bytes) {
    Link l = cluster.link(src, dst);
    if (sim.comm_latency_ms >= 0) l.latency_ms = sim.comm_latency_ms;
    return l.transfer_ms(bytes);
  };
  for (int s = 0; s < S; ++s) {
    int d = pb.stage_device[s];
    if (s + 1 < S && pb.stage_device[s + 1] != d) fwd_xfer_[s] = transfer(d, pb.stage_device[s + 1], pb.stages[s].out_bytes);
    if (s > 0 && pb.stage_device[s - 1] != d) bwd_xfer_[s] = transfer(d, pb.stage_device[s - 1], pb.stages[s - 1].out_bytes);
  }

  auto id = [m](int s, int mb, int kind) { return (static_cast<size_t>(s) * m + mb) * 3 + kind; };
  for (int s = 0; s < S; ++s) {
    const StageCost& c = pb.stages[s];
    const int d = pb.stage_device[s];
    const double speed = cluster.devices[d].speed;
    for (int mb = 0; mb < m; ++mb) {
      duration_[id(s, mb, kF)] = c.f_ms / speed + sim.action_overhead_ms;
      duration_[id(s, mb, kB)] = (split ? c.b_ms : c.b_ms + c.w_ms) / speed + sim.action_overhead_ms;
      duration_[id(s, mb, kW)] = c.w_ms / speed + sim.action_overhead_ms;
      remaining_[id(s, mb, kF)] = s > 0 ? 1 : 0;
      remaining_[id(s, mb, kB)] = s + 1 < S ? 2 : 1;
      remaining_[id(s, mb, kW)] = 1;
      for (int k = 0; k < kinds; ++k) key_[id(s, mb, k)] = sub_key(k == kF ? pol.forward : pol.backward, k, s, mb, S, m);
      left_on_device_[static_cast<size_t>(d) * m + mb] += kinds - 1;  // backward actions to finish
    }
  }

  if (want_orders) r.orders.assign(D, {});
  auto admissible = [&](int d, size_t a) {
    if (a % 3 != kF) return true;
    int mb = static_cast<int>((a / 3) % m);
    if (started_mb_[static_cast<size_t>(d) * m + mb]) return true;
    if (mb != next_admit_[d]) return false;  // admit micro-batches in order: no memory deadlock
    if (pol.max_inflight > 0 && inflight_[d] >= pol.max_inflight) return false;
    if (enforce && static_[d] + reserved_[d] + mb_bytes_[d] > limit_[d]) return false;
    return true;
  };
  auto refresh = [&](int d) {
    double t = kInf;
    for (size_t a : pending_[d])
      if (admissible(d, a)) t = std::min(t, std::max(free_at_[d], arrival_[a]));
    next_time_[d] = t;
  };
  auto make_ready = [&](size_t a, int d) {
    pending_[d].push_back(static_cast<int>(a));
    if (admissible(d, a)) next_time_[d] = std::min(next_time_[d], std::max(free_at_[d], arrival_[a]));
  };
  for (int mb = 0; mb < m; ++mb) make_ready(id(0, mb, kF), pb.stage_device[0]);

  const size_t total = static_cast<size_t>(S) * m * kinds;
  double makespan = 0;
  for (size_t done = 0; done < total; ++done) {
    int d = -1;
    double t = kInf;
    for (int i = 0; i < D; ++i)
      if (next_time_[i] < t) t = next_time_[i], d = i;
    if (d < 0) {
      r.ok = false;
      r.error = "list scheduler: no device can proceed (the per-device micro-batch cap or memory limit blocks every ready action)";
      return r;
    }
    // The best ready, admissible action at time t.
    auto& pend = pending_[d];
    int best = -1;
    uint64_t best_key = std::numeric_limits<uint64_t>::max();
    for (size_t i = 0; i < pend.size(); ++i) {
      size_t a = static_cast<size_t>(pend[i]);
      if (arrival_[a] > t || !admissible(d, a)) continue;
      int kind = static_cast<int>(a % 3);
      uint64_t k = (static_cast<uint64_t>(kind_rank(pol.order, kind, last_kind_[d])) << 60) | key_[a];
      if (k < best_key) best_key = k, best = static_cast<int>(i);
    }
    const size_t a = static_cast<size_t>(pend[best]);
    pend[best] = pend.back();
    pend.pop_back();
    const int kind = static_cast<int>(a % 3);
    const int mb = static_cast<int>((a / 3) % m);
    const int s = static_cast<int>(a / 3 / m);
    const StageCost& c = pb.stages[s];
    const double end = t + duration_[a];
    free_at_[d] = end;
    makespan = std::max(makespan, end);
    if (kind != kW) last_kind_[d] = kind;
    const size_t dm = static_cast<size_t>(d) * m + mb;

    if (kind == kF) {
      if (!started_mb_[dm]) {
        started_mb_[dm] = 1;
        ++next_admit_[d];
        ++inflight_[d];
        reserved_[d] += mb_bytes_[d];
      }
      live_[d] += c.act_b_bytes + c.act_w_bytes;
      peak_live_[d] = std::max(peak_live_[d], live_[d]);
    } else {
      double freed = kind == kW ? c.act_w_bytes : split ? c.act_b_bytes : c.act_b_bytes + c.act_w_bytes;
      live_[d] -= freed;
      reserved_[d] -= freed;
      if (--left_on_device_[dm] == 0) --inflight_[d];
    }
    if (want_orders) {
      Op op = kind == kF ? Op::F : kind == kW ? Op::W : split ? Op::B : Op::BW;
      r.orders[d].push_back(Action{op, s, mb, false});
    }

    // Release consumers. Cross-device edges go through the directed link's FIFO.
    auto release = [&](size_t c_id, int dc, double xfer) {
      double arr = end;
      if (dc != d) {
        double& lf = link_free_[static_cast<size_t>(d) * D + dc];
        double te = std::max(end, lf) + xfer;
        lf = te;
        arr = te;
        if (!sim.overlap_comm) free_at_[d] = std::max(free_at_[d], te);
      }
      arrival_[c_id] = std::max(arrival_[c_id], arr);
      if (--remaining_[c_id] == 0) make_ready(c_id, dc);
    };
    if (kind == kF) {
      // Consumer order matches the simulator's (action order: the next stage's F before own B is
      // irrelevant for FIFO since only one of them crosses a link).
      if (s + 1 < S) release(id(s + 1, mb, kF), pb.stage_device[s + 1], fwd_xfer_[s]);
      release(id(s, mb, kB), d, 0.0);
    } else if (kind == kB) {
      if (s > 0) release(id(s - 1, mb, kB), pb.stage_device[s - 1], bwd_xfer_[s]);
      if (split) release(id(s, mb, kW), d, 0.0);
    }
    refresh(d);
  }

  r.ok = true;
  r.iteration_ms = makespan;
  r.peak_bytes.resize(D);
  r.fits_memory = true;
  double worst = -kInf;
  for (int d = 0; d < D; ++d) {
    r.peak_bytes[d] = static_[d] + peak_live_[d];
    double over = r.peak_bytes[d] - limit_[d];
    worst = std::max(worst, over);
    if (r.peak_bytes[d] > limit_[d] * (1 + 1e-12)) r.fits_memory = false;
  }
  r.overflow_bytes = r.fits_memory ? 0.0 : worst;
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
