// Memory-bound planning: recompute and offload chosen per stage by the optimizer against every built-in
// schedule combined with every uniform recompute policy, under a memory cap that binds.
//   1. every sample model (samples/models/{deepseek-v2-lite,gemma-7b,llama-2-7b,nemotron-h-8b}.json;
//      the tiny-* CPU models are left out) on 8 and 16 H100s (samples/clusters/h100x{8,16}.json, PCIe
//      Gen5 host links two per switch) at each cap of --caps-gib, with the model's own micro-batch count;
//      a case counts as capped when the fastest built-in without recomputation does not fit the cap;
//   2. the four peer profiles (shared/peer-profiles, times as profiled) with the memory of their specs
//      (samples/models/peer/, attach_memory), 4 devices, 8 micro-batches, zero comm latency, capped at
//      70% of the peak memory of the fastest built-in without recomputation.
// Per case: the fastest built-in x uniform policy (none / selective / full) that fits, adaptis's plan
// (recompute and offload auto, search time, evaluations, per-stage policies), the provable lower bound
// (planner/lower_bound.h; recompute and copies only add time, so it holds under any cap), and idle
// device-time against ZB-H1 with full recompute on every stage at the same cap. Every adaptis plan is
// replayed by simulate() and must match what optimize() reported and fit the cap (exit 1 otherwise).
// Prints one JSON document. Usage: bench_memory [--threads N (2)] [--time-limit-s T (4)] [--seed S]
//                                               [--caps-gib 40,60] [--samples-only | --peer-only] [--only NAME]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"
#include "adaptis/model/heap_tuning.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/optimizer.h"
#include "cli/compare.h"

using namespace adaptis;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct Case {
  std::string label;
  CostTable costs;
  Cluster cluster;  // uncapped (the file's usable memory)
  SimOptions sim;
  int devices = 0, microbatches = 0;
  double cap = 0;              // bytes per device
  std::string cap_rule;        // how the cap was chosen
};

double max_peak(const SimResult& r) {
  double p = 0;
  for (const auto& d : r.devices) p = std::max(p, d.peak_memory_bytes);
  return p;
}

double idle_ms(const SimResult& r) {
  double b = 0;
  for (const auto& d : r.devices) b += d.bubble_ms;
  return b;
}

Cluster capped(Cluster c, double cap) {
  for (auto& d : c.devices) d.memory_limit_bytes = cap;
  return c;
}

StageMemoryPolicy uniform(Recompute r) {
  StageMemoryPolicy p;
  p.recompute = r;
  return p;
}

// The fastest built-in without recomputation at the cluster's own memory, and its peak.
const cli::CompareRow* fastest_plain(const std::vector<cli::CompareRow>& rows) {
  const cli::CompareRow* best = nullptr;
  for (const auto& r : rows)
    if (r.ok && !r.sim.oom && (!best || r.sim.iteration_ms < best->sim.iteration_ms)) best = &r;
  return best;
}

