// `adaptis export`: one plan (from the schedule options or --plan FILE) written in the formats
// other tools read: Chrome trace JSON (Perfetto), PyTorch pipelining CSV, Megatron-LM flags,
// the OctoPipe authors' plan, and our own plan JSON.
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
#include "adaptis/planner/pytorch_csv.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"

namespace adaptis::cli {

namespace {
struct ExportArgs {
  InputOptions in;
  PlanOptions plan;
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
      !a.octopipe_dir.empty() || !a.plan_json.empty())
    throw InputError("export of run " + a.run + ": only --chrome-trace applies to a recorded run");
  const std::string db = a.db.empty() ? exec::default_run_db_path() : a.db;
  int64_t id = 0;
  {
    exec::RunStore store(db);
    id = exec::parse_run_ref(a.run, store);
  }
  const size_t events = exec::export_run_chrome_trace(db, id, a.chrome_trace, a.step);
  std::cerr << "wrote Chrome trace of run " << id << " (" << events << " events, measured and predicted; open in "
            << "ui.perfetto.dev) to " << a.chrome_trace << "\n";
  return 0;
}

int run_export(const ExportArgs& a) {
  if (!a.run.empty()) return export_recorded_run(a);
  const bool want_megatron = a.megatron && a.megatron->count() > 0;
  if (a.chrome_trace.empty() && a.pytorch_csv.empty() && !want_megatron && a.octopipe.empty() &&
      a.octopipe_dir.empty() && a.plan_json.empty() && a.lengths.units_file.empty())
    throw InputError(
        "nothing to export: give at least one of --chrome-trace FILE, --pytorch-csv FILE, --megatron [FILE], "
        "--octopipe FILE, --octopipe-dir DIR, --plan-json FILE, --units-out FILE");
  if (a.with_comms && a.pytorch_csv.empty()) throw InputError("--with-comms: only applies to --pytorch-csv");
  if (!(a.time_unit_ms > 0)) throw InputError("--time-unit-ms: must be > 0");

  Inputs in = load_inputs(a.in);
  if (a.lengths.given()) {
    LengthsOptions lo = a.lengths;
    lo.units_file.clear();  // written below, from the plan's units
    apply_lengths(lo, in, PackingMode::PackTokens);
  }
  Plan plan = resolve_plan(a.plan, in);
  fit_cluster_to_plan(in, a.in, plan);
  if (!plan.units.empty() && in.costs.ref_tokens <= 0) {
    // A plan file with units on costs that state no reference: the longest unit stands for the context.
    long long longest = 0;
    for (const auto& u : plan.units) longest = std::max(longest, u.run_tokens());
    if (std::string note = ensure_cost_reference(in.costs, longest); !note.empty()) std::cerr << note << "\n";
  }
  if (!a.lengths.units_file.empty() && plan.units.empty())
    throw InputError("--units-out: the plan has no variable-length units (give --lengths, or a plan file with units)");

  // Build every output in memory first, so a refusal (e.g. a placement Megatron cannot express)
  // leaves no half-written set of files behind.
  const bool need_sim = !a.chrome_trace.empty() || !a.octopipe.empty() || !a.octopipe_dir.empty();
  SimResult sim;
  if (need_sim) {
    sim = simulate(plan, in.costs, in.cluster, in.sim);
    if (!sim.ok) throw InputError("plan '" + plan.name + "' deadlocks:\n" + sim.error);
  }
  std::string megatron_text;
  if (want_megatron) megatron_text = format_megatron_export(export_megatron(plan, in.costs));
  std::string csv_text;
  if (!a.pytorch_csv.empty())
    csv_text = format_pytorch_csv(plan, a.with_comms ? PytorchCsvFormat::ComputeComms : PytorchCsvFormat::ComputeOnly);
  nlohmann::json trace;
  if (!a.chrome_trace.empty()) trace = chrome_trace_json(plan, sim, in.costs, in.cluster, in.sim);
  OctopipeExport oo;
  oo.time_unit_ms = a.time_unit_ms;
  std::string octopipe_text;
  if (!a.octopipe.empty()) octopipe_text = format_octopipe_yaml(plan, sim, oo);

  if (!a.chrome_trace.empty()) {
    write_chrome_trace(a.chrome_trace, trace);
    std::cerr << "wrote Chrome trace (" << trace["traceEvents"].size() << " events; open in ui.perfetto.dev) to "
              << a.chrome_trace << "\n";
  }
  if (!a.pytorch_csv.empty()) {
    write_text_file(a.pytorch_csv, csv_text);
    std::cerr << "wrote PyTorch schedule CSV (" << (a.with_comms ? "compute_comms" : "compute_only") << ") to "
              << a.pytorch_csv << "\n";
    if (!plan.units.empty())
      std::cerr << "note: micro-batch i of the CSV is unit i; PyTorch pipelining needs the same shape for every "
                   "micro-batch, so pad each unit to the longest (or pack to equal tokens) and pass its documents' "
                   "cu_seqlens (--units-out) to the attention as a per-micro-batch kwarg; sliced units need a "
                   "KV-carrying runtime\n";
  }
  if (!a.lengths.units_file.empty()) {
    write_units_side_file(a.lengths.units_file, plan.units);
    std::cerr << "wrote " << plan.units.size() << " units (cu_seqlens per micro-batch, in order) to "
              << a.lengths.units_file << "\n";
  }
  if (want_megatron) {
    if (a.megatron_file.empty() || a.megatron_file == "-") {
      std::cout << megatron_text;
    } else {
      write_text_file(a.megatron_file, megatron_text);
      std::cerr << "wrote Megatron-LM flags to " << a.megatron_file << "\n";
    }
  }
  if (!a.octopipe.empty()) {
    write_text_file(a.octopipe, octopipe_text);
    std::cerr << "wrote OctoPipe plan to " << a.octopipe << "\n";
  }
  if (!a.octopipe_dir.empty()) {
    save_octopipe_legacy(plan, sim, a.octopipe_dir, oo);
    std::cerr << "wrote OctoPipe partition.txt, placement.txt and result.txt to " << a.octopipe_dir << "\n";
  }
  if (!a.plan_json.empty()) {
    nlohmann::json meta = {{"source", "adaptis export"}, {"model", in.costs.model}, {"cost_source", in.costs.source}};
    if (need_sim) meta["simulated_iteration_ms"] = sim.iteration_ms;
    save_plan_file(plan, a.plan_json, meta);
    std::cerr << "wrote adaptis plan to " << a.plan_json << "\n";
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
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--chrome-trace", args->chrome_trace, "Chrome trace JSON of the simulated iteration (Perfetto)");
  cmd->add_option("--pytorch-csv", args->pytorch_csv, "PyTorch pipelining schedule CSV (_load_csv / torchtitan)");
  cmd->add_flag("--with-comms", args->with_comms, "PyTorch CSV in compute_comms format (SEND/RECV inserted)");
  args->megatron = cmd->add_option("--megatron", args->megatron_file,
                                   "Megatron-LM pipeline flags and layout (to FILE, or stdout without one)")
                       ->expected(0, 1);
  cmd->add_option("--octopipe", args->octopipe, "OctoPipe (AdaPtis authors') YAML plan with simulated times");
  cmd->add_option("--octopipe-dir", args->octopipe_dir,
                  "OctoPipe legacy plan: DIR/partition.txt, placement.txt and result.txt");
  cmd->add_option("--time-unit-ms", args->time_unit_ms, "Time unit of OctoPipe start/end times (default 0.001 = us)");
  cmd->add_option("--plan-json", args->plan_json, "adaptis plan JSON (reload with --plan)");
  cmd->add_option("run,--run", args->run, "A recorded run (id or 'latest', see `adaptis runs`): export its measured trace");
  cmd->add_option("--db", args->db, "Run database for RUN (default $XDG_DATA_HOME/adaptis/runs.db)");
  cmd->add_option("--step", args->step, "Iteration of RUN to export (default: the last recorded)");
  cmd->callback([args, &run] { run = [args] { return run_export(*args); }; });
}

}  // namespace adaptis::cli
