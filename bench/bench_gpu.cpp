// GPU backends benchmark: profiles the tiny sample models on the GPU (CUPTI when it can trace, else CUDA
// events), then runs plans of several schedules on 4 virtual devices of the GPU (streams, and green contexts
// when available) and prints one JSON document: per model the profile (timing method, CUPTI overhead, kernel
// vs span time, peak memory) and per schedule the simulator's predicted iteration time from that profile
// against the measured one. Without a GPU it prints {"skipped": "no GPU: <reason>"} and exits 0.
// Usage: bench_gpu [steps] [microbatches] [models...]   (models default to samples/models/tiny-*.json)
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/profiler/gpu_profiler.h"

using namespace adaptis;

namespace {

double median_after_first(const std::vector<double>& v) {
  std::vector<double> t(v.size() > 1 ? v.begin() + 1 : v.begin(), v.end());
  std::sort(t.begin(), t.end());
  if (t.empty()) return 0;
  return t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
}

nlohmann::json run_schedule(const exec::NetConfig& cfg, const exec::LayerUnits& units, const CostTable& costs,
                            const std::string& schedule, int devices, int m, int steps, bool green) {
  nlohmann::json row = {{"schedule", schedule}, {"devices", devices}, {"green_contexts", green}};
  try {
    PlanRequest req;
    req.schedule = schedule;
    req.devices = devices;
    req.microbatches = m;
    const Plan plan = build_plan(req, units.count());
    const exec::Program program = exec::map_program_layers(exec::lower_plan(plan), units.bounds);
    SimOptions so;
    so.record_memory_timeline = false;
    so.record_gaps = false;
    const exec::RunPrediction pred = exec::predict_run(plan, costs, make_uniform_cluster(devices), so);
    exec::GpuRunOptions opt;
    opt.green_contexts = green;
    exec::GpuPipelineRuntime rt(program, cfg, opt);
    const exec::DataSource data = exec::model_data(cfg);
    std::vector<double> iter_ms, step_ms;
    double loss = 0;
    for (int s = 0; s < steps; ++s) {
      const exec::StepResult r = rt.run_step(s, data);
      iter_ms.push_back(r.iteration_ms());
      step_ms.push_back(r.step_ms());
      loss = r.loss;
    }
    const double measured = median_after_first(iter_ms);
    row["device_description"] = rt.info().description;
    row["predicted_iteration_ms"] = pred.iteration_ms;
    row["measured_iteration_ms"] = measured;
    row["measured_step_ms"] = median_after_first(step_ms);
    row["prediction_error"] = measured > 0 ? (pred.iteration_ms - measured) / measured : 0.0;
    row["final_loss"] = loss;
  } catch (const std::exception& e) {
    row["error"] = e.what();
  }
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 4, m = 8;
  std::vector<std::string> models;
  CLI::App app("bench_gpu: predicted vs measured iterations on GPU virtual devices, kernel vs wall time, CUPTI overhead");
  app.add_option("steps", steps, "Training steps per run")->check(CLI::Range(2, 10000));
  app.add_option("microbatches", m, "Micro-batches per iteration")->check(CLI::Range(1, 4096));
  app.add_option("models", models, "Executor model files (default: samples/models/tiny-*.json)");
  CLI11_PARSE(app, argc, argv);
  std::string why;
  if (!exec::gpu_available(&why)) {
    std::cout << nlohmann::json{{"skipped", "no GPU: " + why}}.dump() << "\n";
    return 0;
  }
  if (models.empty())
    for (const auto& e : std::filesystem::directory_iterator(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models"))
      if (e.path().filename().string().rfind("tiny-", 0) == 0) models.push_back(e.path().string());
  std::sort(models.begin(), models.end());

  nlohmann::json out;
  out["benchmark"] = "gpu_backends";
  const auto gpus = exec::list_gpus();
  out["gpu"] = gpus.front().name;
  out["sm_count"] = gpus.front().sm_count;
  out["green_contexts_supported"] = gpus.front().green_contexts;
  out["steps"] = steps;
  out["microbatches"] = m;
  nlohmann::json rows = nlohmann::json::array();
  for (const std::string& path : models) {
    nlohmann::json mrow = {{"model_file", path}};
    try {
      const exec::NetConfig cfg = exec::load_net_config(path);
      const exec::LayerUnits units = exec::plan_layer_units(cfg, false);
      mrow["model"] = cfg.name;
      mrow["layer_units"] = units.count();
      prof::GpuProfileOptions po;
      po.repeats = 10;
      po.warmup = 2;
      po.keep_records = false;
      const prof::GpuProfileResult p = prof::profile_gpu(cfg, po);
      double span = 0, kernel = 0;
      for (const auto& u : p.units) {
        span += u.f_ms + u.b_ms + u.w_ms;
        kernel += u.f_kernel_ms + u.b_kernel_ms + u.w_kernel_ms;
      }
      mrow["profile"] = {{"timing", p.timing},
                         {"fallback_reason", p.fallback_reason},
                         {"span_ms_per_iteration", span},
                         {"kernel_ms_per_iteration", p.timing == "cupti" ? nlohmann::json(kernel) : nlohmann::json(nullptr)},
                         {"kernel_over_span", p.timing == "cupti" && span > 0 ? nlohmann::json(kernel / span) : nlohmann::json(nullptr)},
                         {"events_total_ms", p.events_total_ms},
                         {"cupti_total_ms", p.cupti_total_ms},
                         {"cupti_overhead", p.cupti_overhead},
                         {"dropped_records", p.dropped_records},
                         {"peak_memory_bytes", p.peak_memory_bytes}};
      nlohmann::json sched = nlohmann::json::array();
      for (const char* s : {"gpipe", "1f1b", "zb-h1", "interleaved-1f1b"})
        sched.push_back(run_schedule(cfg, units, p.costs, s, 4, m, steps, false));
      if (gpus.front().green_contexts) sched.push_back(run_schedule(cfg, units, p.costs, "1f1b", 4, m, steps, true));
      mrow["schedules"] = sched;
    } catch (const std::exception& e) {
      mrow["error"] = e.what();
    }
    rows.push_back(mrow);
  }
  out["models"] = rows;
  std::cout << out.dump(2) << "\n";
  return 0;
}
