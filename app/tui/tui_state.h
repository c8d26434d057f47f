#pragma once
// The TUI's whole state as plain data, and the pure transitions over it. Nothing here touches the
// terminal: keys come in as codes (tui/keys.h), the driver reports background work (optimizer
// progress, the run store's rows, the launched run) through on_* functions, and asks render() for
// a Screen. Work the logic cannot do itself (start the optimizer thread, spawn a run, read the run
// store, save a file, quit) is requested through `effect`, which the driver carries out and clears.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "cli/compare.h"
#include "cli/inputs.h"

namespace adaptis::tui {

enum class View : int { Layers = 0, Plan, Gantt, Devices, Compare, Runs };
constexpr int kNumViews = 6;
const char* view_name(View v);

// One plan through the planner: built and validated, then simulated. Immutable once made and
// shared between states, so copying a TuiState per key stays cheap.
struct Evaluation {
  PlanRequest request;  // what the user asked for (a copy of the plan's shape when custom)
  // Not built from `request`: the optimizer's plan or a plan file, with its own partition,
  // placement and orders. The boundary keys still edit its partition (orders name stages, not
  // layers); the schedule/devices/micro-batch keys go back to a built-in schedule.
  bool custom = false;
  std::string label;    // what the plan is called on screen: the schedule, "optimized", "plan FILE"
  bool built = false;   // false: the request is impossible; see error
  std::string error;    // InputError text of build/simulate, or the deadlock diagnosis
  Plan plan;            // valid when built
  SimResult sim;        // valid when built (sim.ok false = the orders deadlock)
  std::vector<StageCost> stages;
  double eval_ms = 0;   // wall time of build + simulate (shown so users see edits are cheap)

  bool ok() const { return built && sim.ok; }
};

std::shared_ptr<const Evaluation> evaluate_request(const PlanRequest& request, const cli::Inputs& inputs);
std::shared_ptr<const Evaluation> evaluate_plan(const Plan& plan, const cli::Inputs& inputs, std::string label);

enum class JobState { Idle, Running, Done, Cancelled, Failed };

// What the TUI shows of the optimizer running in the background.
struct OptimizerView {
  JobState state = JobState::Idle;
  double fraction = 0;  // 0..1
  double elapsed_s = 0;
  double best_ms = 0;   // best iteration time so far (0 = none yet)
  long long evaluated = 0;
  std::string phase;
  std::string error;    // when Failed
};

// One recorded run, as the runs view lists it (from the executor's run store).
struct RunRow {
  int64_t id = 0;
  std::string status;    // "running", "complete", "incomplete", "failed"
  std::string schedule;  // the plan's name
  std::string model;
  std::string started;   // local time, "2025-01-31 14:02:11"
  int64_t pid = 0;       // the recording process
  int devices = 0, microbatches = 0, steps = 0, steps_done = 0;
  double measured_ms = 0;   // measured iteration time (0 = none yet)
  double predicted_ms = 0;  // the simulator's prediction for the run's plan (0 = unknown)
  double final_loss = 0;    // valid when steps_done > 0
  std::string error;
};

// The run store as last read (by a background reader: the file may be locked by a writer).
struct RunStoreView {
  std::string db_path;
  bool read = false;      // a read finished (rows and note are meaningful)
  std::string note;       // why there are no rows (no database yet, unreadable, ...)
  bool note_is_error = false;
  std::vector<RunRow> rows;  // newest first
};

// The run this session launched (`adaptis run ... --plan TMP --db DB` as a child process).
struct LaunchedRun {
  int pid = 0;  // 0 = none launched
  bool running = false;
  int exit_status = 0;  // once finished; 128 + signal when killed
  std::string command;
  std::string log_path;
  std::vector<std::string> log_tail;  // last lines of its output
};

enum class Effect { None, Quit, StartOptimizer, CancelOptimizer, LaunchRun, RefreshRuns, SavePlan };

struct TuiConfig {
  bool color = true;
  bool cluster_from_file = false;  // --cluster given: the device count is fixed
  std::string costs_label;         // where the costs came from (file path or "model FILE")
  std::string db_path;             // run store for the runs view and launched runs
  std::string plan_out;            // where `w` saves the current plan
  std::string run_blocker;         // why `r` cannot launch a run ("" = it can)
};

struct TuiState {
  std::shared_ptr<const cli::Inputs> inputs;
  TuiConfig config;
  PlanRequest request;  // the built-in schedule's request the edit keys change
  std::shared_ptr<const Evaluation> eval;    // the plan on screen (request's, or a custom one)
  std::shared_ptr<const Evaluation> custom;  // the last custom plan (optimizer, plan file), for compare
  // The schedule comparison, computed when the compare view is shown for the current devices and
  // micro-batches (compare_for says for which).
  std::shared_ptr<const std::vector<cli::CompareRow>> compare;
  std::string compare_for;

  View view = View::Plan;
  bool show_help = false;
  int viewport_width = 80, viewport_height = 24;  // last terminal size (for page moves and scrolling)
  // Per view: the selected row (Layers, Compare, Runs) or the first device shown (Gantt, Devices).
  int cursor[kNumViews] = {};
  int boundary = 1;        // selected partition boundary: between stage boundary-1 and boundary
  double gantt_zoom = 1;   // 1 = whole iteration
  double gantt_left_ms = 0;  // left edge of the visible window

  std::string message;
  bool message_is_error = false;
  OptimizerView optimizer;
  RunStoreView store;
  LaunchedRun launched;
  Effect effect = Effect::None;
};

// The starting state: shows `initial` (a plan file, say) when given, else evaluates `request`.
TuiState make_state(cli::Inputs inputs, PlanRequest request, TuiConfig config,
                    std::optional<Plan> initial = std::nullopt, const std::string& initial_label = "");

// One key press. Every edit re-runs build_plan + simulate; impossible requests keep the new
// request and show why (so stepping through invalid settings is possible).
TuiState apply_key(TuiState state, int key);
TuiState apply_keys(TuiState state, const std::vector<int>& keys);

TuiState set_viewport(TuiState state, int width, int height);

// Background work reported by the driver.
TuiState on_optimizer_progress(TuiState state, const OptimizerView& progress);
// `best` is the optimizer's plan (nullopt when cancelled before any, or failed: `error`).
TuiState on_optimizer_finished(TuiState state, std::optional<Plan> best, JobState how, const std::string& error);
TuiState on_run_store(TuiState state, RunStoreView store);
TuiState on_launched_run(TuiState state, LaunchedRun run);
TuiState with_message(TuiState state, std::string message, bool is_error = false);

// The chunks (stages) per device of the plan on screen: the request's, resolved to the schedule's
// default when 0; for a custom plan its stages / devices rounded up.
int resolved_stages_per_device(const TuiState& state);
// Micro-batches of the plan on screen.
int shown_microbatches(const TuiState& state);
// The compare view's name for the request's schedule with the user's partition or placement.
std::string edited_label(const std::string& schedule);
// The recorded run the launched child writes (matched by pid), or null.
const RunRow* launched_run_row(const TuiState& state);

}  // namespace adaptis::tui
