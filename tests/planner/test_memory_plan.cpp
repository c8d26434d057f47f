// Memory policies in the Plan IR: R placement, the plan file (round trip and every bad field
// named), the validator's checks, host links on clusters, and the stage figures a policy gives.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"

using namespace adaptis;

namespace {

namespace fs = std::filesystem;

Plan plan_for(const std::string& schedule, int p, int m, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = p;
  r.microbatches = m;
  return build_plan(r, layers);
}

StageMemoryPolicy policy(Recompute r, int k = 0, double off = 0) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.full_layers = k;
  p.offload_fraction = off;
  return p;
}

std::string errors_of(const Plan& plan, int layers) { return validate_plan(plan, layers).message(); }

void expect_contains(const std::string& text, std::initializer_list<std::string> parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << "missing '" << p << "' in:\n" << text;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

fs::path temp_file(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("adaptis-memplan-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST(MemoryPlan, UniformPolicyPlacesOneRBeforeEachBackward) {
  for (const std::string sched : {"1f1b", "gpipe", "interleaved-1f1b", "zb-h1", "zb-v", "dualpipe-v"}) {
    Plan plan;
    try {
      plan = plan_for(sched, 4, 8, 16);
    } catch (const InputError&) {
      continue;
    }
    const size_t before = plan.num_actions();
    set_uniform_memory_policy(plan, policy(Recompute::Full));
    EXPECT_EQ(plan.num_actions(), before + static_cast<size_t>(plan.num_stages()) * 8) << sched;
    EXPECT_TRUE(validate_plan(plan, 16).ok()) << sched << ": " << errors_of(plan, 16);
    for (const auto& list : plan.schedule)
      for (size_t i = 0; i < list.size(); ++i)
        if (list[i].op == Op::R) {
          // Right before its backward, or before the overlapped pair holding it.
          size_t j = i + 1;
          while (j < list.size() && !(list[j].stage == list[i].stage && list[j].mb == list[i].mb)) ++j;
          ASSERT_LT(j, list.size()) << sched;
          EXPECT_TRUE(list[j].op == Op::B || list[j].op == Op::BW) << sched;
          EXPECT_LE(j - i, 2u) << sched;
        }
    // Back to none: every R goes away.
    set_uniform_memory_policy(plan, StageMemoryPolicy{});
    EXPECT_EQ(plan.num_actions(), before) << sched;
    EXPECT_FALSE(has_memory_policy(plan));
  }
}

TEST(MemoryPlan, PlanFileRoundTripsPoliciesAndR) {
  Plan plan = plan_for("1f1b", 4, 8, 16);
  set_memory_policy(plan, {policy(Recompute::Full, 2, 0.5), policy(Recompute::Selective), policy(Recompute::None, 0, 0.25),
                           StageMemoryPolicy{}});
  ASSERT_TRUE(validate_plan(plan, 16).ok()) << errors_of(plan, 16);
  nlohmann::json j = plan_to_json(plan);
  ASSERT_TRUE(j.contains("memory"));
  EXPECT_EQ(j["memory"].size(), 3u);  // the default stage is left out
  EXPECT_EQ(j["memory"][0]["recompute"], "full");
  EXPECT_EQ(j["memory"][0]["layers"], 2);
  Plan back = plan_from_json(j, "p.json");
  EXPECT_EQ(back.memory, plan.memory);
  EXPECT_EQ(back.schedule, plan.schedule);
  EXPECT_EQ(format_action(Action{Op::R, 3, 1, false}), "R3.1");
  EXPECT_EQ(parse_action("R3.1", "x").op, Op::R);
  // A plan without policies writes no "memory" (older readers stay happy).
  EXPECT_FALSE(plan_to_json(plan_for("1f1b", 4, 8, 16)).contains("memory"));
}

TEST(MemoryPlan, PlanFileNamesEveryBadField) {
  nlohmann::json base = plan_to_json(plan_for("1f1b", 4, 8, 16));
  auto with_memory = [&](const std::string& mem) {
    nlohmann::json j = base;
    j["memory"] = nlohmann::json::parse(mem);
    return error_of([&] { plan_from_json(j, "plan.json"); });
  };
  expect_contains(with_memory(R"([{"stage": 7, "recompute": "full"}])"),
                  {"plan.json", "memory[0]", "'stage'", "7", "does not exist", "4 stages"});
  expect_contains(with_memory(R"([{"stage": -1, "recompute": "full"}])"), {"memory[0]", "'stage'", "does not exist"});
  expect_contains(with_memory(R"([{"stage": 1, "recompute": "fulll"}])"),
                  {"memory[0]", "'recompute'", "unknown recompute policy 'fulll'", "none, selective or full"});
  expect_contains(with_memory(R"([{"stage": 1, "offload": 1.5}])"), {"memory[0]", "'offload'", "[0, 1]"});
  expect_contains(with_memory(R"([{"stage": 1, "offload": -0.1}])"), {"memory[0]", "'offload'", "[0, 1]"});
  expect_contains(with_memory(R"([{"stage": 1, "recompute": "selective", "layers": 2}])"),
                  {"memory[0]", "'layers'", "full"});
  expect_contains(with_memory(R"([{"stage": 1, "recompute": "full", "layers": -2}])"), {"memory[0]", "'layers'"});
  expect_contains(with_memory(R"([{"stage": 1, "recompute": "full"}, {"stage": 1}])"), {"memory[1]", "stage 1"});
  expect_contains(with_memory(R"([{"stage": 1, "ofload": 0.5}])"), {"memory[0]", "unknown field 'ofload'"});
  expect_contains(with_memory(R"({"stage": 1})"), {"plan.json", "'memory'", "list"});
  expect_contains(with_memory(R"([{"recompute": "full"}])"), {"memory[0]", "stage"});
  // An R in the schedule of an unknown shape is refused by the action parser.
  expect_contains(error_of([] { parse_action("Rx.1", "schedule[0][3]"); }), {"schedule[0][3]", "Rx.1"});
}

TEST(MemoryPlan, ValidatorChecksPoliciesAndRecomputeActions) {
  const int L = 16;
  Plan good = plan_for("1f1b", 4, 8, L);
  set_uniform_memory_policy(good, policy(Recompute::Full));
  ASSERT_TRUE(validate_plan(good, L).ok());

  // R without a recompute policy.
  Plan no_policy = good;
  no_policy.memory[2] = StageMemoryPolicy{};
  expect_contains(errors_of(no_policy, L), {"R without a recompute policy", "stage 2"});
  // A recomputing stage missing its R.
  Plan missing = good;
  auto& l0 = missing.schedule[0];
  l0.erase(std::find_if(l0.begin(), l0.end(), [](const Action& a) { return a.op == Op::R; }));
  expect_contains(errors_of(missing, L), {"stage 0 mb 0", "recomputes", "no R action"});
  // B before its R.
  Plan swapped = good;
  auto& l1 = swapped.schedule[1];
  auto r = std::find_if(l1.begin(), l1.end(), [](const Action& a) { return a.op == Op::R; });
  std::iter_swap(r, r + 1);
  expect_contains(errors_of(swapped, L), {"stage 1 mb 0", "B comes before its R"});
  // R before its F.
  Plan early = good;
  auto& l3 = early.schedule[3];
  auto r3 = std::find_if(l3.begin(), l3.end(), [](const Action& a) { return a.op == Op::R; });
  Action ra = *r3;
  l3.erase(r3);
  l3.insert(l3.begin(), ra);
  expect_contains(errors_of(early, L), {"R comes before its F"});
  // Two R for one micro-batch.
  Plan twice = good;
  twice.schedule[0].insert(twice.schedule[0].end() - 1, Action{Op::R, 0, 7, false});
  expect_contains(errors_of(twice, L), {"stage 0 mb 7", "2 R actions"});
  // Policies for stages that do not exist, too few policies, bad fields.
  Plan extra = good;
  extra.memory.push_back(policy(Recompute::Full));
  expect_contains(errors_of(extra, L), {"memory", "stage 4", "does not exist"});
  Plan fewer = good;
  fewer.memory.resize(2);
  expect_contains(errors_of(fewer, L), {"memory", "2 stage policies", "4 stages"});
  Plan bad_k = good;
  bad_k.memory[1].full_layers = 9;
  expect_contains(errors_of(bad_k, L), {"memory: stage 1", "full_layers 9", "4 layers"});
  Plan bad_frac = good;
  bad_frac.memory[1].offload_fraction = 2;
  expect_contains(errors_of(bad_frac, L), {"memory: stage 1", "offload fraction", "[0, 1]"});
  Plan nan_frac = good;
  nan_frac.memory[1].offload_fraction = std::nan("");
  expect_contains(errors_of(nan_frac, L), {"memory: stage 1", "offload fraction"});
}

TEST(MemoryPlan, OffloadNeedsAHostLink) {
  const int L = 16;
  CostTable costs;
  for (int i = 0; i < L; ++i) {
    LayerCost c;
    c.f_ms = 1, c.b_ms = 2;
    c.act_b_bytes = 1e6;
    costs.layers.push_back(c);
  }
  Plan plan = plan_for("1f1b", 4, 8, L);
  set_memory_policy(plan, {StageMemoryPolicy{}, StageMemoryPolicy{}, policy(Recompute::None, 0, 0.5), StageMemoryPolicy{}});
  Cluster cl = make_uniform_cluster(4);
  EXPECT_TRUE(simulate(plan, costs, cl).ok);
  cl.devices[2].host_link = HostLink{};
  expect_contains(error_of([&] { simulate(plan, costs, cl); }),
                  {"stage 2", "offload", "device 2", "no host link", "host_link"});
  // Recompute alone needs no host link.
  set_uniform_memory_policy(plan, policy(Recompute::Full));
  EXPECT_TRUE(simulate(plan, costs, cl).ok);
}

TEST(MemoryPlan, ClusterFilesCarryHostLinks) {
  Cluster c = make_uniform_cluster(8);
  for (int d = 0; d < 8; ++d) {
    EXPECT_TRUE(c.devices[d].host_link.present());
    EXPECT_EQ(c.devices[d].host_link.pcie_gen, 5);
    EXPECT_NEAR(c.devices[d].host_link.bandwidth, 63.0e9 * 0.8, 0.1e9);
    EXPECT_EQ(c.devices[d].host_link.group, d / 2);  // two devices per PCIe switch
  }
  EXPECT_NEAR(pcie_effective_bandwidth(5, 16), 32e9 * 16 * 128 / 130 / 8 * 0.8, 1);
  EXPECT_NEAR(pcie_effective_bandwidth(4, 16), pcie_effective_bandwidth(5, 16) / 2, 1);
  EXPECT_EQ(pcie_effective_bandwidth(2, 16), 0);

  fs::path p = temp_file("hl.json", R"({"name": "x",
    "host_link": {"pcie_gen": 4, "lanes": 8, "devices_per_group": 4},
    "devices": [{"type": "H100-SXM", "count": 4, "node": 0},
                {"type": "H100-SXM", "count": 2, "node": 1, "host_link": {"bandwidth_gbs": 20, "latency_us": 5}},
                {"type": "H100-SXM", "count": 1, "node": 1, "host_link": "none"}]})");
  Cluster f = load_cluster(p.string());
  fs::remove(p);
  ASSERT_EQ(f.num_devices(), 7);
  EXPECT_NEAR(f.devices[0].host_link.bandwidth, pcie_effective_bandwidth(4, 8), 1);
  for (int d = 0; d < 4; ++d) EXPECT_EQ(f.devices[d].host_link.group, f.devices[0].host_link.group);
  EXPECT_DOUBLE_EQ(f.devices[4].host_link.bandwidth, 20e9);
  EXPECT_DOUBLE_EQ(f.devices[4].host_link.latency_ms, 0.005);
  EXPECT_NE(f.devices[4].host_link.group, f.devices[0].host_link.group);  // another node
  EXPECT_FALSE(f.devices[6].host_link.present());

  for (const auto& [text, parts] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {R"({"devices": [{"type": "H100-SXM", "host_link": {"bandwidth_gbs": -3}}]})", {"host_link", "bandwidth_gbs"}},
           {R"({"devices": [{"type": "H100-SXM", "host_link": {"pcie_gen": 9}}]})", {"host_link", "pcie_gen"}},
           {R"({"devices": [{"type": "H100-SXM", "host_link": "yes"}]})", {"host_link", "none"}},
           {R"({"host_link": {"devices_per_group": 0}, "devices": [{"type": "H100-SXM"}]})", {"host_link", "devices_per_group"}},
       }) {
    fs::path q = temp_file("bad.json", text);
    std::string e = error_of([&] { load_cluster(q.string()); });
    fs::remove(q);
    for (const auto& part : parts) EXPECT_NE(e.find(part), std::string::npos) << "missing '" << part << "' in: " << e;
  }
  // A custom device type brings no host link unless the file gives one.
  fs::path q = temp_file("custom.json", R"({"devices": [{"type": "X1", "peak_tflops": 100, "hbm_gib": 16}]})");
  EXPECT_FALSE(load_cluster(q.string()).devices[0].host_link.present());
  fs::remove(q);
}

