#pragma once
// Options shared by every subcommand that needs a model's costs, a cluster and a plan, and the
// code that turns them into data. Subcommands add only what they need.
#include <CLI/CLI.hpp>
#include <string>

#include "adaptis/model.h"
#include "adaptis/planner.h"

namespace adaptis::cli {

struct InputOptions {
  std::string model;    // model spec JSON -> analytical costs
  std::string costs;    // cost file (ours or the AdaPtis authors' profile format)
  std::string cluster;  // cluster JSON
  int devices = 0;      // N x H100 when no cluster file
  double comm_latency_ms = -1;
  bool no_overlap = false;
};

struct Inputs {
  CostTable costs;
  Cluster cluster;
  SimOptions sim;
  // Variable-length units made from --lengths (cli/lengths_options.h); empty = identical micro-batches.
  // Plans built from these inputs run one micro-batch per unit.
  std::vector<WorkUnit> units;
};

void add_input_options(CLI::App* cmd, InputOptions& o);
// Throws InputError with the flag/file at fault.
Inputs load_inputs(const InputOptions& o);

struct PlanOptions {
  std::string schedule = "1f1b";
  int microbatches = 8;
  int stages_per_device = 0;
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
void fit_cluster_to_plan(Inputs& in, const InputOptions& o, const Plan& plan);

// Terminal width for charts: $COLUMNS, the tty's width, or 100.
int terminal_width();
// Colour on when stdout is a terminal and NO_COLOR is unset.
bool stdout_has_color();

}  // namespace adaptis::cli
