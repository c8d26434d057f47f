#include "adaptis/executor/run_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>

#include "adaptis/executor/machine_info.h"
#include "adaptis/store/sqlite_statement.h"
#include "adaptis/model/error.h"
#include "adaptis/model/limits.h"
#include "stored_run_values.h"

namespace adaptis::exec {

using store::SqliteStatement;
using store::sqlite_exec;
using store::sqlite_query_int;

namespace {

// Schema version 1. Times: *_utc_ns are wall-clock epoch ns; interval and step times are steady-clock ns
// relative to the run's own origin (one clock shared by all device threads).
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'incomplete', 'failed')),
  started_utc_ns INTEGER NOT NULL,
  finished_utc_ns INTEGER,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  pid_start INTEGER NOT NULL,
  command TEXT NOT NULL,
  backend TEXT NOT NULL,
  schedule TEXT NOT NULL,
  model_name TEXT NOT NULL,
  num_devices INTEGER NOT NULL,
  num_stages INTEGER NOT NULL,
  num_microbatches INTEGER NOT NULL,
  steps INTEGER NOT NULL,
  steps_done INTEGER NOT NULL DEFAULT 0,
  predicted_iteration_ms REAL,
  measured_iteration_ms REAL,
  final_loss REAL,
  grad_checksum TEXT,
  error TEXT,
  plan_json TEXT NOT NULL,
  model_json TEXT NOT NULL,
  costs_json TEXT NOT NULL,
  machine_json TEXT NOT NULL
) STRICT;
CREATE INDEX runs_by_status ON runs(status);
CREATE TABLE devices (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  device INTEGER NOT NULL,
  name TEXT NOT NULL,
  stages TEXT NOT NULL,
  predicted_busy_ms REAL NOT NULL,
  predicted_end_ms REAL NOT NULL,
  predicted_peak_activation_bytes REAL NOT NULL,
  measured_peak_activation_bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, device)
) STRICT, WITHOUT ROWID;
CREATE TABLE steps (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  loss REAL NOT NULL,
  microbatch_losses TEXT NOT NULL,
  start_ns INTEGER NOT NULL,
  pipeline_end_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  grad_checksum TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
) STRICT, WITHOUT ROWID;
CREATE TABLE measured_intervals (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  device INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  tensor TEXT NOT NULL,
  stage INTEGER NOT NULL,
  mb INTEGER NOT NULL,
  peer INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX measured_by_device ON measured_intervals(run_id, device, start_ns);
CREATE TABLE predicted_intervals (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  device INTEGER NOT NULL,
  kind TEXT NOT NULL,
  stage INTEGER NOT NULL,
  mb INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX predicted_by_device ON predicted_intervals(run_id, device, start_ns);
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;
INSERT INTO meta(name, value) VALUES ('created_by', 'adaptis'), ('time_unit', 'ns');
)sql";

int64_t now_utc_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Names this database in every SQLite error ("<path>: run database step failed: ...").
constexpr const char* kRunDatabase = "run database";

// Holds a read transaction for its lifetime (unless the connection is already inside one).
class ReadSnapshot {
 public:
  ReadSnapshot(sqlite3* db, const std::string& path, bool already_in_txn) : db_(db), active_(!already_in_txn) {
    if (active_) sqlite_exec(db, path, kRunDatabase, "BEGIN DEFERRED");
  }
  ~ReadSnapshot() {
    if (active_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

 private:
  sqlite3* db_;
  bool active_;
};

std::string dead_run_error(int64_t pid) {
  return "the recording process (pid " + std::to_string(pid) + ") ended before the run finished";
}

}  // namespace

std::string default_run_db_path() {
  namespace fs = std::filesystem;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x && fs::path(x).is_absolute())
    return (fs::path(x) / "adaptis" / "runs.db").string();
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    throw InputError("db", "cannot find a data directory: neither XDG_DATA_HOME nor HOME is set; name the database file");
  return (fs::path(home) / ".local" / "share" / "adaptis" / "runs.db").string();
}

const char* run_status_name(RunStatus s) {
  switch (s) {
    case RunStatus::Running: return "running";
    case RunStatus::Complete: return "complete";
    case RunStatus::Incomplete: return "incomplete";
    case RunStatus::Failed: return "failed";
  }
  return "?";
}

bool is_comm(MeasuredKind k) {
  return k == MeasuredKind::Send || k == MeasuredKind::PostRecv || k == MeasuredKind::WaitRecv;
}

std::string measured_kind_name(const MeasuredInterval& m) {
  switch (m.kind) {
    case MeasuredKind::Compute: return op_name(m.op);
    case MeasuredKind::Send: return "SEND";
    case MeasuredKind::PostRecv: return "RECV";
    case MeasuredKind::WaitRecv: return "WAIT";
    case MeasuredKind::Optimizer: return "OPT";
    case MeasuredKind::Offload: return "OFFLOAD";
    case MeasuredKind::Reload: return "RELOAD";
    case MeasuredKind::WaitReload: return "WAIT_RELOAD";
  }
  return "?";
}

namespace {

MeasuredKind measured_kind(InstrKind k) {
  switch (k) {
    case InstrKind::Compute: return MeasuredKind::Compute;
    case InstrKind::Send: return MeasuredKind::Send;
    case InstrKind::PostRecv: return MeasuredKind::PostRecv;
    case InstrKind::WaitRecv: return MeasuredKind::WaitRecv;
    case InstrKind::Offload: return MeasuredKind::Offload;
    case InstrKind::Reload: return MeasuredKind::Reload;
    case InstrKind::WaitReload: return MeasuredKind::WaitReload;
  }
  return MeasuredKind::Compute;
}

// The stored names back to a typed interval; InputError naming the database for anything else.
void read_measured_kind(const std::string& kind, const std::string& tensor, MeasuredInterval& m,
                        const std::string& path) {
  if (op_from_name(kind, m.op)) m.kind = MeasuredKind::Compute;
  else if (kind == "SEND") m.kind = MeasuredKind::Send;
  else if (kind == "RECV") m.kind = MeasuredKind::PostRecv;
  else if (kind == "WAIT") m.kind = MeasuredKind::WaitRecv;
  else if (kind == "OPT") m.kind = MeasuredKind::Optimizer;
  else if (kind == "OFFLOAD") m.kind = MeasuredKind::Offload;
  else if (kind == "RELOAD") m.kind = MeasuredKind::Reload;
  else if (kind == "WAIT_RELOAD") m.kind = MeasuredKind::WaitReload;
  else throw InputError(path + ": run database column measured_intervals.kind holds '" + kind + "'");
  if (!is_comm(m.kind)) return;
  if (tensor == tensor_kind_name(TensorKind::Activation)) m.tensor = TensorKind::Activation;
  else if (tensor == tensor_kind_name(TensorKind::Gradient)) m.tensor = TensorKind::Gradient;
  else throw InputError(path + ": run database column measured_intervals.tensor holds '" + tensor + "'");
}

}  // namespace

StepRecord make_step_record(const Program& program, const StepResult& r, const std::string& grad_checksum) {
  StepRecord s;
  s.step = r.step;
  s.loss = r.loss;
  s.microbatch_losses = r.mb_losses;
  s.start_ns = r.start_ns;
  s.pipeline_end_ns = r.pipeline_end_ns;
  s.end_ns = r.end_ns;
  s.grad_checksum = grad_checksum;
  for (int d = 0; d < program.num_devices() && d < static_cast<int>(r.intervals.size()); ++d) {
    const auto& list = program.devices[d];
    for (size_t i = 0; i < list.size() && i < r.intervals[d].size(); ++i) {
      const Instruction& ins = list[i];
      MeasuredInterval m;
      m.step = r.step;
      m.device = d;
      m.seq = static_cast<int>(i);
      m.kind = measured_kind(ins.kind);
      m.op = ins.op;
      if (ins.kind != InstrKind::Compute) m.tensor = ins.tensor.kind;
      m.stage = ins.stage;
      m.mb = ins.mb;
      m.peer = ins.peer;
      m.start_ns = r.intervals[d][i].start_ns;
      m.end_ns = r.intervals[d][i].end_ns;
      m.cpu_ns = r.intervals[d][i].cpu_ns;
      s.intervals.push_back(std::move(m));
    }
    if (d < static_cast<int>(r.optimizer.size()) && r.optimizer[d].end_ns > r.optimizer[d].start_ns) {
      MeasuredInterval m;
      m.step = r.step;
      m.device = d;
      m.seq = -1;
      m.kind = MeasuredKind::Optimizer;
      m.start_ns = r.optimizer[d].start_ns;
      m.end_ns = r.optimizer[d].end_ns;
      m.cpu_ns = r.optimizer[d].cpu_ns;
      s.intervals.push_back(std::move(m));
    }
  }
  for (size_t b : r.peak_activation_bytes) s.peak_activation_bytes.push_back(static_cast<int64_t>(b));
  return s;
}

double measured_iteration_ms(const std::vector<double>& step_iteration_ms) {
  if (step_iteration_ms.empty()) return std::nan("");
  std::vector<double> v(step_iteration_ms.begin() + (step_iteration_ms.size() > 1 ? 1 : 0), step_iteration_ms.end());
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> step_iteration_ms(const std::vector<StepRow>& steps) {
  std::vector<double> out;
  out.reserve(steps.size());
  for (const StepRow& s : steps) out.push_back(s.iteration_ms());
  return out;
}

RunStore::RunStore(const std::string& path, StoreAccess access) : path_(path), access_(access) {
  namespace fs = std::filesystem;
  if (path.empty()) throw InputError("db", "empty path");
  std::error_code ec;
  if (read_only()) {
    // Checked here rather than left to SQLite so the message says what is wrong, not "unable to open".
    if (!fs::exists(path, ec))
      throw InputError("no run database at " + path + (ec && ec != std::errc::no_such_file_or_directory
                                                           ? " (" + ec.message() + ")"
                                                           : std::string(" (runs are recorded by `adaptis run`)")));
  } else {
    fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::exists(parent, ec)) {
      fs::create_directories(parent, ec);
      if (ec) throw InputError(path + ": cannot create the directory " + parent.string() + ": " + ec.message());
    }
  }
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, not a run database");
  const int flags = read_only() ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError(path + ": cannot open the run database: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    open_schema();
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
  if (!read_only()) try {
    mark_dead_runs_incomplete();
  } catch (const InputError&) {
    // Best effort: another writer holding the lock for longer than the busy timeout must not stop a reader.
  }
}

RunStore::~RunStore() {
  if (!db_) return;
  try {
    commit_if_open();
  } catch (...) {
  }
  // Only a store that wrote runs the statistics upkeep: it may take the write lock, which a reader
  // closing beside a long-running writer must never wait for.
  if (wrote_) sqlite3_exec(db_, "PRAGMA optimize", nullptr, nullptr, nullptr);
  sqlite3_close(db_);
}

void RunStore::exec(const char* sql) const { sqlite_exec(db_, path_, kRunDatabase, sql); }

void RunStore::open_schema() {
  // Reading any pragma fails with "file is not a database" for a non-SQLite file.
  int64_t app_id = 0, version = 0, objects = 0;
  try {
    app_id = sqlite_query_int(db_, path_, kRunDatabase, "PRAGMA application_id");
    version = sqlite_query_int(db_, path_, kRunDatabase, "PRAGMA user_version");
    objects = sqlite_query_int(db_, path_, kRunDatabase, "SELECT count(*) FROM sqlite_master");
  } catch (const InputError& e) {
    throw InputError(path_ + ": not an adaptis run database (" + e.what() + ")");
  }
  if (objects > 0 && app_id != kRunStoreApplicationId)
    throw InputError(path_ + ": not an adaptis run database (it holds other tables)");
  if (version > kRunStoreSchemaVersion)
    throw InputError(path_ + ": written by a newer adaptis (run database schema " + std::to_string(version) +
                     "; this build reads up to " + std::to_string(kRunStoreSchemaVersion) + ")");
  if (read_only()) {
    // Read as it is: no migration, no journal-mode change. An SQLite file without any table (as an
    // earlier adaptis left behind for a mistyped --db) holds no runs.
    empty_ = objects == 0;
    if (!empty_ && version < 1) throw InputError(path_ + ": not an adaptis run database (no schema version)");
    schema_ = static_cast<int>(version);
    return;
  }
  exec("PRAGMA foreign_keys = ON");
  if (version < kRunStoreSchemaVersion) {
    // Migrate under the write lock; re-read the version inside, another process may have just done it.
    exec("BEGIN IMMEDIATE");
    try {
      int64_t v = sqlite_query_int(db_, path_, kRunDatabase, "PRAGMA user_version");
      if (v < 1) {
        exec(kSchemaV1);
        exec(("PRAGMA application_id = " + std::to_string(kRunStoreApplicationId)).c_str());
        exec("PRAGMA user_version = 1");
      }
      if (v < 2) {
        // Schema 2: the CPU time each instruction's thread got (old rows read as 0 = unknown).
        exec("ALTER TABLE measured_intervals ADD COLUMN cpu_ns INTEGER NOT NULL DEFAULT 0");
        exec("PRAGMA user_version = 2");
      }
      // Future migrations: if (v < 3) { ...; PRAGMA user_version = 3; }
      exec("COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  exec("PRAGMA journal_mode = WAL");
  exec("PRAGMA synchronous = NORMAL");
}

int RunStore::schema_version() const {
  return static_cast<int>(sqlite_query_int(db_, path_, kRunDatabase, "PRAGMA user_version"));
}

void RunStore::begin_if_needed() {
  if (in_txn_) return;
  exec("BEGIN IMMEDIATE");
  in_txn_ = true;
}

void RunStore::commit_if_open() {
  if (!in_txn_) return;
  exec("COMMIT");
  in_txn_ = false;
  last_commit_ns_ = steady_ns();
}

void RunStore::checkpoint() { commit_if_open(); }

int64_t RunStore::begin_run(const RunInfo& info) {
  wrote_ = true;
  commit_if_open();
  begin_if_needed();
  int64_t id = 0;
  try {
    SqliteStatement run(
        db_, path_, kRunDatabase,
        "INSERT INTO runs (status, started_utc_ns, host, pid, pid_start, command, backend, schedule, "
        "model_name, num_devices, num_stages, num_microbatches, steps, predicted_iteration_ms, plan_json, "
        "model_json, costs_json, machine_json) VALUES ('running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, ?)");
    const int64_t pid = static_cast<int64_t>(getpid());
    run.bind(1, now_utc_ns())
        .bind(2, host_name())
        .bind(3, pid)
        .bind(4, process_start_time(pid))
        .bind(5, info.command)
        .bind(6, info.backend)
        .bind(7, info.schedule)
        .bind(8, info.model_name)
        .bind(9, info.num_devices)
        .bind(10, info.num_stages)
        .bind(11, info.num_microbatches)
        .bind(12, info.steps)
        .bind(13, info.predicted_iteration_ms)
        .bind(14, info.plan.dump())
        .bind(15, info.model.dump())
        .bind(16, info.costs.dump())
        .bind(17, info.machine.dump());
    run.run();
    id = sqlite3_last_insert_rowid(db_);
    SqliteStatement dev(db_, path_, kRunDatabase,
                        "INSERT INTO devices (run_id, device, name, stages, predicted_busy_ms, predicted_end_ms, "
                        "predicted_peak_activation_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const DeviceInfo& d : info.devices) {
      dev.bind(1, id).bind(2, d.device).bind(3, d.name).bind(4, d.stages).bind(5, d.predicted_busy_ms);
      dev.bind(6, d.predicted_end_ms).bind(7, d.predicted_peak_activation_bytes);
      dev.run();
    }
    SqliteStatement pred(db_, path_, kRunDatabase,
                         "INSERT INTO predicted_intervals (run_id, device, kind, stage, mb, start_ns, end_ns) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const PredictedInterval& p : info.predicted) {
      pred.bind(1, id).bind(2, p.device).bind(3, std::string(op_name(p.op))).bind(4, p.stage).bind(5, p.mb);
      pred.bind(6, p.start_ns).bind(7, p.end_ns);
      pred.run();
    }
    commit_if_open();
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    in_txn_ = false;
    throw;
  }
  return id;
}

void RunStore::record_step(int64_t run_id, const StepRecord& s) {
  begin_if_needed();
  nlohmann::json losses = s.microbatch_losses;
  SqliteStatement step(db_, path_, kRunDatabase,
                       "INSERT INTO steps (run_id, step, loss, microbatch_losses, start_ns, pipeline_end_ns, end_ns, "
                       "grad_checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  step.bind(1, run_id).bind(2, s.step).bind(3, s.loss).bind(4, losses.dump()).bind(5, s.start_ns);
  step.bind(6, s.pipeline_end_ns).bind(7, s.end_ns).bind(8, s.grad_checksum);
  step.run();
  SqliteStatement iv(
      db_, path_, kRunDatabase,
      "INSERT INTO measured_intervals (run_id, step, device, seq, kind, tensor, stage, mb, peer, start_ns, "
      "end_ns, cpu_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const MeasuredInterval& m : s.intervals) {
    iv.bind(1, run_id).bind(2, m.step).bind(3, m.device).bind(4, m.seq).bind(5, measured_kind_name(m));
    iv.bind(6, std::string(is_comm(m.kind) ? tensor_kind_name(m.tensor) : ""));
    iv.bind(7, m.stage).bind(8, m.mb).bind(9, m.peer).bind(10, m.start_ns).bind(11, m.end_ns).bind(12, m.cpu_ns);
    iv.run();
  }
  SqliteStatement peak(db_, path_, kRunDatabase,
                       "UPDATE devices SET measured_peak_activation_bytes = max(measured_peak_activation_bytes, ?) "
                       "WHERE run_id = ? AND device = ?");
  for (size_t d = 0; d < s.peak_activation_bytes.size(); ++d) {
    peak.bind(1, s.peak_activation_bytes[d]).bind(2, run_id).bind(3, static_cast<int>(d));
    peak.run();
  }
  // Keep the run's summary current so a run that dies later still lists what it reached.
  std::vector<StepRow> rows;
  {
    SqliteStatement q(db_, path_, kRunDatabase,
                      "SELECT start_ns, pipeline_end_ns FROM steps WHERE run_id = ? ORDER BY step");
    q.bind(1, run_id);
    while (q.step()) {
      StepRow r;
      r.start_ns = q.integer(0);
      r.pipeline_end_ns = q.integer(1);
      rows.push_back(r);
    }
  }
  SqliteStatement upd(db_, path_, kRunDatabase,
                      "UPDATE runs SET steps_done = ?, final_loss = ?, grad_checksum = ?, measured_iteration_ms = ? "
                      "WHERE id = ?");
  upd.bind(1, static_cast<int64_t>(rows.size())).bind(2, s.loss).bind(3, s.grad_checksum);
  upd.bind(4, measured_iteration_ms(step_iteration_ms(rows))).bind(5, run_id);
  upd.run();
  if (steady_ns() - last_commit_ns_ >= static_cast<int64_t>(checkpoint_interval_ms_ * 1e6)) commit_if_open();
}

void RunStore::finish_run(int64_t run_id, RunStatus status, const std::string& error) {
  begin_if_needed();
  SqliteStatement upd(db_, path_, kRunDatabase,
                      "UPDATE runs SET status = ?, finished_utc_ns = ?, error = ? WHERE id = ?");
  upd.bind(1, std::string(run_status_name(status))).bind(2, now_utc_ns());
  if (error.empty()) upd.bind_null(3);
  else upd.bind(3, error);
  upd.bind(4, run_id);
  upd.run();
  if (sqlite3_changes(db_) != 1) {
    commit_if_open();
    throw InputError(path_ + ": no run " + std::to_string(run_id) + " to finish");
  }
  commit_if_open();
}

namespace {

constexpr const char* kSummaryColumns =
    "id, status, started_utc_ns, finished_utc_ns, host, pid, command, backend, schedule, model_name, num_devices, "
    "num_stages, num_microbatches, steps, steps_done, predicted_iteration_ms, measured_iteration_ms, final_loss, "
    "grad_checksum, error";

RunSummary read_summary(const SqliteStatement& s, const std::string& path) {
  RunSummary r;
  r.id = s.integer(0);
  auto narrow = [&](int col, long long hi, const char* name) {
    return stored_int(s.integer(col), 0, hi, path, r.id, name);
  };
  r.status = s.text(1);
  r.started_utc_ns = s.integer(2);
  r.finished_utc_ns = s.integer(3);
  r.host = s.text(4);
  r.pid = s.integer(5);
  r.command = s.text(6);
  r.backend = s.text(7);
  r.schedule = s.text(8);
  r.model_name = s.text(9);
  r.num_devices = narrow(10, kMaxDevices, "num_devices");
  r.num_stages = narrow(11, kMaxStages, "num_stages");
  r.num_microbatches = narrow(12, kMaxMicrobatches, "num_microbatches");
  r.steps = narrow(13, std::numeric_limits<int>::max(), "steps");
  r.steps_done = narrow(14, std::numeric_limits<int>::max(), "steps_done");
  r.predicted_iteration_ms = s.real(15);
  r.measured_iteration_ms = s.real(16);
  r.final_loss = s.real(17);
  r.grad_checksum = s.text(18);
  r.error = s.text(19);
  return r;
}

}  // namespace

std::vector<RunSummary> RunStore::list_runs() const {
  std::vector<RunSummary> out;
  if (empty_) return out;
  SqliteStatement s(db_, path_, kRunDatabase,
                    (std::string("SELECT ") + kSummaryColumns + " FROM runs ORDER BY id DESC").c_str());
  while (s.step()) out.push_back(read_summary(s, path_));
  for (RunSummary& r : out) show_dead_run_as_incomplete(r);
  return out;
}

int64_t RunStore::latest_run_id() const {
  if (empty_) return 0;
  return sqlite_query_int(db_, path_, kRunDatabase, "SELECT coalesce(max(id), 0) FROM runs");
}

void RunStore::show_dead_run_as_incomplete(RunSummary& r) const {
  if (!read_only() || r.status != "running" || r.host != host_name()) return;
  SqliteStatement s(db_, path_, kRunDatabase, "SELECT pid_start FROM runs WHERE id = ?");
  s.bind(1, r.id);
  if (!s.step() || process_alive(r.pid, s.integer(0))) return;
  r.status = "incomplete";
  if (r.error.empty()) r.error = dead_run_error(r.pid);
}

RunRecord RunStore::load_run(int64_t run_id) const {
  // One read transaction for all the SELECTs below: a reader beside a live writer sees one committed
  // snapshot (every step with its intervals), never steps from one commit and intervals from a later one.
  if (empty_) throw InputError(path_ + ": no run " + std::to_string(run_id) + " (the database holds no runs)");
  ReadSnapshot snapshot(db_, path_, in_txn_);
  RunRecord rec;
  {
    SqliteStatement s(db_, path_, kRunDatabase,
                      (std::string("SELECT ") + kSummaryColumns +
                       ", plan_json, model_json, costs_json, machine_json FROM runs WHERE id = ?")
                          .c_str());
    s.bind(1, run_id);
    if (!s.step()) throw InputError(path_ + ": no run " + std::to_string(run_id) + " (see `adaptis runs`)");
    rec.summary = read_summary(s, path_);
    show_dead_run_as_incomplete(rec.summary);
    rec.plan = parse_stored_object(s.text(20), stored_where(path_, run_id, "plan_json"));
    rec.model = parse_stored_object(s.text(21), stored_where(path_, run_id, "model_json"));
    rec.costs = parse_stored_object(s.text(22), stored_where(path_, run_id, "costs_json"));
    rec.machine = parse_stored_object(s.text(23), stored_where(path_, run_id, "machine_json"));
    check_stored_json(rec, path_);
  }
  auto narrow = [&](int64_t v, long long lo, long long hi, const char* column) {
    return stored_int(v, lo, hi, path_, run_id, column);
  };
  auto time_ns = [&](int64_t v, const char* column) { return stored_time_ns(v, path_, run_id, column); };
  {
    SqliteStatement s(
        db_, path_, kRunDatabase,
        "SELECT device, name, stages, predicted_busy_ms, predicted_end_ms, predicted_peak_activation_bytes, "
        "measured_peak_activation_bytes FROM devices WHERE run_id = ? ORDER BY device");
    s.bind(1, run_id);
    while (s.step()) {
      DeviceInfo d;
      d.device = narrow(s.integer(0), 0, kMaxDevices - 1, "devices.device");
      d.name = s.text(1);
      d.stages = s.text(2);
      d.predicted_busy_ms = s.real(3);
      d.predicted_end_ms = s.real(4);
      d.predicted_peak_activation_bytes = s.real(5);
      d.measured_peak_activation_bytes = s.integer(6);
      rec.devices.push_back(d);
    }
  }
  {
    SqliteStatement s(
        db_, path_, kRunDatabase,
        "SELECT step, loss, microbatch_losses, start_ns, pipeline_end_ns, end_ns, grad_checksum FROM steps "
        "WHERE run_id = ? ORDER BY step");
    s.bind(1, run_id);
    while (s.step()) {
      StepRow r;
      r.step = narrow(s.integer(0), 0, std::numeric_limits<int>::max(), "steps.step");
      r.loss = s.real(1);
      r.microbatch_losses = parse_stored_losses(s.text(2), stored_where(path_, run_id, "steps.microbatch_losses"));
      r.start_ns = time_ns(s.integer(3), "steps.start_ns");
      r.pipeline_end_ns = time_ns(s.integer(4), "steps.pipeline_end_ns");
      r.end_ns = time_ns(s.integer(5), "steps.end_ns");
      r.grad_checksum = s.text(6);
      rec.steps.push_back(std::move(r));
    }
  }
  {
    SqliteStatement s(
        db_, path_, kRunDatabase,
        (std::string("SELECT step, device, seq, kind, tensor, stage, mb, peer, start_ns, end_ns, ") +
         (schema_ >= 2 ? "cpu_ns" : "0") +  // schema 1 (read-only, not migrated) has no cpu_ns
         " FROM measured_intervals WHERE run_id = ? ORDER BY step, device, seq")
            .c_str());
    s.bind(1, run_id);
    while (s.step()) {
      MeasuredInterval m;
      m.step = narrow(s.integer(0), 0, std::numeric_limits<int>::max(), "measured_intervals.step");
      m.device = narrow(s.integer(1), 0, kMaxDevices - 1, "measured_intervals.device");
      m.seq = narrow(s.integer(2), -1, std::numeric_limits<int>::max(), "measured_intervals.seq");
      read_measured_kind(s.text(3), s.text(4), m, path_);
      m.stage = narrow(s.integer(5), -1, kMaxStages, "measured_intervals.stage");
      m.mb = narrow(s.integer(6), -1, kMaxMicrobatches, "measured_intervals.mb");
      m.peer = narrow(s.integer(7), -1, kMaxDevices - 1, "measured_intervals.peer");
      m.start_ns = time_ns(s.integer(8), "measured_intervals.start_ns");
      m.end_ns = time_ns(s.integer(9), "measured_intervals.end_ns");
      m.cpu_ns = time_ns(s.integer(10), "measured_intervals.cpu_ns");
      rec.measured.push_back(std::move(m));
    }
  }
  {
    SqliteStatement s(db_, path_, kRunDatabase,
                      "SELECT device, kind, stage, mb, start_ns, end_ns FROM predicted_intervals WHERE run_id = ? "
                      "ORDER BY device, start_ns");
    s.bind(1, run_id);
    while (s.step()) {
      PredictedInterval p;
      p.device = narrow(s.integer(0), 0, kMaxDevices - 1, "predicted_intervals.device");
      if (!op_from_name(s.text(1), p.op))
        throw InputError(path_ + ": run database column predicted_intervals.kind holds '" + s.text(1) + "'");
      p.stage = narrow(s.integer(2), 0, kMaxStages, "predicted_intervals.stage");
      p.mb = narrow(s.integer(3), 0, kMaxMicrobatches, "predicted_intervals.mb");
      p.start_ns = time_ns(s.integer(4), "predicted_intervals.start_ns");
      p.end_ns = time_ns(s.integer(5), "predicted_intervals.end_ns");
      rec.predicted.push_back(std::move(p));
    }
  }
  return rec;
}

int RunStore::mark_dead_runs_incomplete() {
  if (read_only()) return 0;
  std::vector<std::pair<int64_t, int64_t>> dead;  // id, pid
  {
    SqliteStatement s(db_, path_, kRunDatabase,
                      "SELECT id, pid, pid_start FROM runs WHERE status = 'running' AND host = ?");
    s.bind(1, host_name());
    while (s.step())
      if (!process_alive(s.integer(1), s.integer(2))) dead.emplace_back(s.integer(0), s.integer(1));
  }
  if (dead.empty()) return 0;
  const bool own_txn = !in_txn_;
  if (own_txn) begin_if_needed();
  SqliteStatement upd(db_, path_, kRunDatabase,
                      "UPDATE runs SET status = 'incomplete', finished_utc_ns = ?, error = coalesce(error, ?) "
                      "WHERE id = ? AND status = 'running'");
  int marked = 0;
  for (auto [id, pid] : dead) {
    upd.bind(1, now_utc_ns())
        .bind(2, dead_run_error(pid))
        .bind(3, id);
    upd.run();
    marked += sqlite3_changes(db_);
  }
  if (own_txn) commit_if_open();
  return marked;
}

std::optional<int64_t> parse_run_id(const std::string& text) {
  if (text == "latest" || text == "last") return std::nullopt;
  size_t used = 0;
  long long id = 0;
  try {
    id = std::stoll(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used != text.size() || text.empty() || id <= 0)
    throw InputError("RUN: expected a run id (see `adaptis runs`) or 'latest', got '" + text + "'");
  return id;
}

int64_t parse_run_ref(const std::string& text, const RunStore& store) {
  if (const std::optional<int64_t> id = parse_run_id(text)) return *id;
  const int64_t latest = store.latest_run_id();
  if (latest == 0) throw InputError(store.path() + ": no runs recorded yet");
  return latest;
}

}  // namespace adaptis::exec
