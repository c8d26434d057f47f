// `adaptis optimize`: the joint partition / placement / schedule search (planner/optimizer.h) on
// one input, with a progress bar, the best plan saved as a plan file, and the comparison against
// every built-in schedule on the same input.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "adaptis/model/recompute.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/varlen_optimizer.h"
#include "cli/commands.h"
#include "cli/cluster_plan.h"
#include "cli/compare.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"
#include "cli/sigint_cancel.h"

namespace adaptis::cli {

namespace {

struct OptimizeArgs {
  InputOptions in;
  MemoryOptions memory;
  LengthsOptions lengths;
  int microbatches = 8;
  double time_limit_s = 2.0;
  uint64_t seed = 1;
  int threads = 0;
  int max_stages_per_device = 0;
  long long max_evaluations = 0;
  std::string out;
  bool json = false;
  bool gantt = false;
  int width = 0;
  bool quiet = false;
  // --gpus N: the whole-cluster search instead (cluster_plan.h).
  int gpus = 0;
  long long global_batch_tokens = 0;
  std::string target = "adaptis";
  std::string native_plan;  // a stored unconstrained plan to measure the target against
};

// One line redrawn in place on stderr: [#####-----]  45%  0.9/2.0 s  best 916.60 ms  13049 plans  phase.
class ProgressBar {
 public:
  explicit ProgressBar(double budget_s) : budget_s_(budget_s) {}
  void draw(const OptimizeProgress& p) {
    constexpr int kCells = 24;
    const int filled = static_cast<int>(p.fraction * kCells + 0.5);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(kCells - filled), '-');
    char best[48] = "no plan yet";
    if (p.best_ms > 0) std::snprintf(best, sizeof best, "best %.2f ms", p.best_ms);
    std::fprintf(stderr, "\r\033[K[%s] %3d%%  %.1f/%.1f s  %s  %lld plans  %s", bar.c_str(),
                 static_cast<int>(p.fraction * 100 + 0.5), p.elapsed_s, budget_s_, best, p.evaluated,
                 p.phase.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }
  void clear() {
    if (drawn_) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  double budget_s_;
  bool drawn_ = false;
};

nlohmann::json progress_json(const OptimizeProgress& p) {
  return {{"elapsed_s", p.elapsed_s},
          {"fraction", p.fraction},
          {"best_ms", p.best_ms},
          {"evaluated", p.evaluated},
          {"phase", p.phase}};
}

// The built-in schedules as the optimizer's first phase simulated them: the comparison table without
// simulating them again (on a large input that would take longer than the whole budget).
// With memory policies in the search, each built-in comes once per uniform recompute policy.
std::vector<CompareRow> builtin_rows(const OptimizeResult& r) {
  std::vector<CompareRow> rows;
  bool show_policy = false;
  for (const BuiltinResult& b : r.builtins) show_policy = show_policy || !(b.memory == StageMemoryPolicy{});
  for (const BuiltinResult& b : r.builtins) {
    CompareRow row;
    row.schedule = b.name;
    row.memory = b.memory;
    row.name = app::compare_row_name(b.name, b.memory, show_policy);
    row.ok = b.ok;
    row.error = b.error;
    row.plan = b.plan;
    row.sim = b.sim;
    add_compare_row(rows, std::move(row));
  }
  return rows;
}
nlohmann::json trials_json(const std::vector<ProcessingTrial>& trials) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : trials) {
    nlohmann::json j = {{"processing", describe(t.processing)}, {"units", t.units}, {"slices", t.slices}};
    if (!t.error.empty()) {
      j["error"] = t.error;
    } else {
      j["screen_ms"] = t.screen_ms;
      j["screen_fits"] = t.fits;
      j["screen_plan"] = t.screen_plan;
      j["lower_bound_ms"] = t.lower_bound_ms;
      if (t.finalist) j["final_ms"] = t.final_ms;
      if (t.checkpoint_searched) j["checkpoint_ms"] = t.checkpoint_ms;  // 0: no checkpointing fits
    }
    arr.push_back(std::move(j));
  }
  return arr;
}

// Per-unit checkpointing of the chosen plan: what each stage recomputes and for how many units.
nlohmann::json checkpointing_json(const VarlenOptimizeResult& v) {
  nlohmann::json stages = nlohmann::json::array();
  const Plan& p = v.best.best;
  const int units = static_cast<int>(p.units.size());
  for (int s = 0; s < static_cast<int>(p.memory.size()); ++s) {
    const StageMemoryPolicy& m = p.memory[s];
    if (!recomputes(m)) continue;
    stages.push_back({{"stage", s},
                      {"recompute", recompute_name(m.recompute)},
                      {"units", m.units.empty() ? units : static_cast<int>(m.units.size())},
                      {"unit_indices", m.units}});
  }
  return {{"description", v.checkpointing.empty() ? "none" : v.checkpointing},
          {"pairs", v.checkpointed_pairs},
          {"recompute_ms", v.recompute_ms},
          {"without_checkpointing_ms", v.without_checkpointing_ms},
          {"stages", stages}};
}

std::string checkpointing_line(const VarlenOptimizeResult& v) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "; %d (stage, unit) pairs recompute, %.1f ms of recompute over all devices",
                v.checkpointed_pairs, v.recompute_ms);
  char without[96] = "nothing fits without it";
  if (v.without_checkpointing_ms > 0)
    std::snprintf(without, sizeof without, "%.1f ms without it", v.without_checkpointing_ms);
  return std::string("checkpointing (per unit; ") + without + "): " + v.checkpointing + buf;
}

