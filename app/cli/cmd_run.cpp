// `adaptis run`: execute a plan for real on a small model (one thread per device on the CPU backend), print
// the loss of each step, a checksum of the gradients and the measured against the predicted iteration time,
// and record the run (plan, model, costs, machine, predicted and measured timelines) in the run database.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "adaptis/executor/data_parallel.h"
#include "adaptis/profiler/cpu_profiler.h"
#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/run_limits.h"
#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/tensor_parallel.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/validator.h"
#include "cli/commands.h"
#include "cli/gpu_options.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

struct RunArgs {
  std::string model;
  int devices = 0;
  PlanOptions plan;
  int steps = 3;
  std::string backend = "cpu";
  bool json = false;
  std::string db;
  bool no_record = false;
  std::string costs;
  int profile_repeats = 5;
  bool split_blocks = false;
  std::string corpus;
  float lr = 1e-3f;
  double watchdog_ms = 10000;
  bool dump_program = false;
  MemoryOptions memory;  // --recompute / --offload on the plan
  double host_bandwidth_gbs = 10.0;
  GpuCliOptions gpu;  // --backend cuda / nccl
  // Data / tensor parallelism on the CPU backend (executor/data_parallel.h, tensor_parallel.h).
  int data_parallel = 1;
  bool zero1 = false;
  int tensor_parallel = 1;
  LengthsOptions lengths;  // --lengths: variable-length packed units instead of equal micro-batches
};

// The one place --backend picks what executes the program. GPU backends add their branch here.
std::unique_ptr<exec::RunBackend> make_backend(const std::string& backend, const exec::Program& program,
                                               const exec::NetConfig& cfg, const exec::RuntimeOptions& options) {
  if (backend == "cpu") return exec::make_cpu_run_backend(program, cfg, options);
  throw InputError("--backend " + backend + ": unknown (available: cpu, cuda, nccl)");
}

// Hook: --data-parallel / --zero1 / --tensor-parallel on the CPU backend; otherwise make_backend.
std::unique_ptr<exec::RunBackend> parallel_backend(const RunArgs& a, const exec::Program& program,
                                                   const exec::NetConfig& cfg, const exec::RuntimeOptions& ro) {
  if (a.data_parallel == 1 && a.tensor_parallel == 1 && !a.zero1) return make_backend(a.backend, program, cfg, ro);
  if (a.backend != "cpu") throw InputError("--data-parallel / --tensor-parallel / --zero1: only on --backend cpu");
  if (a.data_parallel < 1) throw InputError("--data-parallel: must be >= 1, got " + std::to_string(a.data_parallel));
  if (a.data_parallel > 1 && a.tensor_parallel > 1)
    throw InputError("--data-parallel with --tensor-parallel: run one or the other on the CPU backend");
  if (a.zero1 && a.data_parallel < 2) throw InputError("--zero1: shards the optimizer over --data-parallel N >= 2 replicas");
  if (a.tensor_parallel > 1) return exec::make_tensor_parallel_run_backend(program, cfg, a.tensor_parallel, ro);
  exec::DataParallelOptions o;
  o.replicas = a.data_parallel;
  o.zero1 = a.zero1;
  o.optimizer = ro.optimizer;
  o.watchdog_ms = ro.watchdog_ms;
  return exec::make_data_parallel_run_backend(program, cfg, o);
}

// The process's own command line, for the record.
std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), out;
  for (char c : raw) out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "adaptis run" : out;
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

std::string percent(double rel) { return std::isfinite(rel) ? fmt("%+.1f%%", rel * 100) : "-"; }

prof::CpuProfileOptions profile_options(const RunArgs& a) {
  prof::CpuProfileOptions po;
  po.repeats = a.profile_repeats;
  po.split_blocks = a.split_blocks;
  return po;
}

