#pragma once
// One explorer session as plain state plus commands, shared by the desktop GUI and the terminal
// UI: the inputs and the plan being edited (with undo), its simulation, what it is compared with
// (a pinned plan, a built-in schedule or a recorded run), the optimizer, the recorded runs and a
// launched run, the timeline's window, selection, search and measured range, and the messages.
//
// Nothing here draws, blocks or touches a file, a thread or a process. Work the core cannot do
// itself (start the optimizer, launch or stop a run, read the run store or a run, save a plan, read
// the lengths again) is requested as an Effect; a driver (explorer_driver.h) carries it out and
// reports back through the on_* functions. Views call the commands and draw the state, so each
// feature's logic exists once.
//
// Copying an Explorer is cheap (plans, simulations and runs are shared and immutable): the TUI
// keeps its state as a value and makes a new one per key.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/planner/lower_bound.h"
#include "common/inputs.h"
#include "common/schedule_compare.h"
#include "explorer/cluster_plans.h"
#include "explorer/cluster_search_job.h"
#include "explorer/lengths_read_job.h"
#include "explorer/optimizer_job.h"
#include "explorer/plan_editor.h"
#include "explorer/run_records.h"
#include "explorer/timeline_query.h"
#include "explorer/varlen_view.h"

namespace adaptis::explorer {

struct Session;  // session_file.h

struct ExplorerConfig {
  std::string costs_label;   // where the costs came from, as shown ("model FILE", the cost file)
  std::string costs_path;    // cost file, absolute ("" when the costs came from a model spec)
  std::string model_path;    // model spec, absolute ("" when the costs came from a file): runs need it
  std::string cluster_path;  // cluster file ("" = uniform): it fixes the device count
  std::string db_path;       // run store for the runs browser and launched runs
  std::string plan_out = "adaptis-plan.json";  // where "save the plan" writes by default
  std::string session_out = "adaptis-session.json";  // where "save the session" writes by default
  std::string run_blocker;   // why runs cannot be launched here ("" = they can, given a model spec)
  std::vector<std::string> run_args;  // extra `adaptis run` arguments
  int run_steps = 3;                  // iterations per launched run
  bool live_optimizer = false;        // show each improvement as the search goes (one undo step)
  bool follow_launched_run = false;   // show a launched run as B as its iterations arrive
  OptimizeOptions optimizer;          // budget, threads, seed, ... (devices, micro-batches: the plan's)
  ClusterPlanSetup cluster_plans;     // the whole-cluster search (needs a model spec)
  // --lengths: the data and processing the starting units came from; once the context or the global
  // batch is changed here, the lengths last read with the new options.
  LengthsSource lengths;
};

struct Message {
  std::string text;
  bool error = false;
};

// What a driver must do for the core.
enum class EffectKind {
  StartOptimizer, CancelOptimizer, LaunchRun, StopRun, RefreshRuns, LoadRun, SavePlan, SaveSession,
  StartClusterSearch, CancelClusterSearch,  // the search runs ClusterPlansState::options
  ReadLengths,        // `lengths` read or drawn again and packed, off the UI thread (lengths_read_job.h)
  CancelReadLengths,  // the read in flight is no longer wanted
};
// What a loaded run is for.
enum class RunUse { Compare, Overlay, Tick, OpenPlan, Follow };
struct Effect {
  explicit Effect(EffectKind k) : kind(k) {}
  EffectKind kind;
  int64_t run_id = 0;  // LoadRun
  RunUse use = RunUse::Compare;
  std::string path;    // SavePlan, SaveSession
  std::shared_ptr<const Evaluation> plan;  // LaunchRun, SavePlan: the plan as it was when asked
  std::shared_ptr<const Session> session;  // SaveSession: the session as it was when asked
  std::shared_ptr<const LengthsRequest> lengths;  // ReadLengths: what to read and how to pack it
};

struct OptimizerState {
  JobState state = JobState::Idle;
  OptimizeOptions options;     // of the search in progress (or the next one)
  OptimizeProgress progress;
  double start_ms = 0;         // the plan's iteration time when the search began
  double bound_ms = 0;         // no plan of this input can be faster (lower_bound.h); 0 = unknown
  std::string bound_binding;
  std::vector<float> history;  // best iteration time at each improvement
  std::string message;         // the search's summary when it ended, or why it failed
  bool live = false;           // improvements replace the plan as they come (one undo step)
};

// The run this session launched (`adaptis run ... --plan TMP --db DB` as a child process).
struct LaunchedRun {
  int pid = 0;  // 0 = none launched
  bool running = false;
  int exit_status = 0;  // once finished; 128 + signal when killed
  std::string command;
  std::string log_path;
  std::vector<std::string> log_tail;  // last lines of its output
  int64_t run_id = 0;                 // its row in the store, once it appears
};

enum class CompareKind { None, Pinned, Schedule, Run };

// What the plan is compared with (B), rebuilt when the plan or the cluster changes.
struct Comparison {
  CompareKind kind = CompareKind::None;
  Plan pinned;           // Pinned: simulated on the editor's cluster, so what-ifs apply to both
  std::string schedule;  // Schedule: regenerated with the editor's devices and micro-batches
  int64_t run_id = 0;    // Run: a recorded run, on its own machine's time scale
  std::string label;
  std::shared_ptr<const Evaluation> eval;  // Pinned / Schedule, when it simulates
  std::shared_ptr<const LoadedRun> run;    // Run, once loaded
  bool same_costs = false;                 // Run: predicted with this session's costs (same machine)
  std::string error;                       // why B has nothing to show
};

// True when a run was predicted with exactly these per-layer costs (the same machine's numbers).
bool predicted_with(const LoadedRun& run, const CostTable& costs);

// One side of the timelines as a view draws it. Shares the data it points to.
struct Side {
  std::string label;
  std::shared_ptr<const Evaluation> eval;  // a simulated plan (A; B pinned or schedule)
  std::shared_ptr<const LoadedRun> run;    // B a recorded run; A's measured overlay
  bool is_run = false;                     // B is a recorded run (its compute lanes are its prediction)
  PlanSummary summary;                     // what the header shows (a run: measured iteration)

