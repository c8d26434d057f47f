// Plan building from user choices, the adaptis plan file, and the validator's messages.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/text_gantt.h"
#include "adaptis/planner/validator.h"

namespace adaptis {
namespace {

void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
  }
}

CostTable uniform_costs(int layers, double f, double b, double w) {
  CostTable t;
  t.model = "uniform";
  for (int i = 0; i < layers; ++i) {
    LayerCost c;
    c.name = "layers." + std::to_string(i);
    c.kind = "block";
    c.f_ms = f;
    c.b_ms = b;
    c.w_ms = w;
    t.layers.push_back(c);
  }
  return t;
}

TEST(PlanBuilder, PartitionAndPlacementTextRoundTrip) {
  EXPECT_EQ(parse_partition("14,14, 14,14"), (std::vector<int>{14, 14, 14, 14}));
  Placement p = parse_placement("0,4|1,5|2,6|3,7", 4, 2);
  EXPECT_EQ(p.num_devices(), 4);
  EXPECT_EQ(p.num_stages(), 8);
  EXPECT_EQ(format_placement(p), "0,4|1,5|2,6|3,7");
  EXPECT_EQ(format_placement(parse_placement("v", 4, 2)), "0,7|1,6|2,5|3,4");
  EXPECT_EQ(format_placement(parse_placement("looped", 2, 3)), "0,2,4|1,3,5");
  EXPECT_EQ(format_placement(parse_placement("sequential", 3, 1)), "0|1|2");
  expect_input_error([] { parse_partition("14,,14"); }, {"partition: "});
  expect_input_error([] { parse_partition("14,0,14"); }, {"partition: "});
  expect_input_error([] { parse_placement("0,1|1", 2, 1); }, {"placement: ", "1"});   // stage 1 twice
  expect_input_error([] { parse_placement("0|2", 2, 1); }, {"placement: "});          // stage 1 missing
  expect_input_error([] { parse_placement("zigzag", 2, 1); }, {"placement: ", "zigzag"});
}

TEST(PlanBuilder, UnevenPartitionAndPermutedPlacementKeepTheSchedulesShape) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.microbatches = 8;
  req.partition = {10, 16, 16, 14};
  req.placement = "2|0|3|1";
  Plan plan = build_plan(req, 56);
  EXPECT_EQ(format_partition(plan.partition), "10,16,16,14");
  EXPECT_EQ(format_placement(plan.placement), "2|0|3|1");
  // Device 0 runs stage 2: the third pipeline position, so 1F1B warms up with p - 2 - 1 = 1 forward.
  ASSERT_GE(plan.schedule[0].size(), 3u);
  EXPECT_EQ(plan.schedule[0][0].op, Op::F);
  EXPECT_EQ(plan.schedule[0][0].stage, 2);
  EXPECT_EQ(plan.schedule[0][1].op, Op::F);
  EXPECT_NE(plan.schedule[0][2].op, Op::F);
  EXPECT_TRUE(validate_plan(plan, 56).ok());

  // On uniform costs a permuted sequential placement is as fast as the sequential one, since the
  // model of the links is symmetric.
  CostTable costs = uniform_costs(56, 1, 2, 0);
  Cluster cluster = make_uniform_cluster(4);
  req.partition = {};
  double permuted = simulate(build_plan(req, 56), costs, cluster, {}).iteration_ms;
  req.placement = "";
  double sequential = simulate(build_plan(req, 56), costs, cluster, {}).iteration_ms;
  EXPECT_NEAR(permuted, sequential, 1e-9);
}

TEST(PlanBuilder, IrregularPlacementGetsARunnableOrder) {
  // Interleaved schedule, but a placement grouping stages differently than the generator: the builder
  // must still produce a valid, deadlock-free order.
  PlanRequest req;
  req.schedule = "interleaved-1f1b";
  req.devices = 2;
  req.microbatches = 4;
  req.placement = "0,1|2,3";
  Plan plan = build_plan(req, 8);
  EXPECT_EQ(format_placement(plan.placement), "0,1|2,3");
  EXPECT_TRUE(validate_plan(plan, 8).ok()) << validate_plan(plan, 8).message();
}