TEST(MemoryPlan, StageFiguresFollowThePolicy) {
  CostTable costs;
  for (int i = 0; i < 4; ++i) {
    LayerCost c;
    c.f_ms = 1 + i;
    c.act_b_bytes = 100 * (i + 1);
    c.act_w_bytes = 10;
    c.kept_selective_bytes = 50;
    c.recompute_selective_ms = 0.5;
    c.kept_full_bytes = 7 + i;
    costs.layers.push_back(c);
  }
  Partition part = Partition::from_sizes({1, 3});
  auto st = [&](StageMemoryPolicy p) { return stage_costs(costs, part, {StageMemoryPolicy{}, p})[1]; };
  const StageCost none = st(StageMemoryPolicy{});
  EXPECT_FALSE(none.recompute);
  EXPECT_DOUBLE_EQ(none.kept(), 200 + 300 + 400 + 30);
  const StageCost sel = st(policy(Recompute::Selective));
  EXPECT_TRUE(sel.recompute);
  EXPECT_DOUBLE_EQ(sel.kept(), 150);
  EXPECT_DOUBLE_EQ(sel.recompute_ms, 1.5);
  const StageCost fu = st(policy(Recompute::Full));
  EXPECT_DOUBLE_EQ(fu.kept(), 8);  // the stage's first layer's input
  EXPECT_DOUBLE_EQ(fu.recompute_ms, 2 + 3 + 4);
  const StageCost k2 = st(policy(Recompute::Full, 2, 0.5));
  EXPECT_DOUBLE_EQ(k2.kept(), 8 + 410);  // + the last layer's activations
  EXPECT_DOUBLE_EQ(k2.recompute_ms, 2 + 3);
  EXPECT_DOUBLE_EQ(k2.offload_bytes, 0.5 * 418);
  EXPECT_EQ(describe(policy(Recompute::Full, 2, 0.5)), "full (first 2 layers) + offload 50%");
}
