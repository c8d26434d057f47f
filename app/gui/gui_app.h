#pragma once
// The plan explorer's state and its immediate-mode UI. One GuiApp owns the plan editor, the
// derived timelines, the optimizer job, the run browser and a launched run; frame() draws one
// ImGui frame (between NewFrame and Render) and applies whatever the user did in it. It knows
// nothing about windows or OpenGL (gui_window.cpp does), so tests drive it with synthetic frames.
//
// Each panel is a member function in its own file (panel_*.cpp, gantt.cpp); the logic they call
// lives in gui/model/ and is tested without ImGui.
#include <imgui.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "gui/gui_main.h"
#include "gui/model/child_process.h"
#include "gui/model/gantt_layout.h"
#include "gui/model/optimizer_job.h"
#include "gui/model/plan_editor.h"
#include "gui/model/plan_exports.h"
#include "gui/model/plan_summary.h"
#include "gui/model/run_browser.h"
#include "gui/model/session_file.h"
#include "gui/model/timeline_data.h"
#include "gui/model/timeline_view.h"
#include "gui/theme.h"

namespace adaptis::gui {

// One side of the timeline: the plan being edited (side 0) or what it is compared with (side 1).
struct TimelineSide {
  std::string label;
  Plan plan;
  TimelineData data;
  PlanSummary summary;
  std::vector<std::vector<MemorySample>> memory;  // per device (empty for a measured run)
  std::vector<DeviceStats> stats;                 // per device (empty for a measured run)
  std::vector<Gap> gaps;                          // the idle lanes' causes (TimelineBox::ref)
  std::vector<double> memory_limit;               // per device, bytes
  std::vector<float> busy;                        // overview histogram over [0, data.t_end]
  bool measured = false;                          // a recorded run rather than a prediction
};

// What the user pointed at or clicked in the Gantt.
struct GanttPick {
  int side = -1;
  int device = -1;
  LaneKind lane = LaneKind::Compute;
  bool idle = false;  // a bubble in the compute lane
  int index = -1;     // box index in the lane
  bool valid() const { return side >= 0 && index >= 0; }
  bool operator==(const GanttPick& o) const {
    return side == o.side && device == o.device && lane == o.lane && idle == o.idle && index == o.index;
  }
};

enum class BottomTab { Details, Devices, Optimizer, Runs, Compare, History };
enum class SideTab { Model, Cluster, Plan };

struct GanttToggles {
  bool transfers = true;
  bool bubbles = true;
  bool critical = true;
  bool labels = true;
  bool memory = true;
  bool measured = true;
  bool overview = true;
};

class GuiApp {
 public:
  GuiApp(CostTable costs, Cluster cluster, SimOptions sim, GuiConfig config, Theme theme);
  ~GuiApp();
  GuiApp(const GuiApp&) = delete;
  GuiApp& operator=(const GuiApp&) = delete;

  // Start-up: a built-in schedule, a plan from a file, a built-in schedule pinned for comparison,
  // or a saved session. Refusals come back as the EditResult (the CLI turns them into errors).
  EditResult start_with_request(PlanRequest req);
  EditResult start_with_plan(Plan plan, const std::string& label);
  EditResult pin_schedule_for_compare(const std::string& schedule);
  void pin_current_for_compare();
  // A recorded run by reference ("latest", "last" or an id) from the runs database: drawn under
  // the prediction, or pinned as B. Throw InputError naming the database and the run.
  void overlay_run_ref(const std::string& ref);
  void compare_run_ref(const std::string& ref);
  void clear_compare();
  // Throws InputError naming the file and field.
  void open_session(const std::string& path);
  void save_session_to(const std::string& path);

  // One frame of UI; call between ImGui::NewFrame() and ImGui::Render().
  void frame();
  // Picks up optimizer progress and the launched run; called by frame() too.
  void poll_background();

  // The window loop animates (polls instead of waiting for events) while this is true.
  bool busy() const;
  bool quit_requested() const { return quit_; }
  // Set by View > UI scale; the window loop rebuilds fonts and style, then calls set_theme.
  float requested_scale() const { return requested_scale_; }
  void set_theme(Theme theme);
  const Theme& theme() const { return theme_; }
  void set_frame_ms(double ms) { frame_ms_ = ms; }
  std::string window_title() const;

