// End-to-end: `adaptis run --plan FILE` runs a variable-length plan whose stages recompute chosen units
// only (per-unit checkpointing, the plan file's memory[].units): the loss and gradient checksums equal the
// same plan without recompute bit for bit, the measured peak of saved activations drops, and a plan whose
// R actions do not match its selection is refused naming the stage and action. `--recompute` with sliced
// --lengths recomputes every unit but a row's earlier slices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

using adaptis::test::CliResult;
using nlohmann::json;

class CliRunUnitCheckpointing : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string llama = samples + "/models/tiny-llama.json";  // seq 32, micro-batch 2
  const std::string corpus = samples + "/data/tiny_corpus.txt";
  // Every run of a test reads one CPU profile: units are packed and sliced by cost, and two profiles of a
  // loaded machine may cut a row at different tokens (then the runs would not train the same units).
  // Set in SetUp: the profile goes to the scratch directory, which exists from there on.
  std::string base;

  void SetUp() override {
    ScratchDirTest::SetUp();
    base = "run --model " + llama + " --costs " + profile() + " --steps 2 --corpus " + corpus + " ";
  }

  std::string profile() const {
    const std::string costs = at("costs.json");
    const CliResult p = adaptis::test::run_cli("profile --backend cpu --model " + llama + " --repeats 1 --out " + costs);
    EXPECT_EQ(p.code, 0) << p.err;
    return costs;
  }

  // Skewed lengths within the model's 32 positions: 170 tokens.
  std::string mix() const { return write("mix.lengths", "5\n12\n3\n30\n1\n7\n7\n7\n2\n20\n11\n9\n32\n4\n4\n16\n"); }

  json run_json(const std::string& args) const {
    CliResult r = adaptis::test::run_cli(base + "--no-record --json " + args);
    EXPECT_EQ(r.code, 0) << args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    if (r.code != 0) return json::object();
    return json::parse(r.out);
  }

  // The units plan a --lengths run built (as the run store keeps it).
  json recorded_plan(const std::string& args) const {
    const std::string db = at("plans.db");
    CliResult r = adaptis::test::run_cli(base + "--db " + db + " " + args);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    CliResult shown = adaptis::test::run_cli("show 1 --json --db " + db);
    EXPECT_EQ(shown.code, 0) << shown.out << shown.err;
    if (shown.code != 0) return json::object();
    return json::parse(shown.out)["plan"];
  }

  static void expect_same_training(const json& got, const json& want) {
    ASSERT_TRUE(got.contains("steps")) << got.dump();
    ASSERT_EQ(got["steps"].size(), want["steps"].size());
    for (size_t s = 0; s < want["steps"].size(); ++s) {
      EXPECT_EQ(got["steps"][s]["loss"].get<double>(), want["steps"][s]["loss"].get<double>()) << "step " << s;
      EXPECT_EQ(got["steps"][s]["grad_checksum"], want["steps"][s]["grad_checksum"]) << "step " << s;
    }
  }
};

// Inserts "R<stage>.<mb>" right before the backward of (stage, mb) in its device's list.
void add_r(json& plan, int stage, int mb) {
  const std::string tail = std::to_string(stage) + "." + std::to_string(mb);
  for (auto& list : plan["schedule"])
    for (size_t i = 0; i < list.size(); ++i)
      if (list[i] == "B" + tail || list[i] == "BW" + tail) {
        list.insert(list.begin() + static_cast<long>(i), "R" + tail);
        return;
      }
  ADD_FAILURE() << "no backward of " << tail << " in " << plan["schedule"].dump();
}

