#pragma once
// Internal: one function per built-in schedule family. Each returns placement + per-device orders
// (the partition is filled in by the caller). Options are already resolved (v, g set); each
// generator checks its own reference implementation's constraints and throws InputError naming
// the schedule and the rule.
#include <algorithm>
#include <deque>
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/schedules.h"

namespace adaptis::gen {

Plan gpipe(int p, int m);
Plan one_f_one_b(int p, int m);
Plan interleaved_1f1b_megatron(int p, int v, int m, int g);
Plan interleaved_1f1b_torch(int p, int v, int m);
Plan interleaved_zero_bubble_torch(int p, int v, int m);
Plan looped_bfs(int p, int v, int m);
Plan zb_h1(int p, int m);
Plan zb_h2(int p, int m);
Plan zb_v(int p, int m);
Plan dualpipe_v(int p, int m);

// Shared helpers.
inline Action F(int s, int mb) { return Action{Op::F, s, mb, false}; }
inline Action B(int s, int mb) { return Action{Op::B, s, mb, false}; }
inline Action W(int s, int mb) { return Action{Op::W, s, mb, false}; }
inline Action BW(int s, int mb) { return Action{Op::BW, s, mb, false}; }

// The 1F1B skeleton of rank r's order: min(warm, m) forwards, then one forward and one backward at a time
// until every forward ran, then the remaining backwards; `backward(o, b)` appends backward number b (a fused
// BW, or a B with whatever W the schedule runs after it).
template <class Backward>
void one_f_one_b_order(std::vector<Action>& o, int r, int m, int warm, Backward&& backward) {
  int f = 0, b = 0;
  for (warm = std::min(warm, m); f < warm;) o.push_back(F(r, f++));
  while (f < m) {
    o.push_back(F(r, f++));
    backward(o, b++);
  }
  while (b < m) backward(o, b++);
}

// Throws InputError "schedule '<name>': <rule>" when `ok` is false.
void require(bool ok, const char* schedule, const std::string& rule);

// Weight-gradient passes waiting to run on one device, oldest first. Every split-backward
// schedule here (ZB, interleaved ZB, ZB-V, DualPipeV) runs W in the order its B ran.
struct PendingWeights {
  std::deque<Action> queue;

  void after_b(const Action& b) { queue.push_back(W(b.stage, b.mb)); }
  size_t size() const { return queue.size(); }
  bool empty() const { return queue.empty(); }
  // Appends the oldest pending W to `out` (no-op when none is pending).
  void emit_oldest(std::vector<Action>& out) {
    if (queue.empty()) return;
    out.push_back(queue.front());
    queue.pop_front();
  }
  void emit_all(std::vector<Action>& out) {
    while (!queue.empty()) emit_oldest(out);
  }
};

}  // namespace adaptis::gen
