#pragma once
// The desktop explorer: a thin view over the explorer core (explorer/explorer.h). GuiApp owns the
// core, its driver and one small struct per panel (Dear ImGui demo style: each owns its view state
// and draws itself over the core); frame() lays the panes out and draws one ImGui frame (between
// NewFrame and Render). It knows nothing about windows or OpenGL (gui_window.cpp does), so tests
// drive it with synthetic frames.
#include <imgui.h>

#include <memory>
#include <string>
#include <vector>

#include "explorer/explorer.h"
#include "explorer/explorer_driver.h"
#include "gui/gantt/gantt_view.h"
#include "gui/gui_main.h"
#include "gui/model/key_input.h"
#include "gui/panels/panels.h"
#include "gui/theme.h"
#include "gui/ui_context.h"

namespace adaptis::gui {

class GuiApp {
 public:
  GuiApp(CostTable costs, Cluster cluster, SimOptions sim, GuiConfig config, Theme theme);
  ~GuiApp();
  GuiApp(const GuiApp&) = delete;
  GuiApp& operator=(const GuiApp&) = delete;

  // Start-up: a built-in schedule, a plan from a file, a built-in schedule pinned for comparison,
  // or a saved session. Refusals come back as the EditResult (the CLI turns them into errors).
  explorer::EditResult start_with_request(PlanRequest req);
  explorer::EditResult start_with_plan(Plan plan, const std::string& label);
  // A recorded run by reference ("latest" or an id) in the runs database: drawn under the
  // prediction (or as B when it ran on another machine), or pinned as B. Loads it before it
  // returns; InputError naming the database and the run.
  void overlay_run_ref(const std::string& ref);
  void compare_run_ref(const std::string& ref);
  // Throws InputError naming the file and field (the session on screen stays as it was).
  void open_session(const std::string& path);
  void save_session_to(const std::string& path);

  // One frame of UI; call between ImGui::NewFrame() and ImGui::Render().
  void frame();
  // Picks up background work (optimizer, runs, a launched run); called by frame() too.
  void poll_background();
  // Carries out what the core asked for (call after driving the core directly).
  void carry_out() { driver_.carry_out(core_); }
  // Key presses since the last frame, from the window's key callback (a press and its release in
  // one frame still counts: ImGui 1.86 only sees keys held at NewFrame).
  KeyTaps& key_taps() { return taps_; }

  // The window loop animates (polls instead of waiting for events) while this is true.
  bool busy() const;
  bool quit_requested() const { return ui_.quit; }
  // Set by View > UI scale; the window loop rebuilds fonts and style, then calls set_theme.
  float requested_scale() const { return ui_.requested_scale; }
  void set_theme(Theme theme);
  const Theme& theme() const { return theme_; }
  void set_frame_ms(double ms) { ui_.frame_ms = ms; }
  std::string window_title() const;

  explorer::Explorer& core() { return core_; }
  const explorer::Explorer& core() const { return core_; }
  GanttView& gantt() { return gantt_; }
  ModelPanel& model_panel() { return model_; }
  UiState& ui() { return ui_; }

 private:
  UiContext context();
  void draw_panes();
  void handle_shortcuts();

  GuiConfig config_;
  Theme theme_;
  explorer::Explorer core_;
  explorer::ExplorerDriver driver_;
  UiState ui_;
  KeyTaps taps_;
  // Panels.
  MenuBar menu_;
  Toolbar toolbar_;
  StatusBar status_;
  ModelPanel model_;
  ClusterPanel cluster_;
  PlanPanel plan_;
  GanttView gantt_;
  DetailsPanel details_;
  DevicesPanel devices_;
  OptimizerPanel optimizer_;
  ClusterPlansPanel cluster_plans_;
  DataPanel data_;
  RunsPanel runs_;
  ComparePanel compare_;
  HistoryPanel history_;
  FileDialog dialog_;
  KeysWindow keys_;
  float sidebar_w_ = 0, bottom_h_ = 0;
};

}  // namespace adaptis::gui
