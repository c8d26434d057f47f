// End-to-end through the real binary with a temporary run database: `run` (every schedule gives the same
// losses and gradient checksum as one device), `runs`, `show`, `export RUN --chrome-trace`, `profile` ->
// `simulate --costs` -> `run --costs`, plan files from `export`, a killed run, the default database path,
// and bad input (clear error, non-zero exit).
#include <gtest/gtest.h>

#include "cli_test_support.h"
#include "scratch_dir_test.h"

#include "adaptis/executor/gpu.h"
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using adaptis::test::CliResult;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CliRun : public adaptis::test::ScratchDirTest {
 protected:
  std::string db, model;

  void SetUp() override {
    ScratchDirTest::SetUp();
    db = at("runs.db");
    model = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";
  }

  // Runs the binary with `args` (may start with VAR=value), stdout and stderr apart.
  CliResult cli(const std::string& args) const {
    const size_t space = args.find(' ');
    const size_t eq = args.find('=');
    if (eq != std::string::npos && eq < space)
      return adaptis::test::run_cli(args.substr(space + 1), false, args.substr(0, space));
    return adaptis::test::run_cli(args);
  }
  json cli_json(const std::string& args) const {
    CliResult r = cli(args);
    EXPECT_EQ(r.code, 0) << args << "\n" << r.out << r.err;
    try {
      return json::parse(r.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << ": stdout is not JSON: " << e.what() << "\n" << r.out;
      return json::object();
    }
  }
  // A quick run: tiny-llama, the given plan options, few steps, a fast profile.
  std::string run_args(const std::string& plan, int steps = 2) const {
    return "run --model " + model + " " + plan + " --steps " + std::to_string(steps) +
           " --profile-repeats 1 --json --db " + db;
  }
};

TEST_F(CliRun, EveryScheduleGivesTheOneDeviceLossAndChecksum) {
  const json one = cli_json(run_args("--devices 1 --schedule 1f1b --microbatches 4"));
  ASSERT_EQ(one["steps"].size(), 2u);
  for (const char* plan : {"--devices 2 --schedule gpipe --microbatches 4", "--devices 4 --schedule 1f1b --microbatches 4",
                           "--devices 2 --schedule zb-h1 --microbatches 4",
                           "--devices 2 --schedule interleaved-1f1b --microbatches 4"}) {
    SCOPED_TRACE(plan);
    const json j = cli_json(run_args(plan));
    ASSERT_EQ(j["steps"].size(), 2u);
    for (int s = 0; s < 2; ++s) {
      EXPECT_EQ(j["steps"][s]["loss"].get<double>(), one["steps"][s]["loss"].get<double>());
      EXPECT_EQ(j["steps"][s]["grad_checksum"], one["steps"][s]["grad_checksum"]);
    }
    EXPECT_EQ(j["backend"], "cpu");
    EXPECT_GT(j["predicted_iteration_ms"].get<double>(), 0);
    EXPECT_GT(j["measured_iteration_ms"].get<double>(), 0);
    EXPECT_TRUE(j["iteration_error"].is_number());
    EXPECT_GT(j["run_id"].get<int64_t>(), 0);
    EXPECT_EQ(j["db"], db);
  }
  // The two steps differ (the optimizer stepped) and the checksum is 16 hex digits.
  EXPECT_NE(one["steps"][0]["grad_checksum"], one["steps"][1]["grad_checksum"]);
  EXPECT_EQ(one["grad_checksum"].get<std::string>().size(), 16u);
  EXPECT_TRUE(std::isfinite(one["loss"].get<double>()));
}

TEST_F(CliRun, RunThenRunsShowAndExportTheTrace) {
  const json r = cli_json(run_args("--devices 4 --microbatches 8 --schedule 1f1b", 3));
  const int64_t id = r["run_id"];
  ASSERT_EQ(r["steps"].size(), 3u);
  EXPECT_EQ(r["devices"], 4);
  EXPECT_EQ(r["microbatches"], 8);

  // Text output of run names the run and the prediction.
  CliResult text = cli("run --model " + model + " --devices 2 --microbatches 4 --steps 1 --profile-repeats 1 --db " + db);
  ASSERT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("predicted iteration"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("gradient checksum"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("recorded as run " + std::to_string(id + 1)), std::string::npos) << text.out;

  const json runs = cli_json("runs --json --db " + db);
  ASSERT_EQ(runs["runs"].size(), 2u);
  EXPECT_EQ(runs["runs"][0]["id"], id + 1);  // newest first
  EXPECT_EQ(runs["runs"][1]["id"], id);
  EXPECT_EQ(runs["runs"][1]["status"], "complete");
  EXPECT_EQ(runs["runs"][1]["steps_done"], 3);
  EXPECT_EQ(runs["runs"][1]["schedule"], "1f1b");
  EXPECT_EQ(runs["runs"][1]["model"], "tiny-llama");
  EXPECT_EQ(runs["runs"][1]["grad_checksum"], r["grad_checksum"]);
  EXPECT_DOUBLE_EQ(runs["runs"][1]["final_loss"].get<double>(), r["loss"].get<double>());
  CliResult list = cli("runs --db " + db);
  ASSERT_EQ(list.code, 0);
  EXPECT_NE(list.out.find("complete"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("2 run(s)"), std::string::npos) << list.out;

  const json show = cli_json("show " + std::to_string(id) + " --json --db " + db);
  EXPECT_EQ(show["id"], id);
  EXPECT_EQ(show["step_records"].size(), 3u);
  const json& cmp = show["comparison"];
  EXPECT_EQ(cmp["steps_used"], 2);
  EXPECT_DOUBLE_EQ(cmp["predicted_iteration_ms"].get<double>(), r["predicted_iteration_ms"].get<double>());
  ASSERT_EQ(cmp["devices"].size(), 4u);
  for (const auto& d : cmp["devices"]) {
    EXPECT_GT(d["predicted_busy_ms"].get<double>(), 0);
    EXPECT_GT(d["measured_busy_ms"].get<double>(), 0);
    EXPECT_TRUE(d["busy_error"].is_number());
    EXPECT_GT(d["measured_peak_activation_bytes"].get<double>(), 0);
  }
  // F and BW of each of the 4 stages, 8 micro-batches x 2 steps each.
  ASSERT_EQ(cmp["ops"].size(), 8u);
  for (const auto& o : cmp["ops"]) EXPECT_EQ(o["samples"], 16);
  CliResult show_text = cli("show latest --db " + db);
  ASSERT_EQ(show_text.code, 0) << show_text.err;
  EXPECT_NE(show_text.out.find("run " + std::to_string(id + 1)), std::string::npos);
  EXPECT_NE(show_text.out.find("busy pred"), std::string::npos) << show_text.out;

  // The measured trace (with the predicted one beside it).
  const std::string trace = at("run.trace.json");
  CliResult ex = cli("export " + std::to_string(id) + " --chrome-trace " + trace + " --db " + db);
  ASSERT_EQ(ex.code, 0) << ex.out << ex.err;
  const json t = json::parse(slurp(trace));
  ASSERT_TRUE(t.contains("traceEvents"));
  int complete_events = 0;
  bool measured = false, predicted = false;
  for (const auto& e : t["traceEvents"]) {
    if (e.value("ph", "") == "X") ++complete_events;
    const std::string s = e.dump();
    measured |= s.find("measured") != std::string::npos;
    predicted |= s.find("predicted") != std::string::npos;
  }
  EXPECT_GE(complete_events, 2 * 4 * 8 * 2);  // F + BW per stage and micro-batch, twice (predicted, measured)
  EXPECT_TRUE(measured && predicted);
  // --run and 'latest' work too; a step that was not recorded is an error.
  EXPECT_EQ(cli("export --run latest --chrome-trace " + at("latest.json") + " --db " + db).code, 0);
  EXPECT_EQ(cli("export " + std::to_string(id) + " --step 0 --chrome-trace " + at("s0.json") + " --db " + db).code, 0);
  CliResult bad_step = cli("export " + std::to_string(id) + " --step 7 --chrome-trace " + at("s7.json") + " --db " + db);
  EXPECT_EQ(bad_step.code, 1);
  EXPECT_NE(bad_step.err.find("no recorded iteration 7"), std::string::npos) << bad_step.err;
  CliResult no_run = cli("show 999 --db " + db);
  EXPECT_EQ(no_run.code, 1);
  EXPECT_NE(no_run.err.find("no run 999"), std::string::npos) << no_run.err;
  EXPECT_EQ(cli("export 999 --chrome-trace " + at("x.json") + " --db " + db).code, 1);
  EXPECT_EQ(cli("export " + std::to_string(id) + " --pytorch-csv " + at("x.csv") + " --db " + db).code, 1);
}

TEST_F(CliRun, ProfileFeedsSimulateAndRun) {
  const std::string costs = at("costs.json");
  CliResult p = cli("profile --backend cpu --model " + model + " --repeats 2 --out " + costs);
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_NE(p.out.find("transformer"), std::string::npos) << p.out;
  const json c = json::parse(slurp(costs));
  EXPECT_EQ(c["format"], "adaptis-costs/1");
  ASSERT_EQ(c["layers"].size(), 6u);  // embedding, 4 transformer blocks, lm_head: the spec's layers
  for (const auto& l : c["layers"]) EXPECT_GT(l["f"].get<double>() + l["b"].get<double>(), 0);

  // The simulator reads it like any cost file, with the same layer count as `simulate --model`.
  const json sim = cli_json("simulate --costs " + costs + " --devices 4 --microbatches 8 --schedule 1f1b --json");
  EXPECT_GT(sim["iteration_time_ms"].get<double>(), 0);
  const json sim_model = cli_json("simulate --model " + model + " --devices 4 --microbatches 8 --schedule 1f1b --json");
  EXPECT_EQ(sim["partition"], sim_model["partition"]);

  // run --costs predicts from the file instead of profiling again.
  const json r = cli_json(run_args("--devices 2 --microbatches 4 --costs " + costs, 1));
  EXPECT_NE(r["cost_source"].get<std::string>().find(costs), std::string::npos) << r["cost_source"];
  // --split-blocks profiles the executor's layers (attention and MLP apart).
  const std::string split = at("split.json");
  ASSERT_EQ(cli("profile --model " + model + " --repeats 1 --split-blocks --out " + split).code, 0);
  EXPECT_EQ(json::parse(slurp(split))["layers"].size(), 10u);
  const json pj = cli_json("profile --model " + model + " --repeats 1 --json");
  EXPECT_TRUE(pj.contains("machine"));
  // A profile of the other layer unit does not fit the plan.
  CliResult mismatch = cli(run_args("--devices 2 --microbatches 4 --costs " + split, 1));
  EXPECT_EQ(mismatch.code, 1);
  EXPECT_NE(mismatch.err.find("--costs"), std::string::npos) << mismatch.err;
  // Without a usable GPU, the CUDA profile falls back to the analytical model and says why; with
  // --fallback none it fails with the reason instead.
  CliResult gpu = cli("profile --backend cuda --model " + model + " --fallback none");
  std::string why;
  if (!adaptis::exec::gpu_available(&why)) {
    EXPECT_EQ(gpu.code, 1);
    EXPECT_NE(gpu.err.find("--backend cuda"), std::string::npos) << gpu.err;
    const std::string fallback = at("fallback.json");
    CliResult fb = cli("profile --backend cuda --model " + model + " --out " + fallback);
    EXPECT_EQ(fb.code, 0) << fb.err;
    EXPECT_NE(fb.err.find("analytical"), std::string::npos) << fb.err;
    EXPECT_NE(json::parse(slurp(fallback))["source"].get<std::string>().find("analytical"), std::string::npos);
  }
}

TEST_F(CliRun, PlanFilesFromExportRunAndDeviceCountIsChecked) {
  const std::string plan = at("plan.json");
  CliResult ex = cli("export --model " + model + " --devices 4 --microbatches 4 --schedule zb-h1 --plan-json " + plan);
  ASSERT_EQ(ex.code, 0) << ex.err;
  const json r = cli_json(run_args("--plan " + plan, 1));
  EXPECT_EQ(r["devices"], 4);
  EXPECT_EQ(r["schedule"], "zb-h1");
  const json one = cli_json(run_args("--devices 1 --microbatches 4", 1));
  EXPECT_EQ(r["grad_checksum"], one["grad_checksum"]);

  CliResult too_few = cli(run_args("--plan " + plan + " --devices 2", 1));
  EXPECT_EQ(too_few.code, 1);
  EXPECT_NE(too_few.err.find("uses 4 devices but --devices gives 2"), std::string::npos) << too_few.err;

  std::ofstream(at("bad.json")) << "{\"format\": \"adaptis-plan/1\", \"stages\": ";
  CliResult bad = cli(run_args("--plan " + at("bad.json"), 1));
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("bad.json"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.err.rfind("error: ", 0), 0u) << bad.err;
}

TEST_F(CliRun, BadInputIsAClearErrorWithNonZeroExit) {
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"run --model " + at("missing.json") + " --db " + db, "missing.json"},
      {run_args("--devices 2 --backend cuda"), "error: --backend: the cuda backend needs"},
      {run_args("--devices 2 --steps 0"), "--steps"},
      {run_args("--devices 9"), "layers"},  // 9 stages of a 6-layer model
      {run_args("--devices 2 --schedule no-such-schedule"), "no-such-schedule"},
      {"run --model " + std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/llama-2-7b.json --db " + db, "too large"},
      {"runs --db " + at("not-a-db.txt"), "not an adaptis run database"},
      {"show abc --db " + db, "expected a run id"},
  };
  std::ofstream(at("not-a-db.txt")) << "plain text, certainly not SQLite, long enough to fill a header page\n";
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args);
    CliResult r = cli(c.args);
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

TEST_F(CliRun, KilledRunIsListedIncompleteAndKeepsItsSteps) {
  // Start a long run, wait until it has committed a step, kill it.
  const std::string out = at("killed.out");
  std::vector<std::string> argv_s = {ADAPTIS_BINARY, "run",  "--model",   model, "--devices", "2", "--microbatches",
                                     "4",            "--steps", "100000", "--profile-repeats", "1", "--db", db};
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, ADAPTIS_BINARY, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  int64_t steps_done = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (steps_done < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(raw, 1000);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(raw, "SELECT coalesce(max(steps_done), 0) FROM runs", -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW)
        steps_done = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    sqlite3_close(raw);
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_GE(steps_done, 2) << "the run never committed two steps:\n" << slurp(out);

  const json runs = cli_json("runs --json --db " + db);
  ASSERT_EQ(runs["runs"].size(), 1u);
  const json& r = runs["runs"][0];
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_GE(r["steps_done"].get<int64_t>(), steps_done);
  EXPECT_EQ(r["steps"], 100000);
  EXPECT_NE(r["error"].get<std::string>().find("ended before the run finished"), std::string::npos);

  // show reports what it kept and exits non-zero with the reason.
  CliResult show = cli("show " + std::to_string(r["id"].get<int64_t>()) + " --db " + db);
  EXPECT_EQ(show.code, 3);
  EXPECT_NE(show.out.find("incomplete"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("busy pred"), std::string::npos) << show.out;
  EXPECT_NE(show.err.find("error: run " + std::to_string(r["id"].get<int64_t>()) + " is incomplete"), std::string::npos)
      << show.err;
  // Its recorded iterations still export.
  EXPECT_EQ(cli("export latest --chrome-trace " + at("killed.json") + " --db " + db).code, 0);
}

// `mpirun -np 2 adaptis run --backend nccl` on a machine without a GPU: rank 0 cannot make NCCL's
// unique id but still joins the MPI broadcast, so no rank waits forever; every rank exits with a
// clear error, and no run is recorded.
TEST_F(CliRun, MpiLaunchWithoutAGpuFailsCleanlyOnEveryRank) {
  if (!adaptis::exec::built_with_mpi()) GTEST_SKIP() << "built without MPI (libopenmpi-dev not installed)";
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun on PATH";
  std::string why;
  if (adaptis::exec::gpu_available(&why)) GTEST_SKIP() << "a GPU is present: the GPU tests cover NCCL";
  // OpenMPI refuses root unless told; `timeout` turns a hang into exit 124.
  const std::string launcher =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun --oversubscribe -np 2";
  CliResult r = adaptis::test::run_cli("run --backend nccl --model " + model +
                                           " --devices 2 --schedule 1f1b --microbatches 4 --steps 1 --db " + db,
                                       false, launcher);
  EXPECT_NE(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.code, 124) << "mpirun hung:\n" << r.out << r.err;
  EXPECT_NE(r.err.find("error: NCCL"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rank 0 could not make NCCL's unique id"), std::string::npos) << r.err;
  // Nothing recorded: either no database was created at all, or it holds no run.
  if (fs::exists(db)) {
    EXPECT_TRUE(cli_json("runs --json --db " + db)["runs"].empty()) << "a failed launch recorded a run";
  }
}

TEST_F(CliRun, DefaultDatabaseIsUnderXdgDataHome) {
  const std::string xdg = at("xdg");
  CliResult r = cli("XDG_DATA_HOME=" + xdg + " run --model " + model +
                    " --devices 2 --microbatches 2 --steps 1 --profile-repeats 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(fs::path(xdg) / "adaptis" / "runs.db"));
  EXPECT_EQ(json::parse(r.out)["db"], (fs::path(xdg) / "adaptis" / "runs.db").string());
  const json runs = cli_json("XDG_DATA_HOME=" + xdg + " runs --json");
  EXPECT_EQ(runs["runs"].size(), 1u);
  // --no-record leaves no run behind.
  const json nr = cli_json("XDG_DATA_HOME=" + xdg + " run --model " + model +
                           " --devices 2 --microbatches 2 --steps 1 --profile-repeats 1 --json --no-record");
  EXPECT_TRUE(nr["run_id"].is_null());
  EXPECT_EQ(cli_json("XDG_DATA_HOME=" + xdg + " runs --json")["runs"].size(), 1u);
}

}  // namespace
