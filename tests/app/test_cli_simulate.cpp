// End-to-end: `adaptis simulate`, `compare`, `costs`, `schedules` through the real binary. Checks the
// machine-readable output, the peer reproduction, the terminal Gantt, and that every kind of bad
// input exits non-zero with a message naming the file/field/flag and what is wrong.
#include <gtest/gtest.h>

#include "cli_test_support.h"
#include "scratch_dir_test.h"
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using adaptis::test::CliResult;

std::string slurp(const fs::path& p) { return adaptis::test::slurp_file(p.string()); }

class Cli : public adaptis::test::ScratchDirTest {
 protected:
  const std::string peer = std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json";
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";



  CliResult run(const std::string& args) const { return adaptis::test::run_cli(args); }

  // Runs a command that must fail with exit code 1 and an `error:` line containing every fragment.
  void expect_error(const std::string& args, std::initializer_list<std::string> fragments, int code = 1) const {
    CliResult r = run(args);
    EXPECT_EQ(r.code, code) << args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in: " << r.err;
  }
};

TEST_F(Cli, SimulateReproducesTheAuthorsSimulatorAsJson) {
  CliResult r = run("simulate --costs " + peer +
                    " --devices 4 --microbatches 8 --schedule 1f1b --comm-latency-ms 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_NEAR(j["iteration_time_ms"].get<double>(), 1337.2, 1e-6);
  EXPECT_EQ(j["partition"], json::array({14, 14, 14, 14}));
  ASSERT_EQ(j["per_device"].size(), 4u);
  double busy_total = 0;
  for (const auto& d : j["per_device"]) {
    EXPECT_NEAR(d["busy_ms"].get<double>() + d["bubble_ms"].get<double>(), 1337.2, 1e-6);
    EXPECT_NEAR(d["warmup_bubble_ms"].get<double>() + d["inbetween_bubble_ms"].get<double>() +
                    d["cooldown_bubble_ms"].get<double>(),
                d["bubble_ms"].get<double>(), 1e-6);
    EXPECT_TRUE(d.contains("peak_memory_bytes"));
    EXPECT_FALSE(d["oom"].get<bool>());
    busy_total += d["busy_ms"].get<double>();
  }
  EXPECT_NEAR(j["bubble_ratio"].get<double>(), 1.0 - busy_total / (4 * 1337.2), 1e-9);
}

TEST_F(Cli, SimulateTableAndGanttFitTheTerminalWidth) {
  CliResult r = run("simulate --model " + samples + "/models/llama-2-7b.json --devices 4 --microbatches 8 "
                    "--schedule zb-h1 --gantt --width 80");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("iteration"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warm-up"), std::string::npos) << r.out;
  // One Gantt row per device, each with forwards, input-grads and weight-grads, none wider than 80.
  int rows = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("d", 0) == 0 && line.size() > 2 && std::isdigit(static_cast<unsigned char>(line[1]))) {
      ++rows;
      EXPECT_LE(line.size(), 80u) << line;
      EXPECT_NE(line.find('F'), std::string::npos) << line;
      EXPECT_NE(line.find('B'), std::string::npos) << line;
      EXPECT_NE(line.find('W'), std::string::npos) << line;
    }
  }
  EXPECT_EQ(rows, 4) << r.out;
}

