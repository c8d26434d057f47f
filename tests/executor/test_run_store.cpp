// The SQLite run store: schema versioning (user_version, application_id), WAL, a run's iterations committed
// together (not row by row), a run whose process is killed midway marked incomplete with what it had
// committed, readers in other processes while one process writes, and bad databases refused clearly.
#include <gtest/gtest.h>

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"

namespace adaptis::exec {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "adaptis-runstore-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = (fs::path(dir_) / "runs.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_, db_;
};

RunInfo sample_info(int devices = 2, int steps = 3) {
  RunInfo info;
  info.command = "adaptis run --test";
  info.schedule = "1f1b";
  info.model_name = "tiny-test";
  info.model = {{"name", "tiny-test"}, {"hidden", 16}};
  PlanRequest req;
  req.devices = devices;
  req.microbatches = 4;
  info.plan = plan_to_json(build_plan(req, devices));  // load_run checks it is a valid plan
  info.costs = {{"source", "test"}};
  info.machine = machine_info();
  info.num_devices = devices;
  info.num_stages = devices;
  info.num_microbatches = 4;
  info.steps = steps;
  info.predicted_iteration_ms = 12.5;
  for (int d = 0; d < devices; ++d) {
    DeviceInfo di;
    di.device = d;
    di.name = "cpu-thread-" + std::to_string(d);
    di.stages = std::to_string(d);
    di.predicted_busy_ms = 8 + d;
    di.predicted_end_ms = 12 + d * 0.25;
    di.predicted_peak_activation_bytes = 1000.0 * (d + 1);
    info.devices.push_back(di);
    for (int mb = 0; mb < 4; ++mb)
      info.predicted.push_back({d, Op::F, d, mb, 1000000LL * mb, 1000000LL * mb + 500000});
  }
  return info;
}

// An iteration with `per_device` intervals on each device; times derived from the step so they differ.
StepRecord sample_step(int step, int devices = 2, int per_device = 6) {
  StepRecord s;
  s.step = step;
  s.loss = 5.0 - 0.25 * step;
  s.microbatch_losses = {s.loss + 0.1, s.loss - 0.1};
  s.start_ns = 100000000LL * step;
  s.pipeline_end_ns = s.start_ns + 10000000 + 1000000LL * step;
  s.end_ns = s.pipeline_end_ns + 500000;
  s.grad_checksum = std::string(14, '0');  // 16 hex digits
  s.grad_checksum += std::to_string(10 + step);
  for (int d = 0; d < devices; ++d) {
    for (int i = 0; i < per_device; ++i) {
      MeasuredInterval m;
      m.step = step;
      m.device = d;
      m.seq = i;
      // F, SEND, B, F, SEND, B, ...
      m.kind = i % 3 == 1 ? MeasuredKind::Send : MeasuredKind::Compute;
      m.op = i % 3 == 2 ? Op::B : Op::F;
      if (m.kind == MeasuredKind::Send) {
        m.tensor = TensorKind::Activation;
        m.peer = (d + 1) % devices;
      }
      m.stage = d;
      m.mb = i / 3;
      m.start_ns = s.start_ns + 1000000LL * i;
      m.end_ns = m.start_ns + 900000;
      m.cpu_ns = 800000 + i;
      s.intervals.push_back(m);
    }
    s.peak_activation_bytes.push_back(4096 * (d + 1) + step);
  }
  return s;
}

// A raw second connection, as another tool (or the GUI) would open the file.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& path, int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, flags, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
  }
  ~RawDb() { sqlite3_close(db); }
  std::string text(const std::string& sql) const {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }
  int64_t integer(const std::string& sql) const { return std::stoll(text(sql).empty() ? "0" : text(sql)); }
  void exec(const std::string& sql) const {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
  }
};

// A store at `db` holding one complete run of sample_info() with one step; its id.
int64_t record_complete_run(const std::string& db) {
  RunStore store(db);
  const int64_t id = store.begin_run(sample_info());
  store.record_step(id, sample_step(0));
  store.finish_run(id, RunStatus::Complete);
  return id;
}

