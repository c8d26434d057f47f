// Host-link copies and the activation memory ledger (sim_host_link.h).
#include "sim_host_link.h"

#include <algorithm>
#include <limits>
#include <map>

namespace adaptis {

std::vector<int> host_link_sharing(const std::vector<int>& stage_device, const std::vector<StageCost>& stages,
                                   const Cluster& cluster, int num_devices) {
  std::vector<char> offloads(static_cast<size_t>(num_devices), 0);
  for (size_t s = 0; s < stages.size() && s < stage_device.size(); ++s)
    if (stages[s].offload_bytes > 0 && stage_device[s] >= 0 && stage_device[s] < num_devices)
      offloads[stage_device[s]] = 1;
  std::map<int, int> per_group;
  for (int d = 0; d < num_devices; ++d)
    if (offloads[d] && cluster.devices[d].host_link.group >= 0) ++per_group[cluster.devices[d].host_link.group];
  std::vector<int> out(static_cast<size_t>(num_devices), 1);
  for (int d = 0; d < num_devices; ++d) {
    const int g = cluster.devices[d].host_link.group;
    if (offloads[d] && g >= 0) out[d] = std::max(1, per_group[g]);
  }
  return out;
}

HostCopies::HostCopies(const std::vector<std::vector<Action>>& orders, const std::vector<StageCost>& stages,
                       const std::vector<int>& stage_device, const Cluster& cluster, int num_microbatches,
                       const std::vector<UnitStageCost>* unit_costs)
    : m_(std::max(1, num_microbatches)) {
  const int S = static_cast<int>(stages.size());
  const int D = static_cast<int>(orders.size());
  const bool units = unit_costs && unit_costs->size() == static_cast<size_t>(S) * m_;
  bytes_.assign(static_cast<size_t>(S) * m_, 0.0);
  for (int s = 0; s < S; ++s) {
    if (!(stages[s].offload_bytes > 0)) continue;
    for (int mb = 0; mb < m_; ++mb) {
      const size_t k = static_cast<size_t>(s) * m_ + mb;
      bytes_[k] = units ? (*unit_costs)[k].offload_bytes : stages[s].offload_bytes;
      active_ = active_ || bytes_[k] > 0;
    }
  }
  if (!active_) return;
  orders_ = orders;
  sharing_ = host_link_sharing(stage_device, stages, cluster, D);
  for (int d = 0; d < D; ++d) link_.push_back(cluster.devices[d].host_link);
  to_host_free_.assign(D, 0.0);
  to_device_free_.assign(D, 0.0);
  offload_end_.assign(static_cast<size_t>(S) * m_, 0.0);
  triggers_.resize(D);
  offloaded_.resize(D);
  // Positions of each (stage, mb)'s F and consumer (R when it has one, else B/BW) on its device.
  std::vector<int> pos_f(static_cast<size_t>(S) * m_, -1), pos_c(static_cast<size_t>(S) * m_, -1);
  std::vector<char> has_r(static_cast<size_t>(S) * m_, 0);
  for (int d = 0; d < D; ++d) {
    const auto& list = orders[d];
    triggers_[d].assign(list.size(), {-1, -1});
    offloaded_[d].assign(list.size(), 0);
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      if (a.stage < 0 || a.stage >= S || a.mb < 0 || a.mb >= m_) continue;
      const size_t k = static_cast<size_t>(a.stage) * m_ + a.mb;
      if (a.op == Op::F) pos_f[k] = static_cast<int>(i);
      if (a.op == Op::R) has_r[k] = 1, pos_c[k] = static_cast<int>(i);
      if ((a.op == Op::B || a.op == Op::BW) && !has_r[k]) pos_c[k] = static_cast<int>(i);
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      if (a.op != Op::F || a.stage < 0 || a.stage >= S || a.mb < 0 || a.mb >= m_) continue;
      const size_t k = static_cast<size_t>(a.stage) * m_ + a.mb;
      if (!(bytes_[k] > 0)) continue;
      const int c = pos_c[k];
      if (c < 0) continue;
      // The reload starts with the action before the consumer (before an overlapped pair it closes).
      const int trigger = c - (list[c].overlap_prev ? 2 : 1);
      // Nothing to hide the copies in when that action is the F itself or runs in one overlapped pair with it.
      int group_start = trigger;
      while (group_start > 0 && list[group_start].overlap_prev) --group_start;
      if (group_start <= pos_f[k]) continue;
      offloaded_[d][i] = 1;
      auto& slot = triggers_[d][trigger];
      (slot[0] < 0 ? slot[0] : slot[1]) = c;
    }
  }
}

