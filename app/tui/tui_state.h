#pragma once
// The TUI's whole state as plain data, and the pure transitions over it. The explorer core
// (explorer/explorer.h) holds the plan, its history, the optimizer, the runs and the timeline's
// window, selection and search; this adds what only the terminal view has: which view is shown,
// cursors, the help overlay, the search prompt. Keys come in as codes (tui/keys.h) and become core
// commands; the core's requested effects are carried out by the session (tui/session.h).
#include <optional>
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "explorer/explorer.h"

namespace adaptis::tui {

// Data: the sequence-length histogram and the units of a --lengths plan (render_data.cpp).
enum class View : int { Layers = 0, Plan, Gantt, Devices, Compare, Runs, Cluster, Data };
constexpr int kNumViews = 8;
const char* view_name(View v);

struct TuiState {
  explicit TuiState(explorer::Explorer c) : core(std::move(c)) {}

  explorer::Explorer core;
  bool color = true;
  View view = View::Plan;
  bool show_help = false;
  bool quit = false;
  int viewport_width = 80, viewport_height = 24;  // last terminal size (for page moves and scrolling)
  // Per view: the selected row (Layers, Compare, Runs, Data: the unit) or the first device shown (Gantt, Devices);
  // the Cluster view's row is the core's (ClusterPlansState::selected).
  int cursor[kNumViews] = {};
  int boundary = 1;  // selected partition boundary: between stage boundary-1 and boundary
  int stage = 0;     // selected stage for per-stage memory policy edits (t/T select, z/Z recompute)
  // The search prompt ("/"): open while typing; enter applies it, esc closes it.
  bool searching = false;
  std::string search_input;
};

// The starting state: shows `initial` (a plan file, say) when given, else builds `request`.
TuiState make_state(app::Inputs inputs, PlanRequest request, explorer::ExplorerConfig config,
                    std::optional<Plan> initial = std::nullopt, const std::string& initial_label = "");
// The starting state over an explorer already showing its plan (a reopened session, session_open.h).
TuiState make_state(explorer::Explorer core);

// One key press. Edits re-run build_plan + simulate; a request that gives no plan is kept and
// explained (so stepping through settings that do not apply is possible).
TuiState apply_key(TuiState state, int key);
TuiState apply_keys(TuiState state, const std::vector<int>& keys);

TuiState set_viewport(TuiState state, int width, int height);

// Micro-batches and devices of the plan on screen (the pending request's when it gives no plan).
int shown_microbatches(const TuiState& state);
int shown_devices(const TuiState& state);

}  // namespace adaptis::tui
