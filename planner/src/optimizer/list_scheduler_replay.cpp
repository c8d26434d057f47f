// The list scheduler's replay of per-device orders (ListScheduler::Impl::replay) as the simulator times
// them, the exact peak memory from the simulator's ledger when copies go to host memory, and the result's
// memory summary and orders.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "list_scheduler_state.h"
#include "sim_host_link.h"

namespace adaptis {

using namespace list_scheduling;

void ListScheduler::Impl::ledger_peaks(ListScheduleResult& r) {
  std::vector<const HostTransfer*> copies;
  for (int d = 0; d < D_; ++d) {
    ledger_actions_.clear();
    for (int a : dev_orders_[d]) {
      const size_t id = static_cast<size_t>(a);
      const int kind = kind_of(id);
      const Op op = kind == kF ? Op::F : kind == kR ? Op::R : kind == kW ? Op::W : split_ ? Op::B : Op::BW;
      ledger_actions_.push_back({Action{op, stage_of(id), mb_of(id), false}, d, start_[id], start_[id] + duration_[id]});
    }
    copies.clear();
    for (const HostTransfer& x : transfers_)
      if (x.device == d && x.request >= 0) copies.push_back(&x);
    const DeviceMemory dm =
        device_memory(ledger_actions_, copies, pb_->stages, m_, static_[d], 0.0, nullptr, ledger_scratch_,
                      units_ ? &pb_->unit_costs : nullptr);
    r.peak_bytes[d] = static_[d] + dm.peak_activation;
  }
}

bool ListScheduler::Impl::replay(ListScheduleResult& r) {
  const ListScheduleProblem& pb = *pb_;
  const int m = m_, D = D_;
  reset_dependencies();
  // Offload copies follow the orders exactly as in the simulator.
  std::vector<std::vector<Action>> orders;
  std::unique_ptr<HostCopies> host;
  if (offload_) {
    orders.resize(D);
    for (int d = 0; d < D; ++d)
      for (int a : dev_orders_[d]) {
        const size_t i = static_cast<size_t>(a);
        const int kind = kind_of(i);
        const Op op = kind == kF ? Op::F : kind == kR ? Op::R : kind == kW ? Op::W : split_ ? Op::B : Op::BW;
        orders[d].push_back(Action{op, stage_of(i), mb_of(i), false});
      }
    host = std::make_unique<HostCopies>(orders, pb.stages, pb.stage_device, *cluster_, m,
                                        units_ ? &pb.unit_costs : nullptr);
  }
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
      const int pos = static_cast<int>(head[d]);
      const size_t a = static_cast<size_t>(dev_orders_[d][head[d]++]);
      const int kind = kind_of(a);
      const int mb = mb_of(a);
      const int s = stage_of(a);
      const double t = std::max(free_at_[d], arrival_[a]);
      const double end = t + duration_[a];
      start_[a] = t;
      free_at_[d] = end;
      makespan = std::max(makespan, end);
      if (host) {
        const int k = host->on_start(d, pos, t);
        for (int i = 0; i < k; ++i) {
          const size_t ca = static_cast<size_t>(dev_orders_[d][host->reload(i).consumer]);
          arrival_[ca] = std::max(arrival_[ca], host->reload(i).end);
        }
        if (kind == kF) host->on_forward_end(d, pos, end);
      }
      if (kind == kF) {
        live_[d] += kept(s, mb);
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
      } else if (kind == kR) {
        live_[d] += regen(s, mb);
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
      } else {
        if (kind == kB) {
          live_[d] += carries_created(s, mb);  // slices' key/value gradient carries (list_scheduler.cpp)
          peak_live_[d] = std::max(peak_live_[d], live_[d]);
          live_[d] -= carry(s, mb);
          live_[d] += w_grad(s, mb);  // made for its W, counted from its end
        }
        live_[d] -= kind == kW ? act_w(s, mb) + w_grad(s, mb) : split_ ? act_b(s, mb) : act_b(s, mb) + act_w(s, mb);
        peak_live_[d] = std::max(peak_live_[d], live_[d]);
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
        if (rec(s, mb)) release(r_base_ + static_cast<size_t>(s) * m + mb, d, 0.0);
        else release(id(s, mb, kB), d, 0.0);
        if (const int nx = next_slice(mb); nx >= 0) release(id(s, nx, kF), d, 0.0);
      } else if (kind == kR) {
        release(id(s, mb, kB), d, 0.0);
      } else if (kind == kB) {
        if (s > 0) release(id(s - 1, mb, kB), pb.stage_device[s - 1], bwd_xfer(s, mb));
        if (split_) release(id(s, mb, kW), d, 0.0);
        if (const int pv = prev_slice(mb); pv >= 0) release(id(s, pv, kB), d, 0.0);
      }
    }
  }
  for (int d = 0; d < D; ++d)
    if (head[d] < dev_orders_[d].size()) return false;
  if (host) transfers_ = std::move(host->transfers());
  r.ok = true;
  r.iteration_ms = makespan;
  r.mean_device_end_ms = 0;
  for (int d = 0; d < D; ++d) r.mean_device_end_ms += free_at_[d] / D;
  return true;
}

void ListScheduler::Impl::finish(ListScheduleResult& r) {
  r.peak_bytes.assign(D_, 0.0);
  r.fits_memory = true;
  double worst = -kInf;
  for (int d = 0; d < D_; ++d) r.peak_bytes[d] = static_[d] + peak_live_[d];
  // With offload the copies free and reserve memory between actions: the simulator's ledger.
  if (offload_) ledger_peaks(r);
  for (int d = 0; d < D_; ++d) {
    worst = std::max(worst, r.peak_bytes[d] - limit_[d]);
    if (r.peak_bytes[d] > limit_[d] * (1 + 1e-12)) r.fits_memory = false;
  }
  r.overflow_bytes = r.fits_memory ? 0.0 : worst;
}

void ListScheduler::Impl::emit_orders(ListScheduleResult& r) const {
  r.orders.assign(D_, {});
  for (int d = 0; d < D_; ++d) {
    r.orders[d].reserve(dev_orders_[d].size());
    for (int a : dev_orders_[d]) {
      const size_t i = static_cast<size_t>(a);
      const int kind = kind_of(i);
      Op op = kind == kF ? Op::F : kind == kR ? Op::R : kind == kW ? Op::W : split_ ? Op::B : Op::BW;
      r.orders[d].push_back(Action{op, stage_of(i), mb_of(i), false});
    }
  }
}

}  // namespace adaptis
