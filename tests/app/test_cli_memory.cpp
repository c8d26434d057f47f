// End-to-end: --recompute / --offload / --memory-limit-gib / --memory-model on simulate, compare,
// optimize and export through the real binary: the JSON carries the memory split, host copies and
// per-stage policies, the text report shows them, plan files keep per-stage policies, and bad input
// (unknown policy, fraction outside [0, 1], a policy on a missing stage, offload without a host link,
// negative bytes) exits 1 with the flag or field named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_test_support.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using adaptis::test::run_cli;

class CliMemory : public ::testing::Test {
 protected:
  fs::path dir;
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string llama = samples + "/models/llama-2-7b.json";

  void SetUp() override {
    dir = fs::temp_directory_path() / ("adaptis-cli-mem-" + std::to_string(::getpid()) + "-" +
                                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string at(const std::string& name) const { return (dir / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(at(name)) << text;
    return at(name);
  }
};

void expect_has(const std::string& text, std::initializer_list<std::string> parts) {
  for (const auto& p : parts) EXPECT_NE(text.find(p), std::string::npos) << "missing '" << p << "' in:\n" << text;
}

}  // namespace

TEST_F(CliMemory, SimulateWithRecomputeReportsTheSplitAndFitsTheCap) {
  // LLaMA-2 7B on 8 H100s capped at 24 GiB: plain 1F1B does not fit, full recompute does.
  auto plain = run_cli("simulate --model " + llama + " --devices 8 -m 16 --memory-limit-gib 24 --json");
  ASSERT_EQ(plain.code, 3) << plain.out << plain.err;  // out of memory
  auto full = run_cli("simulate --model " + llama + " --devices 8 -m 16 --memory-limit-gib 24 --recompute full --json");
  ASSERT_EQ(full.code, 0) << full.err;
  json j = json::parse(full.out);
  EXPECT_FALSE(j["oom"].get<bool>());
  ASSERT_EQ(j["memory_policies"].size(), 8u);
  EXPECT_EQ(j["memory_policies"][0]["recompute"], "full");
  const json& d0 = j["per_device"][0];
  EXPECT_GT(d0["recompute_ms"].get<double>(), 0);
  EXPECT_GT(d0["recomputed_bytes"].get<double>(), 0);
  EXPECT_NEAR(d0["peak_kept_bytes"].get<double>() + d0["peak_recomputed_bytes"].get<double>(),
              d0["peak_activation_bytes"].get<double>(), 1.0);
  EXPECT_LT(d0["peak_memory_bytes"].get<double>(), 24.0 * (1ull << 30));
  EXPECT_GT(j["iteration_time_ms"].get<double>(), json::parse(plain.out)["iteration_time_ms"].get<double>());
  // auto: the weakest uniform policy that fits, said in the output.
  auto automatic = run_cli("simulate --model " + llama + " --devices 8 -m 16 --memory-limit-gib 24 --recompute auto");
  ASSERT_EQ(automatic.code, 0) << automatic.err;
  expect_has(automatic.out, {"memory policy (auto):", "the weakest that fits", "R ms", "copy ms", "kept", "recomputed",
                             "on host"});
  // Offload with a host link: copies appear in the JSON.
  auto off = run_cli("simulate --model " + llama + " --devices 8 -m 16 --recompute full --offload 1 --json");
  ASSERT_EQ(off.code, 0) << off.err;
  json jo = json::parse(off.out);
  ASSERT_FALSE(jo["host_transfers"].empty());
  EXPECT_EQ(jo["host_transfers"][0]["direction"], "to_host");
  EXPECT_GT(jo["per_device"][0]["host_copy_ms"].get<double>(), 0);
}

TEST_F(CliMemory, CompareRunsEveryBuiltinWithEveryUniformPolicy) {
  auto r = run_cli("compare --model " + llama + " --devices 8 -m 16 --memory-limit-gib 24 --recompute auto --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  int none = 0, sel = 0, full = 0, fits = 0;
  for (const auto& row : j["schedules"]) {
    const std::string rc = row["recompute"];
    none += rc == "none", sel += rc == "selective", full += rc == "full";
    if (row["ok"].get<bool>() && !row["oom"].get<bool>()) ++fits;
  }
  EXPECT_GT(none, 5);
  EXPECT_EQ(none, sel);
  EXPECT_EQ(none, full);
  EXPECT_GT(fits, 0);
  auto text = run_cli("compare --model " + llama + " --devices 8 -m 16 --recompute full");
  ASSERT_EQ(text.code, 0) << text.err;
  expect_has(text.out, {"1f1b + full", "zb-h1 + full"});
}

TEST_F(CliMemory, OptimizeChoosesPoliciesAndThePlanFileKeepsThem) {
  const std::string plan = at("opt.json");
  auto r = run_cli("optimize --model " + llama + " --devices 4 -m 8 --memory-limit-gib 40 --recompute auto --offload auto "
                   "--max-evaluations 1500 --time-limit-s 60 --threads 2 -q --json --out " + plan);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  EXPECT_TRUE(j["optimizer"]["feasible"].get<bool>());
  EXPECT_EQ(j["optimizer"]["recompute"], "auto");
  EXPECT_FALSE(j["best"]["oom"].get<bool>());
  const json saved = json::parse(adaptis::test::slurp_file(plan));
  // Replaying the saved plan gives the same time: its per-stage policies and R actions came along.
  auto again = run_cli("simulate --model " + llama + " --devices 4 --memory-limit-gib 40 --plan " + plan + " --json");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NEAR(json::parse(again.out)["iteration_time_ms"].get<double>(), j["best"]["iteration_time_ms"].get<double>(),
              1e-6);
  if (saved.contains("memory")) {
    // A plan file with policies refuses a second, uniform one from the flags.
    auto both = run_cli("simulate --model " + llama + " --devices 4 --plan " + plan + " --recompute full");
    EXPECT_EQ(both.code, 1);
    expect_has(both.err, {"--recompute", "per-stage memory policies"});
  }
}

TEST_F(CliMemory, ExportsCarryTheRecomputeSettings) {
  const std::string trace = at("t.json"), csv = at("s.csv");
  auto r = run_cli("export --model " + llama + " --devices 4 -m 8 --recompute full --offload 0.5 --megatron --chrome-trace " +
                   trace + " --pytorch-csv " + csv);
  ASSERT_EQ(r.code, 0) << r.err;
  expect_has(r.out, {"--recompute-granularity full", "--recompute-method block", "--recompute-num-layers",
                     "activation offload"});
  expect_has(r.err, {"note: the PyTorch schedule CSV has no recompute (R)"});
  const std::string t = adaptis::test::slurp_file(trace);
  expect_has(t, {"host link -> host", "\"R s0 mb0\"", "on host MiB"});
  EXPECT_EQ(adaptis::test::slurp_file(csv).find("R"), std::string::npos);
}

TEST_F(CliMemory, PeerProfilesGetMemoryFromTheirSpecs) {
  const std::string peer = std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/gpt-13B.json";
  auto r = run_cli("simulate --costs " + peer + " --memory-model " + samples + "/models/peer/gpt-13B.json --devices 4 -m 8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GT(j["per_device"][0]["peak_activation_bytes"].get<double>(), 1e9);
  auto bad = run_cli("simulate --costs " + peer + " --memory-model " + llama + " --devices 4 -m 8");
  EXPECT_EQ(bad.code, 1);
  expect_has(bad.err, {"attach memory", "gpt-13B", "llama-2-7b"});
}

TEST_F(CliMemory, BadInputIsNamed) {
  auto unknown = run_cli("simulate --model " + llama + " --devices 4 --recompute partial");
  EXPECT_EQ(unknown.code, 1);
  expect_has(unknown.err, {"--recompute", "unknown recompute policy 'partial'", "none, selective or full"});
  for (const char* frac : {"1.5", "-0.2", "half"}) {
    auto r = run_cli("simulate --model " + llama + " --devices 4 --offload " + std::string(frac));
    EXPECT_EQ(r.code, 1) << frac;
    expect_has(r.err, {"--offload", "[0, 1]"});
  }
  auto opt = run_cli("optimize --model " + llama + " --devices 4 --offload 2 -q");
  EXPECT_EQ(opt.code, 1);
  expect_has(opt.err, {"--offload"});
  // A plan file with a policy on a stage that does not exist.
  auto made = run_cli("export --model " + llama + " --devices 4 -m 4 --plan-json " + at("p.json"));
  ASSERT_EQ(made.code, 0) << made.err;
  json p = json::parse(adaptis::test::slurp_file(at("p.json")));
  p["memory"] = json::parse(R"([{"stage": 9, "recompute": "full"}])");
  std::ofstream(at("bad-stage.json")) << p.dump();
  auto bad_stage = run_cli("simulate --model " + llama + " --plan " + at("bad-stage.json"));
  EXPECT_EQ(bad_stage.code, 1);
  expect_has(bad_stage.err, {"bad-stage.json", "memory[0]", "'stage'", "9", "does not exist"});
  // An R without a recompute policy.
  json q = json::parse(adaptis::test::slurp_file(at("p.json")));
  q["schedule"][0].insert(q["schedule"][0].begin() + 1, "R0.0");
  std::ofstream(at("bad-r.json")) << q.dump();
  auto bad_r = run_cli("simulate --model " + llama + " --plan " + at("bad-r.json"));
  EXPECT_EQ(bad_r.code, 1);
  expect_has(bad_r.err, {"bad-r.json", "R without a recompute policy"});
  // Offload on a cluster without host links.
  const std::string cl = write("nohost.json", R"({"name": "no-host", "host_link": "none",
    "devices": [{"type": "H100-SXM", "count": 4}]})");
  auto nohost = run_cli("simulate --model " + llama + " --cluster " + cl + " --offload 0.5");
  EXPECT_EQ(nohost.code, 1);
  expect_has(nohost.err, {"no host link", "host_link", "no-host"});
  // Negative bytes in a cost file.
  const std::string costs = write("neg.json", R"({"model": "x", "layers": [{"name": "a", "f": 1, "b": 1, "act_b_bytes": -3},
    {"name": "b", "f": 1, "b": 1}]})");
  auto neg = run_cli("simulate --costs " + costs + " --devices 2");
  EXPECT_EQ(neg.code, 1);
  expect_has(neg.err, {"neg.json", "layers[0]", "act_b_bytes", "must be in [0,", "got -3"});
  auto cap = run_cli("simulate --model " + llama + " --devices 4 --memory-limit-gib -3");
  EXPECT_EQ(cap.code, 1);
  expect_has(cap.err, {"--memory-limit-gib"});
}
