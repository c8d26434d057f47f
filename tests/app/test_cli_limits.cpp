// End-to-end through the real binary: every numeric option refuses values outside its documented range,
// inputs above the problem limits are refused up front by every planning command alike, `optimize` keeps
// its time budget on huge inputs (generated here, not committed), the CPU executor refuses runs it cannot
// hold, and names from input files reach the terminal with their control characters escaped.
// Every failure must be a clean exit 1 with an `error:` line naming the flag or file: never a signal,
// never the internal-error status 70.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using adaptis::test::CliResult;

class CliLimits : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string costs = std::string(ADAPTIS_SOURCE_DIR) + "/samples/costs/peer-profiles/gpt-13B.json";
  const std::string tiny = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";


  struct Timed {
    CliResult r;
    double seconds = 0;
  };
  Timed timed(const std::string& args) const {
    const auto t0 = std::chrono::steady_clock::now();
    Timed t{adaptis::test::run_cli(args), 0};
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return t;
  }

  // The command must fail cleanly: exit 1, an `error:` line, every fragment in it.
  void expect_error(const std::string& args, std::initializer_list<std::string> fragments) const {
    SCOPED_TRACE(args);
    const CliResult r = adaptis::test::run_cli(args);
    EXPECT_EQ(r.code, 1) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in: " << r.err;
  }

  // A cost file in the AdaPtis authors' profile format with `layers` layers (the last one heavy).
  std::string deep_costs(int layers) const {
    std::string text = "{\"model\": \"deep\", \"time_unit_ms\": 0.1, \"layers\": [";
    for (int l = 0; l < layers; ++l)
      text += std::string(l ? "," : "") + "{\"type\":\"T\",\"f\":" + (l + 1 == layers ? "40" : "10") +
              ",\"b\":20,\"w\":10}";
    return write("deep-" + std::to_string(layers) + ".json", text + "]}\n");
  }
};

TEST_F(CliLimits, NumericOptionsOutsideTheirRangeAreRefused) {
  const std::string sim = "simulate --costs " + costs + " ";
  const std::string opt = "optimize --costs " + costs + " -q ";
  const std::string run = "run --model " + tiny + " --no-record ";
  struct Case {
    std::string args, flag;
  };
  const Case cases[] = {
      {opt + "--threads 100000", "--threads"},
      {opt + "--threads -1", "--threads"},
      {sim + "--gantt --width 2147483647", "--width"},
      {sim + "--gantt --width 5", "--width"},
      {sim + "--gaps 1000000000", "--gaps"},
      {sim + "--comm-latency-ms inf", "--comm-latency-ms"},
      {sim + "--comm-latency-ms nan", "--comm-latency-ms"},
      {sim + "--comm-latency-ms -1", "--comm-latency-ms"},
      {sim + "--comm-latency-ms -0.5", "--comm-latency-ms"},
      {sim + "--microbatches 0", "--microbatches"},
      {sim + "--microbatches 100000", "--microbatches"},
      {sim + "--microbatches 2147483648", "--microbatches"},
      {sim + "--devices 0", "--devices"},
      {sim + "--devices 5000", "--devices"},
      {sim + "--stages-per-device 100000", "--stages-per-device"},
      {sim + "--group-size -2", "--group-size"},
      {opt + "--time-limit-s 0", "--time-limit-s"},
      {opt + "--time-limit-s inf", "--time-limit-s"},
      {opt + "--time-limit-s nan", "--time-limit-s"},
      {opt + "--time-limit-s 1e9", "--time-limit-s"},
      {opt + "--max-evaluations -1", "--max-evaluations"},
      {opt + "--seed -1", "--seed"},
      {opt + "--seed 18446744073709551616", "--seed"},
      {opt + "--seed 1e3", "--seed"},
      {opt + "--max-stages-per-device 100000", "--max-stages-per-device"},
      {opt + "--microbatches 100000", "--microbatches"},
      {"compare --costs " + costs + " --gantt --width 100000", "--width"},
      {"export --costs " + costs + " --octopipe x.yaml --time-unit-ms inf", "--time-unit-ms"},
      {"export 1 --chrome-trace x.json --step -5", "--step"},
      {"export --costs " + costs + " --megatron --micro-batch-size 0", "--micro-batch-size"},
      {"export --costs " + costs + " --megatron --micro-batch-size 1000000", "--micro-batch-size"},
      {"import --megatron-layout 'E|t|t|L' --devices 4 -m 0", "--microbatches"},
      {run + "--lr inf", "--lr"},
      {run + "--lr nan", "--lr"},
      {run + "--lr 0", "--lr"},
      {run + "--lr -1e-3", "--lr"},
      {run + "--steps 0", "--steps"},
      {run + "--devices 100000", "--devices"},
      {run + "--watchdog-ms inf", "--watchdog-ms"},
      {run + "--profile-repeats 0", "--profile-repeats"},
      {run + "--precision fp7", "--precision"},
      {run + "--gpu -1", "--gpu"},
      {"profile --model " + tiny + " --repeats 0", "--repeats"},
      {"profile --model " + tiny + " --warmup -1", "--warmup"},
      {"runs --limit -1", "--limit"},
      {"tui --optimize-seconds inf --plain", "--optimize-seconds"},
      {"tui --optimize-threads 100000 --plain", "--optimize-threads"},
      {"gui --frames 0", "--frames"},
      {"gui --scale 100", "--scale"},
      {"gui --run-steps 0", "--run-steps"},
      {"costs --model " + tiny + " --devices 0", "--devices"},
  };
  for (const Case& c : cases) expect_error(c.args, {c.flag});
}