TEST(PlanBuilder, MismatchesAreExplained) {
  PlanRequest req;
  req.devices = 4;
  req.partition = {14, 14, 14};
  expect_input_error([&] { build_plan(req, 56); }, {"partition: ", "3 stages", "4 stages"});
  req.partition = {14, 14, 14, 13};
  expect_input_error([&] { build_plan(req, 56); }, {"55 layers", "56"});
  req.partition = {};
  req.placement = "0|1|2";
  expect_input_error([&] { build_plan(req, 56); }, {"placement: "});
  req.placement = "";
  req.schedule = "no-such-schedule";
  expect_input_error([&] { build_plan(req, 56); }, {"no-such-schedule"});
  req.schedule = "1f1b";
  expect_input_error([&] { build_plan(req, 3); }, {"layers"});  // 4 stages cannot split 3 layers
}

TEST(PlanFile, EveryScheduleRoundTripsThroughJson) {
  for (const auto& info : all_schedules()) {
    PlanRequest req;
    req.schedule = info.name;
    req.devices = 4;
    req.microbatches = 8;
    Plan plan;
    try {
      plan = build_plan(req, 32);
    } catch (const InputError&) {
      continue;  // a schedule that cannot run this shape is covered by the schedule tests
    }
    Plan back = plan_from_json(plan_to_json(plan), info.name);
    EXPECT_EQ(back.name, plan.name);
    EXPECT_EQ(back.num_microbatches, plan.num_microbatches);
    EXPECT_EQ(format_partition(back.partition), format_partition(plan.partition));
    EXPECT_EQ(format_placement(back.placement), format_placement(plan.placement));
    ASSERT_EQ(back.schedule.size(), plan.schedule.size());
    for (size_t d = 0; d < plan.schedule.size(); ++d) {
      ASSERT_EQ(back.schedule[d].size(), plan.schedule[d].size()) << info.name;
      for (size_t i = 0; i < plan.schedule[d].size(); ++i)
        EXPECT_TRUE(back.schedule[d][i] == plan.schedule[d][i]) << info.name << " device " << d << " #" << i;
    }
  }
}

TEST(PlanFile, ActionTextAndErrors) {
  EXPECT_EQ(format_action(Action{Op::F, 3, 1, false}), "F3.1");
  EXPECT_EQ(format_action(Action{Op::B, 2, 0, true}), "&B2.0");
  EXPECT_EQ(format_action(Action{Op::BW, 0, 7, false}), "BW0.7");
  Action a = parse_action("&W12.34", "x");
  EXPECT_EQ(a.op, Op::W);
  EXPECT_EQ(a.stage, 12);
  EXPECT_EQ(a.mb, 34);
  EXPECT_TRUE(a.overlap_prev);
  expect_input_error([] { parse_action("Q1.2", "plan.json: schedule[0][3]"); }, {"schedule[0][3]", "Q1.2"});
  expect_input_error([] { parse_action("F1", "where"); }, {"where", "F1"});
  expect_input_error([] { load_plan_file("/nonexistent/plan.json"); }, {"/nonexistent/plan.json"});
  nlohmann::json j = {{"format", "adaptis-plan/1"}, {"name", "x"}, {"microbatches", 1}, {"partition", {1}},
                      {"placement", {{0}}}, {"schedule", {{"F0.0", "BW0.0", "F0.7"}}}};
  Plan p = plan_from_json(j, "hand.json");
  ValidationReport rep = validate_plan(p, 1);
  EXPECT_FALSE(rep.ok());
  EXPECT_NE(rep.message().find("mb7"), std::string::npos) << rep.message();
}

TEST(TextGantt, RowsFitTheWidthAndShowEveryOp) {
  PlanRequest req;
  req.schedule = "zb-h1";
  req.devices = 4;
  req.microbatches = 8;
  Plan plan = build_plan(req, 8);
  SimResult sim = simulate(plan, uniform_costs(8, 1, 1, 1), make_uniform_cluster(4), {});
  TextGanttOptions opt;
  opt.width = 60;
  opt.color = false;
  std::string g = render_text_gantt(sim, opt);
  int rows = 0;
  std::istringstream in(g);
  for (std::string line; std::getline(in, line);) {
    EXPECT_LE(line.size(), 60u) << line;
    if (line.rfind("d", 0) == 0 && line.size() > 1 && std::isdigit(static_cast<unsigned char>(line[1]))) {
      ++rows;
      for (char c : {'F', 'B', 'W'}) EXPECT_NE(line.find(c), std::string::npos) << line;
    }
  }
  EXPECT_EQ(rows, 4);
  // Colour output uses ANSI escapes and still one row per device.
  opt.color = true;
  EXPECT_NE(render_text_gantt(sim, opt).find("\x1b["), std::string::npos);
}

}  // namespace
}  // namespace adaptis