  // For tests and the benchmark.
  PlanEditor& editor() { return editor_; }
  const TimelineSide& side(int i) const { return sides_[i]; }
  bool comparing() const { return compare_.has_value(); }
  TimeAxis& axis() { return axis_; }
  const GanttPick& selection() const { return selected_; }
  const std::string& status() const { return status_; }
  bool status_is_error() const { return status_error_; }
  // Screen rectangle of the Gantt's time area and of each device row's compute lane (last frame).
  ImVec2 gantt_origin() const { return gantt_origin_; }
  float gantt_row_y(int side, int device) const;
  float boundary_handle_x(int boundary) const;
  float boundary_handle_y() const { return partition_strip_y_; }
  void select_bottom_tab(BottomTab t) { bottom_tab_request_ = t; }
  void select_side_tab(SideTab t) { side_tab_request_ = t; }
  void fit_view() { fit_pending_ = true; }
  GanttToggles& toggles() { return toggles_; }
  OptimizerJob& optimizer() { return optimizer_; }
  void start_optimizer();
  // Executes the current plan with `adaptis run` in a separate process (needs a model spec) and
  // shows the run as B as its iterations arrive in the runs database.
  void launch_run();
  bool run_in_progress() const { return child_.running(); }

 private:
  // Layout.
  void draw_menu_bar();
  void draw_toolbar();
  void draw_sidebar(float width, float height);
  void draw_model_panel();
  void draw_cluster_panel();
  void draw_plan_panel();
  void draw_timeline_area(float width, float height);
  void draw_timeline_contents(float width, float height);
  void draw_bottom_panel(float width, float height);
  void draw_details_tab();
  void draw_devices_tab();
  void draw_optimizer_tab();
  void draw_runs_tab();
  void draw_compare_tab();
  void draw_history_tab();
  void draw_status_bar();
  void draw_dialogs();
  void handle_shortcuts();

  // Gantt (gantt.cpp).
  void draw_overview(ImDrawList* dl, ImVec2 p0, ImVec2 p1);
  void draw_ruler(ImDrawList* dl, ImVec2 p0, ImVec2 p1);
  void draw_gantt_rows(float width, float height);
  void draw_side(ImDrawList* dl, int side, float top, float label_w, float x0, float x1, float clip_y0, float clip_y1);
  void draw_memory(float width, float height);
  void draw_box_tooltip(const GanttPick& pick);
  void draw_critical_links(ImDrawList* dl, int side, float top, float clip_y0, float clip_y1);
  void draw_dependency_arrows(ImDrawList* dl, int side, float top);
  void gantt_input(float top_a, float top_b);
  GanttPick pick_at(ImVec2 mouse, float top_a, float top_b) const;
  const TimelineBox* pick_box(const GanttPick& p) const;
  void zoom_to(double t0, double t1);

  // Data.
  void sync_timelines();
  void rebuild_side0();
  void rebuild_compare_from_plan();
  TimelineSide make_side(const Plan& plan, const SimResult& sim, const std::vector<StageCost>& stages,
                         const Cluster& cluster, const SimOptions& opt, const std::string& label) const;
  void after_edit(const EditResult& r);
  void note(const std::string& msg, bool error = false);
  int chunk_of(int side, int device, int stage) const;

  // Runs.
  void overlay_run(int64_t run_id);
  void compare_with_run(int64_t run_id);
  void toggle_run_tick(int64_t run_id);
  void draw_run_pair_table();
  std::string work_dir();

  // Dialogs.
  enum class PathDialog { None, OpenPlan, SavePlan, OpenSession, SaveSession, Export, ExportRunTrace };
  void open_path_dialog(PathDialog kind, const std::string& initial);
  void run_path_dialog(const std::string& path);

  GuiConfig config_;
  Theme theme_;
  PlanEditor editor_;

  // side 0: the editor's plan; side 1: the comparison (when compare_ is set).
  TimelineSide sides_[2];
  uint64_t side0_revision_ = ~0ull;
  struct Compare {
    enum Kind { Pinned, Schedule, Run } kind = Pinned;
    adaptis::Plan plan;    // Pinned: simulated on the editor's cluster, so what-ifs apply to both
    std::string schedule;  // Schedule: regenerated with the editor's devices and micro-batches
    int64_t run_id = 0;    // Run: a recorded run's measured iteration
    std::string label;
  };
  std::optional<Compare> compare_;
  uint64_t compare_revision_ = ~0ull;
  std::optional<LoadedRun> overlay_;  // measured run drawn under side 0
  std::string overlay_error_;

