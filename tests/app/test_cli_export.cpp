// End-to-end: `adaptis export` and `adaptis import` through the real binary. Checks exit codes,
// that the Chrome trace parses with the expected processes and counters, and that
// export -> import -> simulate gives the same iteration time for every format.
#include <gtest/gtest.h>

#include "cli_test_support.h"
#include "scratch_dir_test.h"
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using adaptis::test::CliResult;

CliResult run(const std::string& args) { return adaptis::test::run_cli(args, /*merge_stderr=*/true); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CliExport : public adaptis::test::ScratchDirTest {
 protected:
  std::string costs = std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json";
  std::string common;  // model + cluster options shared by every run

  void SetUp() override {
    ScratchDirTest::SetUp();
    common = "--costs " + costs + " --devices 4 --comm-latency-ms 0.02";
  }

  double iteration(const std::string& plan_args) {
    CliResult r = run("simulate " + common + " " + plan_args + " --json");
    EXPECT_EQ(r.code, 0) << r.out;
    json j = json::parse(r.out.substr(r.out.find('{')), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? -1 : j["iteration_time_ms"].get<double>();
  }
};

TEST_F(CliExport, ExportImportSimulateAgree) {
  CliResult r = run("export " + common + " --schedule 1f1b -m 8 --chrome-trace " + at("t.json") + " --pytorch-csv " +
              at("p.csv") + " --plan-json " + at("p.json") + " --octopipe " + at("o.yaml") + " --octopipe-dir " +
              at("legacy") + " --megatron " + at("m.txt"));
  ASSERT_EQ(r.code, 0) << r.out;

  // The Chrome trace parses, has one process per device and memory counters on each.
  json trace = json::parse(slurp(at("t.json")), nullptr, false);
  ASSERT_FALSE(trace.is_discarded());
  std::set<std::string> processes;
  std::set<int> counters;
  size_t slices = 0;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "process_name") processes.insert(e["args"]["name"].get<std::string>());
    if (e["ph"] == "C") counters.insert(e["pid"].get<int>());
    if (e["ph"] == "X") ++slices;
  }
  EXPECT_EQ(processes, (std::set<std::string>{"device 0", "device 1", "device 2", "device 3"}));
  EXPECT_EQ(counters, (std::set<int>{0, 1, 2, 3}));
  EXPECT_GE(slices, 64u);  // 4 devices x 16 actions, plus transfers and gaps

  const double reference = iteration("--schedule 1f1b -m 8");
  ASSERT_GT(reference, 0);
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("p.json")), reference);
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("p.csv")), reference);
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("o.yaml")), reference);

  // import -> plan JSON -> simulate, for each foreign format.
  CliResult imp = run("import --costs " + costs + " --pytorch-csv " + at("p.csv") + " -o " + at("from_csv.json"));
  ASSERT_EQ(imp.code, 0) << imp.out;
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("from_csv.json")), reference);
  imp = run("import --costs " + costs + " --octopipe " + at("legacy") + " -o " + at("from_legacy.json"));
  ASSERT_EQ(imp.code, 0) << imp.out;
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("from_legacy.json")), reference);

  // Megatron: the printed layout, read back, gives the same partition and (1F1B) order.
  std::string flags = slurp(at("m.txt"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(flags, m, std::regex("--pipeline-model-parallel-layout \"([^\"]+)\""))) << flags;
  imp = run("import --costs " + costs + " --devices 4 -m 8 --megatron-layout '" + m[1].str() + "' -o " +
            at("from_megatron.json"));
  ASSERT_EQ(imp.code, 0) << imp.out;
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("from_megatron.json")), reference);
}

TEST_F(CliExport, UnevenPartitionAndCommsCsvRoundTrip) {
  std::string plan_args = "--schedule gpipe -m 6 --partition 10,16,16,14";
  CliResult r = run("export " + common + " " + plan_args + " --pytorch-csv " + at("c.csv") + " --with-comms");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(slurp(at("c.csv")).find("SEND_F"), std::string::npos);
  const double reference = iteration(plan_args);
  EXPECT_DOUBLE_EQ(iteration("--plan " + at("c.csv") + " --partition 10,16,16,14"), reference);
  // Without the partition the CSV loads with an even split: a different plan, still valid.
  EXPECT_GT(iteration("--plan " + at("c.csv")), 0);
}

TEST_F(CliExport, MegatronToStdout) {
  CliResult r = run("export " + common + " --schedule 1f1b --megatron");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("--pipeline-model-parallel-size 4 --num-layers 56"), std::string::npos) << r.out;
}

TEST_F(CliExport, ErrorsExitNonZeroWithAMessage) {
  CliResult r = run("export " + common + " --schedule 1f1b");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("error: nothing to export"), std::string::npos) << r.out;

  r = run("export " + common + " --schedule gpipe --placement '1|0|2|3' --megatron");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("Megatron can only express"), std::string::npos) << r.out;

  std::ofstream(at("bad.csv")) << "0F0,0F1,0Q0\n1F0\n";
  r = run("import --costs " + costs + " --pytorch-csv " + at("bad.csv"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("row 1 (rank 0), column 3"), std::string::npos) << r.out;

  std::ofstream(at("dead.csv")) << "0F0,0B0,0F1,0B1\n1F1,1F0,1B0,1B1\n";
  r = run("import --costs " + costs + " --partition 28,28 --pytorch-csv " + at("dead.csv"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("deadlock"), std::string::npos) << r.out;
  r = run("simulate " + common + " --plan " + at("dead.csv") + " --partition 28,28");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("deadlock"), std::string::npos) << r.out;

  r = run("import --costs " + costs + " --devices 4 --megatron-layout 'Et*13|t*14|t*14|t*14L'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("does not cover the model"), std::string::npos) << r.out;

  r = run("simulate " + common + " --plan " + at("missing.json"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("missing.json"), std::string::npos) << r.out;

  r = run("simulate " + common + " --plan " + at("x.json") + " --schedule gpipe");
  EXPECT_NE(r.code, 0);  // --plan excludes --schedule
}

}  // namespace