  bool empty() const { return !eval && !run; }
  const TimelineData& timeline() const;
  const MeasuredLanes* measured() const;  // the run's measured lanes, when there are any
  const Plan* plan() const;
  const std::vector<Gap>* gaps() const;
  double t_end() const;
};

// A against B, like with like. A recorded run is compared by its measurement; A's prediction is
// only compared with it when both were predicted with the same costs (the same machine).
struct AbComparison {
  bool comparable = false;
  std::string why_not;  // when !comparable
  PlanSummary a, b;
  SummaryDiff d;        // diff(b, a): A minus B; speedup = B / A (A's speed-up)
  bool b_is_run = false;
  double b_predicted_ms = 0, b_measured_ms = 0, b_error = 0;  // a run's own prediction and its error
};

// The timeline's shared interaction state.
struct TimelineView {
  TimeWindow window;
  bool fitted = true;  // the window shows the whole extent (it refits when the extent changes)
  Pick selected;
  std::string filter_text;
  TimelineFilter filter;
  bool measuring = false;  // a measured range is shown
  double measure_t0 = 0, measure_t1 = 0;
};

class Explorer {
 public:
  Explorer(app::Inputs inputs, ExplorerConfig config);

  // Start-up: a built-in schedule or a complete plan. A refusal is the message (and the result).
  EditResult start_with_request(PlanRequest req);
  EditResult start_with_plan(Plan plan, const std::string& label);

  const ExplorerConfig& config() const { return config_; }
  ExplorerConfig& config() { return config_; }
  const PlanEditor& editor() const { return editor_; }
  bool has_plan() const { return editor_.has_plan(); }
  // The plan's state, or the pending request's problem when there is no valid plan for it.
  const std::string& problem() const { return editor_.pending_problem(); }
  uint64_t revision() const { return editor_.revision(); }