// The per-layer costs the prediction uses: --costs, or this model profiled now.
CostTable prediction_costs(const RunArgs& a, const exec::NetConfig& cfg, int plan_layers) {
  CostTable costs;
  if (!a.costs.empty()) {
    costs = load_cost_table(a.costs);
    if (costs.num_layers() != plan_layers)
      throw InputError("--costs " + a.costs + ": " + std::to_string(costs.num_layers()) + " layers, but the plan's model " +
                       cfg.name + " has " + std::to_string(plan_layers) +
                       (a.split_blocks ? " executor layers" : " spec layers") +
                       " (profile it with `adaptis profile --model " + a.model +
                       (a.split_blocks ? " --split-blocks" : "") + "`)");
  } else {
    costs = is_gpu_backend(a.backend) ? gpu_prediction_costs(cfg, a.gpu, a.split_blocks, a.profile_repeats, std::cerr)
                                      : prof::profile_cpu(cfg, profile_options(a));
  }
  return costs;
}

// Unit costs scale from a reference micro-batch; a profile of this model that states none timed one
// micro-batch of it: micro_batch rows of seq tokens, micro_batch * seq^2 / 2 causal pairs.
void set_profile_reference(CostTable& costs, const exec::NetConfig& cfg) {
  if (costs.tokens_per_microbatch > 0) return;
  costs.tokens_per_microbatch = double(cfg.micro_batch) * double(cfg.seq);
  costs.pairs_per_microbatch = double(cfg.micro_batch) * double(cfg.seq) * double(cfg.seq) / 2;
}

// Units: a profile made now also learns how its attention rows grow with causal pairs (a --costs file
// keeps what it states); then the reference micro-batch.
void prepare_unit_costs(const RunArgs& a, const exec::NetConfig& cfg, CostTable& costs) {
  if (a.costs.empty() && a.backend == "cpu") prof::split_attention_pairs(costs, cfg, profile_options(a));
  set_profile_reference(costs, cfg);
}

// Predicted and measured compute time per unit (micro-batch), the measured one averaged over the steps
// the iteration time uses (the first left out when there are several).
struct UnitTimes {
  std::vector<double> predicted, measured;
};
UnitTimes unit_times(const exec::Program& program, const exec::RunPrediction& pred,
                     const std::vector<exec::RecordedStep>& steps) {
  UnitTimes t;
  t.predicted = exec::predicted_microbatch_ms(pred.intervals, program.num_microbatches);
  t.measured.assign(static_cast<size_t>(program.num_microbatches), 0.0);
  const size_t first = steps.size() > 1 ? 1 : 0;
  for (size_t i = first; i < steps.size(); ++i) {
    const std::vector<double> ms = exec::microbatch_compute_ms(program, steps[i].result);
    for (size_t u = 0; u < ms.size(); ++u) t.measured[u] += ms[u] / double(steps.size() - first);
  }
  return t;
}

// Variable-length units run on the CPU backend's pipeline only: what else is asked for is refused, naming
// the flag. `source` names where the units come from (--lengths, or a plan file carrying units).
void check_units_run_options(const RunArgs& a, const std::string& source) {
  if (a.backend != "cpu")
    throw InputError(source + ": the " + a.backend +
                     " backend does not run variable-length units (packed documents); use --backend cpu");
  if (a.data_parallel > 1 || a.tensor_parallel > 1 || a.zero1)
    throw InputError(source + ": --data-parallel / --tensor-parallel / --zero1 do not run variable-length units; "
                     "drop them (the pipeline alone runs the units)");
}

// --lengths on `run`: the executor's limits become the defaults (context = the model's seq positions; a
// unit, at most the context by default, never more than a micro-batch buffer of micro_batch * seq tokens),
// packed and sliced units run (padded ones do not; slices only on models without Mamba or MoE layers, which
// the unit check refuses naming the layer kind), and the costs get the profiled micro-batch as their
// reference.
std::optional<LoadedLengths> apply_run_lengths(const RunArgs& a, const exec::NetConfig& cfg, Inputs& in) {
  if (!a.lengths.given()) return std::nullopt;
  check_units_run_options(a, "--lengths");
  LengthsOptions lo = a.lengths;
  if (lo.context == 0) lo.context = cfg.seq;
  if (lo.context > cfg.seq)
    throw InputError("--context " + std::to_string(lo.context) + ": longer than the model's seq = " +
                     std::to_string(cfg.seq) + " positions (" + cfg.name + "); the executor runs documents up to seq tokens");
  const long long capacity = (long long)cfg.micro_batch * cfg.seq;
  if (lo.unit_tokens > capacity)
    throw InputError("--unit-tokens " + std::to_string(lo.unit_tokens) + ": more than the model's micro_batch * seq = " +
                     std::to_string(capacity) + " tokens a micro-batch buffer holds");
  const PackingMode mode = lo.pack.empty() ? PackingMode::PackTokens : parse_packing_mode(lo.pack);
  if (mode == PackingMode::Pad)
    throw InputError("--pack pad: run executes packed and sliced units, not padded ones (padding is simulated, not run)");
  set_profile_reference(in.costs, cfg);
  return apply_lengths(lo, in, mode);
}

