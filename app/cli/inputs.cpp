#include "cli/inputs.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "adaptis/model/model_loader.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/model/problem_limits.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/unit_slicing.h"
#include "cli/option_ranges.h"

namespace adaptis::cli {

void add_input_options(CLI::App* cmd, InputOptions& o) {
  auto* model = cmd->add_option("--model", o.model, "Model spec JSON (costs from the analytical roofline model)");
  auto* costs = cmd->add_option("--costs", o.costs, "Per-layer cost file (adaptis or AdaPtis-profile format)");
  model->excludes(costs);
  cmd->add_option("--cluster", o.cluster, "Cluster spec JSON");
  cmd->add_option("--devices", o.devices, "Number of devices (N x H100-SXM when no --cluster)")
      ->check(int_range(1, ProblemLimits::kDevices));
  cmd->add_option_function<double>(
         "--comm-latency-ms", [&o](const double& ms) { o.comm_latency_ms = ms; },
         "Override every link's P2P latency (ms; default: the cluster's own)")
      ->check(real_range(0, kMaxCommLatencyMs));
  cmd->add_flag("--no-overlap", o.no_overlap, "Model P2P transfers as blocking the sender's compute");
  cmd->add_option("--memory-model", o.memory_model,
                  "Model spec whose analytical memory figures (bytes, recompute) complete a times-only --costs file "
                  "such as the AdaPtis authors' profiles (samples/models/peer/)")
      ->needs(costs);
  cmd->add_option("--memory-limit-gib", o.memory_limit_gib,
                  "Usable memory per device in GiB (a cap in place of the cluster's; plans above it are out of memory)")
      ->check(real_range(0, 1 << 20, true));
}

namespace {

// Where the user gave each size: the flag or the file.
std::string layers_origin(const InputOptions& o) {
  return o.costs.empty() ? "--model " + o.model : "--costs " + o.costs;
}
std::string devices_origin(const InputOptions& o) {
  return o.cluster.empty() ? std::string("--devices") : "--cluster " + o.cluster;
}

}  // namespace

void check_limits(const InputOptions& o, const Inputs& in, long long microbatches, long long stages) {
  try {
    check_problem_size({in.costs.num_layers(), in.cluster.num_devices(), microbatches, stages});
  } catch (const ProblemTooLarge& e) {
    const std::string origin = e.field == ProblemField::Layers    ? layers_origin(o)
                               : e.field == ProblemField::Devices ? devices_origin(o)
                                                                  : std::string("--microbatches");
    throw InputError(origin + ": " + e.detail);
  }
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
  // The cluster's size first: costs derived from a model spec are computed per device.
  check_limits(o, in);
  if (!o.costs.empty()) in.costs = load_cost_table(o.costs);
  else in.costs = load_model_costs(o.model, in.cluster);
  if (!o.memory_model.empty()) in.costs = attach_memory(in.costs, load_model_costs(o.memory_model, in.cluster));
  if (o.memory_limit_gib != 0) {
    if (!(o.memory_limit_gib > 0) || !std::isfinite(o.memory_limit_gib))
      throw InputError("--memory-limit-gib: must be a number of GiB > 0, got " + std::to_string(o.memory_limit_gib));
    for (auto& d : in.cluster.devices) d.memory_limit_bytes = o.memory_limit_gib * 1024.0 * 1024.0 * 1024.0;
  }
  check_limits(o, in);
  if (o.comm_latency_ms) {
    // The option's validator already refused these; InputOptions filled by code gets the same check.
    if (!(*o.comm_latency_ms >= 0) || !std::isfinite(*o.comm_latency_ms))
      throw InputError("--comm-latency-ms: must be a finite number >= 0, got " + std::to_string(*o.comm_latency_ms));
    in.sim.comm_latency_ms = *o.comm_latency_ms;
  }
  in.sim.overlap_comm = !o.no_overlap;
  return in;
}

void add_plan_options(CLI::App* cmd, PlanOptions& o, bool with_schedule) {
  if (with_schedule) cmd->add_option("--schedule", o.schedule, "Schedule name (see `adaptis schedules`)")->capture_default_str();
  cmd->add_option("--microbatches,-m", o.microbatches, "Micro-batches per iteration")
      ->capture_default_str()
      ->check(int_range(1, ProblemLimits::kMicrobatches));
  cmd->add_option("--stages-per-device,-v", o.stages_per_device, "Chunks per device for looped schedules (default 2)")
      ->check(int_range(0, kMaxStagesPerDevice));
  cmd->add_option("--group-size", o.group_size, "Megatron interleaved micro-batch group size (default: devices)")
      ->check(int_range(0, ProblemLimits::kMicrobatches));
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
  r.units = in.units;  // --lengths: one micro-batch per unit
  if (!r.units.empty()) r.microbatches = static_cast<int>(r.units.size());
  return r;
}

long long planned_stages(const PlanRequest& req, const std::vector<ScheduleKind>& schedules) {
  ScheduleOptions so;
  so.devices = req.devices;
  so.microbatches = req.microbatches;
  so.stages_per_device = req.stages_per_device;
  long long most = 0;
  for (ScheduleKind k : schedules)
    most = std::max<long long>(most, static_cast<long long>(req.devices) * schedule_stages_per_device(k, so));
  return most;
}

namespace {

// The plan-size part of the problem limits, named after where the plan came from (a flag or a file).
void check_plan_size(const std::string& origin, long long microbatches, long long stages) {
  try {
    check_problem_size({0, 0, microbatches, stages});
  } catch (const ProblemTooLarge& e) {
    throw InputError(origin + ": " + e.detail);
  }
}

}  // namespace

Plan resolve_plan(const PlanOptions& o, const Inputs& in) {
  const int num_layers = in.costs.num_layers();
  if (o.plan_file.empty()) {
    const PlanRequest req = make_plan_request(o, in);
    // (A plan cannot have more stages than layers: build_plan says so itself.)
    // The unit-only schedules (seq1f1b, terapipe) run one stage per device.
    const long long stages = is_unit_only_schedule(req.schedule) ? req.devices
                                                                 : planned_stages(req, {parse_schedule_kind(req.schedule)});
    check_plan_size(req.units.empty() ? "--microbatches" : "--lengths", req.microbatches,
                    std::min<long long>(num_layers, stages));
    return build_plan(req, num_layers);
  }
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
  check_plan_size(o.plan_file, plan.num_microbatches, plan.num_stages());
  if (!in.units.empty()) {
    if (!plan.units.empty())
      throw InputError("--lengths: the plan file " + o.plan_file + " carries its own units; drop --lengths to use them");
    if (plan.num_microbatches != static_cast<int>(in.units.size()))
      throw InputError("--lengths: makes " + std::to_string(in.units.size()) + " units but the plan file " + o.plan_file +
                       " has " + std::to_string(plan.num_microbatches) + " micro-batches (one unit per micro-batch)");
    plan.units = in.units;
  }
  // Units the plan file carries: slices only on a model whose layers can run them (--lengths checked its own).
  const std::string why = slices_problem(plan.units, in.costs);
  if (!why.empty()) throw InputError(o.plan_file + ": " + why);
  require_valid_plan(plan, num_layers, o.plan_file);
  return plan;
}

void fit_cluster_to_plan(Inputs& in, const InputOptions& o, const Plan& plan) {
  if (plan.parallel) return apply_parallel_plan(in, o, *plan.parallel);
  if (o.cluster.empty() && o.devices <= 0) {
    if (plan.num_devices() != in.cluster.num_devices()) {
      in.cluster = make_uniform_cluster(plan.num_devices());
      if (o.memory_limit_gib > 0)
        for (auto& d : in.cluster.devices) d.memory_limit_bytes = o.memory_limit_gib * 1024.0 * 1024.0 * 1024.0;
    }
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
    if (v >= kMinChartWidth) return std::min(v, kMaxChartWidth);
  }
  struct winsize ws {};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return std::min<int>(ws.ws_col, kMaxChartWidth);
  return 100;
}

bool stdout_has_color() { return isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr; }

}  // namespace adaptis::cli
