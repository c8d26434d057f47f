// PyTorch pipelining's looped-placement schedules that share one 1F1B skeleton
// (torch/distributed/pipelining/schedules.py, `_get_1f1b_rank_ops`):
//   - ScheduleInterleaved1F1B: full backwards (our BW);
//   - ScheduleInterleavedZeroBubble ("ZB1P" on a loop): split backward, rank r starts running
//     weight passes after its first r backwards and then keeps r of them pending until the end.
//
// Micro-batches are processed in rounds: rounds = max(1, m / p), mpr = m / rounds micro-batches
// per round (PyTorch requires m % rounds == 0). Step k of a rank runs local chunk
// (k / mpr) mod v for forwards and the mirrored chunk for backwards, the micro-batch being the
// next one not yet run on that stage. Warm-up = (v-1)*mpr + factor*(p-1-r) forwards (factor 2 for
// 1F1B, 1 for zero bubble), capped at v*m. PyTorch's `None` padding only aligns unit time steps;
// our simulator does timing, so it is dropped.
#include <algorithm>
#include <string>
#include <vector>

#include "schedule_generators.h"

namespace adaptis::gen {

namespace {

struct TorchRounds {
  int rounds = 1;
  int per_round = 1;  // micro-batches per round
};

TorchRounds torch_rounds(const char* name, int p, int v, int m) {
  require(v >= 1, name, "stages per device must be >= 1, got " + std::to_string(v));
  TorchRounds t;
  t.rounds = std::max(1, m / p);
  require(m % t.rounds == 0, name,
          "PyTorch needs the micro-batches to be a multiple of the number of rounds max(1, m / p) = " +
              std::to_string(t.rounds) + ", got m=" + std::to_string(m) + " on p=" + std::to_string(p));
  t.per_round = m / t.rounds;
  return t;
}

Plan torch_looped_1f1b(int p, int v, int m, const TorchRounds& t, bool zero_bubble) {
  const int total_mb_ops = v * m;
  Plan plan;
  plan.placement = looped_placement(p, v);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    auto& o = plan.schedule[r];
    const int factor = zero_bubble ? 1 : 2;
    const int warm = std::min((v - 1) * t.per_round + factor * (p - 1 - r), total_mb_ops);
    const int steady = total_mb_ops - warm;  // steps with one forward and one backward
    const int total_steps = warm + steady + warm;  // the cool-down runs `warm` backwards
    auto fwd_stage = [&](int step) { return ((step / t.per_round) % v) * p + r; };
    auto bwd_stage = [&](int step) { return (v - 1 - ((step - warm) / t.per_round) % v) * p + r; };
    std::vector<int> next_f(static_cast<size_t>(p) * v, 0), next_b(static_cast<size_t>(p) * v, 0);
    PendingWeights pending;
    // ZB1P: W of the oldest backward follows each backward from the r-th on.
    const int deferred = r;

    auto run_backward = [&](int step) {
      int s = bwd_stage(step);
      Action b = zero_bubble ? B(s, next_b[s]++) : BW(s, next_b[s]++);
      o.push_back(b);
      if (!zero_bubble) return;
      pending.after_b(b);
      if (step - warm >= deferred) pending.emit_oldest(o);
    };

    for (int step = 0; step < total_steps; ++step) {
      if (step < warm + steady) {
        int s = fwd_stage(step);
        o.push_back(F(s, next_f[s]++));
      }
      if (step >= warm) run_backward(step);
    }
    pending.emit_all(o);
  }
  return plan;
}

}  // namespace

Plan interleaved_1f1b_torch(int p, int v, int m) {
  return torch_looped_1f1b(p, v, m, torch_rounds("interleaved-1f1b-torch", p, v, m), false);
}

Plan interleaved_zero_bubble_torch(int p, int v, int m) {
  return torch_looped_1f1b(p, v, m, torch_rounds("interleaved-zb", p, v, m), true);
}

}  // namespace adaptis::gen