TEST_F(CliLimits, SeedTakesEveryUnsignedSixtyFourBitValue) {
  for (const std::string seed : {"0", "18446744073709551615"}) {
    const CliResult r = adaptis::test::run_cli("optimize -q --json --max-evaluations 50 --costs " + costs + " --seed " + seed);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(json::parse(r.out)["optimizer"]["seed"].dump(), seed) << r.out.substr(0, 400);
  }
}

TEST_F(CliLimits, HelpStatesTheRanges) {
  const CliResult sim = adaptis::test::run_cli("simulate --help");
  ASSERT_EQ(sim.code, 0) << sim.err;
  EXPECT_NE(sim.out.find("INT in [20, 1000]"), std::string::npos) << sim.out;    // --width
  EXPECT_NE(sim.out.find("INT in [1, 16384]"), std::string::npos) << sim.out;    // --microbatches
  EXPECT_NE(sim.out.find("NUMBER in [0, 1e+06]"), std::string::npos) << sim.out;  // --comm-latency-ms
  const CliResult opt = adaptis::test::run_cli("optimize --help");
  ASSERT_EQ(opt.code, 0) << opt.err;
  const int max_threads = std::min(256, 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  EXPECT_NE(opt.out.find("INT in [0, " + std::to_string(max_threads) + "]"), std::string::npos) << opt.out;
  EXPECT_NE(opt.out.find("NUMBER in (0, 86400]"), std::string::npos) << opt.out;
  const CliResult run = adaptis::test::run_cli("run --help");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("NUMBER in (0, 1000]"), std::string::npos) << run.out;  // --lr
  EXPECT_NE(run.out.find("fp32 only"), std::string::npos) << run.out;            // --precision
}

TEST_F(CliLimits, PartitionAndPlacementEntriesAreBoundedAndSummedWithoutOverflow) {
  const std::string sim = "simulate --costs " + costs + " --devices 4 ";
  expect_error(sim + "--partition 2147483647,1,1,1", {"--partition", "2147483647", "above the limit of 100000"});
  const CliResult r = adaptis::test::run_cli(sim + "--partition 2147483647,1,1,1");
  EXPECT_EQ(r.err.find("-2147483646"), std::string::npos) << r.err;
  expect_error(sim + "--partition 2147483648,1,1,1", {"--partition", "not an integer"});
  // Entries within the limit whose sum is too large: the sum is reported as it is.
  expect_error(sim + "--partition 100000,100000,100000,100000", {"--partition", "add up to 400000"});
  expect_error(sim + "--placement '0|1|2|2147483647'", {"--placement", "above the limit"});
}

TEST_F(CliLimits, CommLatencyIsOptionalNotASentinel) {
  // 0 is a real override (zero latency) and differs from the cluster's own latency.
  const CliResult zero = adaptis::test::run_cli("simulate --costs " + costs + " --comm-latency-ms 0 --json");
  const CliResult own = adaptis::test::run_cli("simulate --costs " + costs + " --json");
  ASSERT_EQ(zero.code, 0) << zero.err;
  ASSERT_EQ(own.code, 0) << own.err;
  EXPECT_LT(json::parse(zero.out)["iteration_time_ms"].get<double>(),
            json::parse(own.out)["iteration_time_ms"].get<double>());
}

