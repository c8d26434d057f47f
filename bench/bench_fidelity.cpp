// Fidelity against published training runs: predicts the iteration time (and FLOP/s per GPU / MFU)
// of each run in samples/published/megatron-a100-runs.json from its published configuration alone,
// on the machine's one set of efficiency constants (samples/clusters/selene-a100.json), and
// compares with the published number. Then, for each published GPU count and global batch, runs
// the whole-cluster search and checks that it finds a configuration at least as fast, in the same
// model, as the published one, with the reasons.
//
// Published iteration times: Korthikanti et al. 2022 give them (seconds). Narayanan et al. 2021
// give FLOP/s per GPU counting the full recomputation, F = 96 B s l h^2 (1 + s/6h + V/(16 l h)),
// so their iteration time is F / (GPUs x FLOP/s per GPU). The file's "layers" are measured times of
// one transformer layer (Korthikanti et al. 2022 Table 4), predicted from the same constants.
//
// Usage: bench_fidelity [runs.json] [--no-search] [--search-limit-s S]
// Prints one JSON document; the exit code is 0 (the "within_15pct" fields say how it went).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"
#include "adaptis/model/heap_tuning.h"
#include "adaptis/planner.h"

using namespace adaptis;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  double h = 0, l = 0, V = 0, s = 0;
};

Shape gpt_shape(const ModelSpec& m) {
  Shape x;
  x.s = double(m.seq_len);
  for (const auto& layer : m.layers)
    for (const auto& c : layer.parts) {
      if (c.kind == ComponentKind::Attention) {
        x.h = double(c.hidden);
        x.l += 1;
      }
      if (c.kind == ComponentKind::LmHead) x.V = double(c.vocab);
    }
  return x;
}

// FLOPs per iteration as the papers count them: with full recomputation (Narayanan et al. 2021,
// hardware FLOPs) or without (Korthikanti et al. 2022, model FLOPs for MFU).
double paper_flops(const Shape& x, double batch, bool with_recompute) {
  const double base = x.s * x.l * x.h * x.h * batch;
  if (with_recompute) return 96 * base * (1 + x.s / (6 * x.h) + x.V / (16 * x.l * x.h));
  return 72 * base * (1 + x.s / (6 * x.h) + x.V / (12 * x.h * x.l));
}

