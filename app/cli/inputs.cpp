#include "cli/inputs.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "adaptis/model/model_loader.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/pytorch_csv.h"

namespace adaptis::cli {

void add_input_options(CLI::App* cmd, InputOptions& o) {
  auto* model = cmd->add_option("--model", o.model, "Model spec JSON (costs from the analytical roofline model)");
  auto* costs = cmd->add_option("--costs", o.costs, "Per-layer cost file (adaptis or AdaPtis-profile format)");
  model->excludes(costs);
  cmd->add_option("--cluster", o.cluster, "Cluster spec JSON");
  cmd->add_option("--devices", o.devices, "Number of devices (N x H100-SXM when no --cluster)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--comm-latency-ms", o.comm_latency_ms, "Override every link's P2P latency (ms)");
  cmd->add_flag("--no-overlap", o.no_overlap, "Model P2P transfers as blocking the sender's compute");
}

Inputs load_inputs(const InputOptions& o) {
  Inputs in;
  if (o.model.empty() && o.costs.empty()) throw InputError("give --model FILE or --costs FILE");
  if (!o.cluster.empty()) {
    in.cluster = load_cluster(o.cluster);
    if (o.devices > 0 && o.devices != in.cluster.num_devices())
      throw InputError("--devices " + std::to_string(o.devices) + " disagrees with --cluster " + o.cluster + " (" +
                       std::to_string(in.cluster.num_devices()) + " devices)");
  } else {
    in.cluster = make_uniform_cluster(o.devices > 0 ? o.devices : 4);
  }
  if (!o.costs.empty()) in.costs = load_cost_table(o.costs);
  else in.costs = load_model_costs(o.model, in.cluster);
  if (o.comm_latency_ms >= 0) in.sim.comm_latency_ms = o.comm_latency_ms;
  else if (o.comm_latency_ms != -1) throw InputError("--comm-latency-ms: must be >= 0");
  in.sim.overlap_comm = !o.no_overlap;
  return in;
}

void add_plan_options(CLI::App* cmd, PlanOptions& o, bool with_schedule) {
  if (with_schedule) cmd->add_option("--schedule", o.schedule, "Schedule name (see `adaptis schedules`)")->capture_default_str();
  cmd->add_option("--microbatches,-m", o.microbatches, "Micro-batches per iteration")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--stages-per-device,-v", o.stages_per_device, "Chunks per device for looped schedules (default 2)");
  cmd->add_option("--group-size", o.group_size, "Megatron interleaved micro-batch group size (default: devices)");
  if (with_schedule) {
    cmd->add_option("--partition", o.partition, "Layers per stage, e.g. 14,14,14,14 (default: even)");
    cmd->add_option("--placement", o.placement,
                    "Stages per device, e.g. 0,4|1,5|2,6|3,7, or sequential|looped|v|wave");
    auto* plan = cmd->add_option("--plan", o.plan_file,
                                 "Plan file instead of --schedule: adaptis plan JSON, PyTorch schedule CSV (*.csv), "
                                 "or OctoPipe YAML (*.yaml)");
    // A plan file carries its own schedule, placement and micro-batch count.
    for (const char* name : {"--schedule", "--placement", "--microbatches", "--stages-per-device", "--group-size"})
      plan->excludes(cmd->get_option(name));
  }
}

PlanRequest make_plan_request(const PlanOptions& o, const Inputs& in) {
  PlanRequest r;
  r.schedule = o.schedule;
  r.devices = in.cluster.num_devices();
  r.microbatches = o.microbatches;
  r.stages_per_device = o.stages_per_device;
  r.group_size = o.group_size;
  if (!o.partition.empty()) r.partition = parse_partition(o.partition);
  r.placement = o.placement;
  r.units = in.units;
  return r;
}

Plan resolve_plan(const PlanOptions& o, const Inputs& in) {
  const int num_layers = in.costs.num_layers();
  if (o.plan_file.empty()) return build_plan(make_plan_request(o, in), num_layers);
  std::string ext = std::filesystem::path(o.plan_file).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  Plan plan;
  if (ext == ".csv") {
    PytorchCsvImport ci;
    ci.num_layers = num_layers;
    if (!o.partition.empty()) ci.partition = parse_partition(o.partition);
    ci.name = std::filesystem::path(o.plan_file).stem().string();
    plan = load_pytorch_csv(o.plan_file, ci);
  } else if (ext == ".yaml" || ext == ".yml") {
    OctopipeImport oi;
    oi.num_layers = num_layers;
    if (!o.partition.empty()) oi.partition = parse_partition(o.partition);
    plan = load_octopipe_plan(o.plan_file, oi);
  } else {
    if (!o.partition.empty())
      throw InputError("--partition: the plan file " + o.plan_file + " carries its own partition");
    plan = load_plan_file(o.plan_file);
  }
  if (!in.units.empty()) {
    if (!plan.units.empty())
      throw InputError("--lengths: the plan file " + o.plan_file + " carries its own units; drop --lengths to use them");
    if (plan.num_microbatches != static_cast<int>(in.units.size()))
      throw InputError("--lengths: makes " + std::to_string(in.units.size()) + " units but the plan file " + o.plan_file +
                       " has " + std::to_string(plan.num_microbatches) + " micro-batches (one unit per micro-batch)");
    plan.units = in.units;
  }
  require_valid_plan(plan, num_layers, o.plan_file);
  return plan;
}

void fit_cluster_to_plan(Inputs& in, const InputOptions& o, const Plan& plan) {
  if (o.cluster.empty() && o.devices <= 0) {
    if (plan.num_devices() != in.cluster.num_devices()) in.cluster = make_uniform_cluster(plan.num_devices());
    return;
  }
  if (plan.num_devices() > in.cluster.num_devices())
    throw InputError("the plan uses " + std::to_string(plan.num_devices()) + " devices but " +
                     (o.cluster.empty() ? "--devices gives " : "--cluster " + o.cluster + " has ") +
                     std::to_string(in.cluster.num_devices()));
}

int terminal_width() {
  if (const char* c = std::getenv("COLUMNS")) {
    int v = std::atoi(c);
    if (v >= 20) return v;
  }
  struct winsize ws {};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 100;
}

bool stdout_has_color() { return isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr; }

}  // namespace adaptis::cli