  // ---- plan edits (each re-simulates; refusals become the message) ----
  EditResult choose_schedule(const std::string& name);
  EditResult cycle_schedule(int dir);  // next/previous built-in (back to the request's own from a custom plan)
  EditResult set_microbatches(int n);
  EditResult set_devices(int n);
  EditResult set_stages_per_device(int v);
  int stages_per_device() const;  // of the plan on screen (the request's, resolved)
  EditResult move_boundary(int boundary, int layer);
  EditResult nudge_boundary(int boundary, int dir);  // one layer; dir < 0 moves it left
  EditResult set_partition(const std::vector<int>& sizes);
  EditResult even_partition();
  EditResult balance_partition();
  EditResult move_stage(int stage, int device);
  EditResult move_action(int device, int from, int to);
  EditResult set_device_speed(int device, double speed);
  EditResult set_memory_limit(int device, double bytes);
  EditResult set_links(const Link& intra, const Link& inter);
  EditResult set_sim_options(const SimOptions& sim);
  EditResult load_plan(Plan plan, const std::string& label);
  // ---- memory policies: recompute and offload (memory_policy.h), one stage or every stage (-1) ----
  // Each re-simulates and is one undo step; the plan's R actions follow the policy (just before
  // their B). Schedule choices keep the policies. Defined in explorer_memory.cpp.
  EditResult set_memory_policy(int stage, const StageMemoryPolicy& policy);
  EditResult cycle_recompute(int stage, int dir);  // none -> selective -> full -> none (dir < 0: back)
  EditResult step_offload(int stage, int dir);     // the offloaded fraction of kept bytes, 25% steps
  EditResult set_recompute(int stage, Recompute r);      // each stage keeps its offload
  EditResult set_offload(int stage, double fraction);    // in [0, 1]; each stage keeps its recompute
  // The weakest uniform recompute whose plan fits every device's cap (the strongest when none does).
  EditResult auto_memory_policy();
  // Per-unit checkpointing (plans with units): the selected action's stage starts or stops
  // recomputing its unit (full recompute when the stage recomputed nothing). Refused, with the
  // reason, without units or for a slice whose keys later slices read.
  EditResult toggle_unit_recompute();
  StageMemoryPolicy memory_policy(int stage) const;  // of the plan on screen (default without a plan)
  // Peak vs cap, OOM and the kept/recomputed/on-host split of the plan on screen (empty without one).
  const MemoryOverview& memory() const;
  void begin_gesture();
  void end_gesture();
  bool undo();
  bool redo();
  // Back `steps` undo steps (negative: forward through redo).
  void go_to_history(int steps);
  // Editing is locked while a live optimizer search drives the plan.
  bool editing_locked() const;

  // ---- comparison ----
  void pin_current();
  // Pins any plan as B (a saved session's), simulated on the editor's cluster.
  void pin_plan(Plan plan, const std::string& label);
  EditResult compare_with_schedule(const std::string& name);
  void compare_with_run(int64_t run_id);
  void clear_compare();
  const Comparison& comparison() const { return compare_; }
  bool comparing() const { return compare_.kind != CompareKind::None; }
  Side side(int i) const;  // 0 = A (the plan, with its overlay), 1 = B
  AbComparison ab() const;
  // Every built-in schedule on the current devices and micro-batches, plus the edited request and
  // the last custom plan (optimizer, file) when they differ; computed when asked and cached.
  std::shared_ptr<const std::vector<app::CompareRow>> schedule_table() const;
  void use_schedule_row(const std::string& name);  // shows that row's plan
  static std::string edited_label(const std::string& schedule) { return schedule + " (edited)"; }
  std::string on_screen_label() const;  // the schedule table's name for the plan on screen

  // ---- optimizer ----
  void start_optimizer();
  void cancel_optimizer();
  const OptimizerState& optimizer() const { return optimizer_; }
  OptimizeOptions& optimizer_options() { return config_.optimizer; }
  void set_live_optimizer(bool live) { config_.live_optimizer = live; }

