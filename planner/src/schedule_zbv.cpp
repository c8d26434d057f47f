// ZB-V (zero bubble on a V placement, arXiv 2401.10241 §6), in the handcrafted order of PyTorch's
// ScheduleZBVZeroBubble. Rank r holds chunk 0 = stage r (going down) and chunk 1 = stage 2p-1-r
// (coming back up); rank 0 holds the first and the last stage. With n = max(2p-1, m):
//   warm-up   2(p-r)-1 x F(c0);  r x [F(c1), F(c0)];  (p-r) x [F(c1), B(c1), W(c1)]
//   steady    [F(c0) while any is left, B(c0), W(c0), F(c1), B(c1), W(c1)] until every F ran
//   cool-down r x [B(c0), B(c1)];  (p-r) x [B(c0), W(oldest c0)];  the c1 W's, then the c0 W's
// and actions on micro-batches >= m are dropped (PyTorch turns them into idle slots). PyTorch
// calls our B "I".
#include <algorithm>

#include "schedule_generators.h"

namespace adaptis::gen {

Plan zb_v(int p, int m) {
  const int n = std::max(2 * p - 1, m);
  Plan plan;
  plan.placement = v_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    const int c0 = r, c1 = 2 * p - 1 - r;
    int f0 = 0, f1 = 0, b0 = 0, b1 = 0, w0 = 0, w1 = 0;
    std::vector<Action> o;
    for (int k = 0; k < 2 * (p - r) - 1; ++k) o.push_back(F(c0, f0++));
    for (int k = 0; k < r; ++k) {
      o.push_back(F(c1, f1++));
      o.push_back(F(c0, f0++));
    }
    for (int k = 0; k < p - r; ++k) {
      o.push_back(F(c1, f1++));
      o.push_back(B(c1, b1));
      o.push_back(W(c1, b1++));
    }
    while (f1 < f0 || f0 < n) {
      if (f0 < n) o.push_back(F(c0, f0++));
      o.push_back(B(c0, b0));
      o.push_back(W(c0, b0++));
      o.push_back(F(c1, f1++));
      o.push_back(B(c1, b1));
      o.push_back(W(c1, b1++));
    }
    w0 = b0;
    w1 = b1;
    for (int k = 0; k < r; ++k) {
      o.push_back(B(c0, b0++));
      o.push_back(B(c1, b1++));
    }
    for (int k = 0; k < p - r; ++k) {
      o.push_back(B(c0, b0++));
      o.push_back(W(c0, w0++));
    }
    while (w1 < b1) o.push_back(W(c1, w1++));
    while (w0 < b0) o.push_back(W(c0, w0++));

    auto& out = plan.schedule[r];
    for (const Action& a : o)
      if (a.mb < m) out.push_back(a);
  }
  return plan;
}

}  // namespace adaptis::gen
