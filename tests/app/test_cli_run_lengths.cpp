// End-to-end: `adaptis run --lengths FILE|DIST` trains a small model on packed and sliced variable-length units.
// Pipelined runs (1F1B and ZB-H1 on 2 devices) give the loss and gradient checksum of the one-device run
// over the same documents, bit for bit; --json reports every unit with its predicted and measured time;
// what the executor does not run is refused naming the flag.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

using adaptis::test::CliResult;
using nlohmann::json;

class CliRunLengths : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string llama = samples + "/models/tiny-llama.json";  // seq 32, micro-batch 2
  const std::string corpus = samples + "/data/tiny_corpus.txt";

  std::string lengths_file(const std::string& name, const std::string& text) const { return write(name, text); }
  // Skewed lengths of one iteration, all within the model's 32 positions: 170 tokens.
  std::string mix() const { return lengths_file("mix.lengths", "5\n12\n3\n30\n1\n7\n7\n7\n2\n20\n11\n9\n32\n4\n4\n16\n"); }

  json run_json(const std::string& args) const {
    CliResult r = adaptis::test::run_cli("run --model " + llama + " --no-record --profile-repeats 1 --json " + args);
    EXPECT_EQ(r.code, 0) << args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    if (r.code != 0) return json::object();
    return json::parse(r.out);
  }

  void expect_error(const std::string& args, std::initializer_list<std::string> fragments) const {
    CliResult r = adaptis::test::run_cli("run --model " + llama + " --no-record --profile-repeats 1 " + args);
    EXPECT_EQ(r.code, 1) << args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in: " << r.err;
  }
};

TEST_F(CliRunLengths, PipelinedRunsEqualTheOneDeviceRunOverTheSameDocuments) {
  const std::string common = "--steps 2 --corpus " + corpus + " --lengths " + mix() + " --pack pack-tokens";
  const json one = run_json("--devices 1 " + common);
  ASSERT_TRUE(one.contains("units")) << one.dump();
  const json& units = one["units"];
  ASSERT_GE(units.size(), 6u);
  EXPECT_EQ(one["microbatches"].get<size_t>(), units.size());
  long long tokens = 0;
  double weight = 0;
  bool several_docs = false;
  for (const auto& u : units) {
    tokens += u["tokens"].get<long long>();
    weight += u["loss_weight"].get<double>();
    several_docs = several_docs || u["docs"].size() > 1;
    EXPECT_LE(u["tokens"].get<long long>(), 32) << u.dump();
    EXPECT_GT(u["predicted_ms"].get<double>(), 0) << u.dump();
    EXPECT_GT(u["measured_ms"].get<double>(), 0) << u.dump();
  }
  EXPECT_EQ(tokens, 170);
  EXPECT_NEAR(weight, 1.0, 1e-12);
  EXPECT_TRUE(several_docs) << "the mix should pack several documents into some unit";
  EXPECT_EQ(one["loss_definition"], "sum of token losses / tokens of the iteration");
  EXPECT_TRUE(one.contains("varlen"));
  ASSERT_TRUE(std::isfinite(one["loss"].get<double>()));

  for (const std::string schedule : {"1f1b", "zb-h1"}) {
    SCOPED_TRACE(schedule);
    const json two = run_json("--devices 2 --schedule " + schedule + " " + common);
    ASSERT_TRUE(two.contains("steps")) << two.dump();
    EXPECT_EQ(two["devices"], 2);
    EXPECT_EQ(two["units"].size(), units.size());
    ASSERT_EQ(two["steps"].size(), one["steps"].size());
    for (size_t s = 0; s < one["steps"].size(); ++s) {
      EXPECT_EQ(two["steps"][s]["loss"].get<double>(), one["steps"][s]["loss"].get<double>()) << "step " << s;
      EXPECT_EQ(two["steps"][s]["grad_checksum"], one["steps"][s]["grad_checksum"]) << "step " << s;
      EXPECT_EQ(two["steps"][s]["microbatch_losses"], one["steps"][s]["microbatch_losses"]) << "step " << s;
    }
  }

  // Other documents, another loss: the run really trains on the lengths given.
  const json other = run_json("--devices 1 --steps 2 --corpus " + corpus + " --lengths " +
                              lengths_file("other.lengths", "32\n32\n32\n32\n32\n10\n") + " --pack pack-tokens");
  ASSERT_TRUE(other.contains("loss"));
  EXPECT_NE(other["loss"].get<double>(), one["loss"].get<double>());
}