nlohmann::json run_case(const Case& c, const OptimizeOptions& base, bool& ok) {
  nlohmann::json row;
  row["input"] = c.label;
  row["model"] = c.costs.model;
  row["devices"] = c.devices;
  row["microbatches"] = c.microbatches;
  row["cap_gib"] = c.cap / kGiB;
  row["cap_rule"] = c.cap_rule;

  PlanRequest req;
  req.devices = c.devices;
  req.microbatches = c.microbatches;
  // Without a cap: the fastest built-in without recomputation, and whether the cap binds it.
  cli::Inputs free_in{c.costs, c.cluster, c.sim};
  std::vector<cli::CompareRow> plain = cli::compare_schedules(req, free_in);
  const cli::CompareRow* fp = fastest_plain(plain);
  if (fp) {
    row["fastest_builtin_uncapped"] = fp->name;
    row["fastest_builtin_uncapped_ms"] = fp->sim.iteration_ms;
    row["fastest_builtin_uncapped_peak_gib"] = max_peak(fp->sim) / kGiB;
  }
  const bool binds = !fp || max_peak(fp->sim) > c.cap;
  row["cap_binds"] = binds;

  // Every built-in with every uniform recompute policy, at the cap.
  const Cluster cl = capped(c.cluster, c.cap);
  cli::Inputs in{c.costs, cl, c.sim};
  std::vector<cli::CompareRow> rows = cli::compare_schedules(
      req, in, {uniform(Recompute::None), uniform(Recompute::Selective), uniform(Recompute::Full)});
  const cli::CompareRow* best = fastest_plain(rows);
  nlohmann::json fitting = nlohmann::json::object();
  for (const auto& r : rows)
    if (r.ok && !r.sim.oom) fitting[r.name] = r.sim.iteration_ms;
  row["builtin_uniform_fitting_ms"] = fitting;
  row["best_builtin_uniform"] = best ? best->name : "";
  row["best_builtin_uniform_ms"] = best ? best->sim.iteration_ms : 0.0;
  // ZB-H1 with full recompute on every stage at the cap: the bubble reference.
  const cli::CompareRow* zbh1 = nullptr;
  for (const auto& r : rows)
    if (r.ok && r.schedule == "zb-h1" && r.memory.recompute == Recompute::Full) zbh1 = &r;
  if (zbh1) {
    row["zb_h1_full_ms"] = zbh1->sim.iteration_ms;
    row["zb_h1_full_idle_ms"] = idle_ms(zbh1->sim);
    row["zb_h1_full_fits"] = !zbh1->sim.oom;
  }

  OptimizeOptions o = base;
  o.devices = c.devices;
  o.microbatches = c.microbatches;
  o.sim = c.sim;
  o.recompute_choices = {Recompute::None, Recompute::Selective, Recompute::Full};
  o.offload_choices = {0.0, 0.25, 0.5, 0.75, 1.0};
  const auto t0 = Clock::now();
  OptimizeResult res = optimize(c.costs, cl, o);
  const double search_s = std::chrono::duration<double>(Clock::now() - t0).count();
  SimResult replay = simulate(res.best, c.costs, cl, c.sim);
  const bool replay_ok = replay.ok && std::abs(replay.iteration_ms - res.sim.iteration_ms) <= 1e-6 * res.sim.iteration_ms;
  if (!replay_ok) ok = false;
  if (res.feasible && replay.oom) ok = false;
  if (best && res.feasible && res.sim.iteration_ms > best->sim.iteration_ms * (1 + 1e-9)) ok = false;  // never slower
  row["adaptis_ms"] = res.sim.iteration_ms;
  row["adaptis_feasible"] = res.feasible;
  row["adaptis_peak_gib"] = max_peak(res.sim) / kGiB;
  row["adaptis_idle_ms"] = idle_ms(res.sim);
  row["adaptis_memory"] = describe_memory(res.best.memory);
  row["adaptis_stages"] = res.best.num_stages();
  double r_ms = 0, copy_ms = 0;
  for (const auto& d : res.sim.devices) r_ms += d.recompute_ms, copy_ms += d.host_copy_ms;
  row["adaptis_recompute_ms"] = r_ms;
  row["adaptis_host_copy_ms"] = copy_ms;
  row["search_s"] = search_s;
  row["search_evaluations"] = res.search_evaluations;
  row["stopped_by"] = res.stopped_by;
  row["replay_matches"] = replay_ok;
  row["message"] = res.message;
  const IterationLowerBound lb = iteration_lower_bound(c.costs, cl, c.devices, c.microbatches, c.sim);
  row["lower_bound_ms"] = lb.ms;
  row["lower_bound_binding"] = lb.binding;
  if (best && res.feasible) row["speedup_vs_best_builtin_uniform"] = best->sim.iteration_ms / res.sim.iteration_ms;
  if (zbh1 && res.feasible && idle_ms(zbh1->sim) > 0)
    row["idle_reduction_vs_zb_h1_full"] = 1.0 - idle_ms(res.sim) / idle_ms(zbh1->sim);
  std::fprintf(stderr, "%-28s %2d dev cap %6.1f GiB%s  best built-in x uniform %-34s %10.1f  adaptis %10.1f (%.3fx)  %5.2f s  [%s]\n",
               c.label.c_str(), c.devices, c.cap / kGiB, binds ? "" : " (does not bind)",
               best ? best->name.c_str() : "-", best ? best->sim.iteration_ms : 0.0, res.sim.iteration_ms,
               best && res.feasible ? best->sim.iteration_ms / res.sim.iteration_ms : 0.0, search_s,
               describe_memory(res.best.memory).substr(0, 80).c_str());
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_heap_for_reuse();
  CLI::App app("bench_memory: memory-bound planning with recompute and offload against built-ins x uniform policies");
  int threads = 2;
  double time_limit = 4.0;
  uint64_t seed = 1;
  std::string caps_text = "40,60";
  bool samples_only = false, peer_only = false;
  std::string only;
  std::string shared_dir = ADAPTIS_SHARED_DIR;
  app.add_option("--threads", threads, "Optimizer threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--time-limit-s", time_limit, "Search budget per case (s)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--seed", seed, "Search seed")->capture_default_str();
  app.add_option("--caps-gib", caps_text, "Memory caps for the sample models, GiB, comma-separated")->capture_default_str();
  app.add_flag("--samples-only", samples_only, "Only the sample models");
  app.add_flag("--peer-only", peer_only, "Only the peer profiles");
  app.add_option("--only", only, "Only cases whose model name contains this");
  app.add_option("--shared-dir", shared_dir, "Folder holding peer-profiles/")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::vector<double> caps;
  for (const auto& s : parse_partition(caps_text, "--caps-gib")) caps.push_back(s * kGiB);
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  std::vector<Case> cases;
  try {
    if (!peer_only)
      for (const char* model : {"deepseek-v2-lite", "gemma-7b", "llama-2-7b", "nemotron-h-8b"})
        for (int devices : {8, 16}) {
          if (!only.empty() && std::string(model).find(only) == std::string::npos) continue;
          Cluster cl = load_cluster(samples + "/clusters/h100x" + std::to_string(devices) + ".json");
          CostTable costs = load_model_costs(samples + "/models/" + model + ".json", cl);
          for (double cap : caps) {
            Case c;
            c.label = std::string(model);
            c.costs = costs;
            c.cluster = cl;
            c.devices = devices;
            c.microbatches = costs.microbatches > 0 ? costs.microbatches : 32;
            c.cap = cap;
            c.cap_rule = "fixed";
            cases.push_back(std::move(c));
          }
        }
    if (!samples_only)
      for (const char* name : {"nemotron-nano-v2-9B", "deepseek-16B", "gpt-13B", "gpt-oss-20B"}) {
        if (!only.empty() && std::string(name).find(only) == std::string::npos) continue;
        Case c;
        c.label = std::string("peer-profiles/") + name;
        c.cluster = make_uniform_cluster(4);
        CostTable times = load_cost_table(shared_dir + "/peer-profiles/" + name + ".json");
        c.costs = attach_memory(times, load_model_costs(samples + "/models/peer/" + name + ".json", c.cluster));
        c.devices = 4;
        c.microbatches = 8;
        c.sim.comm_latency_ms = 0;
        PlanRequest req;
        req.devices = 4;
        req.microbatches = 8;
        cli::Inputs in{c.costs, c.cluster, c.sim};
        std::vector<cli::CompareRow> rows = cli::compare_schedules(req, in);
        const cli::CompareRow* fp = fastest_plain(rows);
        if (!fp) throw InputError(c.label + ": no built-in fits even without a cap");
        c.cap = 0.7 * max_peak(fp->sim);
        c.cap_rule = "70% of the peak of " + fp->name + " (the fastest built-in without recomputation)";
        cases.push_back(std::move(c));
      }
  } catch (const InputError& e) {
    std::cerr << "bench_memory: " << e.what() << "\n";
    return 1;
  }

  OptimizeOptions base;
  base.time_limit_s = time_limit;
  base.seed = seed;
  base.threads = threads;
  bool ok = true;
  nlohmann::json out;
  out["threads"] = threads;
  out["time_limit_s"] = time_limit;
  out["seed"] = seed;
  nlohmann::json rows = nlohmann::json::array();
  int capped_cases = 0, fast_cases = 0, slower = 0, bubble_ok = 0, bubble_cases = 0, under_5s = 0;
  double min_speedup = 0, max_search = 0;
  for (const Case& c : cases) {
    nlohmann::json r = run_case(c, base, ok);
    const double search = r["search_s"];
    max_search = std::max(max_search, search);
    under_5s += search < 5.0;
    if (r["cap_binds"].get<bool>() && r.contains("speedup_vs_best_builtin_uniform")) {
      const double sp = r["speedup_vs_best_builtin_uniform"];
      ++capped_cases;
      fast_cases += sp >= 1.15;
      slower += sp < 1.0 - 1e-9;
      min_speedup = capped_cases == 1 ? sp : std::min(min_speedup, sp);
      if (r.contains("idle_reduction_vs_zb_h1_full")) {
        ++bubble_cases;
        bubble_ok += r["idle_reduction_vs_zb_h1_full"].get<double>() >= 0.30;
      }
    }
    rows.push_back(std::move(r));
  }
  out["cases"] = rows;
  out["summary"] = {{"capped_cases", capped_cases},
                    {"cases_at_least_1_15x", fast_cases},
                    {"cases_slower", slower},
                    {"min_speedup", min_speedup},
                    {"idle_cases", bubble_cases},
                    {"idle_at_least_30pct_below_zb_h1_full", bubble_ok},
                    {"cases_searched_under_5s", under_5s},
                    {"max_search_s", max_search},
                    {"replays_ok", ok}};
  std::cout << out.dump(2) << "\n";
  return ok ? 0 : 1;
}