TEST_F(CliLimits, HugeClusterIsRefusedAlikeByEveryCommand) {
  // 1M devices in 16 entries of 65536: a small file that loads in well under a second.
  json cl = {{"name", "huge"}, {"devices", json::array()}};
  for (int n = 0; n < 16; ++n) cl["devices"].push_back({{"type", "H100-SXM"}, {"count", 65536}, {"node", n}});
  const std::string cluster = write("huge-cluster.json", cl.dump());
  for (const std::string cmd : {"simulate", "compare", "optimize -q --time-limit-s 1", "export --plan-json x.json"}) {
    const Timed t = timed(cmd + " --costs " + costs + " --cluster " + cluster);
    EXPECT_EQ(t.r.code, 1) << cmd << "\n" << t.r.err;
    EXPECT_NE(t.r.err.find("--cluster " + cluster + ": 1048576 is above the limit of 4096"), std::string::npos)
        << cmd << "\n" << t.r.err;
    EXPECT_LT(t.seconds, 20 * adaptis::test::kSanitizerSlowdown) << cmd;
  }
}

TEST_F(CliLimits, TooManyLayersOrActionsAreRefusedUpFront) {
  const std::string big = deep_costs(100001);
  // (refused where the file is read: its parser bounds the layer count with the same limit)
  expect_error("simulate --costs " + big, {big, "100001", "100000"});
  expect_error("compare --costs " + big, {big, "100001", "100000"});
  // 64 devices x 16384 micro-batches x 3 actions: far above what one plan may have.
  expect_error("simulate --costs " + deep_costs(64) + " --devices 64 -m 16384", {"--microbatches", "actions"});
  expect_error("compare --costs " + deep_costs(64) + " --devices 64 -m 16384", {"--microbatches", "actions"});
  expect_error("optimize -q --costs " + deep_costs(64) + " --devices 64 -m 16384", {"--microbatches", "actions"});
}

// The budget holds within max(0.5 s, 10%) whatever the input; the extra two seconds here are for starting
// the process and a loaded machine (tests run in parallel on 2 cores), not for the optimizer: without the
// budget these inputs take tens of seconds.
void expect_within_budget(const CliResult& r, double seconds, double budget) {
  EXPECT_TRUE(r.code == 0 || r.code == 3) << r.code << "\n" << r.err;
  EXPECT_LE(seconds, budget + std::max(0.5, 0.1 * budget) + 2.0 * adaptis::test::kSanitizerSlowdown) << r.err;
  const json j = json::parse(r.out);
  EXPECT_FALSE(j["best"]["schedule"].get<std::string>().empty());
  EXPECT_TRUE(j["best"]["ok"].get<bool>()) << j["best"].dump();
  EXPECT_GT(j["comparison"].size(), 1u);
}

TEST_F(CliLimits, OptimizeKeepsItsBudgetOnAHundredThousandLayerCostFile) {
  const std::string big = deep_costs(100000);
  const Timed t = timed("optimize -q --json --costs " + big + " --devices 4 --time-limit-s 2");
  expect_within_budget(t.r, t.seconds, 2.0);
}

TEST_F(CliLimits, OptimizeKeepsItsBudgetOnAHundredThousandLayerModelSpec) {
  json spec = json::parse(adaptis::test::slurp_file(tiny));
  spec["name"] = "deep-tiny";
  spec["layers"] = {{{"kind", "embedding"}}, {{"repeat", 99998}, {"kind", "transformer"}}, {{"kind", "lm_head"}}};
  const std::string model = write("deep-model.json", spec.dump());
  const Timed t = timed("optimize -q --json --model " + model + " --devices 4 --time-limit-s 2");
  expect_within_budget(t.r, t.seconds, 2.0);
}

TEST_F(CliLimits, OptimizeKeepsItsBudgetAtTheMostMicrobatches) {
  const Timed t = timed("optimize -q --json --costs " + costs + " --devices 4 -m 16384 --time-limit-s 2");
  expect_within_budget(t.r, t.seconds, 2.0);
  const json j = json::parse(t.r.out);
  EXPECT_EQ(j["optimizer"]["stopped_by"], "time") << j["optimizer"].dump();
}