// Rows cut into slices (Seq1F1B's equal-cost split): the pipelined run equals the one-device run over the
// same slices bitwise (both group the gradient sums alike). Both runs read one profile: the split follows
// the costs, and two profiles of a loaded machine may cut a row at different tokens.
TEST_F(CliRunLengths, SlicedRowsRunPipelinedAsOnOneDevice) {
  const std::string costs = at("costs.json");
  const CliResult p = adaptis::test::run_cli("profile --backend cpu --model " + llama + " --repeats 1 --out " + costs);
  ASSERT_EQ(p.code, 0) << p.err;
  const std::string common =
      "--steps 2 --costs " + costs + " --corpus " + corpus + " --lengths " + mix() + " --pack slice --slices 2";
  const json one = run_json("--devices 1 " + common);
  ASSERT_TRUE(one.contains("units")) << one.dump();
  ASSERT_TRUE(one.contains("varlen")) << one.dump();
  int continuing = 0;
  for (const auto& u : one["varlen"]["units"]) continuing += u.value("offset", 0) > 0 ? 1 : 0;
  EXPECT_GT(continuing, 0) << "some slice should continue a document: " << one["varlen"]["units"].dump();
  const json two = run_json("--devices 2 --schedule seq1f1b " + common);
  ASSERT_TRUE(two.contains("steps")) << two.dump();
  EXPECT_EQ(two["units"].size(), one["units"].size());
  for (size_t s = 0; s < one["steps"].size(); ++s) {
    EXPECT_EQ(two["steps"][s]["loss"].get<double>(), one["steps"][s]["loss"].get<double>()) << "step " << s;
    EXPECT_EQ(two["steps"][s]["grad_checksum"], one["steps"][s]["grad_checksum"]) << "step " << s;
  }
  // Slicing changes how the gradient sums group, never which tokens are trained: the first step's loss is
  // the packed run's to double rounding.
  const json packed = run_json("--devices 1 --steps 1 --corpus " + corpus + " --lengths " + mix() + " --pack slice --slices 1");
  ASSERT_TRUE(packed.contains("loss"));
  EXPECT_NEAR(one["steps"][0]["loss"].get<double>(), packed["loss"].get<double>(), 1e-9);
}

TEST_F(CliRunLengths, DistributionAndTextReport) {
  CliResult r = adaptis::test::run_cli("run --model " + llama +
                                       " --no-record --profile-repeats 1 --devices 2 --steps 1 --lengths "
                                       "lognormal:median=10,sigma=0.7,seed=5 --global-batch-tokens 200");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("units (loss: sum of token losses / "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("predicted ms  measured ms"), std::string::npos) << r.out;
}

// A recorded run keeps its units: `show` compares each unit's predicted and measured compute.
TEST_F(CliRunLengths, RecordedRunShowsEveryUnit) {
  const std::string db = at("runs.db");
  CliResult r = adaptis::test::run_cli("run --model " + llama + " --profile-repeats 1 --devices 2 --steps 2 --db " + db +
                                       " --lengths " + mix());
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  CliResult shown = adaptis::test::run_cli("show 1 --json --db " + db);
  ASSERT_EQ(shown.code, 0) << shown.out << shown.err;
  const json j = json::parse(shown.out);
  const size_t units = j["plan"]["units"].size();
  ASSERT_GE(units, 6u);
  const json& mbs = j["comparison"]["microbatches"];
  ASSERT_EQ(mbs.size(), units);
  for (const auto& m : mbs) {
    EXPECT_GT(m["predicted_ms"].get<double>(), 0) << m.dump();
    EXPECT_GT(m["measured_ms"].get<double>(), 0) << m.dump();
  }
  CliResult text = adaptis::test::run_cli("show 1 --db " + db);
  EXPECT_NE(text.out.find(std::to_string(units) + " variable-length units"), std::string::npos) << text.out;
}

TEST_F(CliRunLengths, WhatTheExecutorDoesNotRunIsRefusedNamingTheFlag) {
  const std::string lengths = "--lengths " + mix();
  expect_error(lengths + " --backend cuda", {"--lengths: the cuda backend does not run variable-length units"});
  expect_error(lengths + " --data-parallel 2", {"--lengths: --data-parallel / --tensor-parallel / --zero1"});
  expect_error(lengths + " --tensor-parallel 2", {"--lengths: --data-parallel / --tensor-parallel / --zero1"});
  expect_error(lengths + " --context 64", {"--context 64: longer than the model's seq = 32"});
  expect_error(lengths + " --unit-tokens 100", {"--unit-tokens 100: more than the model's micro_batch * seq = 64"});
  expect_error(lengths + " --pack pad", {"--pack pad: run executes packed and sliced units, not padded ones"});
  // A document longer than the model's 32 positions: slices of it still need positions past 32.
  expect_error("--lengths " + lengths_file("long.lengths", "10\n40\n"),
               {"--lengths: units[", "a document of 40 tokens is longer than the model's seq = 32 positions"});
  // Slices on a model with Mamba layers: refused naming the layer (when the units are made, before the plan).
  const CliResult mamba = adaptis::test::run_cli("run --no-record --profile-repeats 1 --model " + samples +
                                                 "/models/tiny-nemotron-h.json --lengths " + mix() +
                                                 " --pack slice --slices 2");
  EXPECT_EQ(mamba.code, 1) << mamba.out << mamba.err;
  EXPECT_NE(mamba.err.find("--pack slice, 2 slices/row: it makes slices: unit 0"), std::string::npos) << mamba.err;
  EXPECT_NE(mamba.err.find("is a slice, but layer 1 ('layers.0', kind 'mamba') holds a Mamba layer"), std::string::npos)
      << mamba.err;
  expect_error("--lengths " + lengths_file("long2.lengths", "10\n40\n") + " --no-slicing",
               {"long2.lengths line 2: a sequence of 40 tokens is longer than the context of 32"});
  expect_error("--lengths " + lengths_file("empty.lengths", ""), {"empty.lengths"});
  expect_error("--lengths " + lengths_file("zero.lengths", "5\n0\n"), {"zero.lengths"});
  expect_error(lengths + " --corpus " + lengths_file("short.txt", "abcdef"),
               {"--corpus", "short.txt", "needs a corpus of at least"});
}

}  // namespace
