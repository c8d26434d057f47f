#pragma once
// Options shared by every subcommand that needs a model's costs, a cluster and a plan, and the
// code that turns them into data. Subcommands add only what they need.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "common/inputs.h"

namespace adaptis::cli {

struct InputOptions {
  std::string model;    // model spec JSON -> analytical costs
  std::string costs;    // cost file (ours or the AdaPtis authors' profile format)
  std::string cluster;  // cluster JSON
  int devices = 0;      // N x H100 when no cluster file
  std::optional<double> comm_latency_ms;  // unset: every link's own latency
  bool no_overlap = false;
  double memory_limit_gib = 0;  // > 0: every device's usable memory (a cap below its HBM)
  std::string memory_model;     // model spec whose analytical memory completes a times-only --costs file
};

using Inputs = app::Inputs;

void add_input_options(CLI::App* cmd, InputOptions& o);
// Throws InputError with the flag/file at fault; a model or cluster above the problem limits
// (model/problem_limits.h) is refused here, before any plan is built.
Inputs load_inputs(const InputOptions& o);

// The one size check of every planning command (simulate, compare, optimize, export, import, tui, gui):
// check_problem_size on the inputs' layers and devices and, when given, the micro-batches and stages of
// the plans to come, with the field at fault named as the user gave it (--costs FILE, --cluster FILE,
// --devices, --microbatches).
void check_limits(const InputOptions& o, const Inputs& in, long long microbatches = 0, long long stages = 0);
// The most stages any of `schedules` makes for the request (devices x its chunks per device), for the
// limits check before a plan is built.
long long planned_stages(const PlanRequest& req, const std::vector<ScheduleKind>& schedules);

struct PlanOptions {
  std::string schedule = "1f1b";
  int microbatches = 8;
  int stages_per_device = 0;  // 0 = the schedule's default
  int group_size = 0;
  std::string partition;
  std::string placement;
  // --plan FILE: an adaptis plan JSON, a PyTorch schedule CSV (*.csv; the partition comes from
  // --partition or an even split) or an OctoPipe YAML plan (*.yaml, *.yml), instead of --schedule.
  std::string plan_file;
};

void add_plan_options(CLI::App* cmd, PlanOptions& o, bool with_schedule = true);
PlanRequest make_plan_request(const PlanOptions& o, const Inputs& in);

// The plan the options describe: loaded from --plan (by extension, see PlanOptions::plan_file)
// or built from the schedule options; validated against the model's layer count. Throws
// InputError naming the file or flag at fault.
Plan resolve_plan(const PlanOptions& o, const Inputs& in);

// When neither --cluster nor --devices was given, sizes the default uniform cluster to the plan
// (a plan file decides its own device count); otherwise checks the cluster has enough devices.
// A plan with a parallel configuration (Plan::parallel) goes to apply_parallel_plan instead.
void fit_cluster_to_plan(Inputs& in, const InputOptions& o, const Plan& plan);

// A whole-cluster plan: per-GPU costs derived from --model for the configuration
// (parallel_costs.h; a --costs file is taken as per-GPU costs already) and the cluster narrowed
// to the plan's pipeline replica. Throws InputError when the cluster is too small.
void apply_parallel_plan(Inputs& in, const InputOptions& o, const ParallelConfig& config);

// Terminal width for charts: $COLUMNS, the tty's width, or 100.
int terminal_width();
// Colour on when stdout is a terminal and NO_COLOR is unset.
bool stdout_has_color();

}  // namespace adaptis::cli