std::string trials_table(const std::vector<ProcessingTrial>& trials, const SequenceProcessing& chosen) {
  std::string out;
  char buf[400];
  std::snprintf(buf, sizeof buf, "%-58s %6s %6s %12s %12s %12s\n", "sequence processing", "units", "slices", "screen ms",
                "full ms", "bound ms");
  out += buf;
  for (const auto& t : trials) {
    if (!t.error.empty()) {
      std::snprintf(buf, sizeof buf, "%-58s %s\n", describe(t.processing).c_str(), t.error.substr(0, 80).c_str());
    } else {
      char full[32] = "-";
      if (t.finalist) std::snprintf(full, sizeof full, "%.3f", t.final_ms);
      std::snprintf(buf, sizeof buf, "%-58s %6d %6d %12.3f %12s %12.3f %s%s\n", describe(t.processing).c_str(), t.units,
                    t.slices, t.screen_ms, full, t.lower_bound_ms, t.fits ? "" : "OOM ",
                    t.processing == chosen ? "<- chosen" : "");
    }
    out += buf;
  }
  return out;
}

// How much running on the target costs: the target's best plan against the unconstrained
// (adaptis-native) one, searched in this run with the same seed and budget, or a stored plan
// simulated on the same inputs.
struct TargetCost {
  bool computed = false;
  double native_ms = 0;
  bool native_feasible = false;
  std::string source;  // how the native number was obtained
  long long native_evaluations = 0;
};

TargetCost measure_native(const OptimizeArgs& a, const Inputs& in, OptimizeOptions o, const OptimizeCallback& cb) {
  TargetCost tc;
  tc.computed = true;
  if (!a.native_plan.empty()) {
    Plan native = load_plan_file(a.native_plan);
    require_valid_plan(native, in.costs.num_layers(), a.native_plan);
    if (native.num_devices() != o.devices || native.num_microbatches != o.microbatches)
      throw InputError("--native-plan " + a.native_plan + ": plan has " + std::to_string(native.num_devices()) +
                       " devices and " + std::to_string(native.num_microbatches) + " micro-batches, this search " +
                       std::to_string(o.devices) + " and " + std::to_string(o.microbatches));
    SimResult s = simulate(native, in.costs, in.cluster, in.sim);
    if (!s.ok) throw InputError("--native-plan " + a.native_plan + ": the plan deadlocks:\n" + s.error);
    tc.native_ms = s.iteration_ms;
    tc.native_feasible = !s.oom;
    tc.source = "stored plan " + a.native_plan + ", simulated on these inputs";
    return tc;
  }
  o.target = PlanTarget::Adaptis;
  o.budget_start = std::chrono::steady_clock::now();  // a search of its own, with the same budget
  OptimizeResult native = optimize(in.costs, in.cluster, o, cb, SigintCancels::flag());
  tc.native_ms = native.sim.iteration_ms;
  tc.native_feasible = native.feasible;
  tc.native_evaluations = native.search_evaluations;
  tc.source = "unconstrained search in this run, same seed and budget (" + std::to_string(native.search_evaluations) +
              " evaluations, stopped by " + stop_reason_name(native.stopped_by) + ")";
  return tc;
}