// Turns the database back into what schema 1 wrote: no cpu_ns column, user_version 1.
void downgrade_to_schema_one(const std::string& db) {
  RawDb raw(db);
  raw.exec("ALTER TABLE measured_intervals DROP COLUMN cpu_ns");
  raw.exec("PRAGMA user_version = 1");
}

// Runs `body` in a forked child and returns its wait status. The child never returns into gtest.
template <class F>
pid_t fork_child(F&& body) {
  pid_t pid = fork();
  if (pid == 0) {
    int code = 0;
    try {
      code = body();
    } catch (...) {
      code = 99;
    }
    _exit(code);
  }
  return pid;
}

TEST_F(RunStoreTest, SchemaIsVersionedTaggedAndInWalMode) {
  {
    RunStore store(db_);
    EXPECT_EQ(store.schema_version(), kRunStoreSchemaVersion);
    EXPECT_EQ(store.list_runs().size(), 0u);
    EXPECT_EQ(store.latest_run_id(), 0);
  }
  RawDb raw(db_);
  EXPECT_EQ(raw.integer("PRAGMA user_version"), kRunStoreSchemaVersion);
  EXPECT_EQ(raw.integer("PRAGMA application_id"), kRunStoreApplicationId);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  for (const char* table : {"runs", "devices", "steps", "measured_intervals", "predicted_intervals", "meta"})
    EXPECT_EQ(raw.integer(std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") + table + "'"),
              1)
        << table;
  // Reopening an existing store neither re-creates nor fails.
  RunStore again(db_);
  EXPECT_EQ(again.schema_version(), kRunStoreSchemaVersion);
}

TEST_F(RunStoreTest, NewerSchemaForeignDatabaseAndNonDatabaseAreRefused) {
  { RunStore store(db_); }
  {
    RawDb raw(db_);
    raw.exec("PRAGMA user_version = 99");
  }
  try {
    RunStore s(db_);
    ADD_FAILURE() << "a newer schema was opened";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("newer adaptis"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(db_), std::string::npos) << e.what();
  }

  const std::string foreign = (fs::path(dir_) / "other.db").string();
  {
    RawDb raw(foreign);
    raw.exec("CREATE TABLE notes (x TEXT)");
  }
  EXPECT_THROW(RunStore{foreign}, InputError);

  const std::string text = (fs::path(dir_) / "text.db").string();
  std::ofstream(text) << "this is not a database, just some text that is long enough to have a header\n";
  try {
    RunStore s(text);
    ADD_FAILURE() << "a text file was opened";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an adaptis run database"), std::string::npos) << e.what();
  }
  EXPECT_THROW(RunStore{dir_}, InputError);  // a directory
  EXPECT_THROW(RunStore{""}, InputError);
}

TEST_F(RunStoreTest, SchemaOneDatabaseIsMigratedKeepingItsRuns) {
  const int64_t id = record_complete_run(db_);
  downgrade_to_schema_one(db_);
  RunStore store(db_);
  EXPECT_EQ(store.schema_version(), 2);
  const RunRecord rec = store.load_run(id);
  ASSERT_EQ(rec.measured.size(), 12u);
  EXPECT_EQ(rec.measured[0].cpu_ns, 0);  // unknown in the old rows
  // The comparison says so instead of inventing a CPU share.
  EXPECT_TRUE(std::isnan(compare_run(rec).cpu_share));
  const int64_t id2 = store.begin_run(sample_info());
  store.record_step(id2, sample_step(0));
  store.finish_run(id2, RunStatus::Complete);
  EXPECT_EQ(store.load_run(id2).measured[2].cpu_ns, 800002);
  EXPECT_NEAR(compare_run(store.load_run(id2)).cpu_share, 0.8 / 0.9, 0.01);  // 0.8 ms CPU in 0.9 ms intervals
}

// Intervals are typed in memory but stored under their text names, so databases of every version read the same:
// the rows an older adaptis wrote load typed, and a kind no version writes is refused with the column named.
TEST_F(RunStoreTest, IntervalKindsAreStoredByNameAndReadBackTyped) {
  const int64_t id = record_complete_run(db_);
  {
    RawDb raw(db_);
    EXPECT_EQ(raw.text("SELECT group_concat(kind, ',') FROM (SELECT kind FROM measured_intervals WHERE device = 0 "
                       "ORDER BY seq)"),
              "F,SEND,B,F,SEND,B");
    EXPECT_EQ(raw.text("SELECT group_concat(tensor, ',') FROM (SELECT tensor FROM measured_intervals WHERE device = 0 "
                       "AND seq < 3 ORDER BY seq)"),
              ",act,");
    EXPECT_EQ(raw.text("SELECT kind FROM predicted_intervals LIMIT 1"), "F");
    // What an older adaptis wrote for a fused backward and a wait on a gradient.
    raw.exec("UPDATE measured_intervals SET kind = 'BW' WHERE device = 1 AND seq = 0");
    raw.exec("UPDATE measured_intervals SET kind = 'WAIT', tensor = 'grad' WHERE device = 1 AND seq = 1");
  }
  {
    RunStore store(db_);
    const RunRecord rec = store.load_run(id);
    ASSERT_EQ(rec.measured.size(), 12u);
    EXPECT_EQ(rec.measured[6].kind, MeasuredKind::Compute);
    EXPECT_EQ(rec.measured[6].op, Op::BW);
    EXPECT_EQ(rec.measured[7].kind, MeasuredKind::WaitRecv);
    EXPECT_EQ(rec.measured[7].tensor, TensorKind::Gradient);
    EXPECT_EQ(measured_kind_name(rec.measured[7]), "WAIT");
  }
  RawDb(db_).exec("UPDATE measured_intervals SET kind = 'JUMP' WHERE device = 1 AND seq = 2");
  RunStore store(db_);
  try {
    store.load_run(id);
    ADD_FAILURE() << "an unknown interval kind was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("measured_intervals.kind"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("JUMP"), std::string::npos) << e.what();
  }
}

TEST_F(RunStoreTest, CreatesMissingDirectories) {
  const std::string nested = (fs::path(dir_) / "a" / "b" / "runs.db").string();
  RunStore store(nested);
  EXPECT_TRUE(fs::exists(nested));
}

TEST_F(RunStoreTest, RunRoundTripsEverything) {
  RunStore store(db_);
  const RunInfo info = sample_info();
  const int64_t id = store.begin_run(info);
  EXPECT_GT(id, 0);
  for (int s = 0; s < 3; ++s) store.record_step(id, sample_step(s));
  store.finish_run(id, RunStatus::Complete);

  const RunRecord rec = store.load_run(id);
  EXPECT_EQ(rec.summary.status, "complete");
  EXPECT_EQ(rec.summary.steps_done, 3);
  EXPECT_EQ(rec.summary.pid, getpid());
  EXPECT_EQ(rec.summary.host, host_name());
  EXPECT_EQ(rec.summary.schedule, "1f1b");
  EXPECT_EQ(rec.summary.model_name, "tiny-test");
  EXPECT_EQ(rec.summary.num_devices, 2);
  EXPECT_DOUBLE_EQ(rec.summary.predicted_iteration_ms, 12.5);
  EXPECT_DOUBLE_EQ(rec.summary.final_loss, sample_step(2).loss);
  EXPECT_EQ(rec.summary.grad_checksum, sample_step(2).grad_checksum);
  EXPECT_GT(rec.summary.finished_utc_ns, rec.summary.started_utc_ns);
  EXPECT_TRUE(rec.summary.error.empty());
  EXPECT_EQ(rec.model, info.model);
  EXPECT_EQ(rec.plan, info.plan);
  EXPECT_EQ(rec.machine["host"], host_name());
  ASSERT_EQ(rec.devices.size(), 2u);
  EXPECT_EQ(rec.devices[1].name, "cpu-thread-1");
  EXPECT_DOUBLE_EQ(rec.devices[1].predicted_busy_ms, 9);
  EXPECT_EQ(rec.devices[1].measured_peak_activation_bytes, 4096 * 2 + 2);  // max over steps
  ASSERT_EQ(rec.steps.size(), 3u);
  EXPECT_EQ(rec.steps[1].microbatch_losses, sample_step(1).microbatch_losses);
  EXPECT_EQ(rec.steps[2].pipeline_end_ns - rec.steps[2].start_ns, 12000000);
  ASSERT_EQ(rec.measured.size(), 3u * 2 * 6);
  EXPECT_EQ(rec.measured[1].kind, MeasuredKind::Send);
  EXPECT_EQ(rec.measured[1].tensor, TensorKind::Activation);
  EXPECT_EQ(rec.measured[2].kind, MeasuredKind::Compute);
  EXPECT_EQ(rec.measured[2].op, Op::B);
  EXPECT_EQ(rec.predicted[0].op, Op::F);
  EXPECT_EQ(rec.measured[1].peer, 1);
  EXPECT_EQ(rec.measured[5].cpu_ns, 800005);
  EXPECT_EQ(rec.predicted.size(), info.predicted.size());
  // The summary's measured time is the median of the iterations after the first (11 and 12 ms).
  EXPECT_DOUBLE_EQ(rec.summary.measured_iteration_ms, 11.5);

  const auto runs = store.list_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].id, id);
  EXPECT_EQ(parse_run_ref("latest", store), id);
  EXPECT_EQ(parse_run_ref(std::to_string(id), store), id);
  EXPECT_THROW(parse_run_ref("abc", store), InputError);
  EXPECT_THROW(parse_run_ref("-1", store), InputError);
  EXPECT_THROW(store.load_run(id + 100), InputError);
  EXPECT_THROW(store.finish_run(id + 100, RunStatus::Failed), InputError);

  // A second run lists first (newest first); a failed run keeps its error.
  const int64_t id2 = store.begin_run(sample_info());
  store.finish_run(id2, RunStatus::Failed, "device 1 failed");
  const auto runs2 = store.list_runs();
  ASSERT_EQ(runs2.size(), 2u);
  EXPECT_EQ(runs2[0].id, id2);
  EXPECT_EQ(runs2[0].status, "failed");
  EXPECT_EQ(runs2[0].error, "device 1 failed");
  EXPECT_TRUE(std::isnan(runs2[0].measured_iteration_ms));
}

