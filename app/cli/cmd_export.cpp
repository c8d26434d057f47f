// `adaptis export`: one plan (from the schedule options or --plan FILE) written in the formats
// other tools read: Chrome trace JSON (Perfetto), PyTorch pipelining CSV (and a torchtitan job
// config that runs it), Megatron-LM flags, the OctoPipe authors' plan, and our own plan JSON.
//
// Room is left for measured runs: a positional RUN id (the executor's `export RUN`) would select
// a recorded run's timeline instead of a simulation; the writers already take either.
#include <algorithm>
#include <iostream>

#include "adaptis/executor/run_store.h"
#include "adaptis/executor/run_trace.h"
#include "adaptis/planner/chrome_trace.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/octopipe_plan.h"
#include "adaptis/planner/parallel_exports.h"
#include "adaptis/planner/pytorch_csv.h"
#include "adaptis/planner/torch_rules.h"
#include "adaptis/planner/torchtitan_config.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {
struct ExportArgs {
  InputOptions in;
  PlanOptions plan;
  MemoryOptions memory;
  LengthsOptions lengths;
  std::string chrome_trace;
  std::string pytorch_csv;
  bool with_comms = false;
  std::string megatron_file;
  CLI::Option* megatron = nullptr;
  std::string octopipe;
  std::string octopipe_dir;
  double time_unit_ms = 0.001;
  std::string plan_json;
  std::string torchtitan;
  int micro_batch_size = 0;  // 0 = the model spec's, else 1
  // A recorded run instead of a plan: `export RUN --chrome-trace FILE [--db DB] [--step N]`.
  std::string run;
  std::string db;
  int step = -1;
};

// The measured (and predicted) timeline of a recorded run as a Chrome trace.
int export_recorded_run(const ExportArgs& a) {
  if (a.chrome_trace.empty())
    throw InputError("export of run " + a.run + ": only --chrome-trace FILE applies to a recorded run");
  if (!a.pytorch_csv.empty() || (a.megatron && a.megatron->count() > 0) || !a.octopipe.empty() ||
      !a.octopipe_dir.empty() || !a.plan_json.empty() || !a.torchtitan.empty())
    throw InputError("export of run " + a.run + ": only --chrome-trace applies to a recorded run");
  exec::parse_run_id(a.run);  // a mistyped RUN is reported before the database is looked for
  const std::string db = a.db.empty() ? exec::default_run_db_path() : a.db;
  int64_t id = 0;
  {
    exec::RunStore store(db, exec::StoreAccess::ReadOnly);
    id = exec::parse_run_ref(a.run, store);
  }
  const size_t events = exec::export_run_chrome_trace(db, id, a.chrome_trace, a.step);
  std::cerr << "wrote Chrome trace of run " << id << " (" << events << " events, measured and predicted; open in "
            << "ui.perfetto.dev) to " << terminal_safe(a.chrome_trace) << "\n";
  return 0;
}

