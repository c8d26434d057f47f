#pragma once
// Flat, indexed view of a Plan's actions for the simulator: every action has a global index
// (device-major: device d's i-th action is global(d, i)), and one table maps (op, stage, micro-batch)
// to it. Dependencies are not stored: an action's producers and consumers follow from its op,
// stage and micro-batch (the rules below), so they are looked up in that table when needed instead
// of being kept as edge lists, which on a large plan cost more to build than the simulation itself.
// Building it checks the plan's structure and throws InputError naming the first problem found
// (use validate_plan for the full list).
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

  int num_devices() const { return static_cast<int>(offset_.size()) - 1; }
  size_t size() const { return static_cast<size_t>(offset_.back()); }
  int device_size(int d) const { return offset_[d + 1] - offset_[d]; }
  int global(int d, int i) const { return offset_[d] + i; }
  int max_device_size() const { return max_size_; }
  // The action at position i of device d (the plan's own storage).
  const Action& action(int d, int i) const { return orders_[d][i]; }
  const Action* device_actions(int d) const { return orders_[d]; }
  int stage_device(int s) const { return stage_device_[s]; }
  // Global index of (op, stage, mb), or -1 when no device runs it.
  int find(Op op, int stage, int mb) const {
    if (stage < 0 || stage >= S_ || mb < 0 || mb >= m_) return -1;
    return where_[key(op, stage, mb)];
  }
  // Device of a global index (diagnostics only: a binary search).
  int device_of(int g) const;
  const Action& action_at(int g) const {
    const int d = device_of(g);
    return orders_[d][g - offset_[d]];
  }

  // Producers `a` waits for (other than the previous action on its device), in the order the
  // rules above list them; returns how many (at most 3). All exist: the constructor checked.
  int producers(const Action& a, int out[3]) const;
  // How many producers each action waits for, by global index.
  const std::vector<uint8_t>& producer_counts() const { return producer_count_; }

  // The actions that wait for `a`, in ascending global index (the order a producer releases them),
  // each with its device; returns how many (at most 4).
  struct Consumer {
    int g;
    int device;
  };
  int consumers(const Action& a, Consumer out[4]) const {
    const int s = a.stage, mb = a.mb;
    const int* here = &where_[key(Op::F, s, mb)];  // the five ops of (s, mb) side by side
    const int d = stage_device_[s];
    int n = 0;
    auto add = [&](int g, int device) {
      if (g >= 0) out[n++] = Consumer{g, device};
    };
    switch (a.op) {
      case Op::F:
        if (s + 1 < S_) add(where_[key(Op::F, s + 1, mb)], stage_device_[s + 1]);
        add(here[static_cast<int>(Op::B)], d);
        add(here[static_cast<int>(Op::BW)], d);
        add(here[static_cast<int>(Op::R)], d);
        break;
      case Op::R:
        add(here[static_cast<int>(Op::B)], d);
        add(here[static_cast<int>(Op::BW)], d);
        break;
      case Op::B:
      case Op::BW:
        if (a.op == Op::B) add(here[static_cast<int>(Op::W)], d);
        // Stage s-1 takes its input gradient from B(s) when there is one, else from BW(s).
        if (s > 0 && (a.op == Op::B || here[static_cast<int>(Op::B)] < 0)) {
          const int* prev = &where_[key(Op::F, s - 1, mb)];
          add(prev[static_cast<int>(Op::B)], stage_device_[s - 1]);
          add(prev[static_cast<int>(Op::BW)], stage_device_[s - 1]);
        }
        break;
      case Op::W:
        break;
    }
    // Insertion sort of at most four.
    for (int i = 1; i < n; ++i)
      for (int j = i; j > 0 && out[j].g < out[j - 1].g; --j) std::swap(out[j], out[j - 1]);
    return n;
  }

 private:
  int key(Op op, int stage, int mb) const { return (stage * m_ + mb) * kNumOps + static_cast<int>(op); }

  int m_ = 0, S_ = 0;
  std::vector<const Action*> orders_;  // per device: the plan's list
  std::vector<int> offset_;            // per device: global index of its first action; back() = total
  std::vector<int> stage_device_;
  std::vector<int> where_;             // key -> global index
  std::vector<uint8_t> producer_count_;
  int max_size_ = 0;
};

}  // namespace adaptis
