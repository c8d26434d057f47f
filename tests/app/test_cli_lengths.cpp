// End-to-end: variable-length data through the real binary. `adaptis lengths` (histogram and the
// units each processing makes), `--lengths FILE|DIST` on simulate / compare / optimize / export, and
// bad length inputs exiting 1 with the file, line or flag at fault.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

using adaptis::test::CliResult;
using nlohmann::json;

class CliLengths : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string mix = samples + "/data/pretrain-mix.lengths";
  const std::string llama = samples + "/models/llama-2-7b.json";

  CliResult run(const std::string& args) const { return adaptis::test::run_cli(args); }

  void expect_error(const std::string& args, std::initializer_list<std::string> fragments) const {
    CliResult r = run(args);
    EXPECT_EQ(r.code, 1) << args << "\nstdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    for (const auto& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "missing '" << f << "' in: " << r.err;
  }
};

// Sums the content tokens of a units_json array.
long long unit_tokens(const json& units) {
  long long t = 0;
  for (const auto& u : units) t += u["tokens"].get<long long>();
  return t;
}

TEST_F(CliLengths, LengthsShowsHistogramAndUnitsThatCoverEveryToken) {
  CliResult r = run("lengths " + mix + " --model " + llama + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  const long long tokens = j["histogram"]["tokens"].get<long long>();
  long long seqs = 0, bin_tokens = 0;
  for (const auto& b : j["histogram"]["bins"]) seqs += b["sequences"].get<long long>(), bin_tokens += b["tokens"].get<long long>();
  EXPECT_EQ(seqs, j["histogram"]["sequences"].get<long long>());
  EXPECT_EQ(bin_tokens, tokens);
  // The chosen processing's units hold every token exactly once (slices included).
  EXPECT_EQ(unit_tokens(j["units"]), tokens);
  // Every mode is listed; padding runs more tokens than the data has, packing does not.
  ASSERT_EQ(j["modes"].size(), 5u);
  bool saw_pad = false;
  for (const auto& m : j["modes"]) {
    ASSERT_FALSE(m.contains("error")) << m.dump();
    if (m["processing"].get<std::string>().rfind("pad", 0) == 0) {
      saw_pad = true;
      EXPECT_GT(m["run_tokens"].get<long long>(), tokens);
    }
  }
  EXPECT_TRUE(saw_pad);
  // The text form names the data and shows the histogram.
  CliResult t = run("lengths " + mix + " --model " + llama);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("sequences"), std::string::npos);
  EXPECT_NE(t.out.find("s^2/2"), std::string::npos);
}

