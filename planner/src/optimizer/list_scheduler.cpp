#include "adaptis/planner/list_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <queue>

#include "sim_host_link.h"
#include "adaptis/model/error.h"
#include "list_scheduler_state.h"

namespace adaptis {

using namespace list_scheduling;

namespace {

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
// Ranks are even so an early R can sit between the kinds (kEarlyR*).
int kind_rank(ListSchedulePolicy::Order order, int kind, int last) {
  if (kind == kW) return 4;
  switch (order) {
    case ListSchedulePolicy::Order::BackwardFirst: return kind == kB ? 0 : 2;
    case ListSchedulePolicy::Order::ForwardFirst: return kind == kF ? 0 : 2;
    case ListSchedulePolicy::Order::Alternate:
      // After a forward, the backward goes first (and the reverse), as in the 1F1B steady state.
      return (last == kF) == (kind == kB) ? 0 : 2;
  }
  return 2;
}
constexpr uint64_t kEarlyRBeforeW = 3, kEarlyRAfterW = 5;

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
  if (p.recompute == ListSchedulePolicy::EarlyRecompute::JustInTime) s += " R:just-in-time";
  if (p.recompute == ListSchedulePolicy::EarlyRecompute::AfterW) s += " R:bubbles";
  return s;
}

void ListScheduler::Impl::reset_dependencies() {
  const size_t n = r_base_ + static_cast<size_t>(S_) * m_;
  arrival_.assign(n, 0.0);
  remaining_.assign(n, 0);
  for (int s = 0; s < S_; ++s)
    for (int mb = 0; mb < m_; ++mb) {
      size_t a = (static_cast<size_t>(s) * m_ + mb) * 3;
      // Slices also wait for the previous slice's F and the next slice's B (units.h).
      remaining_[a + kF] = (s > 0 ? 1 : 0) + (prev_slice(mb) >= 0 ? 1 : 0);
      // its F (or its R, which follows the F) and the next stage's B
      remaining_[a + kB] = (s + 1 < S_ ? 2 : 1) + (next_slice(mb) >= 0 ? 1 : 0);
      remaining_[a + kW] = 1;
      remaining_[r_base_ + static_cast<size_t>(s) * m_ + mb] = 1;
    }
  free_at_.assign(D_, 0.0);
  link_free_.assign(static_cast<size_t>(D_) * D_, 0.0);
  live_.assign(D_, 0.0);
  peak_live_.assign(D_, 0.0);
  if (offload_) {
    to_host_free_.assign(D_, 0.0);
    to_device_free_.assign(D_, 0.0);
    offload_end_.assign(static_cast<size_t>(S_) * m_, 0.0);
    pending_free_.resize(D_);
    for (auto& p : pending_free_) p.clear();
    free_cursor_.assign(D_, 0);
    prev_to_host_free_.assign(D_, 0.0);
    last_offload_.assign(D_, 0);
    transfers_.clear();
  }
}

void ListScheduler::Impl::apply_frees(int d, double t) {
  auto& q = pending_free_[d];
  size_t& i = free_cursor_[d];
  for (; i < q.size() && q[i].t <= t; ++i) {
    if (q[i].applied) continue;
    q[i].applied = true;
    live_[d] -= q[i].bytes;
    reserved_[d] -= q[i].bytes;
  }
}

bool ListScheduler::Impl::list_pass(const ListSchedulePolicy& pol, ListScheduleResult& r) {
  const ListScheduleProblem& pb = *pb_;
  const int S = S_, m = m_, D = D_;
  next_time_.assign(D, kInf);
  reserved_.assign(D, 0.0);
  inflight_.assign(D, 0);
  next_admit_.assign(D, 0);
  last_kind_.assign(D, kB);
  early_r_.assign(D, 0);
  early_of_.assign(static_cast<size_t>(S) * m, 0);
  r_armed_.assign(static_cast<size_t>(S) * m, 0);
  left_on_device_.assign(static_cast<size_t>(D) * m, 0);
  started_mb_.assign(static_cast<size_t>(D) * m, 0);
  for (int s = 0; s < S; ++s)
    for (int mb = 0; mb < m; ++mb)
      left_on_device_[static_cast<size_t>(pb.stage_device[s]) * m + mb] += kinds_ - 1 + (rec(s, mb) ? 1 : 0);
  // Kind ranks under the policy, by the device's last F/B kind: rank_[last][kind].
  uint64_t rank[3][3];
  for (int last = 0; last < 3; ++last)
    for (int k = 0; k < 3; ++k) rank[last][k] = static_cast<uint64_t>(kind_rank(pol.order, k, last)) << 60;
  const bool early_allowed = pol.recompute != ListSchedulePolicy::EarlyRecompute::JustInTime;
  const uint64_t early_rank =
      (pol.recompute == ListSchedulePolicy::EarlyRecompute::BeforeW ? kEarlyRBeforeW : kEarlyRAfterW) << 60;

  auto id = [m](int s, int mb, int kind) { return (static_cast<size_t>(s) * m + mb) * 3 + kind; };
  auto r_id = [this, m](int s, int mb) { return r_base_ + static_cast<size_t>(s) * m + mb; };
  // An R is urgent when its B waits for nothing else (the next stage's gradient has arrived).
  auto urgent = [&](size_t a, double t) {
    const size_t b = id(stage_of(a), mb_of(a), kB);
    return remaining_[b] == 1 && arrival_[b] <= t;
  };
  // Micro-batches are admitted to a device in order (no memory deadlock), under the in-flight and
  // memory caps; only the first F of a micro-batch on a device needs admitting.
  mb_left_.assign(m, S * kinds_);
  for (int mb = 0; mb < m; ++mb) mb_left_[mb] += r_per_mb_[mb];
  oldest_ = 0;
  // An early R: one at a time per device, with room for what it re-creates.
  auto early_ok = [&](int d, size_t a) {
    if (!early_allowed || early_r_[d] > 0) return false;
    if (!enforce_) return true;
    const double held = pol.reserve_memory ? reserved_[d] : live_[d];
    return static_[d] + held + regen(stage_of(a), mb_of(a)) <= limit_[d];
  };
  auto admissible = [&](int d, size_t a, double t) {
    const int kind = kind_of(a);
    if (kind == kR) return urgent(a, t) || early_ok(d, a);
    if (kind != kF) return true;
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
    if (pol.reserve_memory)
      return started || static_[d] + reserved_[d] + mb_bytes(d, mb) + headroom_[d] <= limit_[d];
    // A new micro-batch needs room for all its activations on this device; a continuing one only
    // for this stage's, except that the oldest micro-batch may always go on.
    if (!started) return static_[d] + live_[d] + mb_bytes(d, mb) + headroom_[d] <= limit_[d];
    return mb == oldest_ || static_[d] + live_[d] + kept(stage_of(a), mb) <= limit_[d];
  };
  // The earliest time device d may start pending action a as things stand (kInf: not now): its
  // arrival when admissible; an R early (when allowed and there is room) or once it is urgent.
  auto candidate = [&](int d, size_t a) {
    const double free = free_at_[d];
    if (kind_of(a) == kR) {
      const size_t b = id(stage_of(a), mb_of(a), kB);
      double at = remaining_[b] == 1 ? std::max({arrival_[a], arrival_[b], free}) : kInf;
      if (early_ok(d, a)) at = std::min(at, std::max(arrival_[a], free));
      return at;
    }
    const double at = std::max(arrival_[a], free);
    return admissible(d, a, at) ? at : kInf;
  };
  // Whether an R on device d may go early now (early_ok() without the room check).
  auto early_possible = [&](int d) { return early_allowed && early_r_[d] == 0; };
  // The device's ready time: the earliest candidate, and never before it is free. No candidate starts
  // before the device is free, so the first one that starts then settles it: the lists go in the order
  // most likely to have one (a pending W always can: its B ran on this device). A waiting R can only
  // start early.
  auto refresh = [&](int d) {
    const double free = free_at_[d];
    double t = kInf;
    bool any = false;
    for (int list_id : {kW, kB, kF, kRArmed, kRWaiting}) {
      const std::vector<int>& list = pending(d, list_id);
      any = any || !list.empty();
      if (list_id == kRWaiting && !early_possible(d)) continue;
      for (int a : list) {
        t = std::min(t, candidate(d, static_cast<size_t>(a)));
        if (t <= free) break;
      }
      if (t <= free) break;
    }
    // A blocked device may be unblocked by an offload that is still running.
    if (offload_ && !std::isfinite(t) && any)
      for (size_t i = free_cursor_[d]; i < pending_free_[d].size(); ++i)
        if (!pending_free_[d][i].applied) {
          t = pending_free_[d][i].t;
          break;
        }
    next_time_[d] = std::max(t, free);
  };
  auto make_ready = [&](size_t a, int d) {
    add_pending(d, a);
    next_time_[d] = std::min(next_time_[d], candidate(d, a));
  };
  // Stage 0's forwards enter in micro-batch order (the admission rule allows no other), so each
  // is released when the previous one starts: the pending lists stay short. (A later slice's forward
  // also waits for its previous slice's; it is released by whichever comes last.)
  f0_open_.assign(m, 0);
  f0_open_[0] = 1;
  if (remaining_[id(0, 0, kF)] == 0) make_ready(id(0, 0, kF), pb.stage_device[0]);

  const size_t total = static_cast<size_t>(S) * m * kinds_ + num_r_;
  double makespan = 0;
  for (size_t done = 0; done < total;) {
    int d = -1;
    double t = kInf;
    for (int i = 0; i < D; ++i)
      if (next_time_[i] < t) t = next_time_[i], d = i;
    if (d < 0) {
      r.ok = false;
      r.error = "list scheduler: no device can proceed (the per-device micro-batch cap or memory limit blocks every ready action)";
      return false;
    }
    if (offload_) apply_frees(d, t);
    // The best ready, admissible action at time t: the lowest rank | key. Each kind's list is in key
    // order, so within a kind the first eligible action is its best, and a list is left as soon as
    // not even the best rank its actions can have beats the best found.
    int best_list_id = -1;
    size_t best_at = 0;
    uint64_t best_key = std::numeric_limits<uint64_t>::max();
    const uint64_t* rk = rank[last_kind_[d]];
    // When memory keeps the next micro-batch out, weight gradients go first: each frees the
    // activations its B left behind (the zero-bubble schedules' memory rule).
    const double next_bytes = !units_ ? mb_bytes_[d] : next_admit_[d] < m ? mb_bytes(d, next_admit_[d]) : 0.0;
    const bool w_first = split_ && enforce_ &&
                         static_[d] + (pol.reserve_memory ? reserved_[d] : live_[d]) + next_bytes + headroom_[d] >
                             limit_[d];
    const uint64_t w_first_rank[3] = {rk[0] + (1ULL << 60), rk[1] + (1ULL << 60), 0};
    if (w_first) rk = w_first_rank;
    // An R ranks as its B when urgent, between the kinds (per the policy) when it goes early.
    const uint64_t r_early_rank = w_first ? early_rank + (1ULL << 60) : early_rank;
    const bool r_early = early_possible(d);
    const uint64_t r_least_rank = r_early ? std::min(rk[kB], r_early_rank) : rk[kB];
    auto least_rank = [&](int list_id) {
      return list_id == kRArmed ? r_least_rank : list_id == kRWaiting ? r_early_rank : rk[list_id];
    };
    int lists_by_rank[kReadyLists] = {kF, kB, kW, kRArmed, kRWaiting};
    std::sort(lists_by_rank, lists_by_rank + kReadyLists, [&](int x, int y) { return least_rank(x) < least_rank(y); });
    for (int list_id : lists_by_rank) {
      if (list_id == kRWaiting && !r_early) continue;  // an R whose B waits for more is never urgent
      const std::vector<int>& list = pending(d, list_id);
      const uint64_t least = least_rank(list_id);
      const int kind = list_id >= kRWaiting ? kR : list_id;
      for (size_t i = 0; i < list.size(); ++i) {
        const size_t a = static_cast<size_t>(list[i]);
        if ((least | key_[a]) >= best_key) break;
        if (arrival_[a] > t) continue;
        uint64_t k;
        if (kind == kR) {
          if (urgent(a, t)) k = rk[kB] | key_[a];
          else if (early_ok(d, a)) k = r_early_rank | key_[a];
          else continue;
          if (k < best_key) best_key = k, best_list_id = list_id, best_at = i;
          continue;
        }
        if (kind == kF && !admissible(d, a, t)) continue;
        best_key = least | key_[a], best_list_id = list_id, best_at = i;
        break;
      }
    }
    if (best_list_id < 0) {  // only an offload finishing later can let something in
      refresh(d);
      if (!(next_time_[d] > t)) next_time_[d] = kInf;
      continue;
    }
    std::vector<int>& best_list = pending(d, best_list_id);
    const size_t a = static_cast<size_t>(best_list[best_at]);
    best_list.erase(best_list.begin() + static_cast<std::ptrdiff_t>(best_at));
    const int kind = kind_of(a);
    const int mb = act_mb_[a];
    const int s = stage_of(a);
    const size_t sm = static_cast<size_t>(s) * m + mb;
    // The action starts when its device is free and its inputs are there, as the simulator will
    // replay it: an R picked once it became urgent, or anything let in by an offload finishing,
    // may have been startable earlier (the device had nothing else to do meanwhile).
    double t0 = std::max(free_at_[d], arrival_[a]);
    // A consumer of offloaded activations (R, or B of a stage without R) waits for their reload,
    // issued when the previous action on this device started; right after its own F nothing was
    // offloaded (the copy out is taken back).
    if (offload_ && offload_bytes(s, mb) > 0 && (kind == kR || (kind == kB && !rec(s, mb)))) {
      const size_t prev = static_cast<size_t>(dev_orders_[d].back());
      const double bytes = offload_bytes(s, mb);
      if (kind_of(prev) == kF && stage_of(prev) == s && mb_of(prev) == mb) {
        // The offload this F issued was the device's last: undo it.
        HostTransfer& x = transfers_[last_offload_[d]];
        to_host_free_[d] = x.request < 0 ? to_host_free_[d] : prev_to_host_free_[d];
        x.request = -1;  // cancelled
        x.bytes = 0;
        PendingFree pf = pending_free_[d].back();
        pending_free_[d].pop_back();
        free_cursor_[d] = std::min(free_cursor_[d], pending_free_[d].size());
        if (pf.applied) live_[d] += pf.bytes, reserved_[d] += pf.bytes;
      } else {
        HostTransfer x;
        x.device = d, x.stage = s, x.mb = mb, x.to_host = false, x.bytes = bytes;
        x.request = start_[prev];
        x.start = std::max({x.request, offload_end_[sm], to_device_free_[d]});
        x.end = x.start + host_[d].copy_ms(bytes, sharing_[d]);
        to_device_free_[d] = x.end;
        transfers_.push_back(x);
        live_[d] += bytes;
        reserved_[d] += bytes;
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
        t0 = std::max(t0, x.end);
      }
    }
    const double end = t0 + duration_[a];
    start_[a] = t0;
    free_at_[d] = end;
    makespan = std::max(makespan, end);
    if (kind == kF || kind == kB) last_kind_[d] = kind;
    dev_orders_[d].push_back(static_cast<int>(a));
    const size_t dm = static_cast<size_t>(d) * m + mb;

    if (kind == kF) {
      if (!started_mb_[dm]) {
        started_mb_[dm] = 1;
        ++next_admit_[d];
        ++inflight_[d];
        reserved_[d] += mb_bytes(d, mb);
      }
      live_[d] += kept(s, mb);
      peak_live_[d] = std::max(peak_live_[d], live_[d]);
      if (s == 0 && mb + 1 < m) {
        f0_open_[mb + 1] = 1;
        if (remaining_[id(0, mb + 1, kF)] == 0) make_ready(id(0, mb + 1, kF), d);
      }
      if (offload_ && offload_bytes(s, mb) > 0) {
        // Copy to host after F; the bytes leave the device when the copy ends.
        HostTransfer x;
        x.device = d, x.stage = s, x.mb = mb, x.to_host = true, x.bytes = offload_bytes(s, mb);
        x.request = end;
        x.start = std::max(end, to_host_free_[d]);
        x.end = x.start + host_[d].copy_ms(x.bytes, sharing_[d]);
        prev_to_host_free_[d] = to_host_free_[d];
        to_host_free_[d] = x.end;
        offload_end_[sm] = x.end;
        last_offload_[d] = transfers_.size();
        transfers_.push_back(x);
        pending_free_[d].push_back({x.end, x.bytes, false});
      }
    } else if (kind == kR) {
      live_[d] += regen(s, mb);
      reserved_[d] += regen(s, mb);
      peak_live_[d] = std::max(peak_live_[d], live_[d]);
      if (!urgent(a, t)) early_r_[d] += 1, early_of_[sm] = 1;
      if (--left_on_device_[dm] == 0) --inflight_[d];
    } else {
      double freed = kind == kW ? act_w(s, mb) + w_grad(s, mb) : split_ ? act_b(s, mb) : act_b(s, mb) + act_w(s, mb);
      if (kind == kB) {
        // Slices: the carries this B creates are live while it runs; its own carry goes with it.
        const double created = carries_created(s, mb);
        live_[d] += created;
        reserved_[d] += created;
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
        freed += carry(s, mb);
        // What it makes for its W counts from its end, with what it frees (the simulator's ledger).
        freed -= w_grad(s, mb);
      }
      live_[d] -= freed;
      reserved_[d] -= freed;
      peak_live_[d] = std::max(peak_live_[d], live_[d]);
      if (kind == kB && early_of_[sm]) early_r_[d] -= 1, early_of_[sm] = 0;
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
      const int left = --remaining_[c_id];
      if (left == 0 && (c_id >= static_cast<size_t>(m) * 3 || kind_of(c_id) != kF || f0_open_[act_mb_[c_id]]))
        make_ready(c_id, dc);
      else if (left == 1 && kind_of(c_id) == kB && rec_[c_id / 3] && !r_armed_[c_id / 3])
        arm_r(dc, c_id / 3);  // its B now waits only for its R (when that is pending)
    };
    if (kind == kF) {
      if (s + 1 < S) release(id(s + 1, mb, kF), pb.stage_device[s + 1], fwd_xfer(s, mb));
      if (rec(s, mb)) release(r_id(s, mb), d, 0.0);
      else release(id(s, mb, kB), d, 0.0);
      if (const int nx = next_slice(mb); nx >= 0) release(id(s, nx, kF), d, 0.0);
    } else if (kind == kR) {
      release(id(s, mb, kB), d, 0.0);
    } else if (kind == kB) {
      if (s > 0) {
        const size_t up = id(s - 1, mb, kB);
        const int du = pb.stage_device[s - 1];
        release(up, du, bwd_xfer(s, mb));
        // The upstream R may have become urgent: its device re-checks its ready time.
        if (rec(s - 1, mb) && remaining_[up] == 1 && du != d) refresh(du);
      }
      if (split_) release(id(s, mb, kW), d, 0.0);
      if (const int pv = prev_slice(mb); pv >= 0) release(id(s, pv, kB), d, 0.0);
    }
    // Memory freed or a micro-batch finished: a blocked admission on this device may now pass.
    refresh(d);
    ++done;
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

ListScheduleResult ListScheduler::Impl::run(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim,
                                      const ListSchedulePolicy& pol, bool want_orders) {
  ListScheduleResult r;
  setup(pb, cluster, sim, pol);
  reset_dependencies();
  if (!list_pass(pol, r)) return r;
  finish(r);
  // Justification ignores host copies; with offload the list schedule stands as it is.
  if (pol.improve_passes > 0 && !offload_) {
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

ListScheduler::ListScheduler() : impl_(std::make_unique<Impl>()) {}
ListScheduler::~ListScheduler() = default;
ListScheduler::ListScheduler(ListScheduler&&) noexcept = default;
ListScheduler& ListScheduler::operator=(ListScheduler&&) noexcept = default;

ListScheduleResult ListScheduler::run(const ListScheduleProblem& problem, const Cluster& cluster, const SimOptions& sim,
                                      const ListSchedulePolicy& policy, bool want_orders) {
  return impl_->run(problem, cluster, sim, policy, want_orders);
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
  plan.memory = problem.memory;
  return plan;
}

}  // namespace adaptis