TEST_F(RunStoreTest, IterationsOfARunCommitTogetherNotRowByRow) {
  RunStore writer(db_);
  writer.set_checkpoint_interval_ms(1e9);  // no checkpoint inside this test
  const int64_t id = writer.begin_run(sample_info());
  RawDb reader(db_, SQLITE_OPEN_READONLY);
  // begin_run commits the run itself, so other processes list it as running at once.
  EXPECT_EQ(reader.text("SELECT status FROM runs WHERE id = " + std::to_string(id)), "running");
  // Iterations wait in one open transaction for the next checkpoint: nothing of them is visible yet.
  writer.record_step(id, sample_step(0));
  writer.record_step(id, sample_step(1));
  writer.record_step(id, sample_step(2));
  EXPECT_EQ(reader.integer("SELECT count(*) FROM steps"), 0);
  EXPECT_EQ(reader.integer("SELECT count(*) FROM measured_intervals"), 0);
  EXPECT_EQ(reader.integer("SELECT steps_done FROM runs"), 0);
  writer.checkpoint();
  EXPECT_EQ(reader.integer("SELECT count(*) FROM steps"), 3);
  EXPECT_EQ(reader.integer("SELECT count(*) FROM measured_intervals"), 36);
  writer.record_step(id, sample_step(3));
  EXPECT_EQ(reader.integer("SELECT count(*) FROM steps"), 3);
  writer.finish_run(id, RunStatus::Complete);
  EXPECT_EQ(reader.integer("SELECT count(*) FROM steps"), 4);
  EXPECT_EQ(reader.text("SELECT status FROM runs"), "complete");
}