int run_optimize(const OptimizeArgs& a) {
  // --time-limit-s covers the whole command: loading the inputs and deriving costs count too.
  const auto started = std::chrono::steady_clock::now();
  if (a.gpus > 0) {  // hook: `optimize --gpus N` is the whole-cluster search of `adaptis plan`
    if (!a.in.costs.empty()) throw InputError("--gpus: the whole-cluster search needs --model (not --costs)");
    if (a.target != "adaptis" || !a.native_plan.empty())
      throw InputError("--gpus: the whole-cluster search plans for adaptis only (drop --target / --native-plan)");
    if (parse_memory_options(a.memory).given)
      throw InputError(
          "--gpus: the whole-cluster search chooses recomputation per configuration itself (drop --recompute / "
          "--offload, or give `adaptis plan --recompute`)");
    ClusterPlanArgs c;
    c.model = a.in.model;
    c.cluster = a.in.cluster;
    c.devices = a.in.devices;
    c.gpus = a.gpus;
    c.global_batch_tokens = a.global_batch_tokens;
    c.seed = a.seed;
    c.threads = a.threads;
    c.max_evaluations = a.max_evaluations;
    c.out = a.out;
    c.json = a.json;
    c.quiet = a.quiet;
    c.gantt = a.gantt;
    c.width = a.width;
    return run_cluster_plan(c);
  }
  LengthsOptions lengths_options = a.lengths;
  if (lengths_options.global_batch_tokens == 0) lengths_options.global_batch_tokens = a.global_batch_tokens;
  const PlanTarget target = parse_plan_target(a.target);
  if (a.lengths.given() && target != PlanTarget::Adaptis)
    throw InputError("--lengths: variable-length units are planned for --target adaptis only");
  if (a.lengths.given() && parse_memory_options(a.memory).given)
    throw InputError("--lengths: --recompute / --offload do not apply to variable-length units: when no plan fits, "
                     "optimize chooses per-unit checkpointing itself (which stages recompute which units) and, where "
                     "that is not enough, activation offload on the devices with a host link");
  if (!a.native_plan.empty() && target == PlanTarget::Adaptis)
    throw InputError("--native-plan: only applies with --target torch, torchtitan or megatron");
  Inputs in = load_inputs(a.in);
  check_limits(a.in, in, a.microbatches);
  OptimizeOptions o;
  o.budget_start = started;
  o.devices = in.cluster.num_devices();
  o.microbatches = a.microbatches;
  o.time_limit_s = a.time_limit_s;
  o.seed = a.seed;
  o.threads = a.threads;
  o.max_stages_per_device = a.max_stages_per_device;
  o.max_evaluations = a.max_evaluations;
  o.sim = in.sim;
  const MemoryChoices mc = parse_memory_options(a.memory);
  o.recompute_choices = mc.recompute;
  o.offload_choices = mc.offload;
  o.target = target;

  const bool show_progress = !a.quiet && isatty(STDERR_FILENO);
  ProgressBar bar(a.time_limit_s);
  OptimizeCallback cb;
  if (show_progress) cb = [&bar](const OptimizeProgress& p, const Plan*) { bar.draw(p); };
  OptimizeResult r;
  TargetCost cost;
  // --lengths: the units are searched too (varlen_optimizer.h); --pack fixes the processing, and the same
  // search then runs over that one processing (so per-unit checkpointing is still chosen when memory binds).
  std::optional<LoadedLengths> lengths;
  std::optional<VarlenOptimizeResult> varlen;
  {
    SigintCancels sigint;
    try {
      if (a.lengths.given() && a.lengths.pack.empty()) {
        LoadedLengths l;
        l.data = load_lengths(lengths_options);
        if (std::string note = ensure_cost_reference(in.costs, l.data.context); !note.empty()) l.notes.push_back(note);
        l.cost = unit_cost_model(in.costs);
        VarlenOptimizeOptions vo;
        vo.search = o;
        vo.allow_slicing = !a.lengths.no_slicing;
        vo.slice_multiple = a.lengths.slice_multiple;
        varlen = optimize_lengths(in.costs, in.cluster, l.data, vo, cb, SigintCancels::flag());
        r = varlen->best;
        l.processing = varlen->processing;
        in.units = r.best.units;
        if (!a.lengths.units_file.empty()) write_units_side_file(a.lengths.units_file, in.units);
        lengths = std::move(l);
      } else if (a.lengths.given()) {
        LoadedLengths l = apply_lengths(lengths_options, in, PackingMode::Elastic);
        VarlenOptimizeOptions vo;
        vo.search = o;
        vo.processings = {l.processing};
        vo.allow_slicing = !a.lengths.no_slicing;
        vo.slice_multiple = a.lengths.slice_multiple;
        varlen = optimize_lengths(in.costs, in.cluster, l.data, vo, cb, SigintCancels::flag());
        r = varlen->best;
        in.units = r.best.units;
        lengths = std::move(l);
      } else {
        r = optimize(in.costs, in.cluster, o, cb, SigintCancels::flag());
      }
      if (target != PlanTarget::Adaptis && !SigintCancels::flag()->load()) cost = measure_native(a, in, o, cb);
    } catch (...) {
      bar.clear();
      throw;
    }
  }
  bar.clear();
  std::string cost_line;
  if (cost.computed && cost.native_ms > 0) {
    const double ratio = r.sim.iteration_ms / cost.native_ms;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s target: %.3fx %s adaptis-native (%.3f ms vs %.3f ms; native: ",
                  plan_target_name(target), ratio >= 1 ? ratio : 1 / ratio,
                  ratio >= 1 + 1e-12 ? "slower than" : ratio <= 1 - 1e-12 ? "faster than" : "the time of",
                  r.sim.iteration_ms, cost.native_ms);
    cost_line = buf + cost.source + ")";
    if (ratio < 1 - 1e-12)
      cost_line += " -- the unconstrained search was cut before finding this plan; give it a larger budget";
  }

  std::vector<CompareRow> rows = builtin_rows(r);
  CompareRow ours;
  ours.name = r.best.name;
  ours.ok = r.sim.ok;
  ours.error = r.sim.error;
  ours.plan = r.best;
  ours.sim = r.sim;
  add_compare_row(rows, ours);

  if (!a.out.empty()) {
    nlohmann::json meta = {{"generator", "adaptis optimize"},
                           {"model", in.costs.model},
                           {"cost_source", in.costs.source},
                           {"cluster", in.cluster.name},
                           {"seed", a.seed},
                           {"time_limit_s", a.time_limit_s},
                           {"search_evaluations", r.search_evaluations},
                           {"reproducible", r.reproducible},
                           {"predicted_iteration_ms", r.sim.iteration_ms},
                           {"feasible", r.feasible},
                           {"target", plan_target_name(target)}};
    if (lengths) meta["lengths"] = lengths->data.origin, meta["processing"] = describe(lengths->processing);
    save_plan_file(r.best, a.out, meta);
  }

  if (a.json) {
    nlohmann::json j;
    j["model"] = in.costs.model;
    j["cost_source"] = in.costs.source;
    j["cluster"] = in.cluster.name;
    j["devices"] = o.devices;
    j["microbatches"] = r.best.num_microbatches;
    j["optimizer"] = {{"feasible", r.feasible},
                      {"cancelled", r.cancelled},
                      {"message", r.message},
                      {"overflow_bytes", r.overflow_bytes},
                      {"seed", a.seed},
                      {"threads", a.threads},
                      {"time_limit_s", a.time_limit_s},
                      {"max_evaluations", a.max_evaluations},
                      {"stopped_by", stop_reason_name(r.stopped_by)},
                      {"search_evaluations", r.search_evaluations},
                      {"reproducible", r.reproducible},
                      {"recompute", a.memory.recompute},
                      {"offload", a.memory.offload},
                      {"lower_bound", lower_bound_json(r.lower_bound)},
                      {"gap_to_lower_bound", r.lower_bound.ms > 0 ? r.sim.iteration_ms / r.lower_bound.ms - 1 : 0.0},
                      {"progress", progress_json(r.final_progress)}};
    j["best"] = simulation_json(r.best, r.sim);
    nlohmann::json tj = {{"name", plan_target_name(target)}, {"iteration_ms", r.sim.iteration_ms}};
    if (cost.computed) {
      tj["native_iteration_ms"] = cost.native_ms;
      tj["native_feasible"] = cost.native_feasible;
      tj["native_source"] = cost.source;
      tj["slowdown_vs_native"] = cost.native_ms > 0 ? r.sim.iteration_ms / cost.native_ms : 0.0;
      if (cost.native_evaluations > 0) tj["native_search_evaluations"] = cost.native_evaluations;
    }
    j["target"] = tj;
    j["comparison"] = compare_json(rows)["schedules"];
    if (lengths) {
      j["varlen"] = varlen_json(*lengths, r.best.units, r.sim);
      if (varlen) {
        j["varlen"]["trials"] = trials_json(varlen->trials);
        if (!varlen->memory_note.empty()) j["varlen"]["memory_note"] = varlen->memory_note;
        j["varlen"]["checkpointing"] = checkpointing_json(*varlen);
        // The lowest lower bound of the candidate processings, whether the plan reached it (and the search
        // ended there), and the search's work in list-schedule runs and simulations.
        j["varlen"]["search"] = {{"lower_bound_ms", varlen->lower_bound_ms},
                                 {"reached_lower_bound", varlen->reached_lower_bound},
                                 {"ended_at_lower_bound", varlen->ended_at_lower_bound},
                                 {"evaluations", varlen->evaluations}};
      }
    }
    if (!a.out.empty()) j["plan_file"] = a.out;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("model %s, %d devices (%s), %d %s\n",
                terminal_safe(in.costs.model.empty() ? in.costs.source : in.costs.model).c_str(), o.devices,
                terminal_safe(in.cluster.name).c_str(), r.best.num_microbatches,
                in.units.empty() ? "micro-batches" : "units");
    std::printf("searched %lld plans in %.2f s (seed %llu)\n", r.final_progress.evaluated, r.final_progress.elapsed_s,
                static_cast<unsigned long long>(a.seed));
    std::printf("%s\n", terminal_safe_text(r.message).c_str());
    if (r.stopped_by == StopReason::Time && r.reproducible)
      std::printf("repeat this exact search on any machine with --max-evaluations %lld\n", r.search_evaluations);
    if (!cost_line.empty()) std::printf("%s\n", terminal_safe_text(cost_line).c_str());
    std::printf("\n");
    if (lengths) {
      if (varlen) std::cout << trials_table(varlen->trials, varlen->processing) << "\n";
      std::cout << terminal_safe_text(varlen_summary(*lengths, r.best.units, r.sim));
      if (varlen && !varlen->checkpointing.empty())
        std::cout << terminal_safe_text(checkpointing_line(*varlen)) << "\n";
      if (varlen && !varlen->memory_note.empty()) std::cout << "note: " << terminal_safe_text(varlen->memory_note) << "\n";
      if (varlen && varlen->reached_lower_bound)
        std::printf("at the lower bound of every candidate processing (%.3f ms): none can be faster%s\n",
                    varlen->lower_bound_ms, varlen->ended_at_lower_bound ? "; the search ended there" : "");
    }
    std::printf("best plan: %d stages, %s stages per device, partition %s\n", r.best.num_stages(),
                format_stage_counts(r.best.placement).c_str(), format_partition(r.best.partition).c_str());
    std::cout << simulation_table(r.best, r.sim) << "\n";
    std::cout << compare_table(rows);
    if (a.gantt) {
      TextGanttOptions g;
      g.width = a.width > 0 ? a.width : terminal_width();
      g.color = stdout_has_color();
      std::cout << "\n" << render_text_gantt(r.sim, g);
    }
    if (!a.out.empty()) std::printf("\nplan saved to %s (replay: adaptis simulate --plan %s ...)\n",
                                    terminal_safe(a.out).c_str(), terminal_safe(a.out).c_str());
  }
  if (!r.sim.ok) return 2;
  return r.feasible ? 0 : 3;
}

}  // namespace

