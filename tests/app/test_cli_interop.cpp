// End-to-end: taking plans to training stacks through the real binary. `export --pytorch-csv`
// relabels an optimizer plan so PyTorch's runtime can run it (and says so), `--torchtitan` writes a
// job config pointing at the CSV, `schedules --torch-rules` lists PyTorch's rules, and
// `optimize --target` reports what the target costs against the unconstrained plan.
// (tests/interop runs these files in PyTorch, torchtitan's layout and megatron-core.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

namespace fs = std::filesystem;
using adaptis::test::CliResult;
using nlohmann::json;

CliResult run(const std::string& args) { return adaptis::test::run_cli(args, /*merge_stderr=*/true); }

std::vector<std::vector<std::string>> csv_rows(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    rows.emplace_back();
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) rows.back().push_back(cell);
  }
  return rows;
}

class CliInterop : public adaptis::test::ScratchDirTest {
 protected:
  std::string costs = std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json";
  std::string common;

  void SetUp() override {
    ScratchDirTest::SetUp();
    common = "--costs " + costs + " --devices 4 --comm-latency-ms 0";
  }
};

// The last stage's forwards in the CSV, in row order (micro-batch of each "<S-1>F<mb>" cell).
std::vector<int> last_stage_forwards(const std::vector<std::vector<std::string>>& rows, int last_stage) {
  std::vector<int> out;
  const std::string prefix = std::to_string(last_stage) + "F";
  for (const auto& row : rows)
    for (const auto& c : row)
      if (c.rfind(prefix, 0) == 0 && c.find_first_not_of("0123456789", prefix.size()) == std::string::npos)
        out.push_back(std::stoi(c.substr(prefix.size())));
  return out;
}

TEST_F(CliInterop, OptimizerPlanIsRelabelledForPytorchWithTheSameTime) {
  const std::string plan = std::string(ADAPTIS_SOURCE_DIR) + "/samples/plans/nemotron-nano-v2-9B.4dev.8mb.optimized.json";
  std::ifstream pf(plan);
  json pj = json::parse(pf);
  const int S = static_cast<int>(pj["partition"].size());
  CliResult r = run("export " + common + " --plan " + plan + " --pytorch-csv " + at("p.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  std::vector<int> order = last_stage_forwards(csv_rows(at("p.csv")), S - 1);
  ASSERT_EQ(order.size(), 8u);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(order[k], k);
  // Reading the CSV back gives a plan with the same simulated time.
  std::string partition;
  for (size_t s = 0; s < pj["partition"].size(); ++s) {
    if (s) partition += ",";
    partition += pj["partition"][s].dump();
  }
  CliResult a = run("simulate " + common + " --plan " + plan + " --json");
  CliResult b = run("simulate " + common + " --plan " + at("p.csv") + " --partition " + partition + " --json");
  ASSERT_EQ(a.code, 0) << a.out;
  ASSERT_EQ(b.code, 0) << b.out;
  json ja = json::parse(a.out.substr(a.out.find('{'))), jb = json::parse(b.out.substr(b.out.find('{')));
  EXPECT_DOUBLE_EQ(ja["iteration_time_ms"].get<double>(), jb["iteration_time_ms"].get<double>());
}

TEST_F(CliInterop, TorchtitanConfigPointsAtTheCsv) {
  CliResult r = run("export " + common + " --schedule interleaved-1f1b -v 2 -m 8 --pytorch-csv " + at("s.csv") +
                    " --torchtitan " + at("s.toml") + " --micro-batch-size 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("torchrun --nproc_per_node=4 -m torchtitan.train --job.config_file"), std::string::npos) << r.out;
  std::ifstream in(at("s.toml"));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string toml = ss.str();
  EXPECT_NE(toml.find("pipeline_parallel_schedule_csv = \"" + at("s.csv") + "\"\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("local_batch_size = 16\n"), std::string::npos) << toml;
  EXPECT_NE(toml.find("module_fqns_per_model_part = [\n"), std::string::npos) << toml;

  r = run("export " + common + " --schedule 1f1b --torchtitan " + at("x.toml"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--torchtitan: also give --pytorch-csv"), std::string::npos) << r.out;
  r = run("export " + common + " --schedule gpipe --placement '1|0|2|3' --pytorch-csv " + at("g.csv") +
          " --torchtitan " + at("g.toml"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("torchtitan cannot build"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(at("g.csv")));  // refused before anything was written
}

TEST_F(CliInterop, TorchRulesAreListed) {
  CliResult r = run("schedules --torch-rules");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* rule : {"loss-order", "loss-available", "local-input-order", "overlap-pair", "send-recv-lowering"})
    EXPECT_NE(r.out.find(rule), std::string::npos) << rule;
  r = run("schedules --torch-rules --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_GE(json::parse(r.out).size(), 10u);
}

TEST_F(CliInterop, OptimizeTargetReportsItsCostAgainstTheUnconstrainedPlan) {
  const std::string search = " -m 8 --max-evaluations 600 --time-limit-s 60 --threads 2 -q";
  CliResult native = run("optimize " + common + search + " --out " + at("native.json"));
  ASSERT_EQ(native.code, 0) << native.out;
  CliResult r = run("optimize " + common + search + " --target megatron --json --native-plan " + at("native.json") +
                    " --out " + at("meg.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  json j = json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["target"]["name"], "megatron");
  EXPECT_GT(j["target"]["native_iteration_ms"].get<double>(), 0);
  EXPECT_NEAR(j["target"]["slowdown_vs_native"].get<double>(),
              j["target"]["iteration_ms"].get<double>() / j["target"]["native_iteration_ms"].get<double>(), 1e-12);
  EXPECT_NE(j["target"]["native_source"].get<std::string>().find("stored plan"), std::string::npos);
  // The Megatron plan exports flags with Megatron's own order reproduced.
  CliResult m = run("export " + common + " --plan " + at("meg.json") + " --megatron");
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_EQ(m.out.find("will not be reproduced"), std::string::npos) << m.out;
  EXPECT_NE(m.out.find("--global-batch-size 8"), std::string::npos) << m.out;

  // Text form, native searched in the same run.
  r = run("optimize " + common + search + " --target torch");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("torch target: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("adaptis-native"), std::string::npos) << r.out;

  r = run("optimize " + common + search + " --target deepspeed");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("unknown target 'deepspeed'"), std::string::npos) << r.out;
  r = run("optimize " + common + search + " --native-plan " + at("native.json"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("--native-plan: only applies with --target"), std::string::npos) << r.out;
}

}  // namespace