TEST_F(RunStoreTest, ReadOnlyStoreNeverCreatesAnything) {
  const std::string nested = (fs::path(dir_) / "a" / "b" / "runs.db").string();
  try {
    RunStore store(nested, StoreAccess::ReadOnly);
    FAIL() << "opened a database that does not exist";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no run database at " + nested), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "a"));
  EXPECT_THROW(RunStore(db_, StoreAccess::ReadOnly), InputError);
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(RunStoreTest, ReadOnlyStoreReadsWithoutWriting) {
  const int64_t id = record_complete_run(db_);
  RunStore ro(db_, StoreAccess::ReadOnly);
  EXPECT_TRUE(ro.read_only());
  ASSERT_EQ(ro.list_runs().size(), 1u);
  EXPECT_EQ(ro.latest_run_id(), id);
  EXPECT_EQ(ro.load_run(id).steps.size(), 1u);
  EXPECT_THROW(ro.begin_run(sample_info()), InputError);  // SQLite refuses: opened read-only
  EXPECT_EQ(ro.list_runs().size(), 1u);
}

TEST_F(RunStoreTest, ReadOnlyStoreReadsASchemaOneDatabaseWithoutMigratingIt) {
  const int64_t id = record_complete_run(db_);
  downgrade_to_schema_one(db_);
  RunStore ro(db_, StoreAccess::ReadOnly);
  EXPECT_EQ(ro.schema_version(), 1);
  const RunRecord rec = ro.load_run(id);
  ASSERT_EQ(rec.measured.size(), 12u);
  EXPECT_EQ(rec.measured[0].cpu_ns, 0);
  RawDb raw(db_, SQLITE_OPEN_READONLY);
  EXPECT_EQ(raw.text("PRAGMA user_version"), "1");
}

TEST_F(RunStoreTest, ReadOnlyStoreOverAnEmptySqliteFileHoldsNoRuns) {
  { std::ofstream touch(db_); }  // what an older adaptis left behind for a mistyped --db
  RunStore ro(db_, StoreAccess::ReadOnly);
  EXPECT_TRUE(ro.list_runs().empty());
  EXPECT_EQ(ro.latest_run_id(), 0);
  EXPECT_THROW(ro.load_run(1), InputError);
  EXPECT_EQ(fs::file_size(db_), 0u);
}

TEST_F(RunStoreTest, KilledRunIsMarkedIncompleteAndKeepsWhatItCommitted) {
  { RunStore init(db_); }
  int64_t child_pid = 0;
  // The child records steps 0 and 1 (each committed), step 2 inside an open transaction, then is killed.
  const pid_t pid = fork_child([&] {
    RunStore store(db_);
    store.set_checkpoint_interval_ms(0);
    const int64_t id = store.begin_run(sample_info(2, 10));
    store.record_step(id, sample_step(0));
    store.record_step(id, sample_step(1));
    store.set_checkpoint_interval_ms(1e9);
    store.record_step(id, sample_step(2));
    raise(SIGKILL);
    return 0;
  });
  ASSERT_GT(pid, 0);
  child_pid = pid;
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

  // Before any adaptis store opens the file, the row still says running.
  {
    RawDb raw(db_, SQLITE_OPEN_READONLY);
    EXPECT_EQ(raw.text("SELECT status FROM runs"), "running");
  }
  {
    // A read-only store shows it as incomplete without writing.
    RunStore ro(db_, StoreAccess::ReadOnly);
    const auto seen = ro.list_runs();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].status, "incomplete");
    EXPECT_NE(seen[0].error.find("pid " + std::to_string(child_pid)), std::string::npos) << seen[0].error;
    EXPECT_EQ(ro.load_run(seen[0].id).summary.status, "incomplete");
    EXPECT_EQ(ro.mark_dead_runs_incomplete(), 0);
    RawDb raw(db_, SQLITE_OPEN_READONLY);
    EXPECT_EQ(raw.text("SELECT status FROM runs"), "running");
  }
  RunStore store(db_);  // opening read-write marks it
  const auto runs = store.list_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, "incomplete");
  EXPECT_EQ(runs[0].pid, child_pid);
  EXPECT_NE(runs[0].error.find("pid " + std::to_string(child_pid)), std::string::npos) << runs[0].error;
  EXPECT_GT(runs[0].finished_utc_ns, 0);
  const RunRecord rec = store.load_run(runs[0].id);
  ASSERT_EQ(rec.steps.size(), 2u);  // step 2 was never committed
  EXPECT_EQ(rec.summary.steps_done, 2);
  EXPECT_EQ(rec.measured.size(), 2u * 2 * 6);
  std::set<int> steps;
  for (const auto& m : rec.measured) steps.insert(m.step);
  EXPECT_EQ(steps, (std::set<int>{0, 1}));
  EXPECT_EQ(rec.predicted.size(), sample_info().predicted.size());
  // What it kept is still a usable comparison.
  EXPECT_EQ(compare_run(rec).steps_used, 1);
  EXPECT_EQ(store.mark_dead_runs_incomplete(), 0);  // idempotent
}

