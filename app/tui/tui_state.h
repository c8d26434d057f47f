#pragma once
// The TUI's whole state as plain data, and the pure transitions over it. Nothing here touches the
// terminal: keys come in as codes (tui/keys.h), the driver reports background work (optimizer
// progress, runs read from the store) through on_* functions, and asks render() for a Screen.
// Work the logic cannot do itself (start the optimizer thread, spawn a run, save a file, quit) is
// requested through `effect`, which the driver carries out and clears.
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
  PlanRequest request;          // what the user asked for (unused when from_optimizer)
  bool from_optimizer = false;  // the optimizer's plan: its own partition, placement and orders
  bool built = false;           // false: the request is impossible; see error
  std::string error;            // InputError text of build/simulate, or the deadlock diagnosis
  Plan plan;                    // valid when built
  SimResult sim;                // valid when built (sim.ok false = the orders deadlock)
  std::vector<StageCost> stages;
  double eval_ms = 0;           // wall time of build + simulate (shown so users see edits are cheap)

  bool ok() const { return built && sim.ok; }
};

std::shared_ptr<const Evaluation> evaluate_request(const PlanRequest& request, const cli::Inputs& inputs);
std::shared_ptr<const Evaluation> evaluate_plan(const Plan& plan, const cli::Inputs& inputs);

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

// One recorded run, as the runs view lists it.
struct RunRow {
  std::string id;
  std::string plan;     // plan/schedule name
  std::string status;   // "running", "done", "failed", ...
  std::string started;  // human timestamp
  int steps = 0;
  double measured_ms = 0;   // measured iteration time (0 = none yet)
  double predicted_ms = 0;  // the simulator's prediction for the run's plan (0 = unknown)
};

struct RunsView {
  std::string db_path;
  bool store_available = false;  // false: note says why (executor not built, no DB yet, ...)
  std::string note;
  std::vector<RunRow> rows;
  // The run this session launched (a child process), if any.
  int child_pid = 0;
  bool child_running = false;
  int child_exit = 0;  // exit status once finished
  std::string child_command;
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
  bool optimizer_available = false;
  bool runs_available = false;     // `adaptis run` can be launched
};

struct TuiState {
  std::shared_ptr<const cli::Inputs> inputs;
  TuiConfig config;
  PlanRequest request;  // the built-in schedule's request the edit keys change
  std::shared_ptr<const Evaluation> eval;  // the plan on screen (request's, or the optimizer's)
  std::shared_ptr<const Evaluation> optimized;  // the optimizer's last plan, kept for the compare view
  // The schedule comparison, computed when the compare view is shown for the current devices and
  // micro-batches (compare_for says for which).
  std::shared_ptr<const std::vector<cli::CompareRow>> compare;
  std::string compare_for;

  View view = View::Plan;
  bool show_help = false;
  int viewport_width = 80, viewport_height = 24;  // last terminal size (for page moves)
  int cursor[kNumViews] = {};  // per view: selected row (layers, compare, runs) or first row shown
  int boundary = 1;            // selected partition boundary: between stage boundary-1 and boundary
  double gantt_zoom = 1;       // 1 = whole iteration
  double gantt_left_ms = 0;    // left edge of the visible window

  std::string message;
  bool message_is_error = false;
  OptimizerView optimizer;
  RunsView runs;
  Effect effect = Effect::None;
};

// The starting state: evaluates `request` on `inputs`.
TuiState make_state(cli::Inputs inputs, PlanRequest request, TuiConfig config);

// One key press. Every edit re-runs build_plan + simulate; impossible requests keep the new
// request and show why in the message line (so stepping through invalid settings is possible).
TuiState apply_key(TuiState state, int key);
TuiState apply_keys(TuiState state, const std::vector<int>& keys);

TuiState set_viewport(TuiState state, int width, int height);

// Background work reported by the driver.
TuiState on_optimizer_progress(TuiState state, const OptimizerView& progress);
// `best` is the optimizer's plan (nullopt when cancelled before any, or failed: `error`).
TuiState on_optimizer_finished(TuiState state, std::optional<Plan> best, JobState how, const std::string& error);
TuiState on_runs(TuiState state, RunsView runs);
TuiState with_message(TuiState state, std::string message, bool is_error = false);

// The chunks per device the current request resolves to (the schedule's default when 0).
int resolved_stages_per_device(const TuiState& state);

}  // namespace adaptis::tui