TEST_F(Cli, CompareRanksEverySchedule) {
  CliResult r = run("compare --costs " + peer + " --devices 4 --microbatches 8 --comm-latency-ms 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  std::map<std::string, double> t;
  for (const auto& s : j["schedules"])
    if (s["ok"].get<bool>()) t[s["schedule"].get<std::string>()] = s["iteration_time_ms"].get<double>();
  for (const char* name : {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "zb-v", "dualpipev"})
    EXPECT_TRUE(t.count(name)) << name << " missing from compare";
  EXPECT_NEAR(t["1f1b"], 1337.2, 1e-6);
  // The peer profile has no separate W time, so ZB-H1 degenerates to 1F1B, and interleaving helps.
  EXPECT_NEAR(t["zb-h1"], t["1f1b"], 1e-6);
  EXPECT_LT(t["interleaved-1f1b"], t["1f1b"]);
  // The lower bound: below every schedule, here the work bound (871.3 ms, see planner/lower_bound.h).
  EXPECT_EQ(j["lower_bound"]["binding"], "work");
  EXPECT_NEAR(j["lower_bound"]["ms"].get<double>(), 871.3, 1e-6);
  for (const auto& [name, ms] : t) EXPECT_GE(ms, j["lower_bound"]["ms"].get<double>()) << name;

  CliResult table = run("compare --costs " + peer + " --devices 4 --microbatches 8 --comm-latency-ms 0");
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("vs I-1F1B"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("1.000x"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("lower bound: 871.300 ms (work)"), std::string::npos) << table.out;
}

TEST_F(Cli, ModelAndClusterSamplesSimulate) {
  for (const char* model : {"llama-2-7b", "gemma-7b", "deepseek-v2-lite", "nemotron-h-8b"}) {
    CliResult r = run("simulate --model " + samples + "/models/" + model + ".json --cluster " + samples +
                      "/clusters/h100x8.json --microbatches 16 --schedule 1f1b --json");
    // OOM is a valid answer (exit 3) for big models; anything else must succeed.
    ASSERT_TRUE(r.code == 0 || r.code == 3) << model << ": " << r.err;
    json j = json::parse(r.out);
    EXPECT_GT(j["iteration_time_ms"].get<double>(), 0) << model;
    EXPECT_EQ(j["per_device"].size(), 8u) << model;
    EXPECT_GT(j["per_device"][0]["peak_memory_bytes"].get<double>(), 0) << model;
  }
}

TEST_F(Cli, OutOfMemoryPlansExitThree) {
  CliResult r = run("simulate --model " + samples + "/models/llama-2-7b.json --devices 4 --microbatches 64 "
                    "--schedule gpipe");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("OUT OF MEMORY"), std::string::npos) << r.out;
}

TEST_F(Cli, MalformedJsonNamesLineAndColumn) {
  std::string bad = write("bad.json", "{\"layers\": [\n  {\"kind\": \"attention\",}\n]}\n");
  expect_error("simulate --model " + bad + " --devices 2", {"bad.json:2:", "malformed JSON"});
  expect_error("simulate --costs " + bad + " --devices 2", {"bad.json:2:", "malformed JSON"});
}

TEST_F(Cli, UnknownLayerKindNamesTheLayer) {
  std::string text = slurp(samples + "/models/tiny-llama.json");
  auto pos = text.find("\"transformer\"");
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, 13, "\"warp_drive\"");
  std::string bad = write("kind.json", text);
  expect_error("simulate --model " + bad + " --devices 2", {"kind.json", "layers[1]", "unknown layer kind 'warp_drive'"});
}

TEST_F(Cli, PartitionMustCoverTheModel) {
  expect_error("simulate --costs " + peer + " --devices 4 --partition 10,10,10,10",
               {"error: --partition: ", "40 layers", "56"});
  expect_error("simulate --costs " + peer + " --devices 4 --partition 14,14,28",
               {"error: --partition: ", "3 stages", "4 stages"});
  expect_error("simulate --costs " + peer + " --devices 4 --partition 14,x,14,14", {"error: --partition: ", "'x'"});
}

TEST_F(Cli, ScheduleConstraintsAreExplained) {
  expect_error("simulate --costs " + peer + " --devices 4 --microbatches 2 --schedule interleaved-1f1b",
               {"interleaved-1f1b", "micro-batches"});
  expect_error("simulate --costs " + peer + " --devices 4 --schedule warp", {"error: --schedule: ", "warp"});
  expect_error("simulate --costs " + peer + " --devices 0", {"error: --devices: "});
  expect_error("simulate --costs " + peer + " --devices 4 --microbatches -3", {"error: --microbatches: "});
}

TEST_F(Cli, MissingFilesAreNamed) {
  expect_error("simulate --costs " + at("nope.json") + " --devices 4", {"nope.json", "cannot open"});
  expect_error("simulate --model " + at("nope.json") + " --devices 4", {"nope.json"});
  expect_error("simulate --costs " + peer + " --cluster " + at("c.json"), {"c.json"});
}

TEST_F(Cli, DeadlockingCsvIsRejectedWithTheCycle) {
  // Device 1 starts with micro-batch 1 while device 0 waits for micro-batch 0's gradient.
  std::string csv = write("dl.csv", "0F0,0I0,0W0,0F1,0I1,0W1\n1F1,1I1,1W1,1F0,1I0,1W0\n");
  expect_error("import --pytorch-csv " + csv + " --costs " + peer + " --devices 2 -o " + at("x.json"),
               {"dl.csv", "deadlock", "cycle: device 0 -> device 1 -> device 0"});
  EXPECT_FALSE(fs::exists(at("x.json")));
}

TEST_F(Cli, CostsAndSchedulesList) {
  CliResult c = run("costs --costs " + peer + " --json");
  ASSERT_EQ(c.code, 0) << c.err;
  json j = json::parse(c.out);
  ASSERT_TRUE(j.contains("layers")) << c.out.substr(0, 400);
  EXPECT_EQ(j["layers"].size(), 56u);
  CliResult s = run("schedules");
  ASSERT_EQ(s.code, 0) << s.err;
  for (const char* name : {"gpipe", "1f1b", "interleaved-1f1b", "looped-bfs", "zb-h1", "zb-h2", "zb-v", "dualpipev"})
    EXPECT_NE(s.out.find(name), std::string::npos) << name;
}

}  // namespace
