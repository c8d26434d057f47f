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
// input-gradient producer of s+1 (its B, else its BW); W(s) <- B(s).
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
  // rules above list them; returns how many (at most 3). All exist: the constructor checked.
  int producers(const Action& a, int out[3]) const;
  // How many producers each action waits for (the low 7 bits), by slot (0 in unused slots), with
  // kNextOverlaps set when the device's next action runs overlapped with it: the simulator checks
  // readiness from this byte alone, without reading the plan's actions. Moved out, once.
  static constexpr uint8_t kNextOverlaps = 0x80;
  static constexpr uint8_t kCountMask = 0x7f;
  std::vector<uint8_t> take_producer_counts() { return std::move(producer_count_); }

  // The actions that wait for `a`, each as device and position; returns how many (at most 4).
  // Only one can be on another device, except B/BW of the previous stage when both exist: those
  // two come in their device's order, the order their transfers leave on the link.
  struct Consumer {
    int device;
    int pos;
  };
  int consumers(const Action& a, Consumer out[4]) const {
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
};

}  // namespace adaptis
