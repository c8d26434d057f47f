// Calibration of the performance model against real CPU runs: profile the tiny model's layers on this
// machine, simulate several schedules with that profile, run each with one thread per device, and print
// predicted vs measured iteration time and the error per schedule as JSON.
//
// The layers are profiled again right before each run (as `adaptis run` does without --costs), so the
// prediction sees the machine as the run will; --profile-once profiles only at the start.
//
// With --recompute POLICY (selective | full) each schedule also runs with that policy on every stage: the
// measured growth of the iteration (and of the devices' CPU-busy time) is set against the simulator's
// prediction of it (the recompute time R adds, minus what bubbles hide).
//
// usage: bench_calibration [--model FILE] [--devices 2,4] [--microbatches 8] [--steps 6] [--repeats 9]
//                          [--schedules gpipe,1f1b,...] [--profile-once 1] [--recompute none|selective|full]
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "load_average.h"
#include "adaptis/profiler/cpu_profiler.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/run_report.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/plan_file.h"

using namespace adaptis;
using namespace adaptis::exec;
using namespace adaptis::prof;

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
  return out;
}

double cpu_seconds() {  // user + system time of this process
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double mean_abs(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (std::isfinite(x)) {
      s += std::fabs(x);
      ++n;
    }
  return n ? s / n : std::nan("");
}

nlohmann::json num(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";
  std::vector<std::string> device_counts = {"2", "4"};
  std::vector<std::string> schedules = {"gpipe", "1f1b", "interleaved-1f1b", "zb-h1", "zb-h2", "zb-v", "dualpipev"};
  int microbatches = 8, steps = 6, repeats = 9;
  bool profile_once = false;
  std::string recompute = "none";
  std::string devices_list = "2,4", schedules_list;
  for (const auto& name : schedules) schedules_list += (schedules_list.empty() ? "" : ",") + name;
  CLI::App app("bench_calibration: predicted vs measured iteration time of CPU executor runs");
  app.add_option("--model", model, "Executor model (JSON)");
  app.add_option("--devices", devices_list, "Device counts, comma-separated");
  app.add_option("--schedules", schedules_list, "Schedules, comma-separated");
  app.add_option("--microbatches", microbatches, "Micro-batches per iteration")->check(CLI::Range(1, 4096));
  app.add_option("--steps", steps, "Training steps per run")->check(CLI::Range(1, 10000));
  app.add_option("--repeats", repeats, "Runs per schedule (the median is reported)")->check(CLI::Range(1, 1000));
  app.add_option("--profile-once", profile_once, "Profile the layers once at the start instead of before every run");
  app.add_option("--recompute", recompute, "Also run every schedule with this policy on every stage")
      ->check(CLI::IsMember({"none", "selective", "full"}));
  CLI11_PARSE(app, argc, argv);
  device_counts = split_list(devices_list);
  schedules = split_list(schedules_list);
  try {
    const Recompute policy = parse_recompute(recompute, "--recompute");
    const NetConfig cfg = load_net_config(model);
    // Executor layers as plan layers, so 4 devices x 2 chunks (interleaved, V shapes) fit the tiny model.
    const LayerUnits units = plan_layer_units(cfg, /*split_blocks=*/true);
    const unsigned cores = std::thread::hardware_concurrency();
    const std::vector<double> load_before = adaptis::bench::load_averages();

    CpuProfileOptions po;
    po.repeats = repeats;
    po.split_blocks = true;
    const auto t_profile = std::chrono::steady_clock::now();
    CostTable costs = profile_cpu(cfg, po);
    const double profile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_profile).count();
    double f = 0, b = 0, w = 0;
    for (const auto& l : costs.layers) f += l.f_ms, b += l.b_ms, w += l.w_ms;

    const std::string db = (std::filesystem::temp_directory_path() /
                            ("adaptis-bench-calibration-" + std::to_string(getpid()) + ".db"))
                               .string();
    nlohmann::json results = nlohmann::json::array();
    {
      RunStore store(db);
      for (const std::string& dc : device_counts)
        for (const std::string& schedule : schedules) {
          const int devices = std::stoi(dc);
          PlanRequest req;
          req.schedule = schedule;
          req.devices = devices;
          req.microbatches = microbatches;
          Plan base;
          try {
            base = build_plan(req, units.count());
          } catch (const InputError& e) {
            results.push_back({{"schedule", schedule}, {"devices", devices}, {"skipped", e.what()}});
            continue;
          }
          std::vector<Plan> variants = {base};
          if (policy != Recompute::None) {
            Plan rec = base;
            StageMemoryPolicy p;
            p.recompute = policy;
            set_uniform_memory_policy(rec, p);
            variants.push_back(rec);
          }
          double base_pred = 0, base_meas = 0, base_busy = 0, base_pred_busy = 0;
          for (const Plan& plan : variants) {
          const Program program = map_program_layers(lower_plan(plan), units.bounds);
          if (!profile_once) costs = profile_cpu(cfg, po);
          double profile_ms_per_mb = 0;
          for (const auto& l : costs.layers) profile_ms_per_mb += l.f_ms + l.b_ms + l.w_ms;
          const RunPrediction pred = predict_run(plan, costs, cpu_thread_cluster(devices), cpu_sim_options());
          RunInfo info;
          info.command = "bench_calibration";
          info.schedule = plan.name;
          info.model_name = cfg.name;
          info.model = net_config_to_json(cfg);
          info.plan = plan_to_json(plan);
          info.costs = cost_table_json(costs);
          info.machine = machine_info();
          info.num_devices = devices;
          info.num_stages = plan.num_stages();
          info.num_microbatches = microbatches;
          info.predicted_iteration_ms = pred.iteration_ms;
          info.devices = pred.devices;
          info.predicted = pred.intervals;
          auto backend = make_cpu_run_backend(program, cfg);
          const double cpu0 = cpu_seconds();
          const RunOutcome out = execute_run(*backend, program, steps, model_data(cfg), &store, info);
          const double cpu_used = cpu_seconds() - cpu0;
          const RunComparison cmp = compare_run(store.load_run(out.run_id));
          // Replay: the same simulation fed with what the run found the machine to be (each device thread's CPU
          // share as its speed, the measured hand-over latency on every link, the measured SEND / RECV time
          // spread over the compute actions as a per-action overhead). Not a prediction, since it uses the
          // run's own measurements: it tells whether the model's structure explains the run once the machine's
          // contention is known.
          size_t compute_actions = 0;
          for (const auto& list : plan.schedule) compute_actions += list.size();
          double comm_ms = 0;
          for (const auto& d : cmp.devices) comm_ms += d.measured_comm_ms;
          SimOptions replay_opt = cpu_sim_options();
          replay_opt.action_overhead_ms = compute_actions ? comm_ms / static_cast<double>(compute_actions) : 0.0;
          Cluster replay_cluster = cpu_thread_cluster(devices);
          for (int d = 0; d < devices; ++d)
            if (std::isfinite(cmp.devices[d].cpu_share) && cmp.devices[d].cpu_share > 0)
              replay_cluster.devices[d].speed = cmp.devices[d].cpu_share;
          if (std::isfinite(cmp.handoff_ms)) replay_cluster.intra_node = replay_cluster.inter_node = Link{cmp.handoff_ms, 5e9};
          const SimResult replay = simulate(plan, costs, replay_cluster, replay_opt);

          double pred_busy = 0, meas_busy = 0, meas_busy_cpu = 0, wait = 0;
          std::vector<double> busy_err, busy_cpu_err, end_err, op_err, op_cpu_err;
          for (const auto& d : cmp.devices) {
            pred_busy += d.predicted_busy_ms;
            meas_busy += d.measured_busy_ms;
            meas_busy_cpu += d.measured_busy_cpu_ms;
            wait += d.measured_wait_ms;
            busy_err.push_back(d.busy_error);
            busy_cpu_err.push_back(d.busy_cpu_error);
            end_err.push_back(d.end_error);
          }
          for (const auto& o : cmp.ops) {
            op_err.push_back(o.error);
            op_cpu_err.push_back(o.cpu_error);
          }
          std::vector<double> iters;
          for (size_t s = 1; s < out.steps.size(); ++s) iters.push_back(out.steps[s].result.iteration_ms());
          std::sort(iters.begin(), iters.end());
          // CPU capacity: the devices' compute cannot finish faster than all of it spread over the cores.
          const double capacity_pred = cpu_capacity_bound_ms(pred, static_cast<int>(cores));
          results.push_back({{"schedule", plan.name},
                             {"devices", devices},
                             {"stages", plan.num_stages()},
                             {"microbatches", microbatches},
                             {"profile_fbw_ms_per_microbatch", profile_ms_per_mb},
                             {"oversubscribed", devices > static_cast<int>(cores)},
                             {"predicted_ms", pred.iteration_ms},
                             {"measured_ms", cmp.measured_iteration_ms},
                             {"measured_min_ms", iters.empty() ? nlohmann::json(nullptr) : nlohmann::json(iters.front())},
                             {"measured_max_ms", iters.empty() ? nlohmann::json(nullptr) : nlohmann::json(iters.back())},
                             {"error", num(cmp.iteration_error)},
                             {"cpu_share", num(cmp.cpu_share)},
                             {"predicted_at_share_ms", num(cmp.predicted_at_share_ms)},
                             {"share_adjusted_error", num(cmp.share_adjusted_error)},
                             {"handoff_ms", num(cmp.handoff_ms)},
                             {"comm_overhead_ms_per_action", replay_opt.action_overhead_ms},
                             {"replay_ms", replay.ok ? nlohmann::json(replay.iteration_ms) : nlohmann::json(nullptr)},
                             {"replay_error", num(replay.ok ? relative_error(replay.iteration_ms, cmp.measured_iteration_ms)
                                                            : std::nan(""))},
                             {"predicted_capacity_bound_ms", capacity_pred},
                             {"capacity_bound_error", num(relative_error(capacity_pred, cmp.measured_iteration_ms))},
                             {"predicted_busy_ms_all_devices", pred_busy},
                             {"measured_busy_ms_all_devices", meas_busy},
                             {"measured_busy_cpu_ms_all_devices", meas_busy_cpu},
                             {"busy_cpu_error_all_devices", num(relative_error(pred_busy, meas_busy_cpu))},
                             {"measured_wait_ms_all_devices", wait},
                             {"device_busy_mean_abs_error", num(mean_abs(busy_err))},
                             {"device_busy_cpu_mean_abs_error", num(mean_abs(busy_cpu_err))},
                             {"device_end_mean_abs_error", num(mean_abs(end_err))},
                             {"op_mean_abs_error", num(mean_abs(op_err))},
                             {"op_cpu_mean_abs_error", num(mean_abs(op_cpu_err))},
                             {"process_cpu_ms_per_iteration", cpu_used * 1e3 / steps},
                             {"loss", out.steps.back().result.loss},
                             {"grad_checksum", out.steps.back().grad_checksum}});
          nlohmann::json& row = results.back();
          row["recompute"] = describe_memory(plan.memory).empty() ? "none" : describe_memory(plan.memory);
          if (&plan == &variants.front()) {
            base_pred = pred.iteration_ms, base_meas = cmp.measured_iteration_ms;
            base_busy = meas_busy_cpu, base_pred_busy = pred_busy;
          } else {
            // What recompute adds: predicted vs measured, for the iteration and for the CPU-busy time.
            row["predicted_growth_ms"] = pred.iteration_ms - base_pred;
            row["measured_growth_ms"] = cmp.measured_iteration_ms - base_meas;
            row["predicted_busy_growth_ms"] = pred_busy - base_pred_busy;
            row["measured_busy_cpu_growth_ms"] = meas_busy_cpu - base_busy;
            row["busy_growth_error"] =
                num(pred_busy - base_pred_busy > 0
                        ? (meas_busy_cpu - base_busy) / (pred_busy - base_pred_busy) - 1.0
                        : std::nan(""));
          }
          std::cerr << plan.name << " p=" << devices << " " << row["recompute"].get<std::string>() << ": predicted "
                    << pred.iteration_ms << " ms, measured " << cmp.measured_iteration_ms << " ms, error "
                    << cmp.iteration_error * 100 << "%\n";
          }
        }
    }
    std::filesystem::remove(db);
    std::filesystem::remove(db + "-wal");
    std::filesystem::remove(db + "-shm");

    std::vector<double> errs, cap_errs, share_errs, busy_cpu_errs, op_cpu_errs, replay_errs;
    auto get = [](const nlohmann::json& r, const char* k) {
      return r.contains(k) && r[k].is_number() ? r[k].get<double>() : std::nan("");
    };
    for (const auto& r : results)
      if (r.contains("error") && r["error"].is_number()) {
        errs.push_back(get(r, "error"));
        cap_errs.push_back(get(r, "capacity_bound_error"));
        share_errs.push_back(get(r, "share_adjusted_error"));
        busy_cpu_errs.push_back(get(r, "busy_cpu_error_all_devices"));
        op_cpu_errs.push_back(get(r, "op_cpu_mean_abs_error"));
        replay_errs.push_back(get(r, "replay_error"));
      }
    nlohmann::json doc = {
        {"benchmark", "calibration"},
        {"model", cfg.name},
        {"plan_layers", units.count()},
        {"machine", machine_info()},
        {"logical_cores", cores},
        {"load_average_before", load_before},
        {"load_average_after", adaptis::bench::load_averages()},
        {"profile", {{"repeats", repeats}, {"seconds", profile_s}, {"f_ms", f}, {"b_ms", b}, {"w_ms", w}}},
        {"steps_per_run", steps},
        {"profile_before_each_run", !profile_once},
        {"results", results},
        {"summary",
         {{"runs", errs.size()},
          {"mean_abs_error", num(mean_abs(errs))},
          {"mean_abs_capacity_bound_error", num(mean_abs(cap_errs))},
          {"mean_abs_share_adjusted_error", num(mean_abs(share_errs))},
          {"mean_abs_replay_error", num(mean_abs(replay_errs))},
          {"mean_abs_busy_cpu_error", num(mean_abs(busy_cpu_errs))},
          {"mean_op_cpu_abs_error", num(mean_abs(op_cpu_errs))}}}};
    std::cout << doc.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