TEST_F(RunStoreTest, ExitedButUnreapedRecorderCountsAsDead) {
  { RunStore init(db_); }
  const pid_t pid = fork_child([&] {
    RunStore store(db_);
    const int64_t id = store.begin_run(sample_info());
    store.record_step(id, sample_step(0));
    store.checkpoint();
    return 0;  // _exit without finish_run: the run never finished
  });
  ASSERT_GT(pid, 0);
  siginfo_t info{};
  // Wait for the exit but leave the child a zombie: its pid still exists in /proc.
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(info.si_status, 0);
  {
    RunStore store(db_);
    ASSERT_EQ(store.list_runs().size(), 1u);
    EXPECT_EQ(store.list_runs()[0].status, "incomplete");
    EXPECT_EQ(store.list_runs()[0].steps_done, 1);
  }
  int st = 0;
  waitpid(pid, &st, 0);
}

TEST_F(RunStoreTest, LiveRunOfAnotherStoreIsNotMarked) {
  RunStore writer(db_);
  const int64_t id = writer.begin_run(sample_info());
  RunStore other(db_);
  EXPECT_EQ(other.mark_dead_runs_incomplete(), 0);
  EXPECT_EQ(other.load_run(id).summary.status, "running");
  writer.finish_run(id, RunStatus::Complete);
  EXPECT_EQ(other.load_run(id).summary.status, "complete");
}

