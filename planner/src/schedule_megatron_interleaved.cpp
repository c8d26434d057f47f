// Megatron-LM interleaved 1F1B (virtual pipeline), the "tunable" variant with a micro-batch
// group size g per virtual stage (`--microbatch-group-size-per-virtual-pipeline-stage`).
//
// Placement: looped, chunk c of rank r is stage c*p + r.
// Order (re-derived from Megatron-LM's megatron/core/pipeline_parallel/schedules.py): the m*v "virtual
// micro-batches" of a rank are enumerated group by group; inside a group
// of g micro-batches, chunk 0 of every micro-batch, then chunk 1, ... (the last group takes the
// remainder). Forward k runs table[k]; backward k runs the same micro-batch on the mirrored chunk
// v-1-c. Rank r warms up with 2(p-r-1) + (v-1)g forwards (capped at m*v), then alternates one
// forward and one backward, then drains the remaining backwards.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "schedule_generators.h"

namespace adaptis::gen {

namespace {

// (micro-batch, chunk) for each virtual micro-batch index, in forward order.
std::vector<std::pair<int, int>> megatron_schedule_table(int m, int v, int g) {
  std::vector<std::pair<int, int>> table;
  table.reserve(static_cast<size_t>(m) * v);
  for (int first = 0; first < m; first += g) {
    int last = (first + g >= m) ? m : first + g;  // the last group takes the remainder
    for (int c = 0; c < v; ++c)
      for (int mb = first; mb < last; ++mb) table.emplace_back(mb, c);
  }
  return table;
}

}  // namespace

Plan interleaved_1f1b_megatron(int p, int v, int m, int g) {
  const char* name = "interleaved-1f1b";
  require(v >= 1, name, "stages per device must be >= 1, got " + std::to_string(v));
  // Megatron raises ValueError for g outside [p, m] and RuntimeError for a short last group.
  require(p <= g && g <= m, name,
          "Megatron needs devices <= group size <= micro-batches (p <= g <= m), got p=" + std::to_string(p) +
              ", g=" + std::to_string(g) + ", m=" + std::to_string(m) +
              (m < p ? "; use at least " + std::to_string(p) + " micro-batches" : std::string()));
  const int rem = m % g;
  require(rem == 0 || rem >= p, name,
          "Megatron needs m mod g to be 0 or >= p (a shorter last micro-batch group stalls the pipeline), got m=" +
              std::to_string(m) + ", g=" + std::to_string(g) + ", m mod g=" + std::to_string(rem) +
              ", p=" + std::to_string(p));

  const auto table = megatron_schedule_table(m, v, g);
  const int total = m * v;
  Plan plan;
  plan.placement = looped_placement(p, v);
  plan.schedule.resize(p);
  for (int r = 0; r < p; ++r) {
    auto& o = plan.schedule[r];
    o.reserve(2 * static_cast<size_t>(total));
    auto forward = [&](int k) { return F(table[k].second * p + r, table[k].first); };
    auto backward = [&](int k) { return BW((v - 1 - table[k].second) * p + r, table[k].first); };
    const int warm = std::min(2 * (p - r - 1) + (v - 1) * g, total);
    for (int k = 0; k < warm; ++k) o.push_back(forward(k));
    for (int k = 0; k < total - warm; ++k) {
      o.push_back(forward(k + warm));
      o.push_back(backward(k));
    }
    for (int k = total - warm; k < total; ++k) o.push_back(backward(k));
  }
  return plan;
}

}  // namespace adaptis::gen
