// PyTorch runtime rules (planner/torch_rules.h): every built-in schedule obeys them as generated,
// each rule is caught on a plan that breaks it (with the rule's name and the offending action),
// and the micro-batch relabelling makes optimizer plans obey them without changing simulated time.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/validator.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

Action F(int s, int mb) { return {Op::F, s, mb}; }
Action B(int s, int mb) { return {Op::B, s, mb}; }
Action W(int s, int mb) { return {Op::W, s, mb}; }
Action BW(int s, int mb) { return {Op::BW, s, mb}; }

// A hand-written plan: one stage per listed device group, one layer per stage.
Plan manual(std::vector<std::vector<int>> device_stages, int m, std::vector<std::vector<Action>> schedule) {
  Plan p;
  p.name = "manual";
  p.num_microbatches = m;
  int S = 0;
  for (const auto& d : device_stages) S += static_cast<int>(d.size());
  p.partition = Partition::from_sizes(std::vector<int>(S, 1));
  p.placement.device_stages = std::move(device_stages);
  p.schedule = std::move(schedule);
  return p;
}

// The rules named in a report.
std::set<std::string> rules_of(const TorchRulesReport& r) {
  std::set<std::string> out;
  for (const auto& v : r.violations) out.insert(v.rule);
  return out;
}

const TorchRuleViolation* find_rule(const TorchRulesReport& r, const std::string& rule) {
  for (const auto& v : r.violations)
    if (v.rule == rule) return &v;
  return nullptr;
}

TEST(TorchRules, EveryBuiltInScheduleObeysThemAsGenerated) {
  int checked = 0;
  for (int devices : {2, 4, 8})
    for (int chunks : {0, 1, 2, 3, 4})
      for (const auto& info : all_schedules()) {
        PlanRequest req;
        req.schedule = info.name;
        req.devices = devices;
        req.microbatches = 2 * devices;
        req.stages_per_device = chunks;
        Plan plan;
        try {
          plan = build_plan(req, devices * 4);
        } catch (const InputError&) {
          continue;  // the schedule's own constraint (chunk count, m)
        }
        SCOPED_TRACE(std::string(info.name) + " p=" + std::to_string(devices) + " v=" + std::to_string(chunks));
        TorchRulesReport r = check_torch_rules(plan);
        EXPECT_TRUE(r.ok()) << r.message();
        // PyTorch's generators already run the last stage in order: nothing to relabel.
        std::vector<int> id(plan.num_microbatches);
        for (int i = 0; i < plan.num_microbatches; ++i) id[i] = i;
        EXPECT_EQ(torch_microbatch_relabelling(plan), id);
        ++checked;
      }
  EXPECT_GE(checked, 60);
}