int HostCopies::on_start(int d, int pos, double t) {
  if (!active_) return 0;
  int n = 0;
  for (int c : triggers_[d][pos]) {
    if (c < 0) continue;
    const Action& a = orders_[d][c];
    const size_t k = static_cast<size_t>(a.stage) * m_ + a.mb;
    HostTransfer x;
    x.device = d;
    x.stage = a.stage;
    x.mb = a.mb;
    x.to_host = false;
    x.bytes = bytes_[k];
    x.request = t;
    x.start = std::max({t, offload_end_[k], to_device_free_[d]});
    x.end = x.start + link_[d].copy_ms(x.bytes, sharing_[d]);
    to_device_free_[d] = x.end;
    transfers_.push_back(x);
    issued_[n++] = Reload{c, x.end};
  }
  return n;
}

void HostCopies::on_forward_end(int d, int pos, double t) {
  if (!active_ || !offloaded_[d][pos]) return;
  const Action& a = orders_[d][pos];
  HostTransfer x;
  x.device = d;
  x.stage = a.stage;
  x.mb = a.mb;
  x.to_host = true;
  x.bytes = bytes_[static_cast<size_t>(a.stage) * m_ + a.mb];
  x.request = t;
  x.start = std::max(t, to_host_free_[d]);
  x.end = x.start + link_[d].copy_ms(x.bytes, sharing_[d]);
  to_host_free_[d] = x.end;
  offload_end_[static_cast<size_t>(a.stage) * m_ + a.mb] = x.end;
  transfers_.push_back(x);
}

