#pragma once
// Flat, indexed view of a Plan's actions with their dependency edges, shared by the simulator and
// the validator. Building it checks the plan's structure and throws InputError naming the first
// problem found (use validate_plan for the full list).
#include <span>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

class ActionIndex {
 public:
  explicit ActionIndex(const Plan& plan);

  size_t size() const { return actions_.size(); }
  const Action& action(int g) const { return actions_[g]; }
  int device(int g) const { return device_of_[g]; }
  int device_size(int d) const { return offset_[d + 1] - offset_[d]; }
  int global(int d, int i) const { return offset_[d] + i; }
  // Producers this action waits for (other than the previous action on its device).
  std::span<const int> deps(int g) const {
    return std::span<const int>(deps_.data() + dep_off_[g], deps_.data() + dep_off_[g + 1]);
  }
  std::span<const int> consumers(int g) const {
    return std::span<const int>(cons_.data() + cons_off_[g], cons_.data() + cons_off_[g + 1]);
  }
  // Global index of (op, stage, mb), or -1 when no device runs it.
  int find(Op op, int stage, int mb) const;

 private:
  int key(Op op, int stage, int mb) const { return (stage * m_ + mb) * kNumOps + static_cast<int>(op); }

  int m_ = 0, S_ = 0;
  std::vector<Action> actions_;
  std::vector<int> device_of_;
  std::vector<int> offset_;
  std::vector<int> where_;  // key -> global index
  std::vector<int> dep_off_, deps_;    // CSR: producers of each action
  std::vector<int> cons_off_, cons_;   // CSR: consumers of each action
};

}  // namespace adaptis