TEST(TorchRules, EachRuleIsCaughtWithTheOffendingAction) {
  // loss-order and loss-available: the last stage runs mb 1 first, then its backward.
  {
    Plan p = manual({{0}, {1}}, 2,
                    {{F(0, 0), F(0, 1), BW(0, 1), BW(0, 0)}, {F(1, 1), BW(1, 1), F(1, 0), BW(1, 0)}});
    ASSERT_TRUE(validate_plan(p, 2).ok());
    TorchRulesReport r = check_torch_rules(p);
    const TorchRuleViolation* v = find_rule(r, "loss-order");
    ASSERT_NE(v, nullptr) << r.message();
    EXPECT_EQ(v->device, 1);
    EXPECT_EQ(v->position, 0);
    EXPECT_EQ(v->action, F(1, 1));
    EXPECT_NE(v->message().find("'1F1'"), std::string::npos) << v->message();
    const TorchRuleViolation* a = find_rule(r, "loss-available");
    ASSERT_NE(a, nullptr) << r.message();
    EXPECT_EQ(a->position, 1);  // 1B1 with one loss computed: "Loss for microbatch 1 is not available"
    EXPECT_NE(a->detail.find("Loss for microbatch 1 is not available"), std::string::npos);
    // Relabelling fixes both.
    Plan fixed = relabel_for_torch(p);
    EXPECT_TRUE(check_torch_rules(fixed).ok()) << check_torch_rules(fixed).message();
    EXPECT_EQ(fixed.schedule[1][0], F(1, 0));
  }
  // rank-has-actions: a device without stages.
  {
    Plan p = manual({{0}, {}}, 1, {{F(0, 0), BW(0, 0)}, {}});
    EXPECT_TRUE(rules_of(check_torch_rules(p)).count("rank-has-actions"));
  }
  // stage-on-its-rank and microbatch-range.
  {
    Plan p = manual({{0}, {1}}, 1, {{F(0, 0), BW(0, 0), F(1, 0)}, {F(1, 0), BW(1, 0), BW(1, 3)}});
    auto rules = rules_of(check_torch_rules(p));
    EXPECT_TRUE(rules.count("stage-on-its-rank"));
    EXPECT_TRUE(rules.count("microbatch-range"));
  }
  // forward-once / backward-once.
  {
    Plan p = manual({{0}}, 2, {{F(0, 0), BW(0, 0), F(0, 1), B(0, 1), BW(0, 1)}});
    EXPECT_TRUE(rules_of(check_torch_rules(p)).count("backward-once"));
    Plan q = manual({{0}}, 2, {{F(0, 0), BW(0, 0), BW(0, 1)}});
    EXPECT_TRUE(rules_of(check_torch_rules(q)).count("forward-once"));
  }
  // backward-after-forward, weight-after-input.
  {
    Plan p = manual({{0}}, 2, {{BW(0, 0), F(0, 0), F(0, 1), W(0, 1), B(0, 1)}});
    TorchRulesReport r = check_torch_rules(p);
    const TorchRuleViolation* v = find_rule(r, "backward-after-forward");
    ASSERT_NE(v, nullptr) << r.message();
    EXPECT_EQ(v->position, 0);
    const TorchRuleViolation* w = find_rule(r, "weight-after-input");
    ASSERT_NE(w, nullptr) << r.message();
    EXPECT_EQ(w->action, W(0, 1));
    EXPECT_EQ(w->position, 3);
  }
  // local-input-order: two stages on one rank, the later stage's forward first.
  {
    Plan p = manual({{0, 1}}, 1, {{F(1, 0), F(0, 0), BW(1, 0), BW(0, 0)}});
    TorchRulesReport r = check_torch_rules(p);
    const TorchRuleViolation* v = find_rule(r, "local-input-order");
    ASSERT_NE(v, nullptr) << r.message();
    EXPECT_EQ(v->action, F(1, 0));
  }
  // overlap-pair: a backward overlapped with a weight-gradient.
  {
    Action w = W(0, 0);
    w.overlap_prev = true;
    Plan p = manual({{0}}, 1, {{F(0, 0), B(0, 0), w}});
    EXPECT_TRUE(rules_of(check_torch_rules(p)).count("overlap-pair"));
  }
  // send-recv-lowering: device 1 wants mb 1 before mb 0 while device 0 finishes mb 0 first.
  {
    Plan p = manual({{0}, {1}, {2}}, 2,
                    {{F(0, 0), BW(0, 0), F(0, 1), BW(0, 1)},
                     {F(1, 1), F(1, 0), BW(1, 0), BW(1, 1)},
                     {F(2, 0), BW(2, 0), F(2, 1), BW(2, 1)}});
    TorchRulesReport r = check_torch_rules(p);
    EXPECT_EQ(rules_of(r), std::set<std::string>{"send-recv-lowering"}) << r.message();
    EXPECT_FALSE(validate_plan(p, 3).ok());  // our simulator sees the same deadlock
  }
}

