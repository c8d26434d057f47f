// `adaptis plan --model M --cluster C --global-batch-tokens T`: the fastest whole-cluster plan
// (parallel degrees, micro-batching, ZeRO, recomputation and the pipeline plan) for a model on a
// cluster, ranked against every other configuration the search simulated.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

#include "adaptis/model/parallel_costs.h"
#include "cli/cluster_plan.h"
#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/option_ranges.h"
#include "cli/parallel_report.h"
#include "cli/report.h"
#include "cli/sigint_cancel.h"

namespace adaptis::cli {

namespace {

std::vector<int> int_list(const std::string& text, const char* flag) {
  std::vector<int> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos || item.size() > 7)
      throw InputError(std::string(flag) + ": '" + item + "' is not a non-negative integer (give a comma list, e.g. 1,2,4,8)");
    out.push_back(std::stoi(item));
  }
  return out;
}

std::vector<Recompute> recompute_list(const std::string& text) {
  std::vector<Recompute> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(parse_recompute(item, "--recompute"));
  return out;
}

void draw_bar(const ClusterSearchProgress& p) {
  constexpr int kCells = 24;
  const int filled = static_cast<int>(p.fraction * kCells + 0.5);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kCells - filled), '-');
  std::string best = p.best.empty() ? "no plan yet" : "best " + p.best;
  std::fprintf(stderr, "\r\033[K[%s] %3d%%  %.1f s  %s %lld/%lld  %s", bar.c_str(), static_cast<int>(p.fraction * 100 + 0.5),
               p.elapsed_s, p.phase.c_str(), p.done, p.total, best.c_str());
  std::fflush(stderr);
}

}  // namespace

ParallelConfig parse_parallel_spec(const std::string& text, long long global_batch, const std::string& flag) {
  nlohmann::json j = nlohmann::json::object();
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw InputError(flag + ": '" + item + "' must be key=value (e.g. pp=8,tp=8,dp=24,mbs=1)");
    std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "mbs") key = "micro_batch_size";
    if (key == "m") key = "microbatches";
    if (key == "sp") key = "sequence_parallel";
    if (key == "distopt") key = "distributed_optimizer";
    if (key == "recompute" || key == "grad_reduce_dtype") {
      j[key] = value;
    } else if (value == "true" || value == "false" || value == "on" || value == "off") {
      j[key] = value == "true" || value == "on";
    } else {
      if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || value.size() > 12)
        throw InputError(flag + ": value of '" + key + "' must be a non-negative integer, got '" + value + "'");
      j[key] = std::stoll(value);
    }
  }
  if (!j.contains("global_batch_size") && !j.contains("microbatches") && global_batch > 0) j["global_batch_size"] = global_batch;
  return parallel_config_from_json(j, flag);
}