  // ---- whole-cluster plans (cluster_plans.h), defined in explorer_cluster.cpp ----
  const ClusterPlansState& cluster_plans() const { return cluster_; }
  // Why the search cannot run here ("" = it can): it derives per-GPU costs from a model spec.
  std::string cluster_search_blocker() const;
  int cluster_max_gpus() const;              // the whole cluster's GPUs
  int cluster_gpus() const;                  // the GPUs the next search uses
  long long cluster_batch_tokens() const;    // its global batch in tokens
  // The search's inputs; a refusal (out of range, not whole sequences) is the message and false.
  bool set_cluster_gpus(int gpus);
  bool set_cluster_batch_tokens(long long tokens);
  // `show_best`: the best row goes on screen when the search ends (what a start-up search does).
  void start_cluster_search(bool show_best = false);
  void cancel_cluster_search();  // the search returns its best so far
  void select_cluster_row(int row);
  // Shows the row's pipeline plan with its parallel configuration: the session's costs become that
  // configuration's per-GPU costs and its cluster the replica's devices (the undo history starts
  // anew and a comparison is dropped: both were of other costs). Refusals are the message.
  EditResult use_cluster_row(int row);
  // The row whose plan is on screen, unedited (-1 when none).
  int cluster_row_on_screen() const;

  // ---- variable-length data (varlen_view.h), defined in explorer_varlen.cpp ----
  // The plan on screen's units and the length histogram (has_units false without units or a plan).
  const VarlenView& varlen() const;
  // The unit of the selected action in words ("" when none is selected or the plan has no units).
  std::string selected_unit_text() const;
  // The lengths with the processing that made the plan on screen's units (nullopt when they were not
  // made here from the lengths: a plan file's units). What a saved session records.
  LengthsSource lengths_on_screen() const;
  // Re-packing: the units made again from the lengths by another processing, and the plan rebuilt over
  // them with its schedule, partition and memory policies (a custom plan's orders are regenerated by
  // its request's schedule; the message says so) and re-simulated; one undo step. A processing that
  // does not apply (slices on a Mamba model, a budget below the longest sequence with slicing off, no
  // lengths) is refused with the reason and kept as the asked-for processing, so stepping walks on.
  std::string repack_blocker() const;  // why nothing can be re-packed here ("" = it can)
  EditResult set_processing(const SequenceProcessing& p);
  // What the next step starts from: the refused processing when the last one was refused, else the
  // plan's (the start-up one, or pack-tokens when unknown).
  SequenceProcessing processing_to_edit() const;
  // The refused processing and why (nullopt / "" when the last re-pack applied).
  const std::optional<SequenceProcessing>& refused_processing() const { return refused_processing_; }
  const std::string& refused_processing_reason() const { return refused_reason_; }
  EditResult step_packing_mode(int dir);  // pad -> pack-tokens -> pack -> slice -> elastic
  EditResult step_unit_order(int dir);    // as-built -> long-first -> short-first -> interleaved
  EditResult step_unit_tokens(int dir);   // the token budget doubled / halved (up to the context)
  EditResult step_slices(int dir);        // slices per packed row (slice mode), +-1
  EditResult step_min_units(int dir);     // the least unit count (pack, elastic), doubled / halved
  EditResult toggle_slicing();            // slicing long sequences allowed or not

  // ---- the iteration's context length and global batch, defined in explorer_lengths.cpp ----
  // The lengths read or drawn again from their source (config().lengths.spec) with other options, as
  // --context / --global-batch-tokens read them on the command line, then packed by the plan's
  // processing (its token budget capped at the new context) and the plan rebuilt over the new units
  // like a re-pack: one undo step (undo brings back the old lengths with the old units). Reading is an
  // effect (ReadLengths) the driver carries out off the UI thread: these return applied when it was
  // asked for, and the plan stays as it is until the driver reports through on_lengths_read, which
  // applies it or refuses with the reason (the plan unchanged): no lengths or no source, a live search,
  // the library's own error (a file that holds fewer tokens than the batch, a sequence longer than the
  // context with slicing off, a value out of range), a global batch below the context, more than
  // kMaxExplorerUnits units. A new value asked for while a read is in flight supersedes it (the old
  // read is cancelled and its lengths never adopted); the steps go on from the value being read.
  std::string length_options_blocker() const;  // why they cannot be changed here ("" = they can)
  // The lengths of the plan on screen's units (the latest read when they were not made here).
  LengthsSource lengths_in_use() const;
  EditResult set_length_options(const LengthOptions& o);
  EditResult set_context(long long tokens);             // 0 = the data's own (a file's)
  EditResult set_global_batch_tokens(long long tokens); // 0 = the data's own (a file's)
  EditResult step_context(int dir);       // the context doubled / halved
  EditResult step_global_batch(int dir);  // the global batch doubled / halved (not below the context)
  bool reading_lengths() const { return lengths_reading_ != nullptr; }
  // The read in flight (null when none), and it in a few words for the views' "loading lengths" line:
  // "FILE with context 8192 tokens, global batch 65536 tokens" ("" when none).
  const LengthsRequest* lengths_loading() const { return lengths_reading_.get(); }
  std::string lengths_loading_text() const;

