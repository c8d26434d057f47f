#pragma once
// The desktop explorer's panels, Dear ImGui demo style: each a small struct that owns its view
// state (text being typed, a device picked, a drag in progress) and draws itself over the explorer
// core with draw(UiContext&). Logic lives in the core; a panel turns clicks into core commands.
#include <imgui.h>

#include <string>
#include <vector>

#include "gui/model/file_browser.h"
#include "gui/model/gantt_layout.h"
#include "gui/model/layer_axis.h"
#include "gui/model/timeline_view.h"
#include "gui/ui_context.h"

namespace adaptis::gui {

// Menus: File, Edit, View, Compare, Run, Help.
struct MenuBar {
  void draw(UiContext& c);
};

// The top bar: schedule, micro-batches and devices, undo/redo, optimize, pin as B, headline numbers.
struct Toolbar {
  int input_microbatches = 8, input_devices = 4;
  void draw(UiContext& c);
};

// The bottom line: the last message (clipped before the fields on the right, whole on hover).
struct StatusBar {
  void draw(UiContext& c);
};

// Every layer's F/B/W time and memory as bars, the partition with draggable boundaries, stage
// balance and the layer table.
struct ModelPanel {
  int selected_layer = -1;
  int dragging_boundary = -1;
  std::vector<float> boundary_x;  // handle x per boundary (this frame)
  float strip_y = 0;
  void draw(UiContext& c);
};

// Per-device speed and memory limit, the links, and the simulation options (what-ifs).
struct ClusterPanel {
  void draw(UiContext& c);
};

// Schedule options, the partition as text, the stages (move to another GPU), one GPU's order.
struct PlanPanel {
  int device = 0;
  std::string partition_text;
  uint64_t partition_text_rev = ~0ull;
  int input_v = 0;
  int offload_pct = 0;  // the every-stage offload slider while it is dragged
  void draw(UiContext& c);
  // Recompute and offload on every stage, "auto", and the memory line (worst GPU against its cap).
  void draw_memory(UiContext& c);
};

// The selection (an action with its dependencies, or a bubble and its cause), the measured range
// per device, or where the time goes with the largest bubbles.
struct DetailsPanel {
  void draw(UiContext& c);
};

// Per-device statistics of A.
struct DevicesPanel {
  void draw(UiContext& c);
};

// Optimizer options, start/cancel, progress and what the search found.
struct OptimizerPanel {
  void draw(UiContext& c);
};

// The whole-cluster search: GPUs and global batch, search / cancel with progress, the ranked table
// of configurations; a row's "Show" (or a double-click) puts its pipeline plan in the explorer.
struct ClusterPlansPanel {
  int input_gpus = 0;                  // 0 = take the core's on the next frame
  long long input_tokens = 0;
  void draw(UiContext& c);
};

// Variable-length data (--lengths): the sequence-length histogram and the plan's units, each with
// its cost through the whole model and its simulated time; clicking a unit searches the timeline.
// Its Re-pack group changes the sequence processing (mode, token budget, least units, slices per row,
// unit order, slicing) and the core rebuilds and re-simulates the plan; a refusal shows its reason.
struct DataPanel {
  int selected_unit = -1;
  std::vector<float> bin_values;  // the histogram's sequence counts, per bin
  uint64_t bins_rev = ~0ull;      // the core revision they were taken at
  // The typed numbers (kept while typing; enter applies), re-taken when the core's processing changes.
  long long input_budget = 0;
  int input_units = 0, input_slices = 2;
  std::string inputs_of;  // describe() of the processing they were taken from
  // The typed context and global batch (enter applies), re-taken when the core's lengths change.
  long long input_context = 0, input_batch = 0;
  std::string settings_of;  // the settings line they were taken from
  void draw(UiContext& c);
  void draw_repack(UiContext& c);
  void draw_iteration(UiContext& c);
};

// Recorded runs: the database, launching a run, the runs table, two runs side by side.
struct RunsPanel {
  std::string db_input;
  bool loaded = false;
  void draw(UiContext& c);

 private:
  void draw_pair_table(UiContext& c);
};

// A against B, and every built-in schedule on the current input.
struct ComparePanel {
  bool show_schedules = false;
  void draw(UiContext& c);
};

// The edit history (click to go back) and the messages.
struct HistoryPanel {
  void draw(UiContext& c);
};

// The open / save / export dialog: a path field and a file browser.
struct FileDialog {
  PathDialog kind = PathDialog::None;
  std::string path;
  std::string error;
  std::string browse_dir;
  DirListing listing;
  bool open_request = false;
  void draw(UiContext& c);

 private:
  void run(UiContext& c);  // carries out the dialog's action on `path`; throws on failure
};

// Help > Mouse and keys, and the legend (what colours, shading, hatching and arrows mean).
struct KeysWindow {
  void draw(UiContext& c);
};

}  // namespace adaptis::gui