void add_cluster_plan_options(CLI::App* cmd, ClusterPlanArgs& a, bool with_inputs) {
  if (with_inputs) {
    cmd->add_option("--model", a.model, "Model spec JSON")->required();
    cmd->add_option("--cluster", a.cluster, "Cluster spec JSON (with its topology)");
    cmd->add_option("--devices", a.devices, "N x H100-SXM on one node when no --cluster")->check(int_range(1, 1 << 20));
  }
  auto* tokens = cmd->add_option("--global-batch-tokens", a.global_batch_tokens, "Tokens per iteration (whole cluster)")
                     ->check(int_range(1, kMaxGlobalBatchTokens));
  auto* seqs = cmd->add_option("--global-batch", a.global_batch, "Sequences per iteration (instead of tokens)")
                   ->check(int_range(1, kMaxGlobalBatchTokens));
  tokens->excludes(seqs);
  cmd->add_option("--gpus", a.gpus, "GPUs to use (default: all of the cluster's)")->check(int_range(1, 1 << 20));
  cmd->add_option("--tp", a.tp, "Tensor-parallel degrees to try (comma list; default: divisors of the node size)");
  cmd->add_option("--pp", a.pp, "Pipeline degrees to try (default: every divisor up to the layer count)");
  cmd->add_option("--cp", a.cp, "Context-parallel degrees to try (default 1,2,4,8 where the sequence allows)");
  cmd->add_option("--ep", a.ep, "Expert-parallel degrees to try (MoE models; default powers of two)");
  cmd->add_option("--micro-batch-sizes", a.micro_batch_sizes, "Micro-batch sizes to try (default 1,2,4,8)");
  cmd->add_option("--zero", a.zero, "ZeRO levels to try, 1 = distributed optimizer (default 0,1,2,3)");
  cmd->add_option("--recompute", a.recompute, "Recomputation to try: none,selective,full (default all)");
  cmd->add_flag("--no-overlap-grad-reduce", a.no_overlap_grad_reduce, "Gradient sync after the pipeline, not overlapped");
  cmd->add_flag("--no-overlap-param-gather", a.no_overlap_param_gather, "ZeRO-1 weight all-gather not overlapped");
  cmd->add_flag("--uniform-recompute", a.uniform_recompute,
                "Recompute every stage alike (do not also search recompute per stage for configurations that recompute)");
  cmd->add_option("--optimize-top", a.optimize_top, "Configurations whose pipeline the optimizer searches")
      ->capture_default_str()
      ->check(int_range(0, 1 << 16));
  cmd->add_option("--max-evaluations", a.max_evaluations,
                  "Optimizer evaluations per configuration (0 = sized to the problem); fixes the result for a seed")
      ->capture_default_str()
      ->check(int_range(0, kMaxEvaluations));
  cmd->add_option("--seed", a.seed, "Search seed")->capture_default_str()->check(uint64_value());
  cmd->add_option("--threads", a.threads, "Optimizer worker threads (0 = all)")
      ->capture_default_str()
      ->check(int_range(0, max_threads_option()));
  cmd->add_option("--time-limit-s", a.time_limit_s, "Stop after this long and keep the best so far (0 = no limit)")
      ->check(real_range(0, kMaxTimeBudgetS));
  cmd->add_option("--top", a.rows, "Rows of the ranked table")->capture_default_str()->check(int_range(1, 1 << 16));
  cmd->add_option("--against", a.against,
                  "Compare the best plan with this configuration, e.g. pp=8,tp=8,dp=24,mbs=1,recompute=full");
  cmd->add_option("--out,-o", a.out, "Save the best plan (with its parallel section) as a plan file");
  cmd->add_flag("--json", a.json, "Machine-readable output");
  cmd->add_flag("--quiet,-q", a.quiet, "No progress bar");
  cmd->add_flag("--gantt", a.gantt, "Draw the best plan's pipeline Gantt chart");
  cmd->add_option("--width", a.width, "Gantt width in characters")->check(int_range(kMinChartWidth, kMaxChartWidth));
}

