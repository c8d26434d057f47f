// Breadth-first pipeline (PyTorch ScheduleLoopedBFS, arXiv 2211.05953): GPipe per chunk on a
// looped placement. Rank r runs the forwards of all micro-batches on each of its stages in
// ascending stage order, then the full backwards of its stages in descending order, each stage's
// micro-batches in reverse (the last forward's activations are the first ones its backward needs).
#include "schedule_generators.h"

namespace adaptis::gen {

Plan looped_bfs(int p, int v, int m) {
  require(v >= 1, "looped-bfs", "stages per device must be >= 1, got " + std::to_string(v));
  Plan plan;
  plan.placement = looped_placement(p, v);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    auto& o = plan.schedule[r];
    for (int c = 0; c < v; ++c)
      for (int mb = 0; mb < m; ++mb) o.push_back(F(c * p + r, mb));
    for (int c = v - 1; c >= 0; --c)
      for (int mb = m - 1; mb >= 0; --mb) o.push_back(BW(c * p + r, mb));
  }
  return plan;
}

}  // namespace adaptis::gen
