// `adaptis optimize`: the joint partition / placement / schedule search (planner/optimizer.h) on
// one input, with a progress bar, the best plan saved as a plan file, and the comparison against
// every built-in schedule on the same input.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/varlen_optimizer.h"
#include "cli/commands.h"
#include "cli/compare.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

struct OptimizeArgs {
  InputOptions in;
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
};

// Ctrl-C asks the search to stop and keep its best plan so far. A signal handler can only reach
// static storage, hence this one file-local flag; it is armed only while a search runs.
std::atomic<bool> g_cancel_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");

extern "C" void on_sigint(int) { g_cancel_requested.store(true); }

// Installs the SIGINT handler for its lifetime and restores the previous one after.
class SigintCancels {
 public:
  SigintCancels() {
    g_cancel_requested.store(false);
    previous_ = std::signal(SIGINT, on_sigint);
  }
  ~SigintCancels() { std::signal(SIGINT, previous_ == SIG_ERR ? SIG_DFL : previous_); }
  SigintCancels(const SigintCancels&) = delete;
  SigintCancels& operator=(const SigintCancels&) = delete;

 private:
  void (*previous_)(int) = SIG_DFL;
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

std::string placement_counts(const Plan& plan) {
  std::string s;
  for (size_t d = 0; d < plan.placement.device_stages.size(); ++d)
    s += (d ? "/" : "") + std::to_string(plan.placement.device_stages[d].size());
  return s;
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
    }
    arr.push_back(std::move(j));
  }
  return arr;
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