int run_command(const RunArgs& a) {
  if (a.model.empty()) throw InputError("--model: required (a model spec such as samples/models/tiny-llama.json)");
  // The option validators already hold these ranges; RunArgs filled by code gets the same checks.
  if (a.steps < 1) throw InputError("--steps: must be >= 1, got " + std::to_string(a.steps));
  if (a.devices < 0) throw InputError("--devices: must be >= 1, got " + std::to_string(a.devices));
  if (a.profile_repeats < 1) throw InputError("--profile-repeats: must be >= 1");
  if (!(a.lr > 0) || !std::isfinite(a.lr)) throw InputError("--lr: must be a finite number > 0");
  if (!(a.watchdog_ms > 0) || !std::isfinite(a.watchdog_ms)) throw InputError("--watchdog-ms: must be a finite number > 0");
  check_backend_precision(a.backend, a.gpu.precision);

  // The model, and the units a plan partitions (the spec's layers unless --split-blocks).
  const exec::NetConfig cfg = exec::load_net_config(a.model);
  const exec::LayerUnits units = exec::plan_layer_units(cfg, a.split_blocks);

  // The plan: built from the schedule options for --devices (default 4), or read from --plan.
  // With --lengths the costs come first: packing balances units by their predicted cost.
  Inputs in;
  std::optional<CostTable> early_costs;
  if (a.lengths.given()) {
    check_units_run_options(a, "--lengths");
    early_costs = prediction_costs(a, cfg, units.count());
    prepare_unit_costs(a, cfg, *early_costs);
    in.costs = *early_costs;
  }
  in.costs.layers.resize(static_cast<size_t>(units.count()));  // only the layer count matters without --lengths
  in.cluster = exec::cpu_thread_cluster(a.devices > 0 ? a.devices : 4);
  const std::optional<LoadedLengths> lengths = apply_run_lengths(a, cfg, in);
  if (lengths)
    for (const std::string& note : lengths->notes) std::cerr << note << "\n";
  Plan plan = resolve_plan(a.plan, in);
  if (!plan.units.empty()) {
    const std::string source = lengths ? std::string("--lengths") : "--plan " + a.plan.plan_file + " (variable-length units)";
    check_units_run_options(a, source);
    try {
      exec::check_units_runnable(cfg, plan.units, {});
    } catch (const InputError& e) {
      throw InputError(source + ": " + e.what() + " (model " + a.model + ")");
    }
  }
  if (!(a.host_bandwidth_gbs > 0) || !std::isfinite(a.host_bandwidth_gbs))
    throw InputError("--host-bandwidth-gbs: must be > 0, got " + std::to_string(a.host_bandwidth_gbs));
  {
    const MemoryChoices mc = parse_memory_options(a.memory);
    if (mc.automatic) throw InputError("--recompute/--offload auto: run executes one plan; give a policy or a fraction");
    std::string chosen;
    plan = apply_memory_options(plan, mc, in.costs, exec::cpu_thread_cluster(plan.num_devices(), a.host_bandwidth_gbs),
                                SimOptions{}, chosen);
    if (!chosen.empty()) std::cerr << chosen << "\n";
    if (mc.given && !plan.units.empty()) {
      // apply_memory_options narrowed a recompute over sliced units to the units that may drop their
      // activations; the policies the flags set meet the units here (a plan file's were validated with it).
      require_valid_plan(plan, units.count(), "--recompute/--offload with --lengths");
    }
  }
  // The CPU replicas and tensor-parallel ranks run F, B and W only: refused before anything starts.
  if (has_memory_policy(plan) && (a.data_parallel > 1 || a.tensor_parallel > 1 || a.zero1))
    throw InputError("--data-parallel / --tensor-parallel / --zero1: the CPU data- and tensor-parallel runs do not "
                     "recompute or offload; drop --recompute / --offload (or the plan's 'memory' section)");
  if (a.devices > 0 && plan.num_devices() > a.devices)
    throw InputError("the plan " + (a.plan.plan_file.empty() ? "'" + plan.name + "'" : a.plan.plan_file) + " uses " +
                     std::to_string(plan.num_devices()) + " devices but --devices gives " + std::to_string(a.devices));
  const exec::Program program = exec::map_program_layers(exec::lower_plan(plan), units.bounds);
  if (a.dump_program) std::cerr << exec::format_program(program);
  // Before anything is allocated: the CPU executor's size limits (run_limits.h).
  if (a.backend == "cpu") {
    try {
      exec::check_cpu_run_size(cfg, plan.num_microbatches, plan.num_devices(), exec::available_memory_bytes());
    } catch (const exec::RunTooLarge& e) {
      throw InputError((e.field == exec::RunSizeField::Devices ? std::string("--devices") : "--model " + a.model) + ": " +
                       e.detail);
    }
  }

  // The executor (builds every stage on its device's thread).
  exec::RuntimeOptions ro;
  ro.optimizer.lr = a.lr;
  ro.watchdog_ms = a.watchdog_ms;
  ro.host_bandwidth_gbs = a.host_bandwidth_gbs;
  // GPU backends: virtual devices on one GPU, or NCCL ranks; under mpirun only rank 0 prints and records.
  exec::GpuRunBackend gpu;
  if (is_gpu_backend(a.backend))
    gpu = exec::make_gpu_run_backend(program, cfg, gpu_run_options(a.gpu, a.backend, a.lr, a.watchdog_ms));
  if (!gpu.primary) std::cout.setstate(std::ios::failbit);
  std::unique_ptr<exec::RunBackend> backend =
      gpu.backend ? std::move(gpu.backend) : parallel_backend(a, program, cfg, ro);

  // The prediction: the simulator fed with CPU costs of this model (a profile file, or measured now).
  CostTable costs = early_costs ? in.costs : prediction_costs(a, cfg, units.count());
  if (!plan.units.empty() && !early_costs) prepare_unit_costs(a, cfg, costs);
  const exec::RunPrediction pred =
      exec::predict_run(plan, costs, exec::cpu_thread_cluster(plan.num_devices(), a.host_bandwidth_gbs),
                        exec::cpu_sim_options());

  // What the run records up front.
  exec::RunInfo info;
  info.command = command_line();
  info.schedule = plan.name;
  info.model_name = cfg.name;
  info.model = exec::net_config_to_json(cfg);
  info.model["spec_file"] = a.model;
  info.plan = plan_to_json(plan);
  info.costs = cost_table_json(costs);
  info.machine = exec::machine_info();
  info.num_devices = plan.num_devices();
  info.num_stages = plan.num_stages();
  info.num_microbatches = plan.num_microbatches;
  info.predicted_iteration_ms = pred.iteration_ms;
  info.devices = pred.devices;
  info.predicted = pred.intervals;

  std::unique_ptr<exec::RunStore> store;
  std::string db;
  if (!a.no_record && gpu.primary) {
    db = a.db.empty() ? exec::default_run_db_path() : a.db;
    store = std::make_unique<exec::RunStore>(db);
  }
  const std::vector<int32_t> corpus = a.corpus.empty() ? std::vector<int32_t>{} : exec::load_text_corpus(a.corpus);
  exec::DataSource data;
  if (plan.units.empty()) {
    data = exec::model_data(cfg, corpus);
  } else {
    try {
      data = exec::unit_data(cfg, corpus, plan.units);
    } catch (const InputError& e) {
      throw InputError("--corpus " + a.corpus + ": " + e.what());
    }
  }

  const unsigned cores = std::thread::hardware_concurrency();
  if (!a.json) {
    std::cout << "model " << terminal_safe(cfg.name) << ": " << cfg.num_layers() << " executor layers in " << units.count()
              << (a.split_blocks ? " plan layers" : " spec layers") << ", seq " << cfg.seq << " x micro-batch "
              << cfg.micro_batch << (corpus.empty() ? ", synthetic tokens" : ", corpus " + terminal_safe(a.corpus)) << "\n";
    for (const auto& note : cfg.notes) std::cout << "  note: " << terminal_safe_text(note) << "\n";
    std::cout << "plan " << terminal_safe(plan.name) << ": " << plan.num_devices() << " devices, " << plan.num_stages()
              << " stages, " << plan.num_microbatches << " micro-batches, partition "
              << format_partition(plan.partition) << ", placement " << format_placement(plan.placement) << "\n";
    std::cout << "backend " << backend->name() << ": " << plan.num_devices() << " device threads on " << cores
              << " logical cores" << (plan.num_devices() > static_cast<int>(cores) ? " (oversubscribed)" : "") << "\n";
    std::cout << "predicted iteration " << fmt("%.3f", pred.iteration_ms) << " ms (costs " << terminal_safe(costs.source)
              << (a.costs.empty() ? ", profiled now" : ", from " + terminal_safe(a.costs)) << ")\n";
    if (a.backend == "cpu" && plan.num_devices() > static_cast<int>(cores))
      std::cout << "  note: " << plan.num_devices() << " device threads share " << cores
                << " cores; the predicted compute alone needs "
                << fmt("%.3f", exec::cpu_capacity_bound_ms(pred, static_cast<int>(cores)))
                << " ms per iteration on them (the simulator assumes a core per device)\n";
    std::cout << "\n";
    std::cout << "step  loss         grad checksum     iteration ms   step ms\n";
  }
  auto print_step = [&](const exec::RecordedStep& s) {
    if (a.json) return;
    std::cout << fmt("%4.0f", s.result.step) << "  " << fmt("%-11.6f", s.result.loss) << "  " << s.grad_checksum
              << "  " << fmt("%12.3f", s.result.iteration_ms()) << "  " << fmt("%8.3f", s.result.step_ms()) << "\n";
    std::cout.flush();
  };
  const exec::RunOutcome out = exec::execute_run(*backend, program, a.steps, data, store.get(), info, print_step);

  const double error = exec::relative_error(pred.iteration_ms, out.measured_iteration_ms);
  const exec::RecordedStep& last = out.steps.back();
  if (a.json) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : out.steps)
      steps.push_back({{"step", s.result.step},
                       {"loss", s.result.loss},
                       {"microbatch_losses", s.result.mb_losses},
                       {"grad_checksum", s.grad_checksum},
                       {"iteration_ms", s.result.iteration_ms()},
                       {"step_ms", s.result.step_ms()}});
    nlohmann::json j = {{"run_id", out.run_id > 0 ? nlohmann::json(out.run_id) : nlohmann::json(nullptr)},
                        {"db", store ? nlohmann::json(db) : nlohmann::json(nullptr)},
                        {"backend", backend->name()},
                        {"model", cfg.name},
                        {"schedule", plan.name},
                        {"devices", plan.num_devices()},
                        {"stages", plan.num_stages()},
                        {"microbatches", plan.num_microbatches},
                        {"partition", format_partition(plan.partition)},
                        {"placement", format_placement(plan.placement)},
                        {"logical_cores", cores},
                        {"cpu_capacity_bound_ms", exec::cpu_capacity_bound_ms(pred, static_cast<int>(cores))},
                        {"cost_source", costs.source},
                        {"steps", steps},
                        {"loss", last.result.loss},
                        {"grad_checksum", last.grad_checksum},
                        {"predicted_iteration_ms", pred.iteration_ms},
                        {"measured_iteration_ms", out.measured_iteration_ms},
                        {"iteration_error", std::isfinite(error) ? nlohmann::json(error) : nlohmann::json(nullptr)}};
    if (has_memory_policy(plan)) j["memory"] = plan_to_json(plan)["memory"];
    // What the device threads measured (saved activations only: what F kept, R re-created, came back).
    j["peak_saved_bytes"] = last.result.peak_saved_bytes;
    // ... and what the simulator predicted of the same (activations F keeps and R re-creates, per device).
    nlohmann::json predicted_peak = nlohmann::json::array();
    for (const DeviceStats& d : pred.sim.devices) predicted_peak.push_back(d.peak_activation_bytes);
    j["predicted_peak_activation_bytes"] = std::move(predicted_peak);
    // Activation offload: bytes copied to host memory per device, measured and predicted.
    if (has_memory_policy(plan)) {
      j["offloaded_bytes"] = last.result.offloaded_bytes;
      nlohmann::json predicted_off = nlohmann::json::array();
      for (const DeviceStats& d : pred.sim.devices) predicted_off.push_back(d.offloaded_bytes);
      j["predicted_offloaded_bytes"] = std::move(predicted_off);
    }
    if (!plan.units.empty()) {
      const UnitTimes ut = unit_times(program, pred, out.steps);
      const std::vector<double> weights = exec::unit_loss_weights(plan.units);
      nlohmann::json ju = nlohmann::json::array();
      for (size_t u = 0; u < plan.units.size(); ++u) {
        const double e = exec::relative_error(ut.predicted[u], ut.measured[u]);
        ju.push_back({{"unit", u},
                      {"docs", plan.units[u].docs},
                      {"tokens", plan.units[u].tokens()},
                      {"pairs", plan.units[u].pairs()},
                      {"loss_weight", weights[u]},
                      {"predicted_ms", ut.predicted[u]},
                      {"measured_ms", ut.measured[u]},
                      {"error", std::isfinite(e) ? nlohmann::json(e) : nlohmann::json(nullptr)}});
      }
      j["units"] = ju;
      j["loss_definition"] = "sum of token losses / tokens of the iteration";
      if (lengths) j["varlen"] = varlen_json(*lengths, plan.units, pred.sim);
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "\nloss " << fmt("%.6f", last.result.loss) << ", gradient checksum " << last.grad_checksum << "\n";
    std::cout << "iteration: measured " << fmt("%.3f", out.measured_iteration_ms) << " ms ("
              << (out.steps.size() > 1 ? "median of steps 1.." + std::to_string(out.steps.size() - 1)
                                       : std::string("one step"))
              << "), predicted " << fmt("%.3f", pred.iteration_ms) << " ms, error " << percent(error) << "\n";
    if (has_memory_policy(plan)) {
      std::cout << "memory policy " << terminal_safe(describe_memory(plan.memory)) << "; measured peak saved activations";
      for (size_t d = 0; d < last.result.peak_saved_bytes.size(); ++d)
        std::cout << (d ? ", " : " ") << "d" << d << " " << last.result.peak_saved_bytes[d] << " B";
      std::cout << "\n";
    }
    if (!plan.units.empty()) {
      const UnitTimes ut = unit_times(program, pred, out.steps);
      std::cout << "\n" << plan.units.size() << " units (loss: sum of token losses / "
                << [&] {
                     long long t = 0;
                     for (const WorkUnit& u : plan.units) t += u.tokens();
                     return t;
                   }()
                << " tokens); compute per unit over all stages:\n";
      std::cout << "unit  docs  tokens      pairs  predicted ms  measured ms   error\n";
      for (size_t u = 0; u < plan.units.size(); ++u)
        std::cout << fmt("%4.0f", double(u)) << "  " << fmt("%4.0f", double(plan.units[u].docs.size())) << "  "
                  << fmt("%6.0f", double(plan.units[u].tokens())) << "  " << fmt("%9.0f", plan.units[u].pairs()) << "  "
                  << fmt("%12.3f", ut.predicted[u]) << "  " << fmt("%11.3f", ut.measured[u]) << "  "
                  << percent(exec::relative_error(ut.predicted[u], ut.measured[u])) << "\n";
    }
    if (store) std::cout << "recorded as run " << out.run_id << " in " << terminal_safe(db) << " (see `adaptis show "
                         << out.run_id << (a.db.empty() ? "" : " --db " + terminal_safe(db)) << "`)\n";
  }
  return 0;
}

