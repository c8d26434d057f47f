// The explorer core's services, without a window or terminal: plan exports, the background
// optimizer job, launched child processes and the `adaptis run` command line of a launched run.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "adaptis/planner/plan_file.h"
#include "common/child_process.h"
#include "explorer/optimizer_job.h"
#include "explorer/plan_exports.h"
#include "explorer/run_records.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;
using app::ChildProcess;
using app::tail_text;
namespace fs = std::filesystem;

namespace {

CostTable costs(int layers) { return explorer::test_support::heavy_last_layer_costs(layers); }

fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("adaptis-gui-services-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Plan plan_of(const std::string& schedule, int devices, int mbs, int layers) {
  PlanRequest r;
  r.schedule = schedule;
  r.devices = devices;
  r.microbatches = mbs;
  return build_plan(r, layers);
}

}  // namespace

// A plan file sets any name; the suggested export file name must stay a plain name in the current folder.
TEST(PlanExports, DefaultFileNameIsSanitizedFromThePlanName) {
  EXPECT_EQ(file_name_stem("1f1b"), "1f1b");
  EXPECT_EQ(file_name_stem("zb-v_2.x"), "zb-v_2.x");
  EXPECT_EQ(file_name_stem("../../etc/passwd"), "etc_passwd");
  EXPECT_EQ(file_name_stem("/abs/path"), "abs_path");
  EXPECT_EQ(file_name_stem(".hidden"), "hidden");
  EXPECT_EQ(file_name_stem("--rm -rf"), "rm_-rf");
  EXPECT_EQ(file_name_stem("plan\x1b]0;x\x07 \x1b[2J name"), "plan_x1b_0_x_x07_x1b_2J_name");
  EXPECT_EQ(file_name_stem("plan]0;x [2J"), "plan_0_x_2J");  // the printable rest of such a sequence
  EXPECT_EQ(file_name_stem("Gr\xc3\xb6\xc3\x9f" "e"), "Gr_e");  // letters outside ASCII go
  EXPECT_EQ(file_name_stem(""), "plan");
  EXPECT_EQ(file_name_stem("///"), "plan");
  EXPECT_EQ(file_name_stem("..."), "plan");
  EXPECT_EQ(file_name_stem(std::string(500, 'a')).size(), kMaxFileNameStem);
  Plan p = plan_of("1f1b", 4, 8, 8);
  p.name = "../x/\x1b[2J";
  for (PlanExport e : {PlanExport::ChromeTrace, PlanExport::PytorchCsv, PlanExport::PytorchCsvComms,
                       PlanExport::Megatron, PlanExport::PlanJson}) {
    const std::string name = default_export_path(e, p);
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    EXPECT_EQ(name.rfind("adaptis-x_x1b_2J.", 0), 0u) << name;
    for (char c : name) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') << name;
  }
}

TEST(PlanExports, EveryFormatWritesAFileAndBadPathsAreErrors) {
  const CostTable c = costs(8);
  const Cluster cl = make_uniform_cluster(4);
  const Plan p = plan_of("1f1b", 4, 8, 8);
  const SimResult sim = simulate(p, c, cl);
  for (PlanExport e : {PlanExport::ChromeTrace, PlanExport::PytorchCsv, PlanExport::PytorchCsvComms,
                       PlanExport::Megatron, PlanExport::PlanJson}) {
    const fs::path out = scratch(default_export_path(e, p));
    const std::string msg = export_plan(e, out.string(), p, sim, c, cl, {});
    EXPECT_NE(msg.find(out.string()), std::string::npos) << msg;
    ASSERT_TRUE(fs::exists(out)) << plan_export_name(e);
    EXPECT_GT(fs::file_size(out), 20u) << plan_export_name(e);
  }
  EXPECT_NE(slurp(scratch("adaptis-1f1b.trace.json")).find("traceEvents"), std::string::npos);
  EXPECT_NE(slurp(scratch("adaptis-1f1b.megatron.txt")).find("--pipeline-model-parallel-size"), std::string::npos);
  const Plan back = load_plan_file(scratch("adaptis-1f1b.plan.json").string());
  EXPECT_EQ(back.schedule.size(), p.schedule.size());
  EXPECT_EQ(back.partition.bounds, p.partition.bounds);
  EXPECT_THROW(export_plan(PlanExport::PlanJson, "", p, sim, c, cl, {}), InputError);
  EXPECT_THROW(export_plan(PlanExport::ChromeTrace, "/nonexistent-dir/x.json", p, sim, c, cl, {}), InputError);
  // A V placement has no Megatron spelling: the text says why instead of failing.
  const Plan v = plan_of("zb-v", 4, 8, 8);
  EXPECT_NE(megatron_text(v, c).find("cannot express"), std::string::npos);
}