// Megatron's split: the body layers evenly over the stages, the embedding with the first stage and
// the LM head with the last.
std::vector<int> megatron_partition(int num_layers, int stages) {
  const int body = num_layers - 2;
  if (body % stages != 0) return {};
  std::vector<int> sizes(stages, body / stages);
  sizes.front() += 1;
  sizes.back() += 1;
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  std::string runs_path = std::string(ADAPTIS_SOURCE_DIR) + "/samples/published/megatron-a100-runs.json";
  bool search = true;
  double search_limit_s = 0;
  CLI::App app{"bench_fidelity: predicted vs published iteration times of Megatron-LM runs"};
  app.add_option("runs", runs_path, "Published runs (JSON)");
  bool no_search = false;
  app.add_flag("--no-search", no_search, "Print the predictions only");
  app.add_option("--search-limit-s", search_limit_s, "Time limit of each search (0 = the search's own budget)")
      ->check(CLI::Range(0.0, 3600.0));
  CLI11_PARSE(app, argc, argv);
  search = !no_search;
  keep_freed_heap_for_reuse();
  nlohmann::json out;
  out["benchmark"] = "fidelity";
  out["runs_file"] = runs_path;
  try {
    const nlohmann::json doc = read_json_file(runs_path);
    const fs::path dir = fs::path(runs_path).parent_path();
    const Cluster cluster = load_cluster((dir / json_string(doc, "cluster", runs_path)).string());
    out["cluster"] = cluster.name;
    out["efficiency"] = {{"gemm", cluster.efficiency.gemm},
                         {"attention_fwd", cluster.efficiency.attention_fwd},
                         {"attention_bwd", cluster.efficiency.attention_bwd},
                         {"hbm", cluster.efficiency.hbm},
                         {"launch_overhead_us", cluster.efficiency.launch_overhead_us},
                         {"gemm_shape_knee", cluster.efficiency.gemm_shape_knee},
                         {"collective_efficiency", cluster.topology.collective_efficiency}};
    nlohmann::json rows = nlohmann::json::array();
    std::map<std::string, double> predicted_by_name, published_by_name;
    struct Published {
      std::string name;
      ModelSpec model;
      ClusterCandidate candidate;
    };
    std::vector<Published> published_configs;
    bool all_within = true;
    double worst = 0;
    for (const auto& run : json_array(doc, "runs", runs_path)) {
      const std::string name = json_string(run, "name", runs_path);
      const std::string where = runs_path + ": run '" + name + "'";
      ModelSpec model = load_model_spec((dir / json_string(run, "model", where)).string());
      ParallelConfig p = parallel_config_from_json(run.at("parallel"), where + ": parallel");
      const std::string schedule = json_string(run, "schedule", where);
      const int v = static_cast<int>(json_int_or(run, "stages_per_device", 0, where));
      CostTable costs = parallel_costs(model, cluster, p);
      Cluster replica = replica_cluster(cluster, p);
      PlanRequest req;
      req.schedule = schedule;
      req.devices = p.pp;
      req.microbatches = p.microbatches;
      req.stages_per_device = v;
      req.partition = megatron_partition(costs.num_layers(), p.pp * std::max(1, v));
      Plan plan = build_plan(req, costs.num_layers());
      plan.parallel = p;
      SimOptions so;
      so.record_gaps = false;
      so.record_memory_timeline = false;
      so.record_collectives = false;
      SimResult sim = simulate(plan, costs, replica, so);
      if (!sim.ok) throw InputError(where + ": the plan deadlocks: " + sim.error);

      const Shape shape = gpt_shape(model);
      const double batch = double(p.global_batch_size);
      const nlohmann::json& pub = run.at("published");
      const bool narayanan = pub.contains("tflops_per_gpu");
      const double flops = paper_flops(shape, batch, narayanan);
      const double gpus = p.gpus();
      const double predicted_s = sim.iteration_ms / 1e3;
      const double published_s =
          narayanan ? flops / (gpus * pub.at("tflops_per_gpu").get<double>() * 1e12) : pub.at("iteration_s").get<double>();
      const double error = predicted_s / published_s - 1;
      all_within = all_within && std::abs(error) <= 0.15;
      worst = std::max(worst, std::abs(error));
      predicted_by_name[name] = predicted_s;
      published_by_name[name] = published_s;
      nlohmann::json row = {{"run", name},
                            {"config", describe(p)},
                            {"gpus", p.gpus()},
                            {"schedule", schedule + (v > 0 ? " (v=" + std::to_string(v) + ")" : "")},
                            {"published_iteration_s", published_s},
                            {"predicted_iteration_s", predicted_s},
                            {"error", error},
                            {"within_15pct", std::abs(error) <= 0.15},
                            {"predicted_pipeline_s", sim.parallel.pipeline_ms / 1e3},
                            {"predicted_bubble_ratio", sim.bubble_ratio},
                            {"predicted_exposed_grad_sync_s", sim.parallel.exposed_grad_sync_ms / 1e3},
                            {"predicted_peak_memory_gib", 0.0},
                            {"oom", sim.oom}};
      double peak = 0;
      for (const auto& d : sim.devices) peak = std::max(peak, d.peak_memory_bytes);
      row["predicted_peak_memory_gib"] = peak / (1 << 30);
      if (narayanan) {
        row["published_tflops_per_gpu"] = pub.at("tflops_per_gpu");
        row["predicted_tflops_per_gpu"] = flops / (gpus * predicted_s) / 1e12;
      } else {
        const double peak_flops = cluster.devices.front().peak_tflops * 1e12;
        row["published_mfu"] = flops / (gpus * published_s) / peak_flops;
        row["predicted_mfu"] = flops / (gpus * predicted_s) / peak_flops;
      }
      if (run.contains("data_parallel_cost_of")) {
        const std::string base = run["data_parallel_cost_of"].get<std::string>();
        if (!predicted_by_name.count(base)) throw InputError(where + ": 'data_parallel_cost_of' names no earlier run");
        row["published_data_parallel_cost_s"] = published_s - published_by_name[base];
        row["predicted_data_parallel_cost_s"] = predicted_s - predicted_by_name[base];
      }
      rows.push_back(row);
      bool seen = false;
      for (const auto& q : published_configs)
        seen = seen || (q.model.name == model.name && q.candidate.config.gpus() == p.gpus() &&
                        q.candidate.config.global_batch_size == p.global_batch_size);
      if (!seen && p.gpus() > 8)
        published_configs.push_back(
            {name, model, candidate_from_simulation(plan, sim, costs, replica, req.schedule + (v ? " (v=" + std::to_string(v) + ")" : ""))});
    }
    out["rows"] = rows;
    out["all_within_15pct"] = all_within;
    out["worst_abs_error"] = worst;

    // Measured per-layer times (one transformer layer, forward and backward) from the same constants:
    // a check of the layer model itself, below the pipeline and data-parallel terms of the runs.
    nlohmann::json layer_rows = nlohmann::json::array();
    bool layers_within = true;
    if (doc.contains("layers"))
      for (const auto& entry : json_array(doc, "layers", runs_path)) {
        const std::string name = json_string(entry, "name", runs_path);
        const std::string where = runs_path + ": layers: '" + name + "'";
        const ModelSpec model = load_model_spec((dir / json_string(entry, "model", where)).string());
        const ParallelConfig p = parallel_config_from_json(entry.at("parallel"), where + ": parallel");
        const CostTable costs = parallel_costs(model, cluster, p);
        const LayerCost* layer = nullptr;
        for (size_t i = 0; i < model.layers.size() && !layer; ++i)
          if (model.layers[i].has(ComponentKind::Attention)) layer = &costs.layers[i];
        if (!layer) throw InputError(where + ": the model has no attention layer");
        // Costs are on a speed-1.0 device; Megatron's backward runs B and W together.
        const double speed = cluster.devices.front().speed;
        const double f = layer->f_ms / speed, b = (layer->b_ms + layer->w_ms) / speed;
        const nlohmann::json& pub = entry.at("published");
        const double pf = pub.at("forward_ms").get<double>(), pb = pub.at("backward_ms").get<double>();
        const double ef = f / pf - 1, eb = b / pb - 1;
        const bool ok = std::abs(ef) <= 0.15 && std::abs(eb) <= 0.15;
        layers_within = layers_within && ok;
        layer_rows.push_back({{"layer", name},
                              {"config", describe(p)},
                              {"published_forward_ms", pf},
                              {"predicted_forward_ms", f},
                              {"forward_error", ef},
                              {"published_backward_ms", pb},
                              {"predicted_backward_ms", b},
                              {"backward_error", eb},
                              {"within_15pct", ok}});
      }
    out["layer_rows"] = layer_rows;
    out["layers_within_15pct"] = layers_within;

    // The search, given each published GPU count and global batch.
    nlohmann::json searches = nlohmann::json::array();
    if (search) {
      for (const auto& pc : published_configs) {
        ClusterSearchOptions o;
        o.gpus = pc.candidate.config.gpus();
        o.global_batch_tokens = pc.candidate.config.global_batch_size * pc.model.seq_len;
        o.overlap_grad_reduce = pc.candidate.config.overlap_grad_reduce;  // the same software
        o.optimize_top = 1;
        o.threads = 2;
        o.time_limit_s = search_limit_s;
        auto t0 = Clock::now();
        ClusterSearchResult r = search_cluster_plans(pc.model, cluster, o);
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        nlohmann::json s = {{"published_run", pc.name},
                            {"gpus", o.gpus},
                            {"global_batch", r.global_batch},
                            {"search_s", secs},
                            {"enumerated", r.enumerated},
                            {"simulated", r.simulated},
                            {"pruned", r.pruned},
                            {"published_config", describe(pc.candidate.config)},
                            {"published_predicted_iteration_s", pc.candidate.iteration_ms / 1e3},
                            {"found", r.feasible}};
        if (r.feasible) {
          s["best_config"] = describe(r.best.config);
          s["best_schedule"] = r.best.schedule;
          s["best_iteration_s"] = r.best.iteration_ms / 1e3;
          s["speedup_over_published"] = pc.candidate.iteration_ms / r.best.iteration_ms;
          s["at_least_as_fast"] = r.best.iteration_ms <= pc.candidate.iteration_ms * (1 + 1e-9);
          s["why"] = explain_difference(r.best, pc.candidate);
        }
        searches.push_back(s);
      }
    }
    out["search"] = searches;
  } catch (const std::exception& e) {
    out["error"] = e.what();
    std::printf("%s\n", out.dump(2).c_str());
    return 1;
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