TEST_F(CliLengths, SimulateWithLengthsRunsOneMicroBatchPerUnit) {
  CliResult r = run("simulate --model " + llama + " --devices 8 --schedule 1f1b --lengths " + mix + " --unit-tokens 4096 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_TRUE(j.contains("varlen")) << r.out;
  const json& v = j["varlen"];
  EXPECT_EQ(unit_tokens(v["units"]), v["tokens"].get<long long>());
  const double ms = j["iteration_time_ms"].get<double>();
  EXPECT_NEAR(v["tokens_per_s"].get<double>(), v["tokens"].get<double>() / (ms * 1e-3), 1e-6 * v["tokens_per_s"].get<double>());
  // Per-unit simulated work grows with the unit's cost model: the costliest unit has the most work.
  size_t costliest = 0, busiest = 0;
  for (size_t i = 0; i < v["units"].size(); ++i) {
    if (v["units"][i]["cost_ms"].get<double>() > v["units"][costliest]["cost_ms"].get<double>()) costliest = i;
    if (v["units"][i]["simulated_work_ms"].get<double>() > v["units"][busiest]["simulated_work_ms"].get<double>()) busiest = i;
  }
  EXPECT_EQ(costliest, busiest);
  // The same tokens as identical micro-batches take a different time: the units' costs are used.
  CliResult fixed = run("simulate --model " + llama + " --devices 8 --schedule 1f1b -m " +
                        std::to_string(v["units"].size()) + " --json");
  ASSERT_EQ(fixed.code, 0) << fixed.err;
  EXPECT_NE(json::parse(fixed.out)["iteration_time_ms"].get<double>(), ms);
}

TEST_F(CliLengths, CompareAddsSequenceSchedulesAndTokensPerSecond) {
  CliResult r = run("compare --model " + llama + " --devices 4 --lengths " + mix + " --pack slice --slices 2 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  bool seq1f1b = false, terapipe = false;
  for (const auto& s : j["schedules"]) {
    const std::string name = s["schedule"].get<std::string>();
    seq1f1b = seq1f1b || name == "seq1f1b";
    terapipe = terapipe || name == "terapipe";
    if (s.contains("tokens_per_s")) {
      EXPECT_NEAR(s["tokens_per_s"].get<double>(),
                  j["varlen"]["tokens"].get<double>() / (s["iteration_time_ms"].get<double>() * 1e-3),
                  1e-6 * s["tokens_per_s"].get<double>());
    }
  }
  EXPECT_TRUE(seq1f1b) << r.out.substr(0, 2000);
  EXPECT_TRUE(terapipe);
  // Sliced: some unit is a slice of a row.
  bool sliced = false;
  for (const auto& u : j["varlen"]["units"]) sliced = sliced || u.contains("row");
  EXPECT_TRUE(sliced);
}

TEST_F(CliLengths, OptimizeSearchesTheProcessingAndSavesUnitsInThePlan) {
  const std::string plan = at("plan.json"), side = at("units.json");
  CliResult r = run("optimize --model " + llama + " --devices 4 --lengths " + mix +
                    " --time-limit-s 2 --threads 1 --quiet --json --out " + plan + " --units-out " + side);
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  ASSERT_TRUE(j["varlen"].contains("trials"));
  EXPECT_GT(j["varlen"]["trials"].size(), 1u);
  const long long tokens = j["varlen"]["tokens"].get<long long>();
  EXPECT_EQ(unit_tokens(j["varlen"]["units"]), tokens);
  // The search's lowest bound is a bound on the plan, and its work is counted.
  const json& search = j["varlen"]["search"];
  EXPECT_GT(search["lower_bound_ms"].get<double>(), 0);
  EXPECT_LE(search["lower_bound_ms"].get<double>(), j["best"]["iteration_time_ms"].get<double>() * (1 + 1e-9));
  EXPECT_GT(search["evaluations"].get<long long>(), 0);
  EXPECT_FALSE(search["ended_at_lower_bound"].get<bool>() && !search["reached_lower_bound"].get<bool>());
  // The saved plan carries its units and replays to the same time.
  json p = json::parse(adaptis::test::slurp_file(plan));
  ASSERT_TRUE(p.contains("units"));
  EXPECT_EQ(p["units"].size(), static_cast<size_t>(p["microbatches"].get<int>()));
  CliResult replay = run("simulate --model " + llama + " --devices 4 --plan " + plan + " --json");
  ASSERT_EQ(replay.code, 0) << replay.err;
  EXPECT_NEAR(json::parse(replay.out)["iteration_time_ms"].get<double>(), j["best"]["iteration_time_ms"].get<double>(),
              1e-9 * j["best"]["iteration_time_ms"].get<double>());
  // The side file: cu_seqlens per unit, ending at the unit's tokens.
  json s = json::parse(adaptis::test::slurp_file(side));
  EXPECT_EQ(s["format"], "adaptis-units/1");
  long long sum = 0;
  for (const auto& u : s["units"]) {
    EXPECT_EQ(u["cu_seqlens"].back().get<long long>(), u["tokens"].get<long long>());
    sum += u["tokens"].get<long long>();
  }
  EXPECT_EQ(sum, tokens);
}

// On one device a plan of the processing with the least work is at its lower bound, the lowest of all: the
// search ends there, and both outputs say so.
TEST_F(CliLengths, OptimizeEndsAtTheLowerBoundAndSaysSo) {
  const std::string tiny = samples + "/models/tiny-llama.json";
  const std::string args = "optimize --model " + tiny + " --devices 1 --lengths " + mix + " --time-limit-s 30 --threads 2";
  CliResult r = run(args + " --quiet --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);
  const json& search = j["varlen"]["search"];
  EXPECT_TRUE(search["reached_lower_bound"].get<bool>()) << search.dump();
  EXPECT_TRUE(search["ended_at_lower_bound"].get<bool>()) << search.dump();
  EXPECT_NEAR(j["best"]["iteration_time_ms"].get<double>(), search["lower_bound_ms"].get<double>(),
              1e-9 * search["lower_bound_ms"].get<double>());
  for (const auto& t : j["varlen"]["trials"]) EXPECT_FALSE(t.contains("final_ms")) << t.dump();  // no full search
  CliResult text = run(args);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("at the lower bound of every candidate processing"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("the search ended there"), std::string::npos) << text.out;
}

TEST_F(CliLengths, BadLengthInputsNameTheFileLineOrFlag) {
  const std::string empty = write("empty.lengths", "# nothing\n");
  expect_error("lengths " + empty + " --model " + llama, {empty, "empty"});
  const std::string zero = write("zero.lengths", "100\n0\n");
  expect_error("simulate --model " + llama + " --devices 2 --lengths " + zero, {zero + " line 2", ">= 1"});
  const std::string neg = write("neg.lengths", "100\n-3\n");
  expect_error("lengths " + neg + " --model " + llama, {neg + " line 2", "-3"});
  const std::string longer = write("long.lengths", "100\n5000\n");
  expect_error("lengths " + longer + " --model " + llama + " --context 4096 --no-slicing",
               {longer + " line 2", "longer than the context", "slicing is off"});
  expect_error("lengths long-tail --model " + llama + " --context -5 --global-batch-tokens 100000", {"--context"});
  expect_error("lengths long-tail --model " + llama + " --context 8192", {"--global-batch-tokens"});
  // Not a known distribution: taken as a file, which does not exist.
  expect_error("lengths zipf:seed=1 --model " + llama + " --context 8192 --global-batch-tokens 100000", {"zipf:seed=1"});
  expect_error("simulate --model " + llama + " --devices 2 --lengths " + mix + " --pack fancy", {"packing mode 'fancy'"});
  const std::string bad_hist = write("bad.json", R"({"format": "adaptis-lengths/1", "context": 1000,
    "global_batch_tokens": 5000, "bins": [{"min": 10, "max": 20, "weight": 1, "colour": 2}]})");
  expect_error("lengths " + bad_hist + " --model " + llama, {bad_hist, "bins[0]", "colour"});
}

}  // namespace

namespace {

double total_recompute_ms(const json& sim) {
  double t = 0;
  for (const auto& d : sim["per_device"]) t += d["recompute_ms"].get<double>();
  return t;
}

}  // namespace

// Per-unit checkpointing through the binary: --recompute over sliced units recomputes every unit (the
// early slices keeping their keys and values), the plan file keeps a stage's own selection, simulate
// replays it, and a bad selection exits 1 naming the file and field.
TEST_F(CliLengths, PlanFilesCarryPerUnitCheckpointing) {
  const std::string plan = at("plan.json");
  const std::string common = "--model " + llama + " --devices 4 --lengths " + mix + " --pack slice --slices 2";
  CliResult ex = run("export " + common + " --schedule 1f1b --recompute full --plan-json " + plan);
  ASSERT_EQ(ex.code, 0) << ex.err;
  json p = json::parse(adaptis::test::slurp_file(plan));
  ASSERT_TRUE(p.contains("memory")) << p.dump().substr(0, 400);
  const size_t U = p["units"].size();
  std::vector<int> early;  // slices a later slice of their row reads
  for (size_t u = 0; u < U; ++u)
    if (p["units"][u].contains("row") && p["units"][u].value("slice", 0) == 0) early.push_back(static_cast<int>(u));
  ASSERT_FALSE(early.empty()) << "slicing by 2 gives rows with a first slice";
  EXPECT_FALSE(p["memory"][0].contains("units")) << "every unit: " << p["memory"][0].dump();
  int whole = -1;  // a unit that is not an early slice
  for (size_t u = 0; u < U && whole < 0; ++u)
    if (std::find(early.begin(), early.end(), static_cast<int>(u)) == early.end()) whole = static_cast<int>(u);
  ASSERT_GE(whole, 0);
  const json sel = whole < early[0] ? json::array({whole, early[0]}) : json::array({early[0], whole});

  CliResult all = run("simulate --model " + llama + " --devices 4 --plan " + plan + " --json");
  ASSERT_EQ(all.code, 0) << all.err;
  // Stage 0 keeps only two units' recompute (an early slice among them); the rest of its units keep everything.
  json narrow = p;
  narrow["memory"][0]["units"] = json::array({sel[0], sel[1]});
  json sched = json::array();
  for (const auto& list : p["schedule"]) {
    json row = json::array();
    for (const auto& a : list) {
      const std::string s = a.get<std::string>();
      // R actions of stage 0 for units it no longer recomputes go away ("R0.7": op, stage, micro-batch).
      if (s.rfind("R0.", 0) == 0) {
        const int mb = std::stoi(s.substr(3));
        if (mb != sel[0].get<int>() && mb != sel[1].get<int>()) continue;
      }
      row.push_back(a);
    }
    sched.push_back(row);
  }
  narrow["schedule"] = sched;
  write("plan.json", narrow.dump());
  CliResult two = run("simulate --model " + llama + " --devices 4 --plan " + plan + " --json");
  ASSERT_EQ(two.code, 0) << two.err;
  const json a = json::parse(all.out), b = json::parse(two.out);
  EXPECT_LT(total_recompute_ms(b), total_recompute_ms(a));
  EXPECT_GT(b["per_device"][0]["recompute_ms"].get<double>(), 0.0);
  EXPECT_GT(b["per_device"][0]["peak_activation_bytes"].get<double>(),
            a["per_device"][0]["peak_activation_bytes"].get<double>());

  narrow["memory"][0]["units"] = json::array({sel[1], sel[0]});
  write("plan.json", narrow.dump());
  CliResult bad = run("simulate --model " + llama + " --devices 4 --plan " + plan + " --json");
  EXPECT_EQ(bad.code, 1) << bad.out;
  EXPECT_NE(bad.err.find("memory: stage 0: field 'units' must list unit indices in ascending order"), std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("plan.json"), std::string::npos) << bad.err;
}

namespace {

// --no-slicing forbids what slice and elastic processing do: choosing one of them with it is refused by
// flag, while a command whose default is elastic (lengths) packs whole sequences instead.
TEST_F(CliLengths, SlicingModesWithNoSlicingAreRefused) {
  for (const char* mode : {"slice", "elastic"})
    expect_error("simulate --model " + llama + " --devices 4 --lengths " + mix + " --pack " + mode + " --no-slicing",
                 {std::string("--pack ") + mode + ": cuts sequences into slices, which --no-slicing forbids"});
  CliResult r = run("lengths " + mix + " --model " + llama + " --no-slicing --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const json j = json::parse(r.out);  // named: a range-for over a temporary's member would read freed memory
  for (const auto& u : j["units"]) EXPECT_FALSE(u.contains("row")) << u.dump();
}

// A model whose hybrid block mixes attention with a Mamba mixer, its name and kind saying nothing of Mamba:
// slicing it is refused by every command that makes units (the scan state cannot cross slices), naming the
// layer; packing without slicing still runs.
// The hybrid model, its block's second part `second_part`.
std::string hybrid_model_json(const std::string& second_part) {
  return R"({
    "format": "adaptis-model/1", "name": "hybrid-cli-test", "dtype": "bf16",
    "seq_len": 4096, "micro_batch_size": 1, "global_batch_size": 8,
    "defaults": {"hidden": 1024, "norm": "rmsnorm", "vocab": 32000, "heads": 8, "kv_heads": 8, "head_dim": 128},
    "layers": [
      {"kind": "embedding"},
      {"kind": "transformer", "ffn_hidden": 4096},
      {"kind": "block", "name": "mixer.0", "parts": [{"kind": "attention"}, )" +
         second_part + R"(]},
      {"kind": "lm_head"}
    ]})";
}

TEST_F(CliLengths, SlicingAHybridMambaBlockIsRefusedNamingTheLayer) {
  const std::string model = write("hybrid.json", hybrid_model_json(R"({"kind": "mamba", "mamba_version": 2,
      "mamba_heads": 32, "mamba_head_dim": 64, "groups": 1, "state": 64, "conv_kernel": 4, "chunk": 128})"));
  const std::string data = " --lengths " + mix + " --global-batch-tokens 65536";
  for (const char* cmd : {"simulate", "compare"})
    expect_error(std::string(cmd) + " --model " + model + " --devices 2" + data + " --pack slice --slices 2",
                 {"--pack slice", "is a slice, but layer 2 ('mixer.0', kind 'block') holds a Mamba layer",
                  "pack without slicing"});
  CliResult packed = run("simulate --model " + model + " --devices 2" + data + " --pack pack --json");
  ASSERT_EQ(packed.code, 0) << packed.err;
  // `lengths` packs whole sequences by default on this model and lists the modes: slice carries the reason
  // instead of units.
  CliResult modes = run("lengths " + mix + " --global-batch-tokens 65536 --model " + model + " --json");
  ASSERT_EQ(modes.code, 0) << modes.err;
  const json j = json::parse(modes.out);
  int refused = 0;
  for (const auto& m : j["modes"])
    if (m["processing"].get<std::string>().rfind("slice", 0) == 0) {
      ASSERT_TRUE(m.contains("error")) << m.dump();
      EXPECT_NE(m["error"].get<std::string>().find("holds a Mamba layer"), std::string::npos) << m.dump();
      ++refused;
    }
  EXPECT_EQ(refused, 1);
  for (const auto& u : j["units"]) EXPECT_FALSE(u.contains("row")) << u.dump();
  // optimize searches packings without slices only.
  CliResult opt = run("optimize --model " + model + " --devices 2" + data + " --time-limit-s 2 --threads 1 --quiet --json");
  ASSERT_EQ(opt.code, 0) << opt.err;
  const json trials = json::parse(opt.out)["varlen"]["trials"];
  ASSERT_FALSE(trials.empty());
  for (const auto& t : trials) EXPECT_EQ(t["slices"], 0) << t.dump();
  // A plan file whose units are slices (made for the same layers with an MLP in the block) is refused too.
  const std::string mlp = write("attention-mlp.json", hybrid_model_json(R"({"kind": "mlp", "ffn_hidden": 4096})"));
  const std::string plan = at("sliced-plan.json");
  CliResult made = run("optimize --model " + mlp + " --devices 2" + data +
                       " --pack slice --slices 2 --time-limit-s 2 --threads 1 --quiet --out " + plan);
  ASSERT_EQ(made.code, 0) << made.err;
  expect_error("simulate --model " + model + " --devices 2 --plan " + plan,
               {plan + ": unit 0 (slice 0 of row 0", "layer 2 ('mixer.0', kind 'block') holds a Mamba layer"});
}

}  // namespace
