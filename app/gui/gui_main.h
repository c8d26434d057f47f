#pragma once
// The entry point `adaptis gui` calls: everything the window needs, in types free of ImGui and
// GLFW so the CLI can fill it without knowing how the GUI draws. Only built with ADAPTIS_HAVE_GUI.
#include <optional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "explorer/cluster_plans.h"
#include "explorer/varlen_view.h"

namespace adaptis::gui {

// Where the inputs came from and where runs go: what sessions save and `adaptis run` needs.
struct GuiConfig {
  std::string costs_path;    // cost file, absolute ("" when costs came from a model spec)
  std::string model_path;    // model spec, absolute ("" when costs came from a file)
  std::string cluster_path;  // cluster file ("" = uniform)
  std::string inputs_label;  // shown in the title and the model panel
  std::string runs_db;       // "" = the run store's default database
  std::string binary;        // the adaptis executable launched runs use ("" = this process's)
  std::string work_dir;      // plans and logs of launched runs ("" = a temp dir on first use)
  int run_steps = 3;         // iterations per launched run
  double optimize_seconds = 10;
  explorer::ClusterPlanSetup cluster_plans;  // the cluster-plan search (a model spec and the whole cluster)
  explorer::LengthsSource lengths;           // --lengths: the data the plan's units came from
};

struct GuiLaunch {
  CostTable costs;
  Cluster cluster;
  SimOptions sim;
  PlanRequest request;          // the plan to start with, unless `plan` is set
  std::optional<Plan> plan;     // a plan loaded from a file
  std::string plan_label;
  std::string compare_schedule; // pin this built-in schedule for comparison at start ("" = none)
  std::string session;          // a saved session to open instead of the plan above
  std::string overlay_run;      // a recorded run ("latest" or an id in the runs database) to overlay
  std::string compare_run;      // a recorded run to pin as B
  GuiConfig config;
  std::string side_tab;         // open this sidebar tab: model, cluster, plan ("" = model)
  std::string bottom_tab;       // open this bottom tab: details, devices, optimizer, runs, compare, history, cluster, data
  bool optimize = false;        // start the optimizer right away
  bool cluster_search = false;  // open the Cluster plans tab and start its search right away
  std::string search;           // a timeline search to start with (its first match is selected)
  // The memory policy every stage starts with (--recompute/--offload), and what the optimizer searches.
  std::optional<StageMemoryPolicy> memory;
  std::vector<Recompute> recompute_choices = {Recompute::None};
  std::vector<double> offload_choices = {0.0};

  std::string screenshot;       // save a PNG of the window after `frames` frames, then exit
  int frames = 0;               // with screenshot: frames to render first (>= 1); alone: exit after N frames
  int width = 0, height = 0;    // 0 = from the monitor (screenshots: 1600 x 900)
  float scale = 0;              // UI scale; 0 = from the monitor (1 at 1080p, 2 at 4k)
};

// Opens the window and runs until it is closed (or the screenshot is saved). Returns the exit
// code. Throws InputError when no window can be opened (no display, no OpenGL 3.3).
int run_gui(GuiLaunch launch);

}  // namespace adaptis::gui