int run_export(const ExportArgs& a) {
  if (!a.run.empty()) return export_recorded_run(a);
  const bool want_megatron = a.megatron && a.megatron->count() > 0;
  if (a.chrome_trace.empty() && a.pytorch_csv.empty() && !want_megatron && a.octopipe.empty() &&
      a.octopipe_dir.empty() && a.plan_json.empty() && a.torchtitan.empty() && a.lengths.units_file.empty())
    throw InputError(
        "nothing to export: give at least one of --chrome-trace FILE, --pytorch-csv FILE, --torchtitan FILE, "
        "--megatron [FILE], --octopipe FILE, --octopipe-dir DIR, --plan-json FILE, --units-out FILE");
  if (a.with_comms && a.pytorch_csv.empty()) throw InputError("--with-comms: only applies to --pytorch-csv");
  if (!a.torchtitan.empty() && a.pytorch_csv.empty())
    throw InputError("--torchtitan: also give --pytorch-csv FILE, the schedule the torchtitan config points at");
  if (a.micro_batch_size < 0) throw InputError("--micro-batch-size: must be >= 1");
  if (!(a.time_unit_ms > 0)) throw InputError("--time-unit-ms: must be > 0");

  Inputs in = load_inputs(a.in);
  if (a.lengths.given()) {
    LengthsOptions lo = a.lengths;
    lo.units_file.clear();  // written below, from the plan's units
    apply_lengths(lo, in, PackingMode::PackTokens);
  }
  Plan plan = resolve_plan(a.plan, in);
  fit_cluster_to_plan(in, a.in, plan);
  if (!plan.units.empty() && in.costs.tokens_per_microbatch <= 0) {
    // A plan file with units on costs that state no reference: the longest unit stands for the context.
    long long longest = 0;
    for (const auto& u : plan.units) longest = std::max(longest, u.run_tokens());
    if (std::string note = ensure_cost_reference(in.costs, longest); !note.empty()) std::cerr << note << "\n";
  }
  if (!a.lengths.units_file.empty() && plan.units.empty())
    throw InputError("--units-out: the plan has no variable-length units (give --lengths, or a plan file with units)");
  std::string chosen;
  plan = apply_memory_options(plan, parse_memory_options(a.memory), in.costs, in.cluster, in.sim, chosen);
  if (!chosen.empty()) std::cerr << chosen << "\n";

  // Build every output in memory first, so a refusal (e.g. a placement Megatron cannot express)
  // leaves no half-written set of files behind.
  const bool need_sim = !a.chrome_trace.empty() || !a.octopipe.empty() || !a.octopipe_dir.empty();
  SimResult sim;
  if (need_sim) {
    sim = simulate(plan, in.costs, in.cluster, in.sim);
    if (!sim.ok) throw InputError("plan '" + plan.name + "' deadlocks:\n" + sim.error);
  }
  // The batch the training run uses: from the model spec when there is one.
  int micro_batch_size = a.micro_batch_size, data_parallel = 1;
  long long seq_len = 0;
  if (!a.in.model.empty()) {
    ModelSpec spec = load_model_spec(a.in.model);
    if (micro_batch_size == 0 && spec.micro_batch_size > 0) micro_batch_size = static_cast<int>(spec.micro_batch_size);
    data_parallel = static_cast<int>(std::max(1LL, spec.data_parallel));
    seq_len = spec.seq_len;
  }
  if (micro_batch_size == 0) micro_batch_size = 1;
  std::string megatron_text;
  if (want_megatron && plan.parallel) {  // a whole-cluster plan: the full command line, every degree
    ModelSpec spec;
    if (!a.in.model.empty()) spec = load_model_spec(a.in.model);
    megatron_text = format_megatron_command(
        megatron_command(plan, in.costs, a.in.model.empty() ? nullptr : &spec, &in.cluster.topology));
  } else if (want_megatron) {
    MegatronRunOptions run;
    run.micro_batch_size = micro_batch_size;
    run.data_parallel = data_parallel;
    run.seq_length = seq_len;
    megatron_text = format_megatron_export(export_megatron(plan, in.costs, run));
  }
  std::string csv_text, torchtitan_text;
  if (!a.pytorch_csv.empty())
    csv_text = format_pytorch_csv(plan, a.with_comms ? PytorchCsvFormat::ComputeComms : PytorchCsvFormat::ComputeOnly);
  if (!a.torchtitan.empty()) {
    TorchtitanOptions to;
    to.csv_path = a.pytorch_csv;
    to.microbatch_size = micro_batch_size;
    to.seq_len = seq_len;
    to.description = "adaptis plan " + plan.name + (in.costs.model.empty() ? "" : " for " + in.costs.model);
    torchtitan_text = export_torchtitan(plan, in.costs, to).toml;
  }
  nlohmann::json trace;
  if (!a.chrome_trace.empty()) trace = chrome_trace_json(plan, sim, in.costs, in.cluster, in.sim);
  OctopipeExport oo;
  oo.time_unit_ms = a.time_unit_ms;
  std::string octopipe_text;
  if (!a.octopipe.empty()) octopipe_text = format_octopipe_yaml(plan, sim, oo);

  if (!a.chrome_trace.empty()) {
    write_chrome_trace(a.chrome_trace, trace);
    std::cerr << "wrote Chrome trace (" << trace["traceEvents"].size() << " events; open in ui.perfetto.dev) to "
              << terminal_safe(a.chrome_trace) << "\n";
  }
  if (!a.pytorch_csv.empty()) {
    write_text_file(a.pytorch_csv, csv_text);
    std::cerr << "wrote PyTorch schedule CSV (" << (a.with_comms ? "compute_comms" : "compute_only") << ") to "
              << terminal_safe(a.pytorch_csv) << "\n";
    if (const std::string note = pytorch_csv_memory_note(plan); !note.empty()) std::cerr << "note: " << note << "\n";
    const std::vector<int> perm = torch_microbatch_relabelling(plan);
    for (size_t i = 0; i < perm.size(); ++i)
      if (perm[i] != static_cast<int>(i)) {
        std::cerr << "note: micro-batches renumbered so the last stage's forwards run 0, 1, 2, ... (PyTorch pairs "
                     "losses with micro-batches by that order); the simulated time is the same\n";
        break;
      }
    if (!plan.units.empty())
      std::cerr << "note: micro-batch i of the CSV is unit i" << (a.lengths.units_file.empty() ? "" : " of --units-out")
                << "; PyTorch pipelining needs the same shape for every micro-batch, so pad each unit to the longest "
                   "(or pack to equal tokens) and pass its documents' cu_seqlens to the attention as a per-micro-batch "
                   "kwarg; sliced units need a KV-carrying runtime\n";
  }
  if (!a.lengths.units_file.empty()) {
    // In the CSV's micro-batch numbering when a CSV is written (PyTorch's runtime renumbers them).
    const std::vector<WorkUnit> units = a.pytorch_csv.empty() ? plan.units : relabel_for_torch(plan).units;
    write_units_side_file(a.lengths.units_file, units);
    std::cerr << "wrote " << units.size() << " units (cu_seqlens per micro-batch, in order) to "
              << terminal_safe(a.lengths.units_file) << "\n";
  }
  if (!a.torchtitan.empty()) {
    write_text_file(a.torchtitan, torchtitan_text);
    std::cerr << "wrote torchtitan job config to " << terminal_safe(a.torchtitan)
              << " (run: torchrun --nproc_per_node=" << plan.num_devices() << " -m torchtitan.train --job.config_file "
              << terminal_safe(a.torchtitan) << ")\n";
  }
  if (want_megatron) {
    if (a.megatron_file.empty() || a.megatron_file == "-") {
      std::cout << terminal_safe_text(megatron_text);
    } else {
      write_text_file(a.megatron_file, megatron_text);
      std::cerr << "wrote Megatron-LM flags to " << terminal_safe(a.megatron_file) << "\n";
    }
  }
  if (!a.octopipe.empty()) {
    write_text_file(a.octopipe, octopipe_text);
    std::cerr << "wrote OctoPipe plan to " << terminal_safe(a.octopipe) << "\n";
  }
  if (!a.octopipe_dir.empty()) {
    save_octopipe_legacy(plan, sim, a.octopipe_dir, oo);
    std::cerr << "wrote OctoPipe partition.txt, placement.txt and result.txt to " << terminal_safe(a.octopipe_dir) << "\n";
  }
  if (!a.plan_json.empty()) {
    nlohmann::json meta = {{"source", "adaptis export"}, {"model", in.costs.model}, {"cost_source", in.costs.source}};
    if (need_sim) meta["simulated_iteration_ms"] = sim.iteration_ms;
    save_plan_file(plan, a.plan_json, meta);
    std::cerr << "wrote adaptis plan to " << terminal_safe(a.plan_json) << "\n";
  }
  return 0;
}
}  // namespace