// Checks one snapshot of the store: every committed step has all its intervals and no interval belongs to
// a step that is not there; steps_done agrees. Returns the number of steps seen, -1 on inconsistency.
int check_snapshot(const RunStore& store, int devices, int per_device) {
  const auto runs = store.list_runs();
  if (runs.empty()) return 0;
  const RunRecord rec = store.load_run(runs[0].id);
  std::set<int> steps;
  for (const auto& s : rec.steps) steps.insert(s.step);
  std::map<int, int> intervals;
  for (const auto& m : rec.measured) ++intervals[m.step];
  if (intervals.size() != steps.size()) return -1;
  for (const auto& [step, n] : intervals)
    if (!steps.count(step) || n != devices * per_device) return -1;
  if (rec.summary.steps_done != static_cast<int>(steps.size())) return -1;
  return static_cast<int>(steps.size());
}

TEST_F(RunStoreTest, ReadersInOtherProcessesWhileOneProcessWrites) {
  { RunStore init(db_); }
  constexpr int kSteps = 60, kDevices = 4, kPerDevice = 40;
  // Writer process: one run, every step committed (checkpoint interval 0), then complete.
  const pid_t writer = fork_child([&] {
    RunStore store(db_);
    store.set_checkpoint_interval_ms(0);
    const int64_t id = store.begin_run(sample_info(kDevices, kSteps));
    for (int s = 0; s < kSteps; ++s) {
      store.record_step(id, sample_step(s, kDevices, kPerDevice));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    store.finish_run(id, RunStatus::Complete);
    return 0;
  });
  ASSERT_GT(writer, 0);
  // A second reader process: reopens the store repeatedly; exit code 1 = inconsistent snapshot,
  // 2 = it never saw the run grow, 99 = an exception (e.g. database locked).
  const pid_t reader = fork_child([&] {
    int last = 0, changes = 0;
    for (int i = 0; i < 400; ++i) {
      RunStore store(db_);
      const int n = check_snapshot(store, kDevices, kPerDevice);
      if (n < 0 || n < last) return 1;
      if (n != last) ++changes;
      last = n;
      if (n == kSteps && !store.list_runs().empty() && store.list_runs()[0].status == "complete") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return changes > 0 ? 0 : 2;
  });
  ASSERT_GT(reader, 0);
  // And this process reads through one long-lived store.
  RunStore mine(db_);
  int last = 0;
  bool saw_partial = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const int n = check_snapshot(mine, kDevices, kPerDevice);
    ASSERT_GE(n, 0) << "inconsistent snapshot";
    ASSERT_GE(n, last) << "steps went backwards";
    if (n > 0 && n < kSteps) saw_partial = true;
    last = n;
    if (n == kSteps && mine.list_runs()[0].status == "complete") break;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer did not finish";
  }
  EXPECT_TRUE(saw_partial) << "the reader never saw the run while it was being written";
  int ws = 0, rs = 0;
  ASSERT_EQ(waitpid(writer, &ws, 0), writer);
  ASSERT_EQ(waitpid(reader, &rs, 0), reader);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0) << "writer status " << ws;
  EXPECT_TRUE(WIFEXITED(rs) && WEXITSTATUS(rs) == 0) << "reader exit " << WEXITSTATUS(rs);
}

