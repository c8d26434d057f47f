#pragma once
// Flat, indexed view of a Plan's actions for the simulator. Every action has a slot: device d's
// i-th action is slot(d, i) = i * D + d, position-major, so the consumers of what the devices run
// at one moment (neighbouring devices, similar positions) sit in a few cache lines of the
// simulator's per-action arrays instead of one line per device segment. One table maps
// (op, stage, micro-batch) to the action's position on its stage's device. Dependencies are not stored: an action's producers and consumers
// follow from its op, stage and micro-batch (the rules below), so they are looked up in that table
// when needed instead of being kept as edge lists, which on a large plan cost more to build than
// the simulation itself. Building it checks the plan's structure and throws InputError naming the
// first problem found (use validate_plan for the full list).
//
// Dependencies: F(s) <- F(s-1); R(s) <- F(s); B/BW(s) <- F(s), its R when it has one, and the
// input-gradient producer of s+1 (its B, else its BW); W(s) <- B(s). Slices of one row (Plan::units,
// units.h) add, on the same stage: F(s, mb) <- F(s, previous slice) and B/BW(s, mb) <- the
// input-gradient producer of (s, next slice). Plans without slices pay one flag test per lookup.
#include <cstdint>
#include <utility>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

class ActionIndex {
 public:
  explicit ActionIndex(const Plan& plan);

  int num_devices() const { return D_; }
  int device_size(int d) const { return size_[d]; }
  int max_device_size() const { return max_size_; }
  // Slots run 0 .. num_slots() - 1; devices shorter than the longest leave some unused.
  size_t num_slots() const { return static_cast<size_t>(max_size_) * D_; }
  int slot(int d, int i) const { return i * D_ + d; }
  int slot_device(int k) const { return k % D_; }
  int slot_position(int k) const { return k / D_; }
  // The action at position i of device d (the plan's own storage).
  const Action& action(int d, int i) const { return orders_[d][i]; }
  const Action& action_in(int k) const { return orders_[slot_device(k)][slot_position(k)]; }
  const Action* device_actions(int d) const { return orders_[d]; }
  int stage_device(int s) const { return stage_device_[s]; }
  // Slot of (op, stage, mb), or -1 when no device runs it.
  int find(Op op, int stage, int mb) const {
    if (stage < 0 || stage >= S_ || mb < 0 || mb >= m_) return -1;
    const int pos = position(key(op, stage, mb));
    return pos < 0 ? -1 : slot(stage_device_[stage], pos);
  }

  // Producers `a` waits for (other than the previous action on its device), in the order the
  // rules above list them; returns how many (at most kMaxProducers). All exist: the constructor checked.
  static constexpr int kMaxProducers = 4;  // B/BW: its F, its R, stage s+1's gradient, the next slice's
  int producers(const Action& a, int out[kMaxProducers]) const;
  // How many producers each action waits for (the low 7 bits), by slot (0 in unused slots), with
  // kNextOverlaps set when the device's next action runs overlapped with it: the simulator checks
  // readiness from this byte alone, without reading the plan's actions. Moved out, once.
  static constexpr uint8_t kNextOverlaps = 0x80;
  static constexpr uint8_t kCountMask = 0x7f;
  std::vector<uint8_t> take_producer_counts() { return std::move(producer_count_); }

  // The actions that wait for `a`, each as device and position; returns how many (at most
  // kMaxConsumers). Only one can be on another device, except B/BW of the previous stage when both
  // exist: those two come in their device's order, the order their transfers leave on the link.
  // Slice consumers (F of the next slice, B/BW of the previous slice) are on a's own device.
  struct Consumer {
    int device;
    int pos;
  };
  // F: F(s+1), B, BW, R and F of the next slice; B: W, B and BW of s-1, B and BW of the previous slice.
  static constexpr int kMaxConsumers = 5;
  int consumers(const Action& a, Consumer out[kMaxConsumers]) const {
    const int s = a.stage, mb = a.mb;
    const int here = key(Op::F, s, mb);  // the five ops of (s, mb) side by side
    const int d = stage_device_[s];
    auto at = [&](int k, Op op) { return position(k + static_cast<int>(op)); };
    int n = 0;
    auto add = [&](int pos, int device) {
      if (pos >= 0) out[n++] = Consumer{device, pos};
    };
    switch (a.op) {
      case Op::F:
        if (s + 1 < S_) add(at(here + kNumOps * m_, Op::F), stage_device_[s + 1]);
        add(at(here, Op::B), d);
        add(at(here, Op::BW), d);
        add(at(here, Op::R), d);
        if (slices_ && slice_next_[mb] >= 0) add(at(here + (slice_next_[mb] - mb) * kNumOps, Op::F), d);
        break;
      case Op::R:
        add(at(here, Op::B), d);
        add(at(here, Op::BW), d);
        break;
      case Op::B:
      case Op::BW:
        if (a.op == Op::B) add(at(here, Op::W), d);
        // Stage s-1 takes its input gradient from B(s) when there is one, else from BW(s).
        if (s > 0 && (a.op == Op::B || at(here, Op::B) < 0)) {
          const int prev = here - kNumOps * m_;  // (stage s-1, mb)
          int b = at(prev, Op::B), bw = at(prev, Op::BW);
          if (b > bw && bw >= 0) std::swap(b, bw);
          add(b, stage_device_[s - 1]);
          add(bw, stage_device_[s - 1]);
        }
        // The previous slice of the row takes its gradient from this one's B, else its BW (same rule).
        if (slices_ && slice_prev_[mb] >= 0 && (a.op == Op::B || at(here, Op::B) < 0)) {
          const int prev = here + (slice_prev_[mb] - mb) * kNumOps;  // (stage s, previous slice)
          add(at(prev, Op::B), d);
          add(at(prev, Op::BW), d);
        }
        break;
      case Op::W:
        break;
    }
    return n;
  }

 private:
  // Stage-major: (stage ± 1, mb) is kNumOps * m_ keys away (the constructor relies on it).
  int key(Op op, int stage, int mb) const { return (stage * m_ + mb) * kNumOps + static_cast<int>(op); }

  int m_ = 0, S_ = 0, D_ = 0;
  std::vector<const Action*> orders_;  // per device: the plan's list
  std::vector<int> size_;              // per device: its list's length
  std::vector<int> stage_device_;
  // key -> position on the stage's device (-1 = none): 16-bit when every list is shorter than
  // 32768, which halves the table the simulator's inner loop looks consumers up in.
  bool narrow_ = true;
  std::vector<int16_t> where16_;
  std::vector<int32_t> where32_;
  int position(int k) const { return narrow_ ? where16_[k] : where32_[k]; }
  void set_position(int k, int pos) {
    if (narrow_) where16_[k] = static_cast<int16_t>(pos);
    else where32_[k] = pos;
  }
  std::vector<uint8_t> producer_count_;
  int max_size_ = 0;
  // Slices (units.h slice_links): per micro-batch the previous / next slice of its row (-1 = none);
  // empty and slices_ false when no unit has a neighbour slice.
  bool slices_ = false;
  std::vector<int> slice_prev_, slice_next_;
};

}  // namespace adaptis