  // View.
  TimeAxis axis_;
  bool fit_pending_ = true;
  GanttToggles toggles_;
  float sidebar_w_ = 0, bottom_h_ = 0, memory_h_ = 0;
  ImVec2 spacing_{8, 5};  // the style's item spacing (the host window itself lays out with none)
  GanttLayout layouts_[2];
  float side_top_[2] = {0, 0};  // screen y of each side's first row (this frame)
  ImVec2 gantt_origin_{0, 0};
  float gantt_label_w_ = 0;
  float gantt_y0_ = 0;  // top of the rows (bottom of the ruler), this frame
  std::vector<DrawItem> items_;  // scratch
  std::vector<ColumnRange> columns_;
  GanttPick hovered_, selected_;
  int hovered_memory_device_ = -1;
  // Dragging an action to reorder it.
  GanttPick drag_;
  bool dragging_action_ = false;
  float drag_grab_dx_ = 0;
  // A time range measured with a left drag on empty space.
  double measure_t0_ = 0, measure_t1_ = 0;
  bool measure_visible_ = false;
  bool canvas_hovered_ = false;
  bool click_candidate_ = false;
  // A folded block under the mouse (this frame's drawing), for its tooltip and double-click zoom.
  struct FoldHover {
    bool valid = false;
    int side = 0, device = 0;
    LaneKind lane = LaneKind::Compute;
    DrawItem item;
  } fold_hover_, fold_hover_prev_;
  // Memory pane: decimated curves per device, cached for the view they were made for.
  struct MemoryCache {
    double t0 = 0, t1 = 0;
    float x0 = 0, width = 0;
    uint64_t revision = ~0ull, compare_revision = ~0ull;
    std::vector<std::vector<ColumnRange>> cols[2];
  } memory_cache_;

  // Model panel partition strip: handle x per boundary (this frame) and its y.
  std::vector<float> boundary_x_;
  float partition_strip_y_ = 0;
  int dragging_boundary_ = -1;
  int selected_layer_ = -1;

  // Plan panel.
  int plan_device_ = 0;
  std::string partition_text_;
  uint64_t partition_text_rev_ = ~0ull;
  int input_microbatches_ = 8, input_devices_ = 4, input_v_ = 0;

  // Optimizer.
  OptimizerJob optimizer_;
  OptimizeOptions opt_options_;
  bool opt_live_ = true;
  bool opt_gesture_ = false;
  std::vector<float> opt_history_;
  double opt_start_ms_ = 0;
  double opt_bound_ms_ = 0;  // the input's iteration-time lower bound (planner/lower_bound.h)
  uint64_t opt_seen_version_ = 0;

  // Runs.
  RunBrowser runs_;
  std::string runs_db_input_;
  int64_t selected_run_ = 0;
  // Two runs ticked for a side-by-side table (0 = none), with their loaded summaries.
  int64_t tick_runs_[2] = {0, 0};
  std::optional<LoadedRun> ticked_[2];
  std::string ticked_error_;
  ChildProcess child_;
  int64_t child_run_id_ = 0;
  std::string child_log_;
  std::string child_command_;
  double last_runs_poll_ = -1;
  int run_counter_ = 0;
  bool runs_loaded_ = false;

  // Dialogs and status.
  PathDialog dialog_ = PathDialog::None;
  bool dialog_open_request_ = false;
  std::string dialog_path_;
  std::string dialog_error_;
  PlanExport dialog_export_ = PlanExport::ChromeTrace;
  std::string status_;
  bool status_error_ = false;
  std::deque<std::pair<std::string, bool>> log_;
  bool show_about_ = false;

  std::optional<BottomTab> bottom_tab_request_;
  std::optional<SideTab> side_tab_request_;
  BottomTab bottom_tab_ = BottomTab::Details;
  bool quit_ = false;
  float requested_scale_ = 0;
  double frame_ms_ = 0;
};

}  // namespace adaptis::gui