int run_cluster_plan(const ClusterPlanArgs& a) {
  if (a.model.empty()) throw InputError("--model: the cluster search derives per-GPU costs from a model spec");
  Cluster cluster;
  if (!a.cluster.empty()) cluster = load_cluster(a.cluster);
  else if (a.devices > 0) cluster = make_uniform_cluster(a.devices);
  else throw InputError("give --cluster FILE (or --devices N for N x H100 on one node)");
  ModelSpec model = load_model_spec(a.model);
  ClusterSearchOptions o;
  o.gpus = a.gpus;
  if (a.global_batch > 0) o.global_batch_tokens = a.global_batch * model.seq_len;
  else o.global_batch_tokens = a.global_batch_tokens;
  o.tp = int_list(a.tp, "--tp");
  o.pp = int_list(a.pp, "--pp");
  o.cp = int_list(a.cp, "--cp");
  o.ep = int_list(a.ep, "--ep");
  o.micro_batch_sizes = int_list(a.micro_batch_sizes, "--micro-batch-sizes");
  o.zero_levels = int_list(a.zero, "--zero");
  o.recompute = recompute_list(a.recompute);
  o.overlap_grad_reduce = !a.no_overlap_grad_reduce;
  o.overlap_param_gather = !a.no_overlap_param_gather;
  o.optimize_top = a.optimize_top;
  o.per_stage_memory = !a.uniform_recompute;
  o.evaluations = a.max_evaluations;
  o.seed = a.seed;
  o.threads = a.threads;
  if (a.time_limit_s < 0) throw InputError("--time-limit-s: must be >= 0");
  o.time_limit_s = a.time_limit_s;
  if (a.rows < 1) throw InputError("--top: must be >= 1");
  o.max_ranked = std::max(a.rows, 1);

  const bool bar = !a.quiet && !a.json && isatty(STDERR_FILENO);
  ClusterSearchResult r;
  {
    SigintCancels sigint;
    ClusterSearchCallback cb;
    if (bar) cb = draw_bar;
    try {
      r = search_cluster_plans(model, cluster, o, cb, SigintCancels::flag());
    } catch (...) {
      if (bar) std::fprintf(stderr, "\r\033[K");
      throw;
    }
  }
  if (bar) std::fprintf(stderr, "\r\033[K");

  // A configuration to compare with (e.g. the published one).
  bool have_against = false;
  ClusterCandidate against;
  std::string why;
  if (!a.against.empty()) {
    ParallelConfig p = parse_parallel_spec(a.against, r.global_batch, "--against");
    p.overlap_grad_reduce = o.overlap_grad_reduce;
    p.overlap_param_gather = o.overlap_param_gather;
    const long long budget = o.evaluations > 0 ? o.evaluations : 0;
    against = evaluate_cluster_config(model, cluster, p, budget, o.sim, o.seed, o.threads);
    have_against = true;
    if (r.best.evaluated && against.evaluated) why = explain_difference(r.best, against);
  }

  if (!a.out.empty() && r.best.evaluated) {
    nlohmann::json meta = {{"generator", "adaptis plan"},
                           {"model", model.name},
                           {"cluster", cluster.name},
                           {"gpus", r.gpus},
                           {"global_batch", r.global_batch},
                           {"seed", a.seed},
                           {"predicted_iteration_ms", r.best.iteration_ms},
                           {"predicted_tokens_per_s", r.best.tokens_per_s},
                           {"predicted_mfu", r.best.mfu},
                           {"fits", r.best.fits}};
    save_plan_file(r.best.plan, a.out, meta);
  }

  if (a.json) {
    nlohmann::json j;
    j["model"] = model.name;
    j["cluster"] = cluster.name;
    j["gpus"] = r.gpus;
    j["global_batch"] = r.global_batch;
    j["global_batch_tokens"] = r.global_batch * model.seq_len;
    j["search"] = {{"enumerated", r.enumerated},     {"invalid", r.invalid},
                   {"over_memory", r.over_memory},   {"pruned_by_lower_bound", r.pruned},
                   {"simulated", r.simulated},       {"optimized", r.optimized},
                   {"optimizer_evaluations", r.optimizer_evaluations},
                   {"elapsed_s", r.elapsed_s},       {"stopped_by", r.stopped_by},
                   {"cancelled", r.cancelled},       {"seed", a.seed},
                   {"message", r.message}};
    nlohmann::json ranked = nlohmann::json::array();
    for (const auto& c : r.ranked) ranked.push_back(candidate_json(c));
    j["ranked"] = std::move(ranked);
    j["feasible"] = r.feasible;
    if (r.best.evaluated) {
      j["best"] = candidate_json(r.best);
      j["best"]["plan"] = plan_to_json(r.best.plan);
      j["best"]["simulation"] = simulation_json(r.best.plan, r.best_sim);
    }
    if (have_against) {
      j["against"] = candidate_json(against);
      j["against"]["explanation"] = why;
    }
    if (!a.out.empty()) j["plan_file"] = a.out;
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("model %s on %s: %d GPUs, global batch %lld sequences (%lld tokens)\n", model.name.c_str(),
                cluster.name.c_str(), r.gpus, r.global_batch, r.global_batch * model.seq_len);
    std::printf("%s (%.1f s)\n\n", r.message.c_str(), r.elapsed_s);
    std::cout << ranked_table(r, static_cast<size_t>(a.rows));
    if (r.best.evaluated) {
      std::printf("\nbest plan: %s, pipeline %s\n", describe(r.best.config).c_str(), r.best.schedule.c_str());
      std::cout << simulation_table(r.best.plan, r.best_sim);
      if (a.gantt) {
        TextGanttOptions g;
        g.width = a.width > 0 ? a.width : terminal_width();
        g.color = stdout_has_color();
        std::cout << "\n" << render_text_gantt(r.best_sim, g);
      }
    }
    if (have_against) {
      std::printf("\nagainst %s (%s): %.3f s per iteration, %.0f tokens/s, MFU %.1f%%%s\n",
                  describe(against.config).c_str(), against.schedule.c_str(), against.iteration_ms / 1e3,
                  against.tokens_per_s, 100 * against.mfu, against.fits ? "" : " (OVER MEMORY)");
      if (!why.empty()) std::printf("%s\n", why.c_str());
    }
    if (!a.out.empty() && r.best.evaluated)
      std::printf("\nplan saved to %s (replay: adaptis simulate --plan %s --model %s --cluster %s)\n", a.out.c_str(),
                  a.out.c_str(), a.model.c_str(), a.cluster.empty() ? "..." : a.cluster.c_str());
  }
  if (!r.feasible) return 3;
  return 0;
}

void register_plan(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ClusterPlanArgs>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "Search the fastest whole-cluster plan: pipeline, tensor, data, context, expert degrees, micro-batching, "
              "ZeRO, recomputation and the pipeline schedule");
  add_cluster_plan_options(cmd, *args, true);
  cmd->footer(
      "Exit status: 0 a plan fits memory; 3 nothing fits (the closest configuration is shown); 1 bad input. "
      "Ctrl-C stops the search and keeps the best so far.");
  cmd->callback([args, &run] { run = [args] { return run_cluster_plan(*args); }; });
}

}  // namespace adaptis::cli