// How to start a multi-process run, as this binary supports it (shown under `adaptis run --help`).
std::string multi_process_help() {
  std::string id_line;
  if (!exec::built_with_cuda())
    id_line = "This adaptis was built without CUDA: the GPU backends refuse.";
  else if (exec::built_with_mpi())
    id_line = "This adaptis was built with MPI: rank 0 sends NCCL's unique id to the others by MPI_Bcast.";
  else
    id_line =
        "This adaptis was built without MPI: give the ranks NCCL's unique id through a file they can all read,\n"
        "  mpirun -np 4 -x ADAPTIS_NCCL_ID_FILE=/shared/nccl.id adaptis run --backend nccl ...\n"
        "(rank 0 writes it), or in ADAPTIS_NCCL_ID (256 hex digits).";
  return "One process per GPU (--backend nccl, as many ranks as plan devices; only rank 0 prints and records):\n"
         "  mpirun -np 4 adaptis run --backend nccl --devices 4 --model samples/models/tiny-llama.json\n"
         "Ranks come from mpirun (OpenMPI's OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK, or PMI_RANK / PMI_SIZE) or\n"
         "from ADAPTIS_NCCL_RANK / ADAPTIS_NCCL_WORLD / ADAPTIS_NCCL_LOCAL_RANK; each rank uses GPU local rank % "
         "GPUs.\n" +
         id_line;
}

}  // namespace

