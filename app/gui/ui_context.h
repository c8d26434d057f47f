#pragma once
// What every panel of the desktop explorer draws with: the explorer core it shows and edits, the
// theme, and the few view settings panels share (which tab to bring forward, which dialog to open,
// the timeline's layer toggles). Passed to each panel's draw(); no globals.
#include <optional>
#include <string>

#include "explorer/explorer.h"
#include "explorer/plan_exports.h"
#include "gui/gui_main.h"
#include "gui/theme.h"

namespace adaptis::gui {

enum class BottomTab { Details, Devices, Optimizer, Runs, Compare, History, ClusterPlans, Data };
enum class SideTab { Model, Cluster, Plan };

// Which layers of the timeline are drawn.
struct GanttToggles {
  bool transfers = true;
  bool bubbles = true;
  bool critical = true;
  bool labels = true;
  bool memory = true;
  bool measured = true;
  bool overview = true;
  bool legend = false;  // the legend window
};

enum class PathDialog { None, OpenPlan, SavePlan, OpenSession, SaveSession, Export, ExportRunTrace };

struct UiState {
  std::optional<BottomTab> bottom_tab_request;
  std::optional<SideTab> side_tab_request;
  // A dialog to open this frame, with the path it proposes.
  PathDialog dialog_request = PathDialog::None;
  std::string dialog_path;
  explorer::PlanExport dialog_export = explorer::PlanExport::ChromeTrace;
  GanttToggles toggles;
  bool show_keys = false;
  bool focus_search = false;  // Ctrl+F: the timeline's search field takes the keyboard
  std::string session_open, session_save;  // asked for by the dialog; GuiApp does it after the frame
  bool quit = false;
  float requested_scale = 0;
  double frame_ms = 0;

  void open_dialog(PathDialog d, std::string path) {
    dialog_request = d;
    dialog_path = std::move(path);
  }
};

struct UiContext {
  explorer::Explorer& core;
  const Theme& theme;
  UiState& ui;
  GuiConfig& config;
};

}  // namespace adaptis::gui
