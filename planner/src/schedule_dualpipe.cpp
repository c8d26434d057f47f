// DualPipeV (DeepSeek DualPipe repo, dualpipe/dualpipev.py; PyTorch ScheduleDualPipeV): the
// "cut-in-half" DualPipe on a V placement. Rank r holds chunk 0 = stage r and chunk 1 =
// stage 2p-1-r. Its order is eight loops (F0/F1 = forward of chunk 0/1, B = input-gradient
// backward, BW = full backward, "x&y" = an overlapped pair, W = oldest pending weight pass):
//   1. 2(p-r-1) x F0
//   2. (r+1)    x [F0, F1]
//   3. (p-r-1)  x [B1, W, F1]                     (zero bubble: W right after its B)
//   4. (m-2p+r+1) x [F0&BW1, F1&BW0]              (the last rank runs its first pair unoverlapped)
//   5. (p-r-1)  x [BW1, F1&BW0]
//   6. (r+1)    x [B1, B0]   full backwards for the first half, split (B) from the middle on:
//                            odd ranks switch before the middle B1, even ranks before the middle B0
//   7. (p-r-1)  x [W, B0]
//   8. (r+1)    x W
// Overlapped pairs are encoded as the forward followed by the backward with overlap_prev = true;
// the simulator starts both together once both inputs have arrived.
#include <string>
#include <vector>

#include "schedule_generators.h"

namespace adaptis::gen {

namespace {

// Builds one rank's order, tracking the next micro-batch of each (stage, op) like the reference.
struct DualPipeRank {
  std::vector<Action>& out;
  std::vector<int> next_f, next_b;  // per stage
  PendingWeights pending;

  DualPipeRank(std::vector<Action>& o, int num_stages) : out(o), next_f(num_stages, 0), next_b(num_stages, 0) {}

  void forward(int s) { out.push_back(F(s, next_f[s]++)); }
  void full_backward(int s, bool overlapped = false) {
    Action a = BW(s, next_b[s]++);
    a.overlap_prev = overlapped;
    out.push_back(a);
  }
  void input_backward(int s) {
    Action a = B(s, next_b[s]++);
    out.push_back(a);
    pending.after_b(a);
  }
  void backward(int s, bool split) { split ? input_backward(s) : full_backward(s); }
  void overlapped_pair(int f_stage, int b_stage) {
    forward(f_stage);
    full_backward(b_stage, true);
  }
  void weight() { pending.emit_oldest(out); }
};

}  // namespace

Plan dualpipe_v(int p, int m) {
  require(m >= 2 * p, "dualpipev",
          "DualPipeV needs at least 2 micro-batches per device (m >= 2p = " + std::to_string(2 * p) +
              "), got m=" + std::to_string(m));
  Plan plan;
  plan.placement = v_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    const int s0 = r, s1 = 2 * p - 1 - r;
    DualPipeRank k(plan.schedule[r], 2 * p);
    const bool last_rank = r == p - 1;

    for (int i = 0; i < 2 * (p - r - 1); ++i) k.forward(s0);
    for (int i = 0; i < r + 1; ++i) {
      k.forward(s0);
      k.forward(s1);
    }
    for (int i = 0; i < p - r - 1; ++i) {
      k.input_backward(s1);
      k.weight();
      k.forward(s1);
    }
    for (int i = 0; i < m - 2 * p + r + 1; ++i) {
      if (i == 0 && last_rank) {
        // The last rank holds the two middle stages; DualPipe runs them back to back here
        // instead of overlapping, which shortens the critical path through the V's tip.
        k.forward(s0);
        k.full_backward(s1);
      } else {
        k.overlapped_pair(s0, s1);
      }
      k.overlapped_pair(s1, s0);
    }
    for (int i = 0; i < p - r - 1; ++i) {
      k.full_backward(s1);
      k.overlapped_pair(s1, s0);
    }
    const int step6 = r + 1;
    bool split = false;
    for (int i = 0; i < step6; ++i) {
      if (i == step6 / 2 && r % 2 == 1) split = true;
      k.backward(s1, split);
      if (i == step6 / 2 && r % 2 == 0) split = true;
      k.backward(s0, split);
    }
    for (int i = 0; i < p - r - 1; ++i) {
      k.weight();
      k.backward(s0, true);
    }
    for (int i = 0; i < r + 1; ++i) k.weight();
  }
  return plan;
}

}  // namespace adaptis::gen
