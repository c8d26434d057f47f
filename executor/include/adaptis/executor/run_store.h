#pragma once
// Recorded runs in SQLite: for every executed run, the plan, the model, the cost input, the machine and the
// predicted timeline, then each iteration's measured per-instruction timeline and loss.
//
// Durability and concurrency:
//   - schema versioned by PRAGMA user_version (and tagged with PRAGMA application_id); a database written by a
//     newer adaptis is refused instead of misread;
//   - WAL journal, so readers (`adaptis runs`, the GUI) never block the writer and see committed runs only;
//   - begin_run commits the run as 'running' with everything known up front; iterations are then recorded in
//     one open transaction that is committed at checkpoints (at most every `checkpoint_interval_ms`, and at
//     the end), never row by row;
//   - a run whose process died midway keeps what its last checkpoint committed: any store opened later on the
//     same host marks a 'running' row whose process is gone (pid, and the pid's start time against reuse) as
//     'incomplete'.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/executor/runtime.h"

struct sqlite3;

namespace adaptis::exec {

// 1: first release. 2: measured_intervals.cpu_ns (thread CPU time of each instruction).
// The kind columns keep their text names (the intervals carry them typed in memory), so every version reads
// the same rows.
constexpr int kRunStoreSchemaVersion = 2;
constexpr int32_t kRunStoreApplicationId = 0x41445054;  // "ADPT"

// $XDG_DATA_HOME/adaptis/runs.db, else ~/.local/share/adaptis/runs.db.
std::string default_run_db_path();

enum class RunStatus { Running, Complete, Incomplete, Failed };
const char* run_status_name(RunStatus s);  // "running", "complete", "incomplete", "failed"

struct PredictedInterval {
  int device = 0;
  Op op = Op::F;
  int stage = 0, mb = 0;
  int64_t start_ns = 0, end_ns = 0;
};

// What a measured interval was: one instruction of the device's list (a compute, a message, a host copy of
// activations: offload, reload, wait for a reload), or the device's optimizer step.
enum class MeasuredKind : uint8_t { Compute, Send, PostRecv, WaitRecv, Optimizer, Offload, Reload, WaitReload };
bool is_comm(MeasuredKind k);  // Send, PostRecv or WaitRecv

struct MeasuredInterval {
  int step = 0;
  int device = 0;
  int seq = 0;       // position in the device's instruction list; -1 for the optimizer step
  MeasuredKind kind = MeasuredKind::Compute;
  Op op = Op::F;                              // Compute: which pass
  TensorKind tensor = TensorKind::Activation;  // Send / PostRecv / WaitRecv: the message's kind
  int stage = -1, mb = -1, peer = -1;  // comm: the message's producing stage and micro-batch, and the peer device
  int64_t start_ns = 0, end_ns = 0;  // relative to the run's clock origin
  int64_t cpu_ns = 0;                // CPU time the device's thread got meanwhile (0 in schema-1 records)
};

// The names the database stores in its `kind` columns (and reports show): the op ("F", "B", "W", "BW", "R") for
// a compute, else "SEND", "RECV", "WAIT", "OPT", "OFFLOAD", "RELOAD" or "WAIT_RELOAD".
std::string measured_kind_name(const MeasuredInterval& m);

struct DeviceInfo {
  int device = 0;
  std::string name;    // e.g. "cpu-thread-0"
  std::string stages;  // "0,4"
  double predicted_busy_ms = 0, predicted_end_ms = 0, predicted_peak_activation_bytes = 0;
  int64_t measured_peak_activation_bytes = 0;  // filled when the run finishes
};

// Everything known before the first iteration.
struct RunInfo {
  std::string command;
  std::string backend = "cpu";
  std::string schedule;
  std::string model_name;
  nlohmann::json model = nlohmann::json::object();
  nlohmann::json plan = nlohmann::json::object();
  nlohmann::json costs = nlohmann::json::object();
  nlohmann::json machine = nlohmann::json::object();
  int num_devices = 0, num_stages = 0, num_microbatches = 0, steps = 0;
  double predicted_iteration_ms = 0;
  std::vector<DeviceInfo> devices;
  std::vector<PredictedInterval> predicted;
};

// One iteration as the steps table holds it (what load_run reads back).
struct StepRow {
  int step = 0;
  double loss = 0;
  std::vector<double> microbatch_losses;
  int64_t start_ns = 0, pipeline_end_ns = 0, end_ns = 0;
  std::string grad_checksum;
  // In double: stored times are inputs too, and their difference must not overflow int64.
  double iteration_ms() const { return (static_cast<double>(pipeline_end_ns) - static_cast<double>(start_ns)) * 1e-6; }
};

// What record_step writes: the iteration's row plus its measured timeline and each device's peak.
struct StepRecord : StepRow {
  std::vector<MeasuredInterval> intervals;
  std::vector<int64_t> peak_activation_bytes;  // per device
};

// The measured iteration as a store record: one interval per instruction plus each device's optimizer step.
StepRecord make_step_record(const Program& program, const StepResult& result, const std::string& grad_checksum);

struct RunSummary {
  int64_t id = 0;
  std::string status;
  int64_t started_utc_ns = 0, finished_utc_ns = 0;  // finished: 0 while running
  std::string host;
  int64_t pid = 0;
  std::string command, backend, schedule, model_name;
  int num_devices = 0, num_stages = 0, num_microbatches = 0, steps = 0, steps_done = 0;
  double predicted_iteration_ms = 0;
  double measured_iteration_ms = 0;  // NaN until an iteration was recorded
  double final_loss = 0;             // NaN until an iteration was recorded
  std::string grad_checksum, error;
};

struct RunRecord {
  RunSummary summary;
  nlohmann::json plan, model, costs, machine;
  std::vector<DeviceInfo> devices;
  std::vector<StepRow> steps;
  std::vector<MeasuredInterval> measured;    // ordered by step, device, seq
  std::vector<PredictedInterval> predicted;  // ordered by device, start
};

// The measured iteration time of a run, from its steps' iteration times (pipeline end - start) in step
// order: their median, leaving out the first step when there are several (it pays for first-touch
// allocation and cold caches). NaN when there is no step. The one definition every report uses.
double measured_iteration_ms(const std::vector<double>& step_iteration_ms);
// The iteration times of recorded steps, in their order (for measured_iteration_ms).
std::vector<double> step_iteration_ms(const std::vector<StepRow>& steps);

// How a store is opened. Only the commands that record (`adaptis run`) create a database; every reader
// (`runs`, `show`, `export RUN`, the TUI's and GUI's run lists) opens it read-only and never creates,
// migrates or otherwise writes anything, so a mistyped --db leaves no file behind.
enum class StoreAccess {
  Create,    // read-write; creates the file, its directory and the schema when needed
  ReadOnly,  // SQLITE_OPEN_READONLY; InputError "no run database at PATH" when the file does not exist
};

class RunStore {
 public:
  // Opens the database. Create also marks dead 'running' runs of this host incomplete; ReadOnly reports
  // them as incomplete without writing (list_runs / load_run). Throws InputError naming the path when it
  // cannot be opened, is not an adaptis run database, or was written by a newer schema.
  explicit RunStore(const std::string& path, StoreAccess access = StoreAccess::Create);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }
  bool read_only() const { return access_ == StoreAccess::ReadOnly; }
  int schema_version() const;
  // Commit open iteration records after this long (ms); 0 = at every record_step.
  void set_checkpoint_interval_ms(double ms) { checkpoint_interval_ms_ = ms; }

