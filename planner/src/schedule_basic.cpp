// GPipe and 1F1B on a sequential placement (one stage per device).
#include "schedule_generators.h"

namespace adaptis::gen {

Plan gpipe(int p, int m) {
  Plan plan;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    for (int mb = 0; mb < m; ++mb) plan.schedule[r].push_back(F(r, mb));
    for (int mb = 0; mb < m; ++mb) plan.schedule[r].push_back(BW(r, mb));
  }
  return plan;
}

// Megatron: warm-up min(p-r-1, m) forwards, then (F, B) pairs, then the remaining backwards.
Plan one_f_one_b(int p, int m) {
  Plan plan;
  plan.placement = sequential_placement(p);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    one_f_one_b_order(plan.schedule[r], r, m, p - r - 1, [r](std::vector<Action>& o, int b) { o.push_back(BW(r, b)); });
  }
  return plan;
}

}  // namespace adaptis::gen