  // ---- recorded runs ----
  void refresh_runs();
  const RunStoreView& runs() const { return store_; }
  void set_runs_db(const std::string& path);
  int64_t selected_run() const { return selected_run_; }
  void select_run(int64_t id) { selected_run_ = id; }
  void overlay_run(int64_t id);
  void clear_overlay();
  const std::shared_ptr<const LoadedRun>& overlay() const { return overlay_; }
  void open_run_plan(int64_t id);
  // Two runs ticked for a side-by-side table; ticking a third drops the older tick.
  void tick_run(int64_t id);
  const std::shared_ptr<const LoadedRun>& ticked(int i) const { return ticked_[i]; }
  int64_t ticked_id(int i) const { return ticked_id_[i]; }
  void launch_run();
  void stop_run();
  const LaunchedRun& launched() const { return launched_; }
  // The launched run's row in the store (matched by pid), or null.
  const exec::RunSummary* launched_row() const;
  // Why a run cannot be launched now ("" = it can).
  std::string launch_blocker() const;

  // ---- timeline ----
  const TimelineView& view() const { return view_; }
  // The extent every side spans (ms): what "fit" shows.
  double extent() const;
  void fit_view();
  void set_window(double t0, double t1);  // a zoom or pan by the view (no longer fitted)
  void zoom(double at, double factor);
  void pan(double dt);
  void select(const Pick& p);
  void clear_selection();
  const TimelineBox* selected_box() const;
  const TimelineBox* box(const Pick& p) const;
  // Moves the window (keeping its span) so the selection is on screen.
  void reveal_selection();
  // Keyboard navigation from the selection (from the window's start when nothing is selected);
  // the window follows the new selection. False (with a message) when there is nowhere to go.
  bool select_next_on_device(int dir);
  bool select_device(int dir);
  bool select_producer();
  bool select_consumer();
  bool select_next_match(int dir);
  // Search: "" clears it. A malformed search is refused with a message and keeps the old one.
  bool set_filter(const std::string& text);
  void measure(double t0, double t1);
  void clear_measure();
  // The measured range's breakdown on side `side` (nullopt when nothing is measured).
  std::optional<RangeBreakdown> measured_range(int side = 0) const;
  // Esc: ends a measurement, else drops the selection, else the search.
  void escape();

  // ---- files ----
  void save_plan(const std::string& path = "");
  // The whole session (inputs, plan, comparison, view, lengths) to `path` ("" = config's session_out).
  void save_session(const std::string& path = "");

  // ---- messages ----
  const Message& message() const { return message_; }
  const std::deque<Message>& log() const { return log_; }
  void note(std::string text, bool error = false);

  // ---- effects and what the driver reports ----
  std::vector<Effect> take_effects();
  bool has_effects() const { return !effects_.empty(); }
  void on_optimizer_progress(const OptimizeProgress& p, std::optional<Plan> improved);
  void on_optimizer_finished(const OptimizerJob::Outcome& outcome);
  void on_run_store(RunStoreView store);
  void on_run_loaded(RunUse use, int64_t run_id, std::shared_ptr<const LoadedRun> run, const std::string& error);
  void on_launched(LaunchedRun run);
  void on_plan_saved(const std::string& path, const std::string& error);
  void on_session_saved(const std::string& path, const std::string& error);
  void on_cluster_search_progress(const ClusterSearchProgress& p);
  void on_cluster_search_finished(const ClusterSearchJob::Outcome& outcome);
  // What a ReadLengths effect read and packed (null with `error` when it could not be read or packed);
  // ignored unless `request` is the newest one asked for.
  void on_lengths_read(const LengthsRequest& request, std::shared_ptr<const PackedLengths> packed,
                       const std::string& error);