TEST_F(CliRunUnitCheckpointing, APlanFileRecomputingChosenUnitsTrainsBitwiseAndHoldsLess) {
  const std::string sched = "--devices 2 --schedule gpipe --lengths " + mix() + " --pack pack-tokens";
  json plan = recorded_plan(sched);
  ASSERT_TRUE(plan.contains("units")) << plan.dump();
  const size_t n = plan["units"].size();
  ASSERT_GE(n, 4u);
  const std::string plain_file = write("plain.json", plan.dump());
  const json plain = run_json("--plan " + plain_file);
  // GPipe holds every unit's activations after the forwards: recomputing two units (all layers on stage 0,
  // the MLP blocks on stage 1) holds less on both devices.
  plan["memory"] = json::array({{{"stage", 0}, {"recompute", "full"}, {"units", {0, 2}}},
                                {{"stage", 1}, {"recompute", "selective"}, {"units", {1, 2}}}});
  for (int mb : {0, 2}) add_r(plan, 0, mb);
  for (int mb : {1, 2}) add_r(plan, 1, mb);
  const std::string file = write("per-unit.json", plan.dump());
  const json got = run_json("--plan " + file);
  expect_same_training(got, plain);
  ASSERT_TRUE(got.contains("memory")) << got.dump();
  EXPECT_EQ(got["memory"][0]["units"], json({0, 2}));
  ASSERT_EQ(got["peak_saved_bytes"].size(), 2u);
  for (size_t d = 0; d < 2; ++d)
    EXPECT_LT(got["peak_saved_bytes"][d].get<long long>(), plain["peak_saved_bytes"][d].get<long long>()) << "device " << d;
  // The simulator's prediction of the same peaks comes with them, and drops with the recompute too.
  ASSERT_EQ(got["predicted_peak_activation_bytes"].size(), 2u) << got.dump().substr(0, 400);
  for (size_t d = 0; d < 2; ++d) {
    EXPECT_GT(got["predicted_peak_activation_bytes"][d].get<double>(), 0) << "device " << d;
    EXPECT_LT(got["predicted_peak_activation_bytes"][d].get<double>(),
              plain["predicted_peak_activation_bytes"][d].get<double>()) << "device " << d;
  }
  // The text report names the policy and the measured peaks.
  CliResult text = adaptis::test::run_cli(base + "--no-record --plan " + file);
  ASSERT_EQ(text.code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("memory policy "), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("measured peak saved activations"), std::string::npos) << text.out;

  // An R of a unit stage 0 does not recompute: refused naming the action.
  json extra = plan;
  add_r(extra, 0, 1);
  CliResult bad = adaptis::test::run_cli(base + "--no-record --plan " + write("extra-r.json", extra.dump()));
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("'R s0 mb1': R of a unit stage 0 does not recompute"), std::string::npos) << bad.err;
  // A selection past the plan's units.
  json out_of_range = plan;
  out_of_range["memory"][0]["units"] = {0, static_cast<int>(n)};
  bad = adaptis::test::run_cli(base + "--no-record --plan " + write("range.json", out_of_range.dump()));
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("outside the plan's units"), std::string::npos) << bad.err;
}

TEST_F(CliRunUnitCheckpointing, RecomputeOnSlicedLengthsCoversTheEarlierSlicesToo) {
  const std::string common = "--devices 2 --schedule seq1f1b --lengths " + mix() + " --pack slice --slices 2";
  const json plain = run_json(common);
  const json got = run_json("--recompute full " + common);
  expect_same_training(got, plain);
  ASSERT_TRUE(got.contains("memory")) << got.dump();
  // Every stage recomputes every unit, the rows' earlier slices too (they keep their keys and values).
  ASSERT_TRUE(got.contains("varlen")) << got.dump();
  int early = 0;
  for (const json& unit : got["varlen"]["units"]) {
    bool later = false;  // a later slice of its row
    for (const auto& other : got["varlen"]["units"])
      later = later || (unit.value("row", -1) >= 0 && other.value("row", -1) == unit["row"].get<int>() &&
                        other.value("slice", 0) > unit.value("slice", 0));
    early += later;
  }
  ASSERT_GT(early, 0) << "the mix should slice some rows";
  for (const auto& m : got["memory"]) EXPECT_FALSE(m.contains("units") && !m["units"].empty()) << got["memory"].dump();
}

// Offload over units: each (stage, unit) copies half of what its F keeps to host and back; the training is
// the plain run's, and the bytes the executor moved are the ones the simulator priced.
TEST_F(CliRunUnitCheckpointing, OffloadOnSlicedLengthsMovesEachUnitsShare) {
  const std::string common = "--devices 2 --schedule gpipe --lengths " + mix() + " --pack slice --slices 2";
  const json plain = run_json(common);
  const json got = run_json("--offload 0.5 " + common);
  expect_same_training(got, plain);
  ASSERT_TRUE(got.contains("offloaded_bytes")) << got.dump().substr(0, 600);
  ASSERT_EQ(got["offloaded_bytes"].size(), 2u);
  for (size_t d = 0; d < 2; ++d) {
    const double moved = got["offloaded_bytes"][d].get<double>();
    const double priced = got["predicted_offloaded_bytes"][d].get<double>();
    EXPECT_GT(moved, 0) << "device " << d;
    EXPECT_GT(priced, 0) << "device " << d;
    // The profile's activation bytes are the executor's own (measured per row), so the shares agree closely.
    EXPECT_NEAR(moved / priced, 1.0, 0.25) << "device " << d << ": moved " << moved << " priced " << priced;
    // What stays on the device at the peak drops.
    EXPECT_LT(got["peak_saved_bytes"][d].get<double>(), plain["peak_saved_bytes"][d].get<double>()) << "device " << d;
  }
}

}  // namespace