void register_run(CLI::App& app, Runner& run) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Execute a plan on a small real model (CPU threads), print loss, gradient checksum and measured vs "
             "predicted iteration time, and record the run");
  cmd->add_option("--model", args->model, "Model spec JSON to train (a tiny one, e.g. samples/models/tiny-llama.json)")
      ->required();
  cmd->add_option("--devices", args->devices, "Pipeline devices (default 4, or the plan file's)")
      ->check(int_range(1, exec::CpuRunLimits::kMaxDevices));
  add_plan_options(cmd, args->plan);
  cmd->add_option("--steps", args->steps, "Training iterations")->capture_default_str()->check(int_range(1, kMaxSteps));
  cmd->add_option("--backend", args->backend,
                  "What executes the plan: cpu (one thread per device), cuda (virtual devices on one GPU), nccl "
                  "(one GPU per device; under mpirun one process per rank)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda", "nccl"}));
  add_gpu_options(cmd, args->gpu, true, &args->devices);
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--db", args->db, "Run database (default $XDG_DATA_HOME/adaptis/runs.db or ~/.local/share/adaptis/runs.db)");
  cmd->add_flag("--no-record", args->no_record, "Do not record the run");
  cmd->add_option("--costs", args->costs,
                  "Per-layer CPU costs for the prediction (from `adaptis profile`; default: profile the model now)");
  cmd->add_option("--profile-repeats", args->profile_repeats, "Timed repetitions per layer when profiling now")
      ->capture_default_str()
      ->check(int_range(1, kMaxRepeats));
  cmd->add_flag("--split-blocks", args->split_blocks,
                "Plan layers are the executor's (attention and MLP of a block apart) instead of the spec's blocks");
  cmd->add_option("--corpus", args->corpus, "Text file to train on (byte tokens; default: synthetic tokens)");
  cmd->add_option("--lr", args->lr, "AdamW learning rate (a run whose loss or weights become inf/nan fails)")
      ->capture_default_str()
      ->check(real_range(0, 1000, true));
  cmd->add_option("--watchdog-ms", args->watchdog_ms, "Stop a run when no device progresses for this long")
      ->capture_default_str()
      ->check(real_range(0, 3.6e6, true));
  cmd->add_flag("--dump-program", args->dump_program, "Print every device's lowered instruction list to stderr");
  cmd->add_option("--data-parallel", args->data_parallel,
                  "Pipeline replicas on the CPU (thread groups), each on 1/N of the batch; the plan's micro-batches "
                  "are per replica")
      ->check(int_range(1, 64));
  cmd->add_flag("--zero1", args->zero1, "With --data-parallel: shard the optimizer states over the replicas");
  cmd->add_option("--tensor-parallel", args->tensor_parallel,
                  "Split attention and MLP blocks over T rank threads per pipeline device (CPU)")
      ->check(int_range(1, 16));
  add_memory_options(cmd, args->memory);
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--host-bandwidth-gbs", args->host_bandwidth_gbs,
                  "Offload: the host link each device's copy threads are paced to (GB/s per direction)")
      ->capture_default_str()
      ->check(real_range(0, 1e6, true));
  cmd->footer(multi_process_help());
  cmd->callback([args, &run] { run = [args] { return run_command(*args); }; });
}

}  // namespace adaptis::cli
