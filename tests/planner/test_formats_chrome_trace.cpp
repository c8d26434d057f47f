// Chrome trace export: processes per device, compute/send/recv/idle threads, counters, and the
// transfer timing reproducing the simulator's link model.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/p2p_transfers.h"
#include "adaptis/planner/stage_costs.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

using nlohmann::json;

struct Fixture {
  CostTable costs = test::nemotron_costs();
  Cluster cluster = make_uniform_cluster(4);
  SimOptions opt;
  Plan plan;
  SimResult sim;
  explicit Fixture(const std::string& schedule = "1f1b") {
    // Non-zero activations so transfers take time beyond the latency.
    for (auto& l : costs.layers) l.out_bytes = 64e6;
    for (auto& l : costs.layers) l.act_b_bytes = 32e6;
    opt.comm_latency_ms = 0.05;
    PlanRequest req;
    req.schedule = schedule;
    plan = build_plan(req, costs.num_layers());
    sim = simulate(plan, costs, cluster, opt);
  }
};

std::vector<json> events_where(const json& trace, const std::function<bool(const json&)>& pred) {
  std::vector<json> out;
  for (const auto& e : trace["traceEvents"])
    if (pred(e)) out.push_back(e);
  return out;
}

TEST(FormatsChromeTrace, ProcessesThreadsSlicesAndCounters) {
  Fixture f;
  ASSERT_TRUE(f.sim.ok);
  json trace = chrome_trace_json(f.plan, f.sim, f.costs, f.cluster, f.opt);
  // It is valid JSON that parses back.
  json parsed = json::parse(trace.dump());
  ASSERT_TRUE(parsed["traceEvents"].is_array());
  EXPECT_EQ(parsed["displayTimeUnit"], "ms");

  std::set<std::string> process_names;
  for (const auto& e : events_where(parsed, [](const json& e) { return e["ph"] == "M" && e["name"] == "process_name"; }))
    process_names.insert(e["args"]["name"].get<std::string>());
  EXPECT_EQ(process_names, (std::set<std::string>{"device 0", "device 1", "device 2", "device 3"}));

  // One complete event per action on the compute thread, in microseconds of simulated time.
  auto compute = events_where(parsed, [](const json& e) { return e["ph"] == "X" && e["cat"] != "p2p" && e["cat"] != "bubble"; });
  EXPECT_EQ(compute.size(), f.plan.num_actions());
  double last_end_us = 0;
  for (const auto& e : compute) {
    EXPECT_TRUE(e["args"].contains("stage"));
    EXPECT_TRUE(e["args"].contains("mb"));
    EXPECT_TRUE(e["args"].contains("op"));
    EXPECT_TRUE(e["args"].contains("layers"));
    last_end_us = std::max(last_end_us, e["ts"].get<double>() + e["dur"].get<double>());
  }
  EXPECT_NEAR(last_end_us, f.sim.iteration_ms * 1000.0, 1e-2);
  const auto& first = f.sim.timeline[0][0];
  auto first_ev = events_where(parsed, [&](const json& e) {
    return e["ph"] == "X" && e["pid"] == 0 && e["name"] == "F s0 mb0";
  });
  ASSERT_EQ(first_ev.size(), 1u);
  EXPECT_NEAR(first_ev[0]["dur"].get<double>(), (first.end - first.start) * 1000.0, 1e-3);
  EXPECT_EQ(first_ev[0]["args"]["layers"], "0-13");

  // P2P: 3 links x 8 micro-batches x (activation + gradient), each a send and a recv slice.
  auto sends = events_where(parsed, [](const json& e) {
    return e["ph"] == "X" && e["cat"] == "p2p" && e["name"].get<std::string>().rfind("send", 0) == 0;
  });
  auto recvs = events_where(parsed, [](const json& e) {
    return e["ph"] == "X" && e["cat"] == "p2p" && e["name"].get<std::string>().rfind("recv", 0) == 0;
  });
  EXPECT_EQ(sends.size(), 48u);
  EXPECT_EQ(recvs.size(), 48u);
  EXPECT_EQ(events_where(parsed, [](const json& e) { return e["ph"] == "s"; }).size(), 48u);
  EXPECT_EQ(events_where(parsed, [](const json& e) { return e["ph"] == "f"; }).size(), 48u);
  std::set<std::string> thread_names;
  for (const auto& e : events_where(parsed, [](const json& e) { return e["ph"] == "M" && e["name"] == "thread_name"; }))
    thread_names.insert(e["args"]["name"].get<std::string>());
  for (const char* t : {"compute", "idle", "send -> device 1", "recv <- device 0", "send -> device 0"})
    EXPECT_TRUE(thread_names.count(t)) << t;

  // Memory counters on every device; gaps with causes on the idle thread.
  std::set<int> counter_pids;
  for (const auto& e : events_where(parsed, [](const json& e) { return e["ph"] == "C"; })) {
    counter_pids.insert(e["pid"].get<int>());
    EXPECT_TRUE(e["args"].contains("static"));
    EXPECT_TRUE(e["args"].contains("activations"));
  }
  EXPECT_EQ(counter_pids, (std::set<int>{0, 1, 2, 3}));
  auto gaps = events_where(parsed, [](const json& e) { return e["ph"] == "X" && e["cat"] == "bubble"; });
  EXPECT_EQ(gaps.size(), f.sim.gaps.size());
  for (const auto& g : gaps) EXPECT_TRUE(g["args"].contains("cause"));
}

