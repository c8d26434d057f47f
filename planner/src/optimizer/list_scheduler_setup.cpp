// The list scheduler's setup (list_scheduler.h): checks the problem, sizes the per-slot tables and fills
// each action's duration, dependencies and static priority for one policy. Split from the list pass
// (list_scheduler.cpp), which only reads what is set up here.
#include <algorithm>
#include <cmath>
#include <limits>

#include "adaptis/model/error.h"
#include "adaptis/planner/list_scheduler.h"
#include "list_scheduler_state.h"
#include "sim_host_link.h"

namespace adaptis {

using namespace list_scheduling;

namespace {

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

void ListScheduler::Impl::setup(const ListScheduleProblem& pb, const Cluster& cluster, const SimOptions& sim,
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
  cluster_ = &cluster;

  bool has_w = false;
  for (const auto& c : pb.stages) has_w = has_w || c.w_ms > 0;
  split_ = pol.split_backward && has_w;
  kinds_ = split_ ? 3 : 2;
  r_base_ = static_cast<size_t>(S_) * m_ * 3;
  const size_t n = r_base_ + static_cast<size_t>(S_) * m_;  // F/B/W slots, then R slots

  duration_.assign(n, 0.0);
  start_.assign(n, 0.0);
  key_.assign(n, 0);
  pending_.resize(static_cast<size_t>(D_) * kReadyLists);
  for (auto& list : pending_) list.clear();
  dev_orders_.resize(D_);
  for (int d = 0; d < D_; ++d) dev_orders_[d].clear();
  static_.assign(D_, 0.0);
  limit_.assign(D_, 0.0);
  mb_bytes_.assign(D_, 0.0);
  headroom_.assign(D_, 0.0);
  fwd_xfer_.assign(S_, 0.0);
  bwd_xfer_.assign(S_, 0.0);
  rec_.assign(static_cast<size_t>(S_) * m_, 0);
  regen_.assign(static_cast<size_t>(S_) * m_, 0.0);
  r_per_mb_.assign(m_, 0);
  offload_bytes_.assign(S_, 0.0);
  num_r_ = 0;
  offload_ = false;

  for (int s = 0; s < S_; ++s) {
    int d = pb.stage_device[s];
    const StageCost& c = pb.stages[s];
    static_[d] += c.state_bytes;
    // A micro-batch parked on the device holds what F keeps; an R re-creates the rest for a while.
    mb_bytes_[d] += c.kept();
    // With units, a (stage, unit) recomputes when the policy selects the unit (UnitStageCost::recompute),
    // and re-creates what its own F dropped.
    for (int mb = 0; mb < m_; ++mb) {
      const UnitStageCost* u = units_ ? &pb.unit_costs[um(s, mb)] : nullptr;
      const bool r = u ? u->recompute : c.recompute;
      if (!r) continue;
      rec_[um(s, mb)] = 1;
      ++num_r_;
      ++r_per_mb_[mb];
      regen_[um(s, mb)] = u ? std::max(0.0, u->act_b_bytes + u->act_w_bytes - u->kept())
                            : std::max(0.0, c.act_b_bytes + c.act_w_bytes - c.kept());
      headroom_[d] = std::max(headroom_[d], regen_[um(s, mb)]);
    }
    offload_bytes_[s] = c.offload_bytes;
    offload_ = offload_ || c.offload_bytes > 0;
  }
  if (units_) {
    const size_t sm = static_cast<size_t>(S_) * m_;
    uact_b_.resize(sm);
    uact_w_.resize(sm);
    uw_grad_.resize(sm);
    ukept_.resize(sm);
    ucarry_.resize(sm);
    ucarries_created_.resize(sm);
    uoffload_.resize(sm);
    umb_bytes_.assign(static_cast<size_t>(D_) * m_, 0.0);
    for (int s = 0; s < S_; ++s)
      for (int mb = 0; mb < m_; ++mb) {
        const UnitStageCost& u = pb.unit_costs[um(s, mb)];
        uact_b_[um(s, mb)] = u.act_b_bytes;
        uact_w_[um(s, mb)] = u.act_w_bytes;
        uw_grad_[um(s, mb)] = u.w_grad_bytes;
        ukept_[um(s, mb)] = u.kept();
        ucarry_[um(s, mb)] = u.carry_bytes;
        ucarries_created_[um(s, mb)] = u.carries_created_bytes;
        uoffload_[um(s, mb)] = u.offload_bytes;
        umb_bytes_[static_cast<size_t>(pb.stage_device[s]) * m_ + mb] += u.kept();
      }
  }
  // A separate B that makes more for its W than it frees adds to what the device holds: room for one such
  // step too.
  for (int s = 0; s < S_ && split_; ++s)
    for (int mb = 0; mb < m_; ++mb) {
      double& room = headroom_[pb.stage_device[s]];
      room = std::max(room, w_grad(s, mb) - act_b(s, mb));
    }
  for (int d = 0; d < D_; ++d) limit_[d] = cluster.devices[d].memory_limit();
  // The cap is only enforceable when one micro-batch fits next to the static state; otherwise
  // the scheduler runs unconstrained and reports how far the plan overflows.
  enforce_ = pb.enforce_memory;
  for (int d = 0; d < D_ && enforce_; ++d)
    for (int mb = 0; mb < (units_ ? m_ : 1) && enforce_; ++mb)
      if (static_[d] + mb_bytes(d, mb) + headroom_[d] > limit_[d]) enforce_ = false;
  if (offload_) {
    host_.assign(D_, HostLink{});
    for (int d = 0; d < D_; ++d) host_[d] = cluster.devices[d].host_link;
    for (int s = 0; s < S_; ++s)
      if (offload_bytes_[s] > 0 && !host_[pb.stage_device[s]].present())
        throw InputError("list scheduler: stage " + std::to_string(s) + " offloads activations but device " +
                         std::to_string(pb.stage_device[s]) + " has no host link");
    sharing_ = host_link_sharing(pb.stage_device, pb.stages, cluster, D_);
  }

  auto transfer = [&](int src, int dst, double bytes) {
    Link l = cluster.link(src, dst);
    if (sim.comm_latency_ms) l.latency_ms = *sim.comm_latency_ms;
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
          ufwd_xfer_[um(s, mb)] = transfer(d, pb.stage_device[s + 1], pb.unit_costs[um(s, mb)].out_bytes);
        if (s > 0 && pb.stage_device[s - 1] != d)
          ubwd_xfer_[um(s, mb)] = transfer(d, pb.stage_device[s - 1], pb.unit_costs[um(s - 1, mb)].out_bytes);
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
        const UnitStageCost& u = pb.unit_costs[um(s, mb)];
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
      // R: ordered as its B would be (it is that B's first part).
      const size_t r = r_base_ + static_cast<size_t>(s) * m_ + mb;
      act_mb_[r] = mb;
      duration_[r] = (units_ ? pb.unit_costs[um(s, mb)].recompute_ms : c.recompute_ms) / speed + sim.action_overhead_ms;
      key_[r] = key_[a + kB];
    }
  }
}

}  // namespace adaptis