TEST(TorchRules, ExportRefusesNamingTheRuleAndRelabelsWhatItCan) {
  Plan p = manual({{0, 1}}, 1, {{F(1, 0), F(0, 0), BW(1, 0), BW(0, 0)}});
  test::expect_input_error([&] { format_pytorch_csv(p); }, {"pytorch csv", "local-input-order", "'1F0'"});
  Plan q = manual({{0}, {1}}, 2, {{F(0, 0), F(0, 1), BW(0, 1), BW(0, 0)}, {F(1, 1), BW(1, 1), F(1, 0), BW(1, 0)}});
  std::string csv = format_pytorch_csv(q);
  EXPECT_EQ(csv, "0F1,0F0,0B0,0B1\n1F0,1B0,1F1,1B1\n");
}

// Per device: (op, stage, start, end) of each timed action, and its micro-batch separately.
struct Timeline {
  std::vector<std::vector<std::tuple<int, int, double, double>>> slots;
  std::vector<std::vector<int>> mbs;
};
Timeline timeline_of(const SimResult& r) {
  Timeline t;
  for (const auto& dev : r.timeline) {
    t.slots.emplace_back();
    t.mbs.emplace_back();
    for (const auto& ta : dev) {
      t.slots.back().emplace_back(static_cast<int>(ta.action.op), ta.action.stage, ta.start, ta.end);
      t.mbs.back().push_back(ta.action.mb);
    }
  }
  return t;
}

TEST(TorchRules, RelabellingOptimizerPlansKeepsTheirSimulatedTime) {
  int relabelled = 0;
  for (const char* profile : {"nemotron-nano-v2-9B", "gpt-oss-20B", "deepseek-16B", "gpt-13B"}) {
    SCOPED_TRACE(profile);
    CostTable costs = load_cost_table(std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/" + profile + ".json");
    Cluster cluster = make_uniform_cluster(4);
    OptimizeOptions o;
    o.devices = 4;
    o.microbatches = 8;
    o.time_limit_s = 30;
    o.max_evaluations = 3000;
    o.threads = 2;
    o.sim.comm_latency_ms = 0;
    OptimizeResult res = optimize(costs, cluster, o);
    const Plan& plan = res.best;
    std::vector<int> perm = torch_microbatch_relabelling(plan);
    Plan fixed = relabel_microbatches(plan, perm);
    TorchRulesReport after = check_torch_rules(fixed);
    EXPECT_TRUE(after.ok()) << after.message();
    bool identity = true;
    for (int i = 0; i < plan.num_microbatches; ++i) identity = identity && perm[i] == i;
    if (!identity) {
      ++relabelled;
      EXPECT_FALSE(check_torch_rules(plan).ok());
    }
    SimResult a = simulate(plan, costs, cluster, o.sim), b = simulate(fixed, costs, cluster, o.sim);
    ASSERT_TRUE(a.ok && b.ok);
    EXPECT_EQ(a.iteration_ms, b.iteration_ms);
    for (size_t d = 0; d < a.devices.size(); ++d)
      EXPECT_EQ(a.devices[d].peak_memory_bytes, b.devices[d].peak_memory_bytes);
    Timeline ta = timeline_of(a), tb = timeline_of(b);
    EXPECT_EQ(ta.slots, tb.slots);  // same ops on the same stages at the same times
    for (size_t d = 0; d < ta.mbs.size(); ++d)
      for (size_t i = 0; i < ta.mbs[d].size(); ++i) ASSERT_EQ(perm[ta.mbs[d][i]], tb.mbs[d][i]);
  }
  // The case: optimizer plans do run their last stage out of order.
  EXPECT_GE(relabelled, 1);
}

TEST(TorchRules, RelabelRejectsANonPermutation) {
  Plan p = manual({{0}}, 2, {{F(0, 0), BW(0, 0), F(0, 1), BW(0, 1)}});
  test::expect_input_error([&] { relabel_microbatches(p, {0, 0}); }, {"not a permutation"});
}

}  // namespace
}  // namespace adaptis