void register_optimize(CLI::App& app, Runner& run) {
  auto args = std::make_shared<OptimizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "optimize", "Search partition, placement and schedule for the fastest plan that fits memory");
  add_input_options(cmd, args->in);
  add_memory_options(cmd, args->memory);
  cmd->add_option("--microbatches,-m", args->microbatches, "Micro-batches per iteration")
      ->capture_default_str()
      ->check(int_range(1, ProblemLimits::kMicrobatches));
  cmd->add_option("--time-limit-s", args->time_limit_s,
                  "Wall-clock budget of the whole command in seconds, loading the inputs included (kept within "
                  "max(0.5 s, 10%); with --target, the unconstrained search it is measured against gets its own)")
      ->capture_default_str()
      ->check(real_range(0, kMaxTimeBudgetS, true));
  cmd->add_option("--seed", args->seed,
                  "Search seed, any 64-bit unsigned integer: same seed and inputs give the same plan")
      ->capture_default_str()
      ->check(uint64_value());
  cmd->add_option("--threads", args->threads,
                  "Worker threads (0 = all hardware threads; at most 4 per hardware thread and 256)")
      ->capture_default_str()
      ->check(int_range(0, max_threads_option()));
  cmd->add_option("--max-evaluations", args->max_evaluations,
                  "Stop after about this many plan evaluations (0 = no limit): a budget that, unlike the clock, "
                  "gives the same plan on any machine")
      ->capture_default_str()
      ->check(int_range(0, kMaxEvaluations));
  cmd->add_option("--max-stages-per-device", args->max_stages_per_device,
                  "At most this many stages on one device (0 = no limit)")
      ->capture_default_str()
      ->check(int_range(0, kMaxStagesPerDevice));
  cmd->add_option("--out,-o", args->out, "Save the best plan as an adaptis plan JSON file");
  cmd->add_option("--target", args->target,
                  "Where the plan must run: adaptis (any plan), torch (PyTorch pipelining runtime), torchtitan "
                  "(also looped or V placements), megatron (Megatron-LM's own orders and layouts)")
      ->capture_default_str();
  cmd->add_option("--native-plan", args->native_plan,
                  "With --target: measure the target's cost against this stored unconstrained plan instead of "
                  "searching one in the same run");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--gantt", args->gantt, "Draw the best plan's Gantt chart");
  cmd->add_option("--width", args->width, "Gantt width in characters (default: terminal width)")
      ->check(int_range(kMinChartWidth, kMaxChartWidth));
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bar");
  cmd->add_option("--gpus", args->gpus,
                  "Plan the whole cluster instead: search parallel degrees, micro-batching, ZeRO and recomputation for "
                  "N GPUs (as `adaptis plan`; needs --model, --cluster and --global-batch-tokens)")
      ->check(int_range(1, 1 << 20));
  cmd->add_option("--global-batch-tokens", args->global_batch_tokens,
                  "With --gpus: tokens per iteration; with --lengths: the iteration's tokens (see `lengths --help`)")
      ->check(int_range(1, kMaxGlobalBatchTokens));
  cmd->footer(
      "Exit status: 0 a plan fits memory; 3 no plan fits (the closest one and its overflow are shown); "
      "1 bad input. Ctrl-C stops the search and keeps the best plan so far.");
  add_lengths_options(cmd, args->lengths);  // its --global-batch-tokens is the one above
  cmd->callback([args, &run] {
    run = [args] { return run_optimize(*args); };
  });
}

}  // namespace adaptis::cli
