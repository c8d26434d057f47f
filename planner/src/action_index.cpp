#include "action_index.h"

#include <algorithm>

#include "adaptis/model/error.h"

namespace adaptis {

int ActionIndex::device_of(int g) const {
  // The last device whose first action is at or before g (empty devices share an offset).
  return static_cast<int>(std::upper_bound(offset_.begin(), offset_.end() - 1, g) - offset_.begin()) - 1;
}

int ActionIndex::producers(const Action& a, int out[3]) const {
  int n = 0;
  auto add = [&](int g) {
    if (g >= 0) out[n++] = g;
  };
  switch (a.op) {
    case Op::F:
      if (a.stage > 0) add(find(Op::F, a.stage - 1, a.mb));
      break;
    case Op::B:
    case Op::BW:
      add(find(Op::F, a.stage, a.mb));
      add(find(Op::R, a.stage, a.mb));
      if (a.stage + 1 < S_) {
        const int b = find(Op::B, a.stage + 1, a.mb);
        add(b >= 0 ? b : find(Op::BW, a.stage + 1, a.mb));
      }
      break;
    case Op::R:
      add(find(Op::F, a.stage, a.mb));
      break;
    case Op::W:
      add(find(Op::B, a.stage, a.mb));
      break;
  }
  return n;
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
  stage_device_ = stage_dev;
  orders_.resize(D);
  where_.assign(static_cast<size_t>(S_) * m_ * kNumOps, -1);
  int g = 0;
  for (int d = 0; d < D; ++d) {
    orders_[d] = plan.schedule[d].data();
    for (size_t i = 0; i < plan.schedule[d].size(); ++i, ++g) {
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
      where_[k] = g;
    }
  }
  for (int d = 0; d < D; ++d) max_size_ = std::max(max_size_, offset_[d + 1] - offset_[d]);

  // Every producer the rules name must be in some device's list (R is optional).
  producer_count_.resize(offset_[D]);
  g = 0;
  for (int d = 0; d < D; ++d) {
    for (const Action& a : plan.schedule[d]) {
      auto need = [&](Op op, int stage, const char* what) {
        if (find(op, stage, a.mb) < 0)
          throw InputError("plan: device " + std::to_string(d) + " runs '" + to_string(a) + "' but " + what +
                           " is in no device's list");
      };
      switch (a.op) {
        case Op::F:
          if (a.stage > 0) need(Op::F, a.stage - 1, "the forward of the previous stage");
          break;
        case Op::B:
        case Op::BW:
          need(Op::F, a.stage, "its own forward");
          if (a.stage + 1 < S_ && find(Op::B, a.stage + 1, a.mb) < 0)
            need(Op::BW, a.stage + 1, "the backward (B or BW) of the next stage");
          break;
        case Op::R:
          need(Op::F, a.stage, "its own forward");
          break;
        case Op::W:
          need(Op::B, a.stage, "its input-gradient backward B");
          break;
      }
      int unused[3];
      producer_count_[g++] = static_cast<uint8_t>(producers(a, unused));
    }
  }
}

}  // namespace adaptis