 private:
  EditResult after_edit(EditResult r);
  void plan_changed();   // rebuild B, refit, drop stale picks
  void rebuild_compare();
  void refit_if_needed(double old_extent, bool shape_changed);
  void request(Effect e) { effects_.push_back(std::move(e)); }
  bool select_edge(bool producer);
  // Applies `change` to the policy of `stage` (every stage when -1) and edits the plan with `what`.
  template <typename Change>
  EditResult edit_memory(int stage, const std::string& what, Change change);
  // Selects `p` and shows it (false and `nowhere` as the message when p is invalid).
  bool go_to(const Pick& p, const char* nowhere, const std::string& what);
  void load_run_for(RunUse use, int64_t id);
  std::string compare_key() const;

  ExplorerConfig config_;
  PlanEditor editor_;
  Comparison compare_;
  uint64_t compare_revision_ = ~0ull;
  std::shared_ptr<const LoadedRun> overlay_;
  std::shared_ptr<const Evaluation> last_custom_;  // the last plan from the optimizer or a file
  std::string last_custom_label_;
  // The schedule table's cache (computed on first use for the current devices and micro-batches).
  mutable std::shared_ptr<const std::vector<app::CompareRow>> table_;
  mutable std::string table_key_;
  // Every processing that made units here (start-up and re-packs), newest last: the plan on screen's
  // processing is the newest whose units it runs, so undo and redo keep the Data view truthful.
  // Each keeps the lengths it was made from, since the context or the global batch can change them.
  struct UnitsMade {
    std::vector<WorkUnit> units;
    SequenceProcessing processing;
    std::shared_ptr<const SequenceLengths> data;
    LengthOptions options;
  };
  std::vector<std::shared_ptr<const UnitsMade>> units_made_;
  void remember_units(std::vector<WorkUnit> units, const SequenceProcessing& p,
                      std::shared_ptr<const SequenceLengths> data, const LengthOptions& options);
  std::optional<SequenceProcessing> refused_processing_;
  std::string refused_reason_;
  const UnitsMade* units_made_of_plan() const;  // the newest entry whose units the plan runs (null: none)
  std::optional<SequenceProcessing> processing_of_plan() const;
  // The plan's processing: the one that made its units, else the start-up one, else pack-tokens.
  SequenceProcessing processing_in_use() const;
  // The read asked for and not yet reported (null: none in flight), and how many were asked for.
  std::shared_ptr<const LengthsRequest> lengths_reading_;
  uint64_t lengths_requests_ = 0;
  // The options new values are set against: those being read, else those of the lengths in use.
  LengthOptions options_to_edit() const;
  // The starting units are the configured processing's (the caller made them from the lengths with it).
  void remember_start_units(const std::vector<WorkUnit>& units);
  // The variable-length view's cache, for the plan of `varlen_revision_`.
  mutable std::shared_ptr<const VarlenView> varlen_;
  mutable uint64_t varlen_revision_ = ~0ull;
  OptimizerState optimizer_;
  bool optimizer_gesture_ = false;
  ClusterPlansState cluster_;
  RunStoreView store_;
  int64_t selected_run_ = 0;
  int64_t ticked_id_[2] = {0, 0};
  std::shared_ptr<const LoadedRun> ticked_[2];
  LaunchedRun launched_;
  bool following_ = false;  // the launched run is shown as B until its end
  TimelineView view_;
  uint64_t view_revision_ = ~0ull;
  double view_extent_ = 0;
  int view_devices_ = -1, view_microbatches_ = -1, view_stages_ = -1;
  Message message_;
  std::deque<Message> log_;
  std::vector<Effect> effects_;
};

}  // namespace adaptis::explorer