  // Writing (one run at a time per RunStore).
  int64_t begin_run(const RunInfo& info);
  void record_step(int64_t run_id, const StepRecord& step);
  void checkpoint();  // commits the iterations recorded so far
  // Final status; `error` for failed runs. Commits.
  void finish_run(int64_t run_id, RunStatus status, const std::string& error = "");

  // Reading.
  std::vector<RunSummary> list_runs() const;  // newest first
  // InputError when there is no such run, or when what is stored is damaged ("run database PATH: run
  // N: field plan_json: ..."): the stored JSON is parsed with the limits of any input file, plan_json
  // must be a valid adaptis plan, model_json/costs_json/machine_json objects whose fields read by
  // `show` and `export` have their types, and integer columns are range-checked before narrowing.
  RunRecord load_run(int64_t run_id) const;
  int64_t latest_run_id() const;              // 0 when the store is empty
  // Re-checks 'running' rows of this host whose process is gone; returns how many were marked (0 when
  // read-only).
  int mark_dead_runs_incomplete();

 private:
  // A read-only store shows a 'running' row of this host whose process is gone as the writer would
  // mark it: incomplete, with the reason.
  void show_dead_run_as_incomplete(RunSummary& r) const;

  void exec(const char* sql) const;
  void open_schema();
  void begin_if_needed();
  void commit_if_open();

  std::string path_;
  StoreAccess access_ = StoreAccess::Create;
  int schema_ = kRunStoreSchemaVersion;  // of the file (a read-only store reads older ones as they are)
  bool empty_ = false;                   // read-only: an SQLite file without the schema (reads as no runs)
  sqlite3* db_ = nullptr;
  bool in_txn_ = false;
  bool wrote_ = false;  // began a run (only writers run PRAGMA optimize on close)
  double checkpoint_interval_ms_ = 1000;
  int64_t last_commit_ns_ = 0;
};

// The run id written in `text`, or nullopt for "latest"/"last"; InputError otherwise. Needs no database,
// so a mistyped reference is reported before one is opened.
std::optional<int64_t> parse_run_id(const std::string& text);
// Parses "latest", "last" or a run id; InputError otherwise.
int64_t parse_run_ref(const std::string& text, const RunStore& store);

}  // namespace adaptis::exec
