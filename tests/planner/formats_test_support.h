#pragma once
// Shared helpers of the format tests: a real per-layer profile and every built-in schedule that
// this build provides (generators still being written throw and are skipped).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"

namespace adaptis::test {

// nemotron-nano-v2-9B: 56 layers, first "M+E", last "-+H", backward not split (w = 0).
inline CostTable nemotron_costs() {
  return load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json");
}

struct NamedPlan {
  std::string schedule;
  Plan plan;
};

// Every built-in schedule on `devices` devices and `microbatches` micro-batches; GPipe and 1F1B
// must be among them.
inline std::vector<NamedPlan> all_builtin_plans(int num_layers, int devices = 4, int microbatches = 8) {
  std::vector<NamedPlan> out;
  for (const auto& info : all_schedules()) {
    PlanRequest req;
    req.schedule = info.name;
    req.devices = devices;
    req.microbatches = microbatches;
    try {
      out.push_back({info.name, build_plan(req, num_layers)});
    } catch (const InputError&) {
      // not implemented in this build yet, or the options do not fit this schedule
    }
  }
  auto has = [&](const char* n) {
    return std::any_of(out.begin(), out.end(), [&](const NamedPlan& p) { return p.schedule == n; });
  };
  EXPECT_TRUE(has("gpipe"));
  EXPECT_TRUE(has("1f1b"));
  return out;
}

// An overlapped pair written either way round is the same pair: order it forward-first.
inline std::vector<std::vector<Action>> pairs_forward_first(std::vector<std::vector<Action>> s) {
  for (auto& list : s)
    for (size_t i = 0; i + 1 < list.size(); ++i)
      if (list[i + 1].overlap_prev && list[i + 1].op == Op::F && list[i].op != Op::F) {
        std::swap(list[i], list[i + 1]);
        list[i].overlap_prev = false;
        list[i + 1].overlap_prev = true;
      }
  return s;
}

inline std::vector<std::vector<Action>> without_overlap(std::vector<std::vector<Action>> s) {
  for (auto& list : s)
    for (auto& a : list) a.overlap_prev = false;
  return s;
}

inline std::vector<std::vector<int>> sorted_placement(Placement p) {
  for (auto& d : p.device_stages) std::sort(d.begin(), d.end());
  return p.device_stages;
}

// Asserts `fn` throws InputError whose message contains every one of `parts`.
template <typename Fn>
void expect_input_error(Fn&& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected InputError containing '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing '" << p << "' in: " << msg;
  }
}

}  // namespace adaptis::test
