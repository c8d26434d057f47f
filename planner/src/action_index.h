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
  // The same consumers as edge indices [consumer_begin(g), consumer_end(g)), with each consumer's
  // device and stage alongside, so the simulator's inner loop reads them in order instead of
  // looking each consumer up.
  int consumer_begin(int g) const { return cons_off_[g]; }
  int consumer_end(int g) const { return cons_off_[g + 1]; }
  int edge_consumer(int e) const { return cons_[e]; }
  int edge_device(int e) const { return cons_device_[e]; }
  int edge_stage(int e) const { return cons_stage_[e]; }
  int edge_position(int e) const { return cons_pos_[e]; }  // the consumer's position in its device's list
  int max_device_size() const { return max_size_; }
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
  std::vector<int> cons_device_, cons_stage_, cons_pos_;  // per CSR entry: the consumer's device, stage, position
  int max_size_ = 0;
};

}  // namespace adaptis
