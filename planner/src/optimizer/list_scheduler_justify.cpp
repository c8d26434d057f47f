// The list scheduler's improvement passes (ListSchedulePolicy::improve_passes): forward-backward
// justification of the list schedule, as in resource-constrained project scheduling.
#include <algorithm>
#include <functional>
#include <queue>

#include "list_scheduler_state.h"

namespace adaptis {

using namespace list_scheduling;

double ListScheduler::Impl::serial_pass(bool reversed, std::vector<double>& out) {
  const int S = S_, m = m_;
  const size_t n = r_base_ + static_cast<size_t>(S) * m;
  auto id = [m](int s, int mb, int kind) { return static_cast<int>((static_cast<size_t>(s) * m + mb) * 3 + kind); };
  auto rid = [this, m](int s, int mb) { return static_cast<int>(r_base_ + static_cast<size_t>(s) * m + mb); };
  // Dependency edges with their transfer lag, in either direction.
  auto for_preds = [&](int a, auto&& f) {
    const int kind = kind_of(a), mb = mb_of(a), s = stage_of(a);
    if (kind == kF) {
      if (s > 0) f(id(s - 1, mb, kF), fwd_xfer(s - 1, mb));
      if (const int pv = prev_slice(mb); pv >= 0) f(id(s, pv, kF), 0.0);
    } else if (kind == kR) {
      f(id(s, mb, kF), 0.0);
    } else if (kind == kB) {
      f(rec(s, mb) ? rid(s, mb) : id(s, mb, kF), 0.0);
      if (s + 1 < S) f(id(s + 1, mb, kB), bwd_xfer(s + 1, mb));
      if (const int nx = next_slice(mb); nx >= 0) f(id(s, nx, kB), 0.0);
    } else {
      f(id(s, mb, kB), 0.0);
    }
  };
  auto for_succs = [&](int a, auto&& f) {
    const int kind = kind_of(a), mb = mb_of(a), s = stage_of(a);
    if (kind == kF) {
      if (s + 1 < S) f(id(s + 1, mb, kF), fwd_xfer(s, mb));
      f(rec(s, mb) ? rid(s, mb) : id(s, mb, kB), 0.0);
      if (const int nx = next_slice(mb); nx >= 0) f(id(s, nx, kF), 0.0);
    } else if (kind == kR) {
      f(id(s, mb, kB), 0.0);
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
      for (int k = 0; k < kinds_ + (rec(s, mb) ? 1 : 0); ++k) {
        int a = k < kinds_ ? id(s, mb, k) : rid(s, mb);
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
    auto& iv = busy_[pb_->stage_device[stage_of(static_cast<size_t>(a))]];
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

void ListScheduler::Impl::improve(int passes) {
  const size_t n = r_base_ + static_cast<size_t>(S_) * m_;
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

}  // namespace adaptis
