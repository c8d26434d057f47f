// The zero-bubble handcrafted schedules (Qi et al., "Zero Bubble (Almost) Pipeline Parallelism",
// arXiv 2401.10241, §2, Figure 3) on a sequential placement with the backward split into B
// (input gradient, on the critical path) and W (weight gradient, free to move).
#include <algorithm>
#include <string>

#include "schedule_generators.h"

namespace adaptis::gen {

// ZB-H1: the 1F1B order, except that rank r keeps r weight passes pending. After warm-up
// (p-1-r forwards, as 1F1B) each step runs F, B and, from the (r+1)-th backward on, the W of the
// oldest pending micro-batch; the r deferred W's run at the end, filling the cool-down that
// 1F1B leaves on the later ranks. Every rank then holds at most p micro-batches whose W has not
// run (1F1B's rank-0 peak), and the first B reaches rank 0 earlier because no rank spends the
// middle of the pipeline on W's it can postpone. This is PyTorch's ScheduleInterleavedZeroBubble
// with one stage per rank and sail-sg's DeepSpeed ZeroBubbleH1Pipeline ("exact semantics").
//
// Bubble on uniform per-stage costs, zero latency, m >= p (the simulator tests pin it):
//   T = m(F+B+W) + (p-1)(F+B-W)  when W <= B,  i.e. one third of 1F1B's (p-1)(F+B+W) at F=B=W.
Plan zb_h1(int p, int m) {
  Plan plan;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    auto& o = plan.schedule[r];
    PendingWeights pending;
    const size_t keep = static_cast<size_t>(r);
    one_f_one_b_order(o, r, m, p - 1 - r, [&](std::vector<Action>& out, int b) {
      Action a = B(r, b);
      out.push_back(a);
      pending.after_b(a);
      if (pending.size() > keep) pending.emit_oldest(out);
    });
    pending.emit_all(o);
  }
  return plan;
}

// ZB-H2: more forwards in the warm-up so that no rank idles before its first B, and W's moved to
// the tail so that the layout is a parallelogram (paper: "reorder the W passes at the tail, which
// changes the layout from trapezoid into a parallelogram"). Rank i:
//   1. w = min(m, 2(p-i)-1) forwards: exactly the time until the first B comes back when F=B.
//   2. R = m - w cycles, each B then F. The first R-2i cycles also run the W of that B
//      (steady state B W F, one micro-batch per F+B+W); the last 2i cycles leave it pending so
//      B's travel up the pipeline at F+B per step during the drain.
//   3. The remaining w backwards, each followed by the oldest pending W.
//   4. The 2i W's still pending.
// Rank i therefore holds at most w + 2i = 2p-1 micro-batches whose W has not run (the paper's
// (2p-1) M_B peak). With F=B=W, zero latency and m >= 2p every rank is busy without a gap from
// its first F (at i*F) to its last W (at i*F + m(F+B+W)): the only idle time is the fill/drain
// skew, which optimizer post-validation overlaps with the neighbouring iterations.
Plan zb_h2(int p, int m) {
  Plan plan;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int i = 0; i < p; ++i) {
    auto& o = plan.schedule[i];
    PendingWeights pending;
    int f = 0, b = 0;
    auto backward = [&] {
      Action a = B(i, b++);
      o.push_back(a);
      pending.after_b(a);
    };
    const int warm = std::min(m, 2 * (p - i) - 1);
    while (f < warm) o.push_back(F(i, f++));
    const int cycles = m - warm;
    const int with_w = std::max(0, cycles - 2 * i);
    for (int c = 0; c < cycles; ++c) {
      backward();
      if (c < with_w) pending.emit_oldest(o);
      o.push_back(F(i, f++));
    }
    while (b < m) {
      backward();
      pending.emit_oldest(o);
    }
    pending.emit_all(o);
  }
  return plan;
}

}  // namespace adaptis::gen
