#include "action_index.h"

#include <algorithm>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis {

int ActionIndex::find(Op op, int stage, int mb) const {
  if (stage < 0 || stage >= S_ || mb < 0 || mb >= m_) return -1;
  return where_[key(op, stage, mb)];
}

ActionIndex::ActionIndex(const Plan& plan) : m_(plan.num_microbatches), S_(plan.num_stages()) {
  const int D = plan.num_devices();
  if (m_ < 1) throw InputError("plan: num_microbatches must be >= 1");
  if (S_ < 1) throw InputError("plan: the partition has no stages");
  if (static_cast<int>(plan.schedule.size()) != D)
    throw InputError("plan: placement has " + std::to_string(D) + " devices but the schedule has " +
                     std::to_string(plan.schedule.size()) + " device lists");
  std::vector<int> stage_dev(S_, -1);
  for (int d = 0; d < D; ++d)
    for (int s : plan.placement.device_stages[d]) {
      if (s < 0 || s >= S_)
        throw InputError("plan: device " + std::to_string(d) + " holds stage " + std::to_string(s) +
                         " but the partition has stages 0.." + std::to_string(S_ - 1));
      if (stage_dev[s] >= 0)
        throw InputError("plan: stage " + std::to_string(s) + " is placed on both device " +
                         std::to_string(stage_dev[s]) + " and device " + std::to_string(d));
      stage_dev[s] = d;
    }
  for (int s = 0; s < S_; ++s)
    if (stage_dev[s] < 0) throw InputError("plan: stage " + std::to_string(s) + " is not placed on any device");

  offset_.assign(D + 1, 0);
  for (int d = 0; d < D; ++d) offset_[d + 1] = offset_[d] + static_cast<int>(plan.schedule[d].size());
  if (static_cast<size_t>(S_) * static_cast<size_t>(m_) > static_cast<size_t>(offset_[D]))
    throw InputError("plan: holds " + std::to_string(offset_[D]) + " actions, but " + std::to_string(S_) +
                     " stages x " + std::to_string(m_) + " micro-batches need at least one F each");
  actions_.reserve(offset_[D]);
  device_of_.reserve(offset_[D]);
  where_.assign(static_cast<size_t>(S_) * m_ * kNumOps, -1);
  for (int d = 0; d < D; ++d) {
    for (size_t i = 0; i < plan.schedule[d].size(); ++i) {
      const Action& a = plan.schedule[d][i];
      // Built only for an error: formatting it for every action would dominate indexing a large plan.
      auto at = [&] {
        return "plan: device " + std::to_string(d) + " position " + std::to_string(i) + " '" + to_string(a) + "'";
      };
      if (a.stage < 0 || a.stage >= S_) throw InputError(at() + ": stage out of range 0.." + std::to_string(S_ - 1));
      if (a.mb < 0 || a.mb >= m_)
        throw InputError(at() + ": micro-batch out of range 0.." + std::to_string(m_ - 1));
      if (stage_dev[a.stage] != d)
        throw InputError(at() + ": stage " + std::to_string(a.stage) + " is placed on device " +
                         std::to_string(stage_dev[a.stage]) + ", not this one");
      if (a.overlap_prev && i == 0) throw InputError(at() + ": an overlapped action needs a previous action");
      int k = key(a.op, a.stage, a.mb);
      if (where_[k] >= 0) throw InputError(at() + ": the same action appears twice");
      where_[k] = static_cast<int>(actions_.size());
      actions_.push_back(a);
      device_of_.push_back(d);
    }
  }

  // Dependencies: F(s) <- F(s-1); R(s) <- F(s); B/BW(s) <- F(s), its R when it has one, and the
  // input-grad producer of s+1; W(s) <- B(s).
  // Slices of one row (Plan::units) add, on every stage, F <- F of the previous slice and B/BW <- the
  // B/BW of the next slice (units.h).
  SliceLinks links;
  if (!plan.units.empty()) {
    if (static_cast<int>(plan.units.size()) != m_)
      throw InputError("plan: " + std::to_string(plan.units.size()) + " units for " + std::to_string(m_) +
                       " micro-batches; there must be one unit per micro-batch");
    links = slice_links(plan.units);
  }
  const int n = static_cast<int>(actions_.size());
  dep_off_.assign(n + 1, 0);
  deps_.reserve(static_cast<size_t>(n) * 2);
  auto grad_producer = [&](int s, int mb) {
    int g = find(Op::B, s, mb);
    return g >= 0 ? g : find(Op::BW, s, mb);
  };
  for (int g = 0; g < n; ++g) {
    const Action& a = actions_[g];
    auto need = [&](int p, const char* what) {
      if (p < 0)
        throw InputError("plan: device " + std::to_string(device_of_[g]) + " runs '" + to_string(a) + "' but " +
                         what + " is in no device's list");
      deps_.push_back(p);
    };
    switch (a.op) {
      case Op::F:
        if (a.stage > 0) need(find(Op::F, a.stage - 1, a.mb), "the forward of the previous stage");
        if (links.any && links.prev[a.mb] >= 0)
          need(find(Op::F, a.stage, links.prev[a.mb]), "the forward of the previous slice of its row");
        break;
      case Op::B:
      case Op::BW:
        need(find(Op::F, a.stage, a.mb), "its own forward");
        if (int r = find(Op::R, a.stage, a.mb); r >= 0) deps_.push_back(r);
        if (a.stage + 1 < S_) need(grad_producer(a.stage + 1, a.mb), "the backward (B or BW) of the next stage");
        if (links.any && links.next[a.mb] >= 0)
          need(grad_producer(a.stage, links.next[a.mb]), "the backward of the next slice of its row");
        break;
      case Op::R:
        need(find(Op::F, a.stage, a.mb), "its own forward");
        break;
      case Op::W:
        need(find(Op::B, a.stage, a.mb), "its input-gradient backward B");
        break;
    }
    dep_off_[g + 1] = static_cast<int>(deps_.size());
  }
  // Invert the producer lists into consumer lists (CSR, consumers in action order).
  cons_off_.assign(n + 1, 0);
  for (int p : deps_) ++cons_off_[p + 1];
  for (int g = 0; g < n; ++g) cons_off_[g + 1] += cons_off_[g];
  cons_.resize(deps_.size());
  cons_device_.resize(deps_.size());
  cons_stage_.resize(deps_.size());
  cons_pos_.resize(deps_.size());
  for (int d = 0; d < D; ++d) max_size_ = std::max(max_size_, offset_[d + 1] - offset_[d]);
  std::vector<int> fill(cons_off_.begin(), cons_off_.end() - 1);
  for (int g = 0; g < n; ++g)
    for (int k = dep_off_[g]; k < dep_off_[g + 1]; ++k) {
      const int e = fill[deps_[k]]++;
      cons_[e] = g;
      cons_device_[e] = device_of_[g];
      cons_stage_[e] = actions_[g].stage;
      cons_pos_[e] = g - offset_[device_of_[g]];
    }
}

}  // namespace adaptis
