// `adaptis plan` end to end: the ranked table and --json, the saved plan replayed by `simulate` to the
// same prediction and exported as a Megatron-LM command, `optimize --gpus`, and bad input named by flag
// with exit status 1 (memory policies where the cluster search or the CPU data-parallel run cannot take them).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"

namespace {

using adaptis::test::run_cli;
namespace fs = std::filesystem;
const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
const std::string kInputs = "--model " + kSamples + "/models/llama-2-7b.json --cluster " + kSamples + "/clusters/dgx-h100.json";
const std::string kSmall = " --global-batch-tokens 262144 --max-evaluations 120 --optimize-top 1 --threads 1";

TEST(CliPlan, RanksConfigurationsAndSavesTheBestPlan) {
  const fs::path plan = fs::temp_directory_path() / ("adaptis-plan-" + std::to_string(::getpid()) + ".json");
  auto r = run_cli("plan " + kInputs + kSmall + " --json --out " + plan.string());
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["gpus"], 8);
  EXPECT_EQ(j["global_batch"], 64);
  ASSERT_TRUE(j["feasible"].get<bool>());
  ASSERT_GE(j["ranked"].size(), 2u);
  double prev = 0;
  for (const auto& row : j["ranked"]) {
    EXPECT_EQ(row["config"]["gpus"], 8);
    EXPECT_GE(row["iteration_ms"].get<double>(), prev);
    prev = row["iteration_ms"].get<double>();
    EXPECT_GT(row["mfu"].get<double>(), 0.0);
    EXPECT_LT(row["mfu"].get<double>(), 1.0);
  }
  EXPECT_GT(j["search"]["enumerated"].get<long long>(), 0);
  EXPECT_TRUE(j["best"]["simulation"].contains("parallel"));
  const double predicted = j["best"]["iteration_ms"].get<double>();

  // The saved plan carries its configuration; simulate reproduces the prediction from it.
  auto s = run_cli("simulate " + kInputs + " --plan " + plan.string() + " --json");
  ASSERT_EQ(s.code, 0) << s.err;
  const auto sj = nlohmann::json::parse(s.out);
  EXPECT_NEAR(sj["iteration_time_ms"].get<double>(), predicted, 1e-6 * predicted);
  EXPECT_EQ(sj["parallel"]["config"], j["best"]["config"]);
  // And exports as one Megatron-LM command with its degrees.
  auto e = run_cli("export " + kInputs + " --plan " + plan.string() + " --megatron");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NE(e.out.find("--tensor-model-parallel-size " + j["best"]["config"]["tp"].dump()), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("--global-batch-size 64"), std::string::npos) << e.out;
  fs::remove(plan);

  // Text output: the ranked table and the best plan.
  auto t = run_cli("plan " + kInputs + kSmall + " --top 3");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("rank"), std::string::npos);
  EXPECT_NE(t.out.find("tokens/s"), std::string::npos);
  EXPECT_NE(t.out.find("best plan:"), std::string::npos);
  EXPECT_NE(t.out.find("MFU"), std::string::npos);
}

TEST(CliPlan, ComparesAgainstAGivenConfigurationAndSaysWhy) {
  auto r = run_cli("plan " + kInputs + kSmall + " --against pp=8,tp=1,dp=1,mbs=1,recompute=full --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("against"));
  EXPECT_LE(j["best"]["iteration_ms"].get<double>(), j["against"]["iteration_ms"].get<double>() * (1 + 1e-9));
  const std::string why = j["against"]["explanation"];
  EXPECT_NE(why.find("runs an iteration in"), std::string::npos) << why;
}

TEST(CliPlan, OptimizeWithGpusRunsTheClusterSearch) {
  auto r = run_cli("optimize " + kInputs + " --gpus 8 --global-batch-tokens 262144 --max-evaluations 120 --json -q");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.contains("ranked"));
  EXPECT_EQ(j["gpus"], 8);
}

