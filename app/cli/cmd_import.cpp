// `adaptis import`: a plan from another tool's format (PyTorch pipelining CSV, OctoPipe plan,
// Megatron-LM layout string) -> a validated adaptis plan JSON.
#include <iostream>

#include "adaptis/model/model_loader.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/pytorch_csv.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {
struct ImportArgs {
  InputOptions in;
  std::string pytorch_csv;
  std::string octopipe;
  std::string megatron_layout;
  std::string partition;
  std::string placement;
  std::string schedule;
  int microbatches = 8;
  int group_size = 0;
  std::string name;
  std::string out;
};

int run_import(const ImportArgs& a) {
  int given = !a.pytorch_csv.empty() + !a.octopipe.empty() + !a.megatron_layout.empty();
  if (given != 1) throw InputError("give exactly one of --pytorch-csv FILE, --octopipe FILE|DIR, --megatron-layout STR");
  if (!a.schedule.empty() && a.megatron_layout.empty())
    throw InputError("--schedule: only applies to --megatron-layout (the other formats carry their own order)");

  // The model is optional: with it every import is checked against its layer count (and the
  // Megatron layout against its layer kinds); without it, layer counts come from the source.
  const bool have_model = !a.in.model.empty() || !a.in.costs.empty();
  Inputs in;
  if (have_model) in = load_inputs(a.in);
  const int num_layers = have_model ? in.costs.num_layers() : -1;
  int devices = a.in.devices;
  if (devices <= 0 && !a.in.cluster.empty()) devices = have_model ? in.cluster.num_devices() : load_cluster(a.in.cluster).num_devices();
  std::vector<int> partition;
  if (!a.partition.empty()) partition = parse_partition(a.partition);

  Plan plan;
  std::string source;
  if (!a.pytorch_csv.empty()) {
    if (!a.placement.empty()) throw InputError("--placement: a PyTorch CSV places stages by the rows they appear in");
    PytorchCsvImport ci;
    ci.partition = partition;
    ci.num_layers = num_layers;
    ci.name = a.name.empty() ? "pytorch-csv" : a.name;
    plan = load_pytorch_csv(a.pytorch_csv, ci);
    source = a.pytorch_csv;
  } else if (!a.octopipe.empty()) {
    OctopipeImport oi;
    oi.partition = partition;
    oi.num_layers = num_layers;
    oi.devices = devices;
    oi.name = a.name.empty() ? "octopipe" : a.name;
    if (!a.placement.empty()) {
      if (devices <= 0 && a.placement.find_first_of(",|0123456789") == std::string::npos)
        throw InputError("--placement: a named placement style needs --devices");
      oi.placement = parse_placement(a.placement, devices, 1);
    }
    plan = load_octopipe_plan(a.octopipe, oi);
    source = a.octopipe;
  } else {
    if (devices <= 0)
      throw InputError("--megatron-layout: give --devices P (Megatron's --pipeline-model-parallel-size)");
    if (!a.placement.empty() || !a.partition.empty())
      throw InputError("--megatron-layout: the layout already fixes the partition and placement");
    MegatronLayout ml;
    try {
      ml = parse_megatron_layout(a.megatron_layout, devices,
                                 have_model ? layer_kinds(in.costs) : std::vector<std::string>{});
    } catch (const InputError& e) {
      throw InputError(std::string("--megatron-layout: ") + e.what());
    }
    PlanRequest req;
    req.schedule = !a.schedule.empty() ? a.schedule : ml.virtual_stages > 1 ? "interleaved-1f1b" : "1f1b";
    req.devices = devices;
    req.microbatches = a.microbatches;
    req.stages_per_device = ml.virtual_stages;
    req.group_size = a.group_size;
    req.partition = ml.partition.sizes();
    plan = build_plan(req, ml.partition.num_layers());
    // build_plan used the schedule's own placement; Megatron's is looped, so they must agree.
    if (plan.placement.device_stages != ml.placement.device_stages)
      throw InputError("--schedule '" + req.schedule + "' does not use Megatron's looped placement; choose 1f1b, "
                       "gpipe, zb-h1, zb-h2 (1 stage per rank) or interleaved-1f1b, interleaved-1f1b-torch, "
                       "looped-bfs");
    source = "megatron layout";
  }
  if (!a.name.empty()) plan.name = a.name;
  require_valid_plan(plan, num_layers, source);

  nlohmann::json meta = {{"source", "adaptis import"}, {"imported_from", source}};
  std::string summary = "imported '" + plan.name + "': " + std::to_string(plan.num_devices()) + " devices, " +
                        std::to_string(plan.num_stages()) + " stages (" + format_partition(plan.partition) +
                        " layers), " + std::to_string(plan.num_microbatches) + " micro-batches";
  if (have_model) {
    fit_cluster_to_plan(in, a.in, plan);
    SimResult sim = simulate(plan, in.costs, in.cluster, in.sim);
    if (sim.ok) {
      meta["simulated_iteration_ms"] = sim.iteration_ms;
      summary += ", simulated iteration " + std::to_string(sim.iteration_ms) + " ms";
    }
  }
  if (a.out.empty() || a.out == "-") {
    std::cout << plan_to_json(plan, meta).dump(1) << "\n";
  } else {
    save_plan_file(plan, a.out, meta);
    summary += " -> " + a.out;
  }
  std::cerr << terminal_safe_text(summary) << "\n";
  return 0;
}
}  // namespace

void register_import(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import", "Read a PyTorch CSV, OctoPipe plan or Megatron layout into a validated adaptis plan JSON");
  add_input_options(cmd, args->in);
  cmd->add_option("--pytorch-csv", args->pytorch_csv, "PyTorch pipelining schedule CSV (compute_only or compute_comms)");
  cmd->add_option("--octopipe", args->octopipe,
                  "OctoPipe YAML plan, a result.txt (with partition.txt/placement.txt beside it), or their directory");
  cmd->add_option("--megatron-layout", args->megatron_layout,
                  "Megatron --pipeline-model-parallel-layout string, e.g. \"Et*3|(tt|)*29,m|L\" (needs --devices)");
  cmd->add_option("--partition", args->partition, "Layers per stage for a CSV or result.txt (default: even split)");
  cmd->add_option("--placement", args->placement, "Stages per device for a result.txt without device ids");
  cmd->add_option("--schedule", args->schedule,
                  "Order to run a Megatron layout with (default: 1f1b, or interleaved-1f1b with virtual stages)");
  cmd->add_option("--microbatches,-m", args->microbatches, "Micro-batches for a Megatron layout")
      ->capture_default_str()
      ->check(int_range(1, ProblemLimits::kMicrobatches));
  cmd->add_option("--group-size", args->group_size, "Megatron micro-batch group size for interleaved layouts")
      ->check(int_range(0, ProblemLimits::kMicrobatches));
  cmd->add_option("--name", args->name, "Name of the imported plan");
  cmd->add_option("--out,-o", args->out, "Write the plan JSON here (default: stdout)");
  cmd->callback([args, &run] { run = [args] { return run_import(*args); }; });
}

}  // namespace adaptis::cli
