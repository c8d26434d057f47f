// End-to-end: bad input files through the real binary. Every case must exit 1 (never 70, "internal
// error", or a signal: the shell reports those as 128+N) with a message naming the file and what is
// wrong. The cases are the crashes, runaway allocations, silent wrong answers and internal errors
// found by adversarial testing: deep JSON in a field of the wrong type, a Megatron layout of 50,000
// parentheses, damaged run databases, a CSV cell "0F1000000", numbers that overflow after scaling,
// integers that wrapped around, a compute_comms CSV missing a SEND, a directory given as a file.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "adaptis/executor/run_store.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/pytorch_csv.h"
#include "cli_test_support.h"
#include "scratch_dir_test.h"

namespace {

namespace fs = std::filesystem;
using adaptis::test::CliResult;

const std::string kCosts = std::string(ADAPTIS_SHARED_DIR) + "/peer-profiles/nemotron-nano-v2-9B.json";

class CliBadInputs : public adaptis::test::ScratchDirTest {
 protected:
  std::string file(const std::string& name, const std::string& text) { return write(name, text); }

  // `args` must fail with exit code 1 and a message holding every fragment. `limits` (e.g.
  // adaptis::test::memory_limit_prefix(1000)) runs before the binary.
  void expect_rejected(const std::string& args, std::initializer_list<std::string> fragments,
                       const std::string& limits = "") {
    CliResult r = adaptis::test::run_cli(args, /*merge_stderr=*/true, limits);
    EXPECT_EQ(r.code, 1) << "adaptis " << args.substr(0, 300) << "\n" << r.out.substr(0, 2000);
    EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out.substr(0, 2000);
    for (const auto& f : fragments)
      EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in:\n" << r.out.substr(0, 2000);
    EXPECT_LT(r.out.size(), 4000u) << "the message echoes the input: " << r.out.substr(0, 500);
  }
};

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string costs_json(const std::string& f, const std::string& top = "") {
  return "{\"model\": \"m\"" + top + ", \"layers\": [{\"type\": \"M\", \"f\": " + f +
         ", \"b\": 2}, {\"type\": \"-\", \"f\": 1, \"b\": 2}]}";
}

TEST_F(CliBadInputs, DeepJsonInAFieldOfTheWrongType) {
  expect_rejected("simulate --costs " + file("c.json", costs_json(nested(100000))) + " --devices 2 -m 2",
                  {"c.json:1:", "nested deeper than 512 levels"});
  // Shallow enough to parse: the message quotes a bounded excerpt.
  expect_rejected("simulate --costs " + file("s.json", costs_json(nested(400))) + " --devices 2 -m 2",
                  {"s.json: layers[0]: field 'f' must be a number, got an array [[[[", "..."});
  const std::string model = "{\"seq_len\": 16, \"micro_batch_size\": 1, \"layers\": [{\"kind\": \"mlp\", \"hidden\": " +
                            nested(100000) + ", \"ffn_hidden\": 8}]}";
  expect_rejected("simulate --model " + file("m.json", model) + " --devices 1 -m 2", {"m.json:1:", "nested deeper"});
  const std::string cluster = "{\"intra_node\": {\"latency_us\": " + nested(100000) +
                              "}, \"devices\": [{\"type\": \"H100-SXM\", \"count\": 2}]}";
  expect_rejected("simulate --costs " + kCosts + " --cluster " + file("cl.json", cluster) + " -m 2",
                  {"cl.json:1:", "nested deeper"});
  const std::string plan = "{\"microbatches\": 2, \"partition\": [28, 28], \"placement\": [[" + nested(100000) +
                           "], [1]], \"schedule\": [[], []]}";
  expect_rejected("simulate --costs " + kCosts + " --plan " + file("p.json", plan), {"p.json:1:", "nested deeper"});
}

TEST_F(CliBadInputs, MegatronLayoutNestingAndExpansion) {
  const std::string deep = std::string(50000, '(') + "Et|tL" + std::string(50000, ')');
  expect_rejected("import --devices 2 --megatron-layout '" + deep + "'",
                  {"--megatron-layout", "at character 33: parentheses nested deeper than 32 levels"});
  expect_rejected("import --devices 3 --megatron-layout 'E|((t*999999)*999999)|L'",
                  {"expands to more than 500000 symbols"}, adaptis::test::memory_limit_prefix(2000));
}

// A run database with one recorded run of a real plan, then damaged with `sql`.
std::string damaged_db(const fs::path& dir, const std::string& sql, const std::string& text = "") {
  using namespace adaptis;
  const std::string path = (dir / "runs.db").string();
  {
    PlanRequest req;
    req.devices = 2;
    req.microbatches = 2;
    exec::RunInfo info;
    info.command = "test";
    info.schedule = "1f1b";
    info.model_name = "tiny";
    info.plan = plan_to_json(build_plan(req, 2));
    info.costs = {{"source", "test"}};
    info.num_devices = info.num_stages = info.num_microbatches = 2;
    info.steps = 1;
    exec::StepRecord step;
    step.pipeline_end_ns = step.end_ns = 1000000;
    step.grad_checksum = "0";
    exec::RunStore store(path);
    const int64_t id = store.begin_run(info);
    store.record_step(id, step);
    store.finish_run(id, exec::RunStatus::Complete);
  }
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  if (sqlite3_bind_parameter_count(st) > 0)
    sqlite3_bind_text(st, 1, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return path;
}

TEST_F(CliBadInputs, DamagedRunDatabase) {
  std::string db = damaged_db(dir, "UPDATE runs SET plan_json = ?1", nested(100000));
  const std::string plan = "run database " + db + ": run 1: field plan_json";
  expect_rejected("show 1 --json --db " + db, {plan + ":1:513: malformed JSON: nested deeper than 512 levels"});
  expect_rejected("export 1 --chrome-trace " + (dir / "t.json").string() + " --db " + db, {plan, "nested deeper"});
  fs::remove_all(dir);
  fs::create_directories(dir);
  db = damaged_db(dir, "UPDATE runs SET model_json = ?1", nested(100000));
  expect_rejected("show 1 --json --db " + db, {"field model_json:1:513:", "nested deeper"});
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Used to be an internal error (nlohmann type_error 306, exit 70).
  db = damaged_db(dir, "UPDATE runs SET costs_json = '[]'");
  expect_rejected("show 1 --db " + db, {"run database " + db + ": run 1: field costs_json: expected a JSON object, got an array []"});
  expect_rejected("show 1 --json --db " + db, {"field costs_json"});
}

TEST_F(CliBadInputs, IdsTheFileCannotBackAllocateNothing) {
  using namespace adaptis;
  PlanRequest req;
  req.devices = 4;
  req.microbatches = 8;
  std::string csv = format_pytorch_csv(build_plan(req, 56));
  csv.replace(csv.find("0F7"), 3, "0F1000000");
  ASSERT_LT(csv.size(), 1024u);
  // Under a 1 GB address-space limit: this used to allocate 4.5 GB before saying "invalid plan".
  expect_rejected("import --pytorch-csv " + file("s.csv", csv) + " --costs " + kCosts + " --devices 4",
                  {"s.csv: row 1 (rank 0), column", "cell '0F1000000' uses micro-batch 1000000",
                   "stage 0 has no forward (F) for micro-batch 7"},
                  adaptis::test::memory_limit_prefix(1000));
  // OctoPipe YAML: used to throw std::bad_alloc (exit 70).
  const std::string yaml = "scheduling:\n- (f, 0, 0, 0, 0, 1)\n- (f, 0, 999999999, 999999999, 1, 2)\n"
                           "- (b, 0, 1, 1, 2, 3)\n- (b, 0, 0, 0, 3, 4)\n";
  expect_rejected("import --octopipe " + file("p.yaml", yaml) + " --costs " + kCosts,
                  {"p.yaml:3: stage 999999999 but the file has only 4 actions"}, adaptis::test::memory_limit_prefix(1000));
  expect_rejected("import --octopipe " + file("d.yaml", "partition: [28, 28]\n" + yaml) + " --costs " + kCosts,
                  {"d.yaml:4: device 999999999 but the file has only 4 actions"}, adaptis::test::memory_limit_prefix(1000));
  const std::string mids = "partition: [28, 28]\nscheduling:\n- (f, 999999999, 0, 0, 0, 1)\n- (f, 0, 1, 1, 1, 2)\n";
  expect_rejected("import --octopipe " + file("m.yaml", mids) + " --costs " + kCosts,
                  {"m.yaml:3: micro-batch 999999999, but stage 0 has no forward (f) for micro-batch 0"},
                  adaptis::test::memory_limit_prefix(1000));
}

TEST_F(CliBadInputs, NumbersCheckedAfterScaling) {
  // These used to print "iteration inf ms" and exit 0.
  expect_rejected("simulate --costs " + file("u.json", costs_json("10", ", \"time_unit_ms\": 1e308")) + " --devices 2 -m 2",
                  {"u.json: layers[0]: field 'f' (times time_unit_ms)", "got inf"});
  expect_rejected("simulate --costs " + file("f.json", costs_json("1e308")) + " --devices 2 -m 2",
                  {"f.json: layers[0]: field 'f'", "1e+308"});
  // And this was an internal error (exit 70) naming no file.
  expect_rejected("simulate --costs " + file("o.json", "{\"layers\": [{\"f\": 1e999, \"b\": 1}]}") + " --devices 1 -m 2",
                  {"o.json:1:", "number out of range", "1e999"});
  // Efficiencies each in range, but the derived time is not.
  const std::string model = "{\"seq_len\": 16, \"micro_batch_size\": 1, \"efficiency\": {\"gemm\": 1e-300}, "
                            "\"layers\": [{\"kind\": \"mlp\", \"hidden\": 64, \"ffn_hidden\": 64}]}";
  expect_rejected("simulate --model " + file("e.json", model) + " --devices 1 -m 2",
                  {"e.json: analytical costs on H100-SXM: layers[0]", "field 'f' (ms)"});
}

TEST_F(CliBadInputs, ClusterFieldsAreCheckedNotIgnored) {
  auto run = [&](const std::string& device, const std::string& top, std::initializer_list<std::string> fragments) {
    const std::string c = file("c.json", "{\"devices\": [{\"type\": \"H100-SXM\", \"count\": 2" + device + "}]" + top + "}");
    expect_rejected("simulate --costs " + kCosts + " --cluster " + c + " -m 2", fragments);
  };
  run(", \"hbm_bandwidth_tbs\": -3", "", {"c.json: devices[0]: field 'hbm_bandwidth_tbs'", "got -3"});
  run("", ", \"intra_node\": \"fast\"", {"c.json: field 'intra_node' must be an object, got a string \"fast\""});
  run(", \"node\": 4294967297", "", {"c.json: devices[0]: field 'node'", "got 4294967297"});
  run(", \"nodes\": 1", "", {"c.json: devices[0]: unknown field \"nodes\""});
}

TEST_F(CliBadInputs, PlanIntegersAreNotTruncated) {
  const std::string base = "{\"microbatches\": 2, \"partition\": [%P], \"placement\": [[%S], [1]], \"schedule\": [[], []]}";
  auto plan = [&](const std::string& part, const std::string& stage) {
    std::string t = base;
    t.replace(t.find("%P"), 2, part);
    t.replace(t.find("%S"), 2, stage);
    return file("p.json", t);
  };
  // 4294967303 used to be read as 7, 4294967296 as 0.
  expect_rejected("simulate --costs " + kCosts + " --plan " + plan("4294967303, 49", "0"),
                  {"p.json: partition[0] (layers in stage 0): must be in [1, 100000], got 4294967303"});
  expect_rejected("simulate --costs " + kCosts + " --plan " + plan("28, 28", "4294967296"),
                  {"p.json: placement[0][0] (a stage index): must be in [0, 1], got 4294967296"});
}

TEST_F(CliBadInputs, ComputeCommsCsvWithASendDeleted) {
  using namespace adaptis;
  PlanRequest req;
  req.devices = 4;
  req.microbatches = 8;
  std::string csv = format_pytorch_csv(build_plan(req, 56), PytorchCsvFormat::ComputeComms);
  const size_t at = csv.find("0SEND_F0,");
  ASSERT_NE(at, std::string::npos);
  csv.erase(at, 9);
  expect_rejected("import --pytorch-csv " + file("c.csv", csv) + " --costs " + kCosts + " --devices 4",
                  {"c.csv: row 2 (rank 1), column", "cell '1RECV_F0' has no matching '0SEND_F0' on rank 0"});
}

TEST_F(CliBadInputs, FilesThatAreNotFiles) {
  expect_rejected("simulate --costs " + dir.string() + " --devices 2 -m 2", {dir.string() + ": is a directory"});
  expect_rejected("simulate --costs " + file("e.json", "") + " --devices 2 -m 2", {"e.json: the file is empty"});
  expect_rejected("simulate --costs " + file("g.json", std::string("\0\x01\xff\xfe garbage", 12)) + " --devices 2 -m 2",
                  {"g.json:1:1: malformed JSON"});
  expect_rejected("simulate --costs " + file("n.json", std::string("{\"layers\": [\0]}", 15)) + " --devices 2 -m 2",
                  {"n.json:1:", "malformed JSON"});
  expect_rejected("import --pytorch-csv " + dir.string() + " --devices 2", {": is a directory"});
  expect_rejected("simulate --costs " + kCosts + " --plan " + (dir / "missing.json").string(),
                  {"missing.json: cannot open file: No such file or directory"});
  // A byte-order mark is not an error.
  CliResult r = adaptis::test::run_cli(
      "simulate --costs " + file("bom.json", "\xEF\xBB\xBF" + costs_json("1")) + " --devices 2 -m 2", true);
  EXPECT_EQ(r.code, 0) << r.out;
}

}  // namespace