void register_export(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write a plan as a Chrome trace, PyTorch CSV, Megatron flags, OctoPipe plan or adaptis plan JSON");
  add_input_options(cmd, args->in);
  add_plan_options(cmd, args->plan);
  add_memory_options(cmd, args->memory);
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--chrome-trace", args->chrome_trace, "Chrome trace JSON of the simulated iteration (Perfetto)");
  cmd->add_option("--pytorch-csv", args->pytorch_csv, "PyTorch pipelining schedule CSV (_load_csv / torchtitan)");
  cmd->add_flag("--with-comms", args->with_comms,
                "PyTorch CSV in compute_comms format (lowered as PyTorch's runtime does: SEND/RECV, waits, ...)");
  cmd->add_option("--torchtitan", args->torchtitan,
                  "torchtitan job config (TOML) running the plan from the --pytorch-csv file (looped or V placements)");
  cmd->add_option("--micro-batch-size", args->micro_batch_size,
                  "Sequences per micro-batch for the torchtitan config and Megatron flags (default: the model spec's, or 1)")
      ->check(int_range(1, kMaxMicroBatchSize));
  args->megatron = cmd->add_option("--megatron", args->megatron_file,
                                   "Megatron-LM pipeline flags and layout (to FILE, or stdout without one)")
                       ->expected(0, 1);
  cmd->add_option("--octopipe", args->octopipe, "OctoPipe (AdaPtis authors') YAML plan with simulated times");
  cmd->add_option("--octopipe-dir", args->octopipe_dir,
                  "OctoPipe legacy plan: DIR/partition.txt, placement.txt and result.txt");
  cmd->add_option("--time-unit-ms", args->time_unit_ms, "Time unit of OctoPipe start/end times (default 0.001 = us)")
      ->check(real_range(1e-9, 1e6));
  cmd->add_option("--plan-json", args->plan_json, "adaptis plan JSON (reload with --plan)");
  cmd->add_option("run,--run", args->run, "A recorded run (id or 'latest', see `adaptis runs`): export its measured trace");
  cmd->add_option("--db", args->db, "Run database for RUN (default $XDG_DATA_HOME/adaptis/runs.db)");
  cmd->add_option("--step", args->step, "Iteration of RUN to export (default: the last recorded)")
      ->check(int_range(0, kMaxSteps));
  cmd->callback([args, &run] { run = [args] { return run_export(*args); }; });
}

}  // namespace adaptis::cli