TEST(FormatsChromeTrace, TransfersReproduceTheSimulatorsLinks) {
  Fixture f;
  std::vector<StageCost> stages = stage_costs(f.costs, f.plan.partition);
  auto transfers = derive_transfers(f.plan, f.sim.timeline, &stages, &f.cluster, f.opt);
  ASSERT_EQ(transfers.size(), 48u);
  std::map<std::tuple<int, int, int>, const TimedAction*> when;
  for (const auto& list : f.sim.timeline)
    for (const auto& ta : list) when[{static_cast<int>(ta.action.op), ta.action.stage, ta.action.mb}] = &ta;
  int critical = 0;
  for (const auto& t : transfers) {
    const TimedAction* p = when.at({static_cast<int>(t.producer.op), t.producer.stage, t.producer.mb});
    const TimedAction* c = when.at({static_cast<int>(t.consumer.op), t.consumer.stage, t.consumer.mb});
    EXPECT_NE(t.src_device, t.dst_device);
    EXPECT_GE(t.start, p->end - 1e-9);
    EXPECT_NEAR(t.end - t.start, 0.05 + 64e6 / f.cluster.intra_node.bandwidth * 1e3, 1e-9);
    // The consumer never starts before its input arrived, and often starts right at arrival.
    EXPECT_GE(c->start, t.end - 1e-9);
    if (std::abs(c->start - t.end) < 1e-9) ++critical;
  }
  EXPECT_GT(critical, 0);

  // Without a link model (a measured compute-only timeline) a transfer spans producer end to
  // consumer start.
  for (const auto& t : derive_transfers(f.plan, f.sim.timeline)) {
    const TimedAction* c = when.at({static_cast<int>(t.consumer.op), t.consumer.stage, t.consumer.mb});
    EXPECT_DOUBLE_EQ(t.end, std::max(t.start, c->start));
  }
}

TEST(FormatsChromeTrace, SeveralTimelinesGetSeparateThreads) {
  Fixture f;
  TraceTimeline predicted = trace_timeline_from_simulation(f.plan, f.sim, f.costs, f.cluster, f.opt);
  TraceTimeline measured = predicted;
  measured.label = "measured";
  for (auto& list : measured.actions)
    for (auto& ta : list) {
      ta.start *= 1.1;
      ta.end *= 1.1;
    }
  measured.transfers = derive_transfers(f.plan, measured.actions);
  measured.memory.clear();
  measured.gaps.clear();
  json trace = chrome_trace_json(f.plan, {predicted, measured});
  std::set<std::pair<int, int>> tids_pred, tids_meas;
  std::set<std::string> names;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") names.insert(e["args"]["name"].get<std::string>());
    if (e["ph"] != "X" || e["cat"] == "p2p" || e["cat"] == "bubble") continue;
    (e["tid"].get<int>() < 100000 ? tids_pred : tids_meas).insert({e["pid"].get<int>(), e["tid"].get<int>()});
  }
  EXPECT_EQ(tids_pred.size(), 4u);
  EXPECT_EQ(tids_meas.size(), 4u);
  EXPECT_TRUE(names.count("simulated · compute"));
  EXPECT_TRUE(names.count("measured · compute"));
  EXPECT_EQ(trace["otherData"]["iteration_ms"]["measured"].get<double>(), measured.iteration_ms);
}

TEST(FormatsChromeTrace, EveryScheduleExports) {
  CostTable costs = test::nemotron_costs();
  Cluster cluster = make_uniform_cluster(4);
  for (const auto& [name, plan] : test::all_builtin_plans(costs.num_layers())) {
    SCOPED_TRACE(name);
    SimResult sim = simulate(plan, costs, cluster);
    json trace = chrome_trace_json(plan, sim, costs, cluster);
    size_t compute = 0;
    for (const auto& e : trace["traceEvents"])
      if (e["ph"] == "X" && e["cat"] != "p2p" && e["cat"] != "bubble") ++compute;
    EXPECT_EQ(compute, plan.num_actions());
  }
}

TEST(FormatsChromeTrace, DeadlockedSimulationHasNoTrace) {
  Plan p;
  p.name = "dead";
  p.num_microbatches = 2;
  p.partition = Partition::from_sizes({1, 1});
  p.placement.device_stages = {{0}, {1}};
  p.schedule = {{{Op::F, 0, 0}, {Op::BW, 0, 0}, {Op::F, 0, 1}, {Op::BW, 0, 1}},
                {{Op::F, 1, 1}, {Op::F, 1, 0}, {Op::BW, 1, 0}, {Op::BW, 1, 1}}};
  CostTable costs;
  costs.layers.resize(2);
  for (auto& l : costs.layers) l.f_ms = l.b_ms = 1;
  Cluster cluster = make_uniform_cluster(2);
  SimResult sim = simulate(p, costs, cluster);
  ASSERT_FALSE(sim.ok);
  test::expect_input_error([&] { trace_timeline_from_simulation(p, sim, costs, cluster); }, {"deadlock"});
}

}  // namespace
}  // namespace adaptis
