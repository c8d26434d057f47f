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
#include "sim_host_link.h"

namespace adaptis {

namespace list_scheduling {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = 1e-9;
constexpr int kF = 0, kB = 1, kW = 2, kR = 3;  // action kinds: forward, input-grad (or fused) backward, weight-grad, recompute
}  // namespace list_scheduling

// The scheduler's scratch state, kept between calls so the inner loop does not allocate.
struct ListScheduler::Impl {
  ListScheduleResult run(const ListScheduleProblem& problem, const Cluster& cluster, const SimOptions& sim,
                         const ListSchedulePolicy& policy, bool want_orders);

  // One call's inputs, resolved.
  const ListScheduleProblem* pb_ = nullptr;
  const SimOptions* sim_ = nullptr;
  const Cluster* cluster_ = nullptr;
  int S_ = 0, m_ = 0, D_ = 0, kinds_ = 2;
  bool split_ = false;

  void setup(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim, const ListSchedulePolicy& pol);
  void reset_dependencies();
  bool list_pass(const ListSchedulePolicy& pol, ListScheduleResult& r);
  // Offload: applies the frees of offloads finished by `t` on device d.
  void apply_frees(int d, double t);
  // Exact peak memory from the simulator's ledger (with offload copies).
  void ledger_peaks(ListScheduleResult& r);
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