TEST(RunStorePaths, DefaultDatabaseFollowsXdgDataHome) {
  const char* old_xdg = std::getenv("XDG_DATA_HOME");
  const std::string saved_xdg = old_xdg ? old_xdg : "";
  const char* old_home = std::getenv("HOME");
  const std::string saved_home = old_home ? old_home : "";
  setenv("XDG_DATA_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(default_run_db_path(), "/tmp/xdg-test/adaptis/runs.db");
  setenv("XDG_DATA_HOME", "relative/dir", 1);  // not absolute: ignored, per the XDG spec
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(default_run_db_path(), "/home/someone/.local/share/adaptis/runs.db");
  unsetenv("XDG_DATA_HOME");
  EXPECT_EQ(default_run_db_path(), "/home/someone/.local/share/adaptis/runs.db");
  unsetenv("HOME");
  EXPECT_THROW(default_run_db_path(), InputError);
  if (old_xdg) setenv("XDG_DATA_HOME", saved_xdg.c_str(), 1);
  if (old_home) setenv("HOME", saved_home.c_str(), 1);
}

TEST(RunStoreRecords, StepRecordHasOneIntervalPerInstructionPlusOptimizer) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 2;
  req.microbatches = 2;
  const Plan plan = build_plan(req, 4);
  const Program prog = lower_plan(plan);
  StepResult r;
  r.step = 3;
  r.loss = 2.5;
  r.mb_losses = {2.0, 3.0};
  r.start_ns = 10;
  r.intervals.resize(2);
  r.optimizer.resize(2);
  int64_t t = 10;
  for (int d = 0; d < 2; ++d) {
    for (size_t i = 0; i < prog.devices[d].size(); ++i, t += 5) r.intervals[d].push_back({t, t + 4});
    r.optimizer[d] = {t, t + 3};
  }
  r.pipeline_end_ns = t;
  r.end_ns = t + 3;
  r.peak_activation_bytes = {100, 200};
  const StepRecord s = make_step_record(prog, r, "abc");
  EXPECT_EQ(s.intervals.size(), prog.num_instructions() + 2);
  EXPECT_EQ(s.grad_checksum, "abc");
  EXPECT_EQ(s.peak_activation_bytes, (std::vector<int64_t>{100, 200}));
  int opt = 0;
  for (const auto& m : s.intervals) {
    EXPECT_EQ(m.step, 3);
    if (m.kind == MeasuredKind::Optimizer) {
      ++opt;
      EXPECT_EQ(m.seq, -1);
      continue;
    }
    const Instruction& ins = prog.devices[m.device][m.seq];
    EXPECT_EQ(measured_kind_name(m), ins.kind_name());
    if (ins.kind == InstrKind::Compute) {
      EXPECT_EQ(m.kind, MeasuredKind::Compute);
      EXPECT_EQ(m.op, ins.op);
      EXPECT_EQ(m.stage, ins.stage);
    } else {
      EXPECT_TRUE(is_comm(m.kind));
      EXPECT_EQ(m.tensor, ins.tensor.kind);
      EXPECT_EQ(m.peer, ins.peer);
    }
  }
  EXPECT_EQ(opt, 2);
}

}  // namespace
}  // namespace adaptis::exec
