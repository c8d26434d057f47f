#pragma once
// Internal to the list scheduler (list_scheduler.h): its per-action scratch state, shared by the list pass
// (list_scheduler.cpp) and the forward-backward justification passes (list_scheduler_justify.cpp).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "adaptis/planner/list_scheduler.h"

namespace adaptis {

namespace list_scheduling {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = 1e-9;
constexpr int kF = 0, kB = 1, kW = 2;  // action kinds: forward, input-grad (or fused) backward, weight-grad
}  // namespace list_scheduling

// The scheduler's scratch state, kept between calls so the inner loop does not allocate.
struct ListScheduler::Impl {
  ListScheduleResult run(const ListScheduleProblem& problem, const Cluster& cluster, const SimOptions& sim,
                         const ListSchedulePolicy& policy, bool want_orders);

  // One call's inputs, resolved.
  const ListScheduleProblem* pb_ = nullptr;
  const SimOptions* sim_ = nullptr;
  int S_ = 0, m_ = 0, D_ = 0, kinds_ = 2;
  bool split_ = false;

  void setup(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim, const ListSchedulePolicy& pol);
  void reset_dependencies();
  bool list_pass(const ListSchedulePolicy& pol, ListScheduleResult& r);
  // Times the per-device orders in dev_orders_ as the simulator would (each device runs its list in
  // order, as early as dependencies allow); fills makespan, memory and slack. False on a deadlock.
  bool replay(ListScheduleResult& r);
  // Serial schedule generation over the dependency graph (reversed: successors become
  // predecessors), actions taken in increasing prio_ among those whose predecessors are placed,
  // each in the earliest gap of its device; writes out[] and returns the makespan.
  double serial_pass(bool reversed, std::vector<double>& out);
  void improve(int passes);
  void finish(ListScheduleResult& r);
  void emit_orders(ListScheduleResult& r) const;

  // Action a = (s, mb, kind) ended at `end` on device d: its consumers' inputs arrive (a cross-device edge
  // through the directed link's FIFO, in this device's completion order, as the simulator issues them; the
  // sender stays busy while it transfers unless comm overlaps), and `ready(c, dc)` is called for each
  // consumer c on device dc whose last input this was.
  template <class Ready>
  void release_consumers(int s, int mb, int kind, int d, double end, Ready&& ready) {
    const ListScheduleProblem& pb = *pb_;
    auto release = [&](size_t c, int dc, double xfer) {
      double arr = end;
      if (dc != d) {
        double& lf = link_free_[static_cast<size_t>(d) * D_ + dc];
        const double te = std::max(end, lf) + xfer;
        lf = te;
        arr = te;
        if (!sim_->overlap_comm) free_at_[d] = std::max(free_at_[d], te);
      }
      arrival_[c] = std::max(arrival_[c], arr);
      if (--remaining_[c] == 0) ready(c, dc);
    };
    auto id = [this](int st, int b, int k) { return (static_cast<size_t>(st) * m_ + b) * 3 + k; };
    if (kind == list_scheduling::kF) {
      if (s + 1 < S_) release(id(s + 1, mb, list_scheduling::kF), pb.stage_device[s + 1], fwd_xfer_[s]);
      release(id(s, mb, list_scheduling::kB), d, 0.0);
    } else if (kind == list_scheduling::kB) {
      if (s > 0) release(id(s - 1, mb, list_scheduling::kB), pb.stage_device[s - 1], bwd_xfer_[s]);
      if (split_) release(id(s, mb, list_scheduling::kW), d, 0.0);
    }
  }

  // Flat per-action state; action id = (stage * microbatches + mb) * 3 + kind (0 F, 1 B/BW, 2 W).
  std::vector<double> arrival_, duration_, start_;
  std::vector<int> remaining_;
  std::vector<uint64_t> key_;
  std::vector<std::vector<int>> pending_;  // per device: actions whose inputs are all done
  std::vector<double> free_at_, next_time_, link_free_, reserved_, live_, peak_live_, static_, limit_,
      mb_bytes_;
  std::vector<int> inflight_, next_admit_, left_on_device_, last_kind_;
  // Per action: its micro-batch (avoids a division by a run-time value in the inner loop).
  std::vector<int> act_mb_;
  std::vector<int> mb_left_;  // per micro-batch: actions not yet scheduled
  int oldest_ = 0;            // the lowest micro-batch with actions left
  std::vector<char> started_mb_;
  std::vector<double> fwd_xfer_, bwd_xfer_;
  bool enforce_ = false;
  // Forward-backward improvement.
  std::vector<double> rstart_, fstart_, prio_;
  std::vector<int> count_;
  std::vector<std::vector<std::pair<double, double>>> busy_;
  std::vector<std::vector<int>> dev_orders_, saved_orders_;
};

}  // namespace adaptis