TEST(OptimizerJob, RunsInTheBackgroundAndCancelKeepsTheBestSoFar) {
  const CostTable c = costs(16);
  const Cluster cl = make_uniform_cluster(4);
  OptimizeOptions o;
  o.devices = 4;
  o.microbatches = 8;
  o.time_limit_s = 30;  // cancelled long before
  o.threads = 1;
  OptimizerJob job;
  const auto shared = std::make_shared<const CostTable>(c);
  ASSERT_TRUE(job.start(shared, cl, o));
  EXPECT_FALSE(job.start(shared, cl, o));  // one search at a time
  // Wait for a first plan, then cancel.
  for (int i = 0; i < 500 && job.status().best_version == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  job.cancel();
  job.wait();
  const OptimizerJob::Status st = job.status();
  EXPECT_EQ(st.state, JobState::Cancelled);
  std::optional<Plan> best = job.take_best();
  ASSERT_TRUE(best.has_value());
  EXPECT_TRUE(validate_plan(*best, 16).ok());
  std::optional<OptimizerJob::Outcome> out = job.take_outcome();
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->how, JobState::Cancelled);
  ASSERT_TRUE(out->result.has_value());
  EXPECT_TRUE(out->result->cancelled);
  EXPECT_FALSE(job.take_outcome().has_value());  // once
  // Impossible options come back as a failure, not an exception on the UI thread.
  o.devices = 9;
  ASSERT_TRUE(job.start(shared, cl, o));
  job.wait();
  EXPECT_EQ(job.status().state, JobState::Failed);
  out = job.take_outcome();
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE(out->error.empty());
}

TEST(ChildProcess, ReportsExitStatusLogsOutputAndStops) {
  const fs::path log = scratch("child.log");
  ChildProcess ok;
  ok.start({"/bin/sh", "-c", "echo first; echo second; exit 3"}, log.string());
  EXPECT_TRUE(ok.started());
  for (int i = 0; i < 500 && ok.poll(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(ok.running());
  EXPECT_EQ(ok.exit_status(), 3);
  EXPECT_EQ(tail_text(log.string(), 1), "second\n");
  EXPECT_EQ(tail_text(log.string(), 5), "first\nsecond\n");

  ChildProcess slow;
  slow.start({"/bin/sh", "-c", "sleep 30"}, scratch("slow.log").string());
  EXPECT_TRUE(slow.poll());
  EXPECT_THROW(slow.start({"/bin/true"}, scratch("x.log").string()), InputError);  // one at a time
  slow.stop(2000);
  EXPECT_FALSE(slow.running());
  EXPECT_EQ(slow.exit_status(), 128 + SIGTERM);

  ChildProcess missing;
  EXPECT_THROW(missing.start({"/nonexistent/program"}, scratch("m.log").string()), InputError);
  EXPECT_THROW(missing.start({"/bin/true"}, "/nonexistent-dir/log"), InputError);
  EXPECT_EQ(tail_text("/nonexistent-file", 3), "");
  // A progress line rewritten with \r shows as its last state.
  const fs::path progress = scratch("progress.log");
  std::ofstream(progress) << "one\ntwo\nprogress 10%\rprogress 90%\nlast";
  EXPECT_EQ(app::tail_lines(progress.string(), 3), (std::vector<std::string>{"two", "progress 90%", "last"}));
}

TEST(RunCommand, NamesThePlanModelDatabaseAndSteps) {
  const auto argv = run_command("/usr/bin/adaptis", "/tmp/p.json", "/tmp/m.json", "/tmp/r.db", 2);
  ASSERT_GE(argv.size(), 2u);
  EXPECT_EQ(argv[1], "run");
  const std::string joined = [&] {
    std::string s;
    for (const auto& a : argv) s += a + " ";
    return s;
  }();
  EXPECT_NE(joined.find("--plan /tmp/p.json"), std::string::npos);
  EXPECT_NE(joined.find("--model /tmp/m.json"), std::string::npos);
  EXPECT_NE(joined.find("--db /tmp/r.db"), std::string::npos);
  EXPECT_NE(joined.find("--steps 2"), std::string::npos);
  // Extra arguments that set the steps themselves win (an option given twice is an error).
  const auto own = run_command("adaptis", "p", "m", "d", 2, {"--steps", "5"});
  EXPECT_EQ(std::count(own.begin(), own.end(), "--steps"), 1);
  EXPECT_EQ(own.back(), "5");
}
