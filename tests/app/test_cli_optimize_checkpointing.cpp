// End-to-end: `adaptis optimize --lengths` when memory binds. The optimizer checkpoints chosen units per
// stage (reported in text and --json, saved in the plan file, replayed by simulate within the limit), fits
// the long-context sample on 8 devices by checkpointing slices that later slices read, says why when even
// checkpointing cannot fit, and refuses --recompute with --lengths with the reason.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

using adaptis::test::CliResult;
using nlohmann::json;

class CliOptimizeCheckpointing : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string llama = samples + "/models/llama-2-7b.json";
  // Whole sequences up to 32k on 4 devices at 64 GiB: no plan fits unless long units recompute.
  const std::string binding = "--model " + llama +
                              " --devices 4 --lengths uniform:min=2048,max=32768,seed=1 --context 32768 "
                              "--global-batch-tokens 262144 --no-slicing --memory-limit-gib 64 --threads 1 --quiet";

  CliResult run(const std::string& args) const { return adaptis::test::run_cli(args); }
};

TEST_F(CliOptimizeCheckpointing, CheckpointsUnitsWhenNothingFitsWithoutAndSavesTheSelection) {
  const std::string plan = at("plan.json");
  CliResult r = run("optimize " + binding + " --time-limit-s 60 --max-evaluations 200 --json --out " + plan);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j["optimizer"]["feasible"].get<bool>());
  const json& c = j["varlen"]["checkpointing"];
  EXPECT_GT(c["pairs"].get<int>(), 0) << c.dump();
  EXPECT_GT(c["recompute_ms"].get<double>(), 0);
  ASSERT_FALSE(c["stages"].empty());
  EXPECT_NE(c["description"].get<std::string>(), "none");
  int pairs = 0;
  for (const auto& s : c["stages"]) pairs += s["units"].get<int>();
  EXPECT_EQ(pairs, c["pairs"].get<int>());
  // Memory binds: nothing fits without checkpointing, or only slower plans do.
  const double without = c["without_checkpointing_ms"].get<double>();
  if (without > 0) {
    EXPECT_LT(j["best"]["iteration_time_ms"].get<double>(), without);
  }
  // The plan file carries the per-stage policies and simulate replays it within memory, to the same time.
  const json p = json::parse(adaptis::test::slurp_file(plan));
  ASSERT_TRUE(p.contains("memory")) << p.dump().substr(0, 400);
  CliResult replay = run("simulate --model " + llama + " --devices 4 --memory-limit-gib 64 --plan " + plan + " --json");
  ASSERT_EQ(replay.code, 0) << replay.err;
  EXPECT_NEAR(json::parse(replay.out)["iteration_time_ms"].get<double>(), j["best"]["iteration_time_ms"].get<double>(),
              1e-9 * j["best"]["iteration_time_ms"].get<double>());
  // The text report names the checkpointing.
  CliResult text = run("optimize " + binding + " --time-limit-s 60 --max-evaluations 200");
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("checkpointing (per unit; "), std::string::npos) << text.out;
}

// The long-context sample on 8 devices: its 110,010-token row's early slices hold their keys and values
// for the later ones, so only checkpointing those slices too (keeping keys and values, dropping the rest)
// makes a plan fit; the selection includes such slices.
TEST_F(CliOptimizeCheckpointing, LongContextOnEightDevicesFitsByCheckpointingSlicesLaterSlicesRead) {
  CliResult r = run("optimize --model " + llama + " --cluster " + samples +
                    "/clusters/h100x8.json --lengths " + samples +
                    "/data/long-context-128k.json --time-limit-s 8 --threads 1 --quiet --json");
  // A clock budget: the checkpointing search keeps the first layout that fits once the budget runs low
  // (with --max-evaluations it would do all its work, minutes under the sanitizers).
  ASSERT_EQ(r.code, 0) << r.err << r.out.substr(0, 600);
  const json j = json::parse(r.out);
  ASSERT_TRUE(j["optimizer"]["feasible"].get<bool>());
  const json& c = j["varlen"]["checkpointing"];
  ASSERT_GT(c["pairs"].get<int>(), 0) << c.dump().substr(0, 400);
  const json& units = j["varlen"]["units"];
  auto read_later = [&](int u) {
    const json& a = units[static_cast<size_t>(u)];
    if (a.value("row", -1) < 0) return false;
    for (const json& b : units)
      if (b.value("row", -1) == a["row"].get<int>() && b.value("slice", 0) == a["slice"].get<int>() + 1)
        return b.value("offset", 0) > 0;
    return false;
  };
  int read = 0;
  for (const json& st : c["stages"]) {
    if (st["unit_indices"].empty() && st["units"].get<size_t>() == units.size()) {  // every unit
      for (int u = 0; u < static_cast<int>(units.size()); ++u) read += read_later(u);
      continue;
    }
    for (const json& u : st["unit_indices"]) read += read_later(u.get<int>());
  }
  EXPECT_GT(read, 0) << "the selection should checkpoint slices that later slices read";
}

// When not even checkpointing every unit fits, the report says which device and what holds it.
TEST_F(CliOptimizeCheckpointing, WhenNothingFitsItSaysWhatStillHoldsMemory) {
  std::string tight = binding;
  tight.replace(tight.find("--memory-limit-gib 64"), 21, "--memory-limit-gib 34");
  CliResult r = run("optimize " + tight + " --time-limit-s 60 --max-evaluations 200 --json");
  ASSERT_EQ(r.code, 3) << r.err;
  const json j = json::parse(r.out);
  const std::string note = j["varlen"]["memory_note"].get<std::string>();
  EXPECT_NE(note.find("even with per-unit activation checkpointing"), std::string::npos) << note;
  EXPECT_NE(note.find("device "), std::string::npos) << note;
  EXPECT_NE(note.find("weights and optimizer state take"), std::string::npos) << note;
  EXPECT_EQ(j["varlen"]["checkpointing"]["description"], "none");
}

TEST_F(CliOptimizeCheckpointing, RecomputeWithLengthsIsRefusedWithTheReason) {
  CliResult r = run("optimize " + binding + " --recompute full --time-limit-s 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("--lengths"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("per-unit checkpointing"), std::string::npos) << r.err;
}

}  // namespace

namespace {

// A fixed processing (--pack) gets the same search over that one processing: its units are the
// processing's, and per-unit checkpointing is still chosen when memory binds.
TEST_F(CliOptimizeCheckpointing, AFixedPackingStillGetsPerUnitCheckpointing) {
  CliResult r = run("optimize " + binding + " --pack pack --time-limit-s 60 --max-evaluations 200 --json");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j["optimizer"]["feasible"].get<bool>()) << r.out.substr(0, 600);
  ASSERT_EQ(j["varlen"]["trials"].size(), 1u) << "one processing: the one --pack gave";
  EXPECT_NE(j["varlen"]["processing"].get<std::string>().find("pack"), std::string::npos) << j["varlen"]["processing"];
  EXPECT_GT(j["varlen"]["checkpointing"]["pairs"].get<int>(), 0) << j["varlen"]["checkpointing"].dump();
}

}  // namespace