namespace {

// The ledger walk; kEvents = false when there are no copies and no samples to record (the
// optimizer's and the fast simulation's case), which leaves only the per-action arithmetic.
// kUnits: every micro-batch has its own activation bytes (`unit_costs`, [stage * m + mb]).
template <bool kEvents, bool kUnits>
DeviceMemory walk_memory(const std::vector<TimedAction>& actions, const std::vector<const HostTransfer*>& copies,
                         const std::vector<StageCost>& stages, size_t m, double static_bytes, double end_time,
                         std::vector<MemorySample>* samples, MemoryLedgerScratch& scratch,
                         const std::vector<UnitStageCost>* unit_costs) {
  // Per (stage, mb) byte counters, kept / re-created / on host, for the stages this device touches
  // only: a device holds a few of the plan's stages, and clearing counters for all of them per
  // device would cost more than the walk. A stage gets its block of 3 m counters when first seen.
  std::vector<int>& slot = scratch.slot;
  slot.assign(stages.size(), -1);
  std::vector<double>& bytes = scratch.bytes;
  bytes.clear();
  auto base = [&](int stage) {
    if (slot[stage] < 0) {
      slot[stage] = static_cast<int>(bytes.size());
      bytes.resize(bytes.size() + 3 * m, 0.0);
    }
    return static_cast<size_t>(slot[stage]);
  };
  // kept at [base + mb], re-created at [base + m + mb], on host at [base + 2 m + mb].
  DeviceMemory out;
  double live = 0, kept_sum = 0, rec_sum = 0, host_sum = 0, carry_sum = 0, w_grad_sum = 0;
  auto sample = [&](double t) {
    if (kEvents && samples) samples->push_back({t, static_bytes + live, rec_sum, host_sum});
  };
  auto check_peak = [&] {
    if (live > out.peak_activation) {
      out.peak_activation = live;
      out.peak_kept = kept_sum;
      out.peak_recomputed = rec_sum;
      out.peak_offloaded = host_sum;
      out.peak_carried = carry_sum;
      out.peak_w_grad = w_grad_sum;
    }
  };
  // Copy events in time order: an offload acts when it ends, a reload when it starts.
  struct CopyEvent {
    double t;
    const HostTransfer* x;
  };
  std::vector<CopyEvent> events;
  if constexpr (kEvents) {
    events.reserve(copies.size());
    for (const HostTransfer* x : copies) events.push_back({x->to_host ? x->end : x->start, x});
    std::stable_sort(events.begin(), events.end(), [](const CopyEvent& a, const CopyEvent& b) { return a.t < b.t; });
  }
  size_t next = 0;
  auto apply_copies = [&](double until) {
    if constexpr (!kEvents) return;
    for (; next < events.size() && events[next].t <= until; ++next) {
      const HostTransfer& x = *events[next].x;
      const size_t k = base(x.stage) + x.mb;
      double* kept = bytes.data();
      double* host = kept + 2 * m;
      const double b = x.bytes;
      if (x.to_host) {
        kept[k] -= b, host[k] += b, kept_sum -= b, host_sum += b, live -= b;
      } else {
        kept[k] += b, host[k] -= b, kept_sum += b, host_sum -= b, live += b;
        check_peak();
      }
      if (b > 0) sample(events[next].t);
    }
  };

  if (kEvents && samples) samples->push_back({0.0, static_bytes, 0.0, 0.0});
  for (const TimedAction& ta : actions) {
    const Action& a = ta.action;
    const StageCost& c = stages[a.stage];
    const size_t k = base(a.stage) + a.mb;
    // The unit's bytes when given, what its F keeps under per-unit checkpointing, and the slices' key/value
    // gradient carries its B creates (of the earlier slices it is the last reader of) and folds in (its own).
    double act_b = c.act_b_bytes, act_w = c.act_w_bytes, w_grad = c.w_grad_bytes, keeps, created = 0, own_carry = 0;
    if constexpr (kUnits) {
      const UnitStageCost& u = (*unit_costs)[static_cast<size_t>(a.stage) * m + a.mb];
      act_b = u.act_b_bytes, act_w = u.act_w_bytes, w_grad = u.w_grad_bytes, keeps = u.kept();
      created = u.carries_created_bytes, own_carry = u.carry_bytes;
    } else {
      keeps = c.kept();
    }
    const bool allocates = a.op == Op::F || a.op == Op::R;
    const bool input_grad = a.op == Op::B || a.op == Op::BW;
    if (input_grad && created > 0) {  // live from the start of that B
      apply_copies(ta.start);
      carry_sum += created, live += created;
      check_peak();
      sample(ta.start);
    }
    apply_copies(allocates ? ta.start : ta.end);
    double* kept = bytes.data();
    double* rec = kept + m;
    switch (a.op) {
      case Op::F: {
        const double b = keeps;
        kept[k] += b, kept_sum += b, live += b;
        check_peak();
        sample(ta.start);
        break;
      }
      case Op::R: {
        const double b = std::max(0.0, act_b + act_w - keeps);
        rec[k] += b, rec_sum += b, live += b;
        out.recomputed_bytes += b;
        check_peak();
        if (b > 0) sample(ta.start);
        break;
      }
      case Op::B:
      case Op::W:
      case Op::BW: {
        const double b = a.op == Op::B ? act_b : a.op == Op::W ? act_w : act_b + act_w;
        // Frees what R re-created first, then what F kept.
        const double r = std::min(std::max(rec[k], 0.0), b);
        rec[k] -= r, rec_sum -= r;
        kept[k] -= b - r, kept_sum -= b - r;
        live -= b;
        const double folded = input_grad ? own_carry : 0.0;  // into its key/value gradients
        carry_sum -= folded, live -= folded;
        // A separate B makes the output gradients its W reads (the W frees them; a fused BW uses them up
        // inside itself). They count from the B's end, with what it frees: a stage's B goes layer by layer,
        // each layer freeing what it read as it makes its own, so within the B the stage holds about the
        // larger of its holdings before and after it, not both.
        const double made = a.op == Op::B ? w_grad : a.op == Op::W ? -w_grad : 0.0;
        w_grad_sum += made, live += made;
        if (made > 0) check_peak();
        if (b > 0 || folded > 0 || made != 0) sample(ta.end);
        break;
      }
    }
  }
  apply_copies(std::numeric_limits<double>::infinity());
  if (kEvents && samples) samples->push_back({end_time, static_bytes + live, rec_sum, host_sum});
  return out;
}

}  // namespace

DeviceMemory device_memory(const std::vector<TimedAction>& actions, const std::vector<const HostTransfer*>& copies,
                           const std::vector<StageCost>& stages, int num_microbatches, double static_bytes,
                           double end_time, std::vector<MemorySample>* samples, MemoryLedgerScratch& scratch,
                           const std::vector<UnitStageCost>* unit_costs) {
  const size_t m = static_cast<size_t>(std::max(1, num_microbatches));
  const bool events = !copies.empty() || samples != nullptr;
  if (unit_costs)
    return events ? walk_memory<true, true>(actions, copies, stages, m, static_bytes, end_time, samples, scratch, unit_costs)
                  : walk_memory<false, true>(actions, copies, stages, m, static_bytes, end_time, samples, scratch, unit_costs);
  return events ? walk_memory<true, false>(actions, copies, stages, m, static_bytes, end_time, samples, scratch, nullptr)
                : walk_memory<false, false>(actions, copies, stages, m, static_bytes, end_time, samples, scratch, nullptr);
}

}  // namespace adaptis