TEST(CliPlan, BadInputIsNamedWithExitStatusOne) {
  struct Case {
    std::string args, fragment;
  };
  for (const Case& c : {Case{"plan " + kInputs + " --global-batch-tokens 1000", "--global-batch-tokens"},
                        Case{"plan " + kInputs + " --global-batch-tokens 262144 --tp 16", "--tp"},
                        Case{"plan " + kInputs + " --global-batch-tokens 262144 --gpus 64", "--gpus"},
                        Case{"plan " + kInputs + " --global-batch-tokens 262144 --recompute some", "--recompute"},
                        Case{"plan --cluster " + kSamples + "/clusters/dgx-h100.json --global-batch-tokens 4096", "--model"},
                        Case{"plan " + kInputs + " --global-batch-tokens 262144 --against tp=3", "parallel.tp"},
                        Case{"optimize --costs " + kSamples + "/costs/peer-profiles/gpt-13B.json --gpus 8", "--model"},
                        // The whole-cluster search chooses recomputation itself; the CPU data-parallel
                        // run has no R or offload.
                        Case{"optimize " + kInputs + " --gpus 8 --global-batch-tokens 262144 --recompute full",
                             "--recompute"},
                        Case{"run --model " + kSamples + "/models/tiny-llama.json --devices 2 -m 4 --steps 1 "
                                 "--data-parallel 2 --recompute full",
                             "--data-parallel"}}) {
    auto r = run_cli(c.args);
    EXPECT_EQ(r.code, 1) << c.args << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
  // A plan file whose parallel section puts tensor parallelism across nodes.
  const fs::path plan = fs::temp_directory_path() / ("adaptis-badplan-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream(plan) << R"({"format": "adaptis-plan/1", "name": "x", "microbatches": 2, "partition": [17, 17],
      "placement": [[0], [1]], "schedule": [["F0.0","F0.1","BW0.0","BW0.1"], ["F1.0","BW1.0","F1.1","BW1.1"]],
      "parallel": {"pp": 2, "tp": 16, "dp": 1, "micro_batch_size": 1, "microbatches": 2}})";
  }
  auto r = run_cli("simulate --model " + kSamples + "/models/llama-2-7b.json --cluster " + kSamples +
                   "/clusters/h100-64nodes.json --plan " + plan.string());
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("parallel.tp"), std::string::npos) << r.err;
  fs::remove(plan);
}

}  // namespace

namespace {

// Per-stage recompute: where micro-batches of 8 sequences only fit by recomputing, the search also plans
// the configuration with recompute chosen per stage, the saved plan carries those policies and replays
// to the same prediction; --uniform-recompute keeps every stage alike (and is slower here).
TEST(CliPlan, RecomputeIsChosenPerStageUnlessUniformIsAsked) {
  const fs::path plan = fs::temp_directory_path() / ("adaptis-plan-rc-" + std::to_string(::getpid()) + ".json");
  const std::string args = "plan " + kInputs +
                           " --global-batch-tokens 1048576 --pp 8 --tp 1 --cp 1 --zero 0 --micro-batch-sizes 8"
                           " --max-evaluations 400 --threads 1 --json";
  auto r = run_cli(args + " --out " + plan.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string schedule = j["best"]["schedule"].get<std::string>();
  EXPECT_NE(schedule.find("recompute stages"), std::string::npos) << schedule;
  EXPECT_EQ(j["best"]["config"]["recompute"], "none") << j["best"]["config"].dump();
  const auto saved = nlohmann::json::parse(adaptis::test::slurp_file(plan.string()));
  ASSERT_TRUE(saved.contains("memory")) << "per-stage policies in the plan file";
  auto s = run_cli("simulate " + kInputs + " --plan " + plan.string() + " --json");
  ASSERT_EQ(s.code, 0) << s.err;
  const double predicted = j["best"]["iteration_ms"].get<double>();
  EXPECT_NEAR(nlohmann::json::parse(s.out)["iteration_time_ms"].get<double>(), predicted, 1e-6 * predicted);
  fs::remove(plan);

  auto u = run_cli(args + " --uniform-recompute");
  ASSERT_EQ(u.code, 0) << u.err;
  const auto uj = nlohmann::json::parse(u.out);
  EXPECT_EQ(uj["best"]["schedule"].get<std::string>().find("recompute stages"), std::string::npos);
  EXPECT_NE(uj["best"]["config"]["recompute"], "none");
  EXPECT_GT(uj["best"]["iteration_ms"].get<double>(), predicted);
}

}  // namespace
