// `adaptis gui`: the desktop plan explorer (ImGui). The same inputs as `simulate`, plus a plan or
// session to open, a schedule to compare with, and a headless screenshot mode for tests and docs.
#include <iostream>
#include <tuple>

#include "cli/commands.h"
#include "cli/explorer_options.h"
#include "cli/inputs.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"
#ifdef ADAPTIS_HAVE_GUI
#include "gui/gui_main.h"
#include "explorer/session_file.h"
#endif

namespace adaptis::cli {

namespace {

struct GuiArgs {
  InputOptions in;
  PlanOptions plan;
  MemoryOptions memory;
  std::string session;
  std::string compare;
  std::string overlay_run;
  std::string compare_run;
  std::string side_tab, bottom_tab;
  bool optimize = false;
  std::string search;
  std::string db;
  std::string screenshot;
  int frames = 0;
  std::string size;
  float scale = 0;
  double optimize_seconds = 10;
  int run_steps = 3;
  ClusterViewOptions cluster_view;
  LengthsOptions lengths;
};

#ifdef ADAPTIS_HAVE_GUI

int run_gui_command(const GuiArgs& a) {
  if (!a.screenshot.empty() && a.frames < 0) throw InputError("--frames: must be >= 1");
  if (a.scale != 0 && (a.scale < 0.5f || a.scale > 4.0f)) throw InputError("--scale: must be in [0.5, 4]");
  gui::GuiLaunch launch;
  InputOptions in_opt = a.in;
  std::string inputs_label;
  if (!a.session.empty()) {
    // A session names its own inputs (open_session reloads them with the session's cluster).
    if (!in_opt.model.empty() || !in_opt.costs.empty())
      throw InputError("--session " + a.session + " names its own --model/--costs: give one or the other");
    const explorer::Session s = explorer::load_session(a.session);
    in_opt.model = s.inputs.model;
    in_opt.costs = s.inputs.costs;
    in_opt.cluster.clear();
    in_opt.devices = 0;
    inputs_label = in_opt.costs.empty() ? "model " + in_opt.model : in_opt.costs;
  } else {
    ExplorerInputs chosen = explorer_inputs(in_opt);
    in_opt = std::move(chosen.options);
    inputs_label = std::move(chosen.label);
  }
  Inputs inputs = load_inputs(in_opt);
  if (a.lengths.given() && !a.session.empty())
    throw InputError("--lengths: a --session keeps its own lengths, units and plan (re-pack them in its Data tab); drop --lengths");
  // --lengths: the plan runs the units made from them (a plan file must have as many micro-batches).
  std::vector<std::string> lengths_notes;
  ClusterViewOptions cluster_view = a.cluster_view;
  launch.config.lengths = explorer_lengths(a.lengths, cluster_view, inputs, lengths_notes);
  for (const std::string& n : lengths_notes) std::cerr << n << "\n";
  // The cluster-plan search works on the whole cluster, even when a plan file narrows it to a replica.
  launch.config.cluster_plans = cluster_plan_setup(in_opt, inputs.cluster, cluster_view);
  launch.cluster_search = cluster_view.given();
  const MemoryChoices memory = parse_memory_options(a.memory);
  if (memory.given && !a.session.empty())
    throw InputError("--recompute/--offload: a --session keeps its own plan and policies; drop the flags");
  if (a.session.empty()) {
    Plan start;
    if (!a.plan.plan_file.empty()) {
      Plan plan = resolve_plan(a.plan, inputs);
      fit_cluster_to_plan(inputs, a.in, plan);
      launch.plan_label = "open " + a.plan.plan_file;
      launch.plan = plan;
      start = std::move(plan);
    } else {
      launch.request = make_plan_request(a.plan, inputs);
      start = build_plan(launch.request, inputs.costs.num_layers());  // InputError before a window opens
    }
    // --recompute/--offload: the policy every stage starts with, chosen before a window opens.
    launch.memory = starting_memory_policy(memory, start, inputs.costs, inputs.cluster, inputs.sim);
    if (memory.given) {
      launch.recompute_choices = memory.recompute;
      launch.offload_choices = memory.offload;
    }
  }
  launch.costs = std::move(inputs.costs);
  launch.cluster = std::move(inputs.cluster);
  launch.sim = inputs.sim;
  launch.session = a.session;
  launch.compare_schedule = a.compare;
  launch.overlay_run = a.overlay_run;
  launch.side_tab = a.side_tab;
  launch.bottom_tab = a.bottom_tab;
  launch.optimize = a.optimize;
  launch.search = a.search;
  launch.compare_run = a.compare_run;
  if (!a.compare.empty() && !a.compare_run.empty())
    throw InputError("--compare and --compare-run both pick B: give one");
  launch.config.costs_path = absolute_path(in_opt.costs);
  launch.config.model_path = absolute_path(in_opt.model);
  launch.config.cluster_path = absolute_path(in_opt.cluster);
  launch.config.inputs_label = inputs_label;
  launch.config.runs_db = a.db;
  launch.config.optimize_seconds = a.optimize_seconds;
  launch.config.run_steps = a.run_steps;
  launch.screenshot = a.screenshot;
  launch.frames = a.frames;
  if (!a.size.empty()) std::tie(launch.width, launch.height) = parse_size(a.size, kGuiSizeLimits, "1600x900");
  launch.scale = a.scale;
  const int rc = gui::run_gui(std::move(launch));
  if (!a.screenshot.empty() && rc == 0) std::cout << "wrote " << terminal_safe(a.screenshot) << "\n";
  return rc;
}
#endif

}  // namespace

void register_gui(CLI::App& app, Runner& run) {
  auto args = std::make_shared<GuiArgs>();
  CLI::App* cmd = app.add_subcommand(
      "gui", "Desktop plan explorer: live Gantt, plan editing, optimizer, runs and comparison (needs a display)");
  add_input_options(cmd, args->in);
  add_plan_options(cmd, args->plan);
  add_memory_options(cmd, args->memory);
  add_cluster_view_options(cmd, args->cluster_view);
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--session", args->session, "Open a saved GUI session (its inputs, plan, comparison and view)");
  cmd->add_option("--compare", args->compare, "Pin this built-in schedule as B for comparison at start");
  cmd->add_option("--run", args->overlay_run,
                  "Overlay a recorded run's measured timeline (\"latest\" or an id in --db) under the prediction");
  cmd->add_option("--compare-run", args->compare_run, "Pin a recorded run (\"latest\" or an id in --db) as B");
  cmd->add_option("--side-tab", args->side_tab, "Open this sidebar tab: model, cluster or plan");
  cmd->add_option("--tab", args->bottom_tab, "Open this bottom tab: details, devices, optimizer, runs, compare, history, cluster, data");
  cmd->add_flag("--optimize", args->optimize, "Start the optimizer right away (its best plan shows live)");
  cmd->add_option("--search", args->search,
                  "Start with this timeline search, e.g. \"mb 2 s1 F\" (micro-batch, stage, device, op); its first "
                  "match is selected");
  cmd->add_option("--db", args->db, "Run store for the Runs tab and launched runs (default: adaptis run's)");
  cmd->add_option("--screenshot", args->screenshot, "Render --frames frames, save the window as a PNG, exit");
  cmd->add_option("--frames", args->frames, "Frames to render before the screenshot (default 3), or before exiting")
      ->check(int_range(1, 1000000));
  cmd->add_option("--size", args->size,
                  "Window size WIDTHxHEIGHT in " + size_range_text(kGuiSizeLimits) +
                      " (default: 85% of the screen; 1600x900 for screenshots)");
  cmd->add_option("--scale", args->scale, "UI scale (default: from the display, 2 on 4k)")->check(real_range(0.5, 4));
  cmd->add_option("--optimize-seconds", args->optimize_seconds, "Optimizer time budget")
      ->capture_default_str()
      ->check(real_range(0, kMaxTimeBudgetS, true));
  cmd->add_option("--run-steps", args->run_steps, "Iterations per launched `adaptis run`")
      ->capture_default_str()
      ->check(int_range(1, kMaxSteps));
  cmd->callback([args, &run] {
    run = [args]() -> int {
#ifdef ADAPTIS_HAVE_GUI
      return run_gui_command(*args);
#else
      throw InputError("adaptis gui: this adaptis was built without the desktop GUI (ImGui, GLFW and OpenGL were not "
                       "found, or -DADAPTIS_GUI=OFF); rebuild with -DADAPTIS_GUI=ON, or use `adaptis tui`");
#endif
    };
  });
}

}  // namespace adaptis::cli
