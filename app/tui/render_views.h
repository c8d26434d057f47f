#pragma once
// The body of each view, drawn into a rectangle of the screen. Internal to the renderer.
#include <initializer_list>
#include <string>

#include "tui/screen.h"
#include "tui/tui_state.h"

namespace adaptis::tui {

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
};

// The rectangle every view draws in: below the tab and summary lines, above the status (`status`
// rows) and the hints.
Rect body_rect(int width, int height, int status = 1);

void draw_layers_view(const TuiState& s, Screen& scr, Rect r);
void draw_plan_view(const TuiState& s, Screen& scr, Rect r);
void draw_gantt_view(const TuiState& s, Screen& scr, Rect r);
void draw_devices_view(const TuiState& s, Screen& scr, Rect r);
void draw_compare_view(const TuiState& s, Screen& scr, Rect r);
void draw_runs_view(const TuiState& s, Screen& scr, Rect r);

// How the Gantt uses its rows: each device gets `lanes` text rows (op / micro-batch / stage, as
// many as fit), and `devices_shown` devices fit at once (the rest scroll).
struct GanttLayout {
  int lanes = 1;
  int gap = 0;  // blank rows between devices
  int devices_shown = 1;
  bool host = false;         // a host-link row (offload > / reload <) under each device's rows
  bool memory_line = false;  // a memory line (peak vs cap, policy) in the footer
  bool tp = false, dp = false;  // collective rows under each device (a whole-cluster plan)
  bool parallel_line = false;   // the whole-cluster line (tokens/s, MFU, exposed comm) in the footer
};
// What a plan asks the Gantt for beyond its compute rows.
struct GanttExtras {
  bool host_row = false;     // the plan copies activations to host (shown when each device has room)
  bool memory_line = false;  // the plan has memory policies or is out of memory
  bool tp_row = false, dp_row = false;  // the plan has tensor/context/expert or data-parallel collectives
  bool parallel = false;     // the plan has a parallel configuration
};
GanttLayout gantt_layout(Rect body, int devices, bool color, const GanttExtras& extras = {});
void draw_cluster_view(const TuiState& s, Screen& scr, Rect r);
void draw_data_view(const TuiState& s, Screen& scr, Rect r);
// The layout the Gantt view of `s` uses in `body`.
GanttLayout gantt_layout(const TuiState& s, Rect body);
// Devices shown at once by the devices view (two rows each).
int devices_view_shown(Rect body, int devices);

// Shared helpers.
std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
// Bytes for tables; "-" when unknown (cost files without memory sizes give 0).
std::string bytes_or_dash(double bytes);
// Draws a multi-line message word-wrapped into r starting at row y; returns the next free row.
int draw_wrapped(Screen& scr, Rect r, int y, const std::string& text, Style style);
// The rows draw_wrapped needs for `text` at `width`.
int wrapped_lines(const std::string& text, int width);
// The plan cannot be shown (no valid plan for the request): says why in r; true when it did.
bool draw_no_plan(const TuiState& s, Screen& scr, Rect r);
// The memory line: the worst device's peak against its cap (OOM), the activation split and the
// plan's memory policies, in one line.
std::string memory_text(const explorer::MemoryOverview& m);
// A whole-cluster plan in one line: "pp2 tp2 dp2 ... on 8 GPUs: 89485 tokens/s, MFU 49.1%, exposed
// comm 185.2 ms (dp sync 3.1 ms)"; "" when the plan on screen has no parallel configuration.
std::string parallel_text(const explorer::Explorer& core);
// A stage's memory policy in a few characters for tables: "-", "sel", "full", "full:2", "+off25%".
std::string policy_short(const StageMemoryPolicy& p);
Style op_style(Op op);
std::string stages_of_device(const Plan& p, int d);
// First row to show so `cursor` stays visible in `rows` rows of `n` (cursor kept near the middle).
int scroll_first(int cursor, int rows, int n);
// A horizontal bar of `width` cells: segments (fraction of the whole, char, style) left to right,
// the rest filled with `rest`.
struct BarSegment {
  double fraction;
  char ch;
  Style style;
};
void draw_bar(Screen& scr, int x, int y, int width, std::initializer_list<BarSegment> segments, char rest,
              Style rest_style);

}  // namespace adaptis::tui