  // Flat per-action state; action id = (stage * microbatches + mb) * 3 + kind (0 F, 1 B/BW, 2 W)
  // below r_base_ = 3 * stages * microbatches, and r_base_ + stage * microbatches + mb for R.
  int kind_of(size_t a) const { return a >= r_base_ ? 3 : static_cast<int>(a % 3); }
  int stage_of(size_t a) const { return static_cast<int>((a >= r_base_ ? a - r_base_ : a / 3) / m_); }
  int mb_of(size_t a) const { return static_cast<int>((a >= r_base_ ? a - r_base_ : a / 3) % m_); }
  size_t r_base_ = 0;
  // Per (stage, mb), [stage * m + mb]: whether it recomputes (a stage's policy, or with units the
  // policy's unit selection) and the bytes its R re-creates; per micro-batch its number of R.
  size_t num_r_ = 0;
  std::vector<char> rec_;
  std::vector<double> regen_;
  std::vector<int> r_per_mb_;
  bool rec(int s, int mb) const { return rec_[um(s, mb)] != 0; }
  double regen(int s, int mb) const { return regen_[um(s, mb)]; }
  std::vector<double> headroom_;       // per device: room for one R's re-created bytes or one B's gradients for W
  std::vector<int> early_r_;           // per device: early R run whose B has not started
  std::vector<char> early_of_;         // per (stage, mb): its R ran early
  // Offload (host link) state.
  bool offload_ = false;
  std::vector<double> offload_bytes_;  // per stage
  std::vector<HostLink> host_;         // per device
  std::vector<int> sharing_;           // per device
  std::vector<double> to_host_free_, to_device_free_, offload_end_, prev_to_host_free_;
  std::vector<size_t> last_offload_;  // per device: index in transfers_ of its last offload
  struct PendingFree {
    double t, bytes;
    bool applied;
  };
  std::vector<std::vector<PendingFree>> pending_free_;  // per device, in offload order
  std::vector<size_t> free_cursor_;                     // per device: first not applied
  std::vector<HostTransfer> transfers_;
  std::vector<TimedAction> ledger_actions_;
  MemoryLedgerScratch ledger_scratch_;
  std::vector<double> arrival_, duration_, start_;
  std::vector<int> remaining_;
  std::vector<uint64_t> key_;
  // Per device, the actions whose inputs are all done, one list per kind of wait (kReadyLists of them,
  // [device * kReadyLists + list]), each in key_ order: the list pass picks the lowest rank | key among
  // them, so a list's first eligible action is its best (ties, which only action ids 2^24 apart can
  // make, go to the one added first). An R waits in kRWaiting until its B waits for nothing else
  // (kRArmed): only then can it be urgent, so while no R may go early the other R are not looked at.
  static constexpr int kRWaiting = 3, kRArmed = 4, kReadyLists = 5;
  std::vector<std::vector<int>> pending_;
  std::vector<char> r_armed_;  // per (stage, mb): its pending R is in kRArmed
  std::vector<int>& pending(int d, int list) { return pending_[static_cast<size_t>(d) * kReadyLists + list]; }
  void insert_pending(std::vector<int>& list, size_t a) {
    const uint64_t k = key_[a];
    list.insert(std::upper_bound(list.begin(), list.end(), k, [this](uint64_t x, int b) { return x < key_[b]; }),
                static_cast<int>(a));
  }
  void add_pending(int d, size_t a) {
    int list = kind_of(a);
    if (list == list_scheduling::kR) {
      const size_t sm = a - r_base_;
      r_armed_[sm] = remaining_[sm * 3 + list_scheduling::kB] == 1;
      list = r_armed_[sm] ? kRArmed : kRWaiting;
    }
    insert_pending(pending(d, list), a);
  }
  // The B of (stage, mb) now waits only for its R, which is pending on device d: the R moves to kRArmed.
  void arm_r(int d, size_t sm) {
    const size_t a = r_base_ + sm;
    std::vector<int>& waiting = pending(d, kRWaiting);
    auto it = std::lower_bound(waiting.begin(), waiting.end(), key_[a], [this](int b, uint64_t x) { return key_[b] < x; });
    while (it != waiting.end() && *it != static_cast<int>(a)) ++it;
    if (it == waiting.end()) return;
    waiting.erase(it);
    r_armed_[sm] = 1;
    insert_pending(pending(d, kRArmed), a);
  }
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
  // Variable-length units (ListScheduleProblem::unit_costs): per (stage, mb) transfer times and
  // activation bytes, per (device, mb) the bytes of a whole micro-batch; used instead of the
  // per-stage values when units_ is set. Slices (slice_prev / slice_next) add F -> F of the next
  // slice and B -> B of the previous slice on every stage.
  bool units_ = false, slices_ = false;
  std::vector<double> ufwd_xfer_, ubwd_xfer_, uact_b_, uact_w_, uw_grad_, ukept_, umb_bytes_;
  // Slices' key/value gradient carries (UnitStageCost): created by a B, folded in by another unit's B.
  std::vector<double> ucarry_, ucarries_created_;
  std::vector<double> uoffload_;  // per (stage, mb): bytes copied to host
  std::vector<char> f0_open_;  // stage-0 forward may be made ready (its predecessor in order started)
  size_t um(int s, int mb) const { return static_cast<size_t>(s) * m_ + mb; }
  double mb_bytes(int d, int mb) const { return units_ ? umb_bytes_[static_cast<size_t>(d) * m_ + mb] : mb_bytes_[d]; }
  double act_b(int s, int mb) const { return units_ ? uact_b_[um(s, mb)] : pb_->stages[s].act_b_bytes; }
  double act_w(int s, int mb) const { return units_ ? uact_w_[um(s, mb)] : pb_->stages[s].act_w_bytes; }
  // What a separate B makes for its W (live from the B's start to the W's end); 0 with fused backwards.
  double w_grad(int s, int mb) const {
    return !split_ ? 0.0 : units_ ? uw_grad_[um(s, mb)] : pb_->stages[s].w_grad_bytes;
  }
  // What F keeps until R (when the (stage, mb) recomputes) or B / W.
  double kept(int s, int mb) const { return units_ ? ukept_[um(s, mb)] : pb_->stages[s].kept(); }
  double offload_bytes(int s, int mb) const { return units_ ? uoffload_[um(s, mb)] : offload_bytes_[s]; }
  double carry(int s, int mb) const { return units_ ? ucarry_[um(s, mb)] : 0.0; }
  double carries_created(int s, int mb) const { return units_ ? ucarries_created_[um(s, mb)] : 0.0; }
  double fwd_xfer(int s, int mb) const { return units_ ? ufwd_xfer_[um(s, mb)] : fwd_xfer_[s]; }
  double bwd_xfer(int s, int mb) const { return units_ ? ubwd_xfer_[um(s, mb)] : bwd_xfer_[s]; }
  int prev_slice(int mb) const { return slices_ ? pb_->slice_prev[mb] : -1; }
  int next_slice(int mb) const { return slices_ ? pb_->slice_next[mb] : -1; }
  // Forward-backward improvement.
  std::vector<double> rstart_, fstart_, prio_;
  std::vector<int> count_;
  std::vector<std::vector<std::pair<double, double>>> busy_;
  std::vector<std::vector<int>> dev_orders_, saved_orders_;
};

}  // namespace adaptis
