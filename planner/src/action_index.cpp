#include "action_index.h"

#include <algorithm>
#include <limits>

#include "adaptis/model/error.h"
#include "adaptis/planner/units.h"

namespace adaptis {

int ActionIndex::producers(const Action& a, int out[kMaxProducers]) const {
  int n = 0;
  auto add = [&](int g) {
    if (g >= 0) out[n++] = g;
  };
  auto grad_producer = [&](int s, int mb) {
    const int b = find(Op::B, s, mb);
    return b >= 0 ? b : find(Op::BW, s, mb);
  };
  switch (a.op) {
    case Op::F:
      if (a.stage > 0) add(find(Op::F, a.stage - 1, a.mb));
      if (slices_ && slice_prev_[a.mb] >= 0) add(find(Op::F, a.stage, slice_prev_[a.mb]));
      break;
    case Op::B:
    case Op::BW:
      add(find(Op::F, a.stage, a.mb));
      add(find(Op::R, a.stage, a.mb));
      if (a.stage + 1 < S_) add(grad_producer(a.stage + 1, a.mb));
      if (slices_ && slice_next_[a.mb] >= 0) add(grad_producer(a.stage, slice_next_[a.mb]));
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

ActionIndex::ActionIndex(const Plan& plan)
    : m_(plan.num_microbatches), S_(plan.num_stages()), D_(plan.num_devices()) {
  const int D = D_;
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

  size_t total = 0;
  size_.assign(D, 0);
  for (int d = 0; d < D; ++d) {
    size_[d] = static_cast<int>(plan.schedule[d].size());
    total += plan.schedule[d].size();
    max_size_ = std::max(max_size_, size_[d]);
  }
  if (static_cast<size_t>(S_) * static_cast<size_t>(m_) > total)
    throw InputError("plan: holds " + std::to_string(total) + " actions, but " + std::to_string(S_) +
                     " stages x " + std::to_string(m_) + " micro-batches need at least one F each");
  if (static_cast<size_t>(max_size_) * static_cast<size_t>(D) > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw InputError("plan: " + std::to_string(D) + " devices x " + std::to_string(max_size_) +
                     " actions on the longest list is more than the simulator indexes");
  stage_device_ = stage_dev;
  orders_.resize(D);
  const size_t keys = static_cast<size_t>(S_) * m_ * kNumOps;
  if (keys > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw InputError("plan: " + std::to_string(S_) + " stages x " + std::to_string(m_) +
                     " micro-batches is more than the simulator indexes");
  narrow_ = max_size_ <= std::numeric_limits<int16_t>::max();
  if (narrow_) where16_.assign(keys, -1);
  else where32_.assign(keys, -1);
  for (int d = 0; d < D; ++d) {
    orders_[d] = plan.schedule[d].data();
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
      if (position(k) >= 0) throw InputError(at() + ": the same action appears twice");
      set_position(k, static_cast<int>(i));
    }
  }

  // Slices of one row (Plan::units): their same-stage links (units.h).
  if (!plan.units.empty()) {
    if (static_cast<int>(plan.units.size()) != m_)
      throw InputError("plan: " + std::to_string(plan.units.size()) + " units for " + std::to_string(m_) +
                       " micro-batches; there must be one unit per micro-batch");
    SliceLinks links = slice_links(plan.units);
    if (links.any) {
      slices_ = true;
      slice_prev_ = std::move(links.prev);
      slice_next_ = std::move(links.next);
    }
  }

  // Every producer the rules name must be in some device's list (R is optional). Counted straight
  // from the table: this pass runs over every action of every simulated plan.
  producer_count_.assign(num_slots(), 0);
  const int F = static_cast<int>(Op::F), B = static_cast<int>(Op::B), BW = static_cast<int>(Op::BW),
            R = static_cast<int>(Op::R);
  for (int d = 0; d < D; ++d) {
    const Action* list = plan.schedule[d].data();
    const int n = size_[d];
    for (int i = 0; i < n; ++i) {
      const Action& a = list[i];
      const int s = a.stage;
      const int here = key(Op::F, s, a.mb);
      auto at = [&](int k, int op) { return position(k + op); };
      int count = 0;
      const char* missing = nullptr;
      switch (a.op) {
        case Op::F:
          if (s > 0) {
            if (at(here - kNumOps * m_, F) >= 0) count = 1;  // F of stage s-1: m_ rows back
            else missing = "the forward of the previous stage";
          }
          if (slices_ && slice_prev_[a.mb] >= 0 && !missing) {
            if (at(here + (slice_prev_[a.mb] - a.mb) * kNumOps, F) >= 0) ++count;
            else missing = "the forward of the previous slice of its row";
          }
          break;
        case Op::B:
        case Op::BW:
          if (at(here, F) < 0) {
            missing = "its own forward";
            break;
          }
          count = 1 + (at(here, R) >= 0);
          if (s + 1 < S_) {
            const int next = here + kNumOps * m_;  // (stage s+1, mb)
            if (at(next, B) >= 0 || at(next, BW) >= 0) ++count;
            else missing = "the backward (B or BW) of the next stage";
          }
          if (slices_ && slice_next_[a.mb] >= 0 && !missing) {
            const int next = here + (slice_next_[a.mb] - a.mb) * kNumOps;  // (stage s, next slice)
            if (at(next, B) >= 0 || at(next, BW) >= 0) ++count;
            else missing = "the backward of the next slice of its row";
          }
          break;
        case Op::R:
          if (at(here, F) >= 0) count = 1;
          else missing = "its own forward";
          break;
        case Op::W:
          if (at(here, B) >= 0) count = 1;
          else missing = "its input-gradient backward B";
          break;
      }
      if (missing)
        throw InputError("plan: device " + std::to_string(d) + " runs '" + to_string(a) + "' but " + missing +
                         " is in no device's list");
      producer_count_[slot(d, i)] = static_cast<uint8_t>(count | (i + 1 < n && list[i + 1].overlap_prev ? kNextOverlaps : 0));
    }
  }
}

}  // namespace adaptis
