// The AdaPtis/OctoPipe authors' plan formats: YAML and the legacy result.txt triple.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include "adaptis/model/cluster.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/octopipe_plan.h"
#include "formats_test_support.h"

namespace adaptis {
namespace {

using test::expect_input_error;

bool has_pairs(const Plan& p) {
  for (const auto& l : p.schedule)
    for (const auto& a : l)
      if (a.overlap_prev) return true;
  return false;
}

TEST(FormatsOctopipe, YamlAndLegacyRoundTripEverySchedule) {
  CostTable costs = test::nemotron_costs();  // w = 0: split-backward schedules get zero-length W
  Cluster cluster = make_uniform_cluster(4);
  for (const auto& [name, plan] : test::all_builtin_plans(costs.num_layers())) {
    SCOPED_TRACE(name);
    SimResult sim = simulate(plan, costs, cluster);
    ASSERT_TRUE(sim.ok);
    OctopipeImport oi;
    oi.num_layers = costs.num_layers();
    Plan from_yaml = parse_octopipe_yaml(format_octopipe_yaml(plan, sim), oi, "plan.yaml");
    EXPECT_EQ(from_yaml.num_microbatches, plan.num_microbatches);
    EXPECT_EQ(from_yaml.partition.bounds, plan.partition.bounds);
    EXPECT_EQ(from_yaml.placement.device_stages, plan.placement.device_stages);
    // OctoPipe has no overlapped pairs; everything else survives.
    EXPECT_EQ(from_yaml.schedule, test::without_overlap(plan.schedule));
    if (!has_pairs(plan)) {
      EXPECT_DOUBLE_EQ(simulate(from_yaml, costs, cluster).iteration_ms, sim.iteration_ms);
    }

    OctopipeImport legacy = oi;
    legacy.partition = plan.partition.sizes();
    legacy.placement = plan.placement;
    Plan from_txt = parse_octopipe_result_txt(format_octopipe_result_txt(plan, sim), legacy, "result.txt");
    EXPECT_EQ(from_txt.schedule, from_yaml.schedule);
  }
}

TEST(FormatsOctopipe, WritesTheAuthorsShape) {
  CostTable costs = test::nemotron_costs();
  PlanRequest req;
  req.schedule = "1f1b";
  Plan plan = build_plan(req, costs.num_layers());
  SimResult sim = simulate(plan, costs, make_uniform_cluster(4));
  std::string yaml = format_octopipe_yaml(plan, sim);
  EXPECT_NE(yaml.find("schedule: octopipe\n"), std::string::npos);
  EXPECT_NE(yaml.find("partition: [14, 14, 14, 14]\n"), std::string::npos);
  EXPECT_NE(yaml.find("placement: [[0], [1], [2], [3]]\n"), std::string::npos);
  EXPECT_NE(yaml.find("- (f, 0, 0, 0, 0, "), std::string::npos) << yaml.substr(0, 600);
  std::string txt = format_octopipe_result_txt(plan, sim);
  EXPECT_EQ(txt.rfind("f_0_0,0,", 0), 0u) << txt.substr(0, 100);
  EXPECT_EQ(format_octopipe_placement_txt(plan), "[[0], [1], [2], [3]]");
}

TEST(FormatsOctopipe, LegacyDirectoryOnDisk) {
  CostTable costs = test::nemotron_costs();
  PlanRequest req;
  req.schedule = "gpipe";
  Plan plan = build_plan(req, costs.num_layers());
  SimResult sim = simulate(plan, costs, make_uniform_cluster(4));
  auto dir = std::filesystem::temp_directory_path() / ("adaptis-octopipe-" + std::to_string(::getpid()));
  save_octopipe_legacy(plan, sim, dir.string());
  OctopipeImport oi;
  oi.num_layers = costs.num_layers();
  EXPECT_EQ(load_octopipe_plan(dir.string(), oi).schedule, plan.schedule);
  // A result.txt path reads partition.txt and placement.txt beside it.
  EXPECT_EQ(load_octopipe_plan((dir / "result.txt").string(), oi).schedule, plan.schedule);
  save_octopipe_yaml(plan, sim, (dir / "plan.yaml").string());
  EXPECT_EQ(load_octopipe_plan((dir / "plan.yaml").string(), oi).schedule, plan.schedule);
  std::filesystem::remove_all(dir);
}

TEST(FormatsOctopipe, ReadsHandWrittenPlans) {
  // Two stages on two devices, one micro-batch; the w for stage 1 makes its b an input-gradient B.
  std::string yaml =
      "schedule: octopipe   # the authors' key\n"
      "partition: [1,\n"
      "            1]\n"
      "placement: [[0], [1]]\n"
      "stage_layers:\n"
      "- \"0: E-\"\n"
      "scheduling:  # (workload_type, mid, sid, did, start_time, end_time)\n"
      "- (f, 0, 0, 0, 0, 10)\n"
      "- (f, 0, 1, 1, 10, 20)\n"
      "- (b, 0, 1, 1, 20, 40)\n"
      "- (b, 0, 0, 0, 40, 60)\n"
      "- (w, 0, 1, 1, 40, 45)\n";
  Plan p = parse_octopipe_yaml(yaml, {}, "hand.yaml");
  EXPECT_EQ(p.num_microbatches, 1);
  EXPECT_EQ(p.schedule[0], (std::vector<Action>{{Op::F, 0, 0}, {Op::BW, 0, 0}}));
  EXPECT_EQ(p.schedule[1], (std::vector<Action>{{Op::F, 1, 0}, {Op::B, 1, 0}, {Op::W, 1, 0}}));

  // Legacy lines, with and without device ids; no placement file: ids or --devices decide.
  std::string with_did = "f_0_0_0,0,10\nf_0_1_1,10,20\nb_0_1_1,20,40\nb_0_0_0,40,60\n";
  OctopipeImport oi;
  oi.num_layers = 2;
  EXPECT_EQ(parse_octopipe_result_txt(with_did, oi, "r.txt").placement.device_stages,
            (std::vector<std::vector<int>>{{0}, {1}}));
  std::string no_did = "# comment\nf_0_0,0,10\nf_0_1,10,20\n\nb_0_1,20,40\nb_0_0,40,60\n";
  expect_input_error([&] { parse_octopipe_result_txt(no_did, oi, "r.txt"); }, {"no placement", "placement.txt"});
  oi.devices = 2;
  EXPECT_EQ(parse_octopipe_result_txt(no_did, oi, "r.txt").num_devices(), 2);
}

TEST(FormatsOctopipe, BadInputNamesTheLine) {
  const std::string head = "partition: [1, 1]\nplacement: [[0], [1]]\nscheduling:\n";
  OctopipeImport oi;
  expect_input_error([&] { parse_octopipe_yaml(head + "- (x, 0, 0, 0, 0, 1)\n", oi, "p.yaml"); },
                     {"p.yaml:4", "unknown workload type 'x'"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, 0, 0, 0, 1)\n", oi, "p.yaml"); },
                     {"p.yaml:4", "5 fields"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, 0, 0, 0, 0, 1)\n- (f, 0, 1, 0, 1, 2)\n", oi, "p.yaml"); },
                     {"p.yaml:5", "says device 0", "stage 1 on device 1"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, 0, 2, 1, 0, 1)\n", oi, "p.yaml"); },
                     {"p.yaml:4", "stage 2 does not exist"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, 0, 0, 0, 5, 1)\n", oi, "p.yaml"); },
                     {"p.yaml:4", "before it starts"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, a, 0, 0, 0, 1)\n", oi, "p.yaml"); },
                     {"p.yaml:4", "mid 'a'"});
  expect_input_error([&] { parse_octopipe_yaml(head + "- (r, 0, 0, 0, 0, 1)\n", oi, "p.yaml"); },
                     {"recomputation"});
  expect_input_error([&] { parse_octopipe_yaml("partition: [1, 1]\n", oi, "p.yaml"); }, {"no 'scheduling:'"});
  expect_input_error([&] { parse_octopipe_yaml("partition: [1, x]\nscheduling:\n", oi, "p.yaml"); },
                     {"p.yaml:1: partition"});
  expect_input_error([&] { parse_octopipe_result_txt("f_0,0,1\n", oi, "r.txt"); }, {"r.txt:1", "<type>_<mid>_<sid>"});
  expect_input_error([&] { parse_octopipe_result_txt("f_0_0,0\n", oi, "r.txt"); }, {"r.txt:1"});
  // A schedule missing its backward passes is caught by the validator.
  expect_input_error([&] { parse_octopipe_yaml(head + "- (f, 0, 0, 0, 0, 1)\n- (f, 0, 1, 1, 1, 2)\n", oi, "p.yaml"); },
                     {"p.yaml", "missing its backward"});
}

}  // namespace
}  // namespace adaptis