TEST_F(CliLimits, RunRefusesWhatTheCpuExecutorCannotHold) {
  // 5000 blocks: too many parameters for the CPU executor, refused before anything is built.
  json spec = json::parse(adaptis::test::slurp_file(tiny));
  spec["name"] = "deep-tiny";
  spec["layers"] = {{{"kind", "embedding"}}, {{"repeat", 5000}, {"kind", "transformer"}}, {{"kind", "lm_head"}}};
  const std::string deep = write("deep-model.json", spec.dump());
  Timed t = timed("run --no-record --model " + deep + " --devices 4 -m 8");
  EXPECT_EQ(t.r.code, 1) << t.r.err;
  EXPECT_NE(t.r.err.find("too large for the CPU executor"), std::string::npos) << t.r.err;
  EXPECT_LT(t.seconds, 10 * adaptis::test::kSanitizerSlowdown);
  // Few parameters but long sequences: the saved activations of every micro-batch would not fit.
  spec = json::parse(adaptis::test::slurp_file(tiny));
  spec["name"] = "long-tiny";
  spec["seq_len"] = 4096;
  spec["micro_batch_size"] = 16;
  const std::string wide = write("long-model.json", spec.dump());
  t = timed("run --no-record --model " + wide + " --devices 4 -m 8");
  EXPECT_EQ(t.r.code, 1) << t.r.err;
  EXPECT_NE(t.r.err.find("--model " + wide), std::string::npos) << t.r.err;
  EXPECT_NE(t.r.err.find("needs up to"), std::string::npos) << t.r.err;
  EXPECT_NE(t.r.err.find("of saved activations"), std::string::npos) << t.r.err;
  EXPECT_LT(t.seconds, 10 * adaptis::test::kSanitizerSlowdown);
  // The profiler builds the same layers: refused too.
  expect_error("profile --model " + wide, {"--model " + wide, "needs up to"});
  expect_error("run --no-record --model " + tiny + " --precision bf16", {"--precision bf16", "fp32 only"});
  expect_error("profile --model " + tiny + " --precision bf16", {"--precision bf16", "fp32 only"});
}

TEST_F(CliLimits, NamesFromInputFilesCannotDriveTheTerminal) {
  const std::string evil = "x\x1b]0;owned\x07\x1b[2J";
  // A plan file whose name is an escape sequence.
  CliResult r = adaptis::test::run_cli("export --costs " + costs + " --devices 4 --plan-json " + at("p.json"));
  ASSERT_EQ(r.code, 0) << r.err;
  json plan = json::parse(adaptis::test::slurp_file(at("p.json")));
  plan["name"] = evil;
  write("evil-plan.json", plan.dump());
  // A cost file whose model and layer names are escape sequences.
  json c = json::parse(adaptis::test::slurp_file(costs));
  c["model"] = evil;
  write("evil-costs.json", c.dump());
  json ac = {{"format", "adaptis-costs/1"}, {"model", evil}, {"layers", json::array()}};
  for (int l = 0; l < 8; ++l) ac["layers"].push_back({{"name", evil + std::to_string(l)}, {"kind", evil}, {"f", 1.0}, {"b", 2.0}});
  write("evil-adaptis-costs.json", ac.dump());
  const std::string commands[] = {
      "simulate --costs " + costs + " --plan " + at("evil-plan.json"),
      "compare --costs " + at("evil-costs.json"),
      "optimize -q --max-evaluations 200 --costs " + at("evil-costs.json"),
      "costs --costs " + at("evil-adaptis-costs.json"),
      "import --megatron-layout 'Et|t|t|tL' --devices 4 --name '" + evil + "' -o " + at("imported.json"),
  };
  for (const std::string& cmd : commands) {
    SCOPED_TRACE(cmd);
    r = adaptis::test::run_cli(cmd);
    EXPECT_TRUE(r.code == 0 || r.code == 3) << r.err;
    EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
    EXPECT_NE((r.out + r.err).find("x\\x1b]0;owned\\x07\\x1b[2J"), std::string::npos) << r.out << r.err;
  }
  // An error quoting a file name.
  const std::string missing = at("missing\x1b[2J.json");
  r = adaptis::test::run_cli("simulate --costs '" + missing + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing\\x1b[2J.json"), std::string::npos) << r.err;
}

}  // namespace