int run_optimize(const OptimizeArgs& a) {
  Inputs in = load_inputs(a.in);
  OptimizeOptions o;
  o.devices = in.cluster.num_devices();
  o.microbatches = a.microbatches;
  o.time_limit_s = a.time_limit_s;
  o.seed = a.seed;
  o.threads = a.threads;
  o.max_stages_per_device = a.max_stages_per_device;
  o.max_evaluations = a.max_evaluations;
  o.sim = in.sim;

  const bool show_progress = !a.quiet && isatty(STDERR_FILENO);
  ProgressBar bar(a.time_limit_s);
  OptimizeCallback cb;
  if (show_progress) cb = [&bar](const OptimizeProgress& p, const Plan*) { bar.draw(p); };
  OptimizeResult r;
  // --lengths: the units are searched too (varlen_optimizer.h), unless --pack fixes the processing.
  std::optional<LoadedLengths> lengths;
  std::optional<VarlenOptimizeResult> varlen;
  {
    SigintCancels sigint;
    try {
      if (a.lengths.given() && a.lengths.pack.empty()) {
        LoadedLengths l;
        l.data = load_lengths(a.lengths);
        if (std::string note = ensure_cost_reference(in.costs, l.data.context); !note.empty()) l.notes.push_back(note);
        l.cost = unit_cost_model(in.costs);
        VarlenOptimizeOptions vo;
        vo.search = o;
        vo.allow_slicing = !a.lengths.no_slicing;
        vo.slice_multiple = a.lengths.slice_multiple;
        varlen = optimize_lengths(in.costs, in.cluster, l.data, vo, cb, &g_cancel_requested);
        r = varlen->best;
        l.processing = varlen->processing;
        in.units = r.best.units;
        if (!a.lengths.units_file.empty()) write_units_side_file(a.lengths.units_file, in.units);
        lengths = std::move(l);
      } else {
        if (a.lengths.given()) {
          lengths = apply_lengths(a.lengths, in, PackingMode::Elastic);
          o.units = in.units;
        }
        r = optimize(in.costs, in.cluster, o, cb, &g_cancel_requested);
      }
    } catch (...) {
      bar.clear();
      throw;
    }
  }
  bar.clear();

  PlanRequest base;
  base.devices = o.devices;
  base.microbatches = in.units.empty() ? o.microbatches : static_cast<int>(in.units.size());
  base.units = in.units;
  std::vector<CompareRow> rows = compare_schedules(base, in);
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
                           {"feasible", r.feasible}};
    if (lengths) meta["lengths"] = lengths->data.origin, meta["processing"] = describe(lengths->processing);
    save_plan_file(r.best, a.out, meta);
  }

  if (a.json) {
    nlohmann::json j;
    j["model"] = in.costs.model;
    j["cost_source"] = in.costs.source;
    j["cluster"] = in.cluster.name;
    j["devices"] = o.devices;
    j["microbatches"] = base.microbatches;
    j["optimizer"] = {{"feasible", r.feasible},
                      {"cancelled", r.cancelled},
                      {"message", r.message},
                      {"overflow_bytes", r.overflow_bytes},
                      {"seed", a.seed},
                      {"threads", a.threads},
                      {"time_limit_s", a.time_limit_s},
                      {"max_evaluations", a.max_evaluations},
                      {"stopped_by", r.stopped_by},
                      {"search_evaluations", r.search_evaluations},
                      {"reproducible", r.reproducible},
                      {"lower_bound", lower_bound_json(r.lower_bound)},
                      {"gap_to_lower_bound", r.lower_bound.ms > 0 ? r.sim.iteration_ms / r.lower_bound.ms - 1 : 0.0},
                      {"progress", progress_json(r.final_progress)}};
    j["best"] = simulation_json(r.best, r.sim);
    j["comparison"] = compare_json(rows)["schedules"];
    if (lengths) {
      j["varlen"] = varlen_json(*lengths, r.best.units, r.sim);
      if (varlen) {
        j["varlen"]["trials"] = trials_json(varlen->trials);
        if (!varlen->memory_note.empty()) j["varlen"]["memory_note"] = varlen->memory_note;
      }
    }
    if (!a.out.empty()) j["plan_file"] = a.out;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("model %s, %d devices (%s), %d %s\n", (in.costs.model.empty() ? in.costs.source : in.costs.model).c_str(),
                o.devices, in.cluster.name.c_str(), base.microbatches, in.units.empty() ? "micro-batches" : "units");
    std::printf("searched %lld plans in %.2f s (seed %llu)\n", r.final_progress.evaluated, r.final_progress.elapsed_s,
                static_cast<unsigned long long>(a.seed));
    std::printf("%s\n\n", r.message.c_str());
    if (lengths) {
      if (varlen) std::cout << trials_table(varlen->trials, varlen->processing) << "\n";
      std::cout << varlen_summary(*lengths, r.best.units, r.sim);
      if (varlen && !varlen->memory_note.empty()) std::cout << "note: " << varlen->memory_note << "\n";
    }
    std::printf("best plan: %d stages, %s stages per device, partition %s\n", r.best.num_stages(),
                placement_counts(r.best).c_str(), format_partition(r.best.partition).c_str());
    std::cout << simulation_table(r.best, r.sim) << "\n";
    std::cout << compare_table(rows);
    if (a.gantt) {
      TextGanttOptions g;
      g.width = a.width > 0 ? a.width : terminal_width();
      g.color = stdout_has_color();
      std::cout << "\n" << render_text_gantt(r.sim, g);
    }
    if (!a.out.empty()) std::printf("\nplan saved to %s (replay: adaptis simulate --plan %s ...)\n", a.out.c_str(),
                                    a.out.c_str());
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
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--microbatches,-m", args->microbatches, "Micro-batches per iteration")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--time-limit-s", args->time_limit_s, "Wall-clock search budget in seconds")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Search seed: same seed and inputs give the same plan")->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0 = all hardware threads)")->capture_default_str();
  cmd->add_option("--max-evaluations", args->max_evaluations,
                  "Stop after about this many plan evaluations (0 = no limit): a budget that, unlike the clock, "
                  "gives the same plan on any machine")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-stages-per-device", args->max_stages_per_device,
                  "At most this many stages on one device (0 = no limit)")
      ->capture_default_str();
  cmd->add_option("--out,-o", args->out, "Save the best plan as an adaptis plan JSON file");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--gantt", args->gantt, "Draw the best plan's Gantt chart");
  cmd->add_option("--width", args->width, "Gantt width in characters (default: terminal width)");
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bar");
  cmd->footer(
      "Exit status: 0 a plan fits memory; 3 no plan fits (the closest one and its overflow are shown); "
      "1 bad input. Ctrl-C stops the search and keeps the best plan so far.");
  cmd->callback([args, &run] {
    run = [args] { return run_optimize(*args); };
  });
}

}  // namespace adaptis::cli
