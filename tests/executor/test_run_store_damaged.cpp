// A run database is an input like any file: edited by hand, damaged, or written by another tool.
// load_run must turn whatever it holds into a clear InputError naming the database, the run and the
// field ("run database PATH: run 1: field plan_json: ...") — never a crash (deep JSON used to
// overflow the stack in `show --json`), an internal type error (costs_json = '[]'), or an integer
// silently wrapped around.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"

namespace adaptis::exec {
namespace {

namespace fs = std::filesystem;

class DamagedRunStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "adaptis-damaged-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = (fs::path(dir_) / "runs.db").string();
    // One complete run of a real plan with one recorded iteration.
    PlanRequest req;
    req.devices = 2;
    req.microbatches = 2;
    RunInfo info;
    info.command = "test";
    info.schedule = "1f1b";
    info.model_name = "tiny";
    info.model = {{"micro_batch", 1}, {"seq", 8}, {"hidden", 16}};
    info.plan = plan_to_json(build_plan(req, 2));
    info.costs = {{"source", "test"}};
    info.machine = {{"cpu", "test cpu"}, {"logical_cores", 2}};
    info.num_devices = info.num_stages = 2;
    info.num_microbatches = 2;
    info.steps = 1;
    StepRecord step;
    step.microbatch_losses = {1.0, 2.0};
    step.pipeline_end_ns = step.end_ns = 1000000;
    step.grad_checksum = "0";
    MeasuredInterval m;
    m.kind = MeasuredKind::Compute;
    m.op = Op::F;
    m.stage = 0;
    m.mb = 0;
    m.end_ns = 1000;
    step.intervals.push_back(m);
    RunStore store(db_);
    id_ = store.begin_run(info);
    store.record_step(id_, step);
    store.finish_run(id_, RunStatus::Complete);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A fresh, undamaged database for the next case of a test.
  void reset() {
    TearDown();
    SetUp();
  }

  // Runs `sql` with `text` bound to ?1 on a second, raw connection.
  void update(const std::string& sql, const std::string& text = "") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    if (sqlite3_bind_parameter_count(st) > 0)
      sqlite3_bind_text(st, 1, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(db);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }

  std::string load_error() {
    try {
      RunStore store(db_);
      RunRecord rec = store.load_run(id_);
      (void)compare_run(rec);
      (void)run_chrome_trace(rec);
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "the damaged run loaded";
    return "";
  }

  void expect_error(std::initializer_list<std::string> fragments) {
    const std::string msg = load_error();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
    EXPECT_LT(msg.size(), 600u) << msg.substr(0, 600);
  }

  std::string where(const char* field) const {
    return "run database " + db_ + ": run " + std::to_string(id_) + ": field " + field;
  }

  std::string dir_, db_;
  int64_t id_ = 0;
};

TEST_F(DamagedRunStore, TheUndamagedRunLoads) {
  RunStore store(db_);
  RunRecord rec = store.load_run(id_);
  EXPECT_EQ(plan_from_json(rec.plan, "p").num_devices(), 2);
  EXPECT_NO_THROW(run_chrome_trace(rec));
}

TEST_F(DamagedRunStore, DeeplyNestedJsonInAnyColumn) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const char* column : {"plan_json", "model_json", "costs_json", "machine_json"}) {
    SCOPED_TRACE(column);
    reset();
    update(std::string("UPDATE runs SET ") + column + " = ?1", deep);
    expect_error({where(column) + ":1:513: malformed JSON: nested deeper than 512 levels"});
  }
  reset();
  update("UPDATE steps SET microbatch_losses = ?1", deep);
  expect_error({where("steps.microbatch_losses"), "nested deeper than 512"});
}

TEST_F(DamagedRunStore, ValuesOfTheWrongShape) {
  update("UPDATE runs SET costs_json = '[]'");
  expect_error({where("costs_json") + ": expected a JSON object, got an array []"});
  reset();
  update("UPDATE runs SET costs_json = '{\"source\": [1, 2]}'");
  expect_error({where("costs_json") + ": field 'source' must be a string, got an array [1,2]"});
  reset();
  update("UPDATE runs SET machine_json = '{\"logical_cores\": \"many\"}'");
  expect_error({where("machine_json") + ": field 'logical_cores'", "must be an integer"});
  reset();
  update("UPDATE runs SET model_json = '{\"hidden\": 1e999}'");
  expect_error({where("model_json") + ":1:", "number out of range"});
  reset();
  update("UPDATE runs SET model_json = '{\"hidden\": \"wide\"}'");
  expect_error({where("model_json") + ": field 'hidden' must be a number"});
  reset();
  update("UPDATE runs SET plan_json = '{\"name\": \"1f1b\"}'");
  expect_error({where("plan_json") + ": missing field 'microbatches'"});
  reset();
  update("UPDATE runs SET plan_json = json_set(plan_json, '$.partition[0]', 4294967297)");
  expect_error({where("plan_json") + ": partition[0]", "4294967297"});
  reset();
  update("UPDATE runs SET plan_json = 'not json'");
  expect_error({where("plan_json") + ":1:", "malformed JSON"});
  reset();
  update("UPDATE steps SET microbatch_losses = '{}'");
  expect_error({where("steps.microbatch_losses") + ": expected an array of numbers"});
}

TEST_F(DamagedRunStore, IntegerColumnsAreRangeCheckedBeforeNarrowing) {
  update("UPDATE runs SET num_devices = 4294967298");
  expect_error({where("num_devices") + ": must be in [0, 1048576], got 4294967298"});
  reset();
  update("UPDATE measured_intervals SET device = -5");
  expect_error({where("measured_intervals.device") + ": must be in [0,", "got -5"});
  reset();
  update("UPDATE measured_intervals SET end_ns = 9223372036854775807");
  expect_error({where("measured_intervals.end_ns")});
}

}  // namespace
}  // namespace adaptis::exec
