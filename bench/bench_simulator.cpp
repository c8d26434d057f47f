// Simulator throughput: actions simulated per second on large plans (64 devices x 512 micro-batches,
// interleaved placement by default), plus the validator (which includes a deadlock simulation).
// Prints one JSON document. Usage: bench_simulator [devices] [microbatches] [repeats] (--help)
// Wall-clock rates, and the same per second of this thread's CPU time (what a loaded machine, whose
// other jobs take the cores, still measures faithfully).
#include <time.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"
#include "adaptis/model/heap_tuning.h"
#include "adaptis/planner.h"

using namespace adaptis;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

static double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int main(int argc, char** argv) {
  int p = 64, m = 512, repeats = 5;
  CLI::App app{"bench_simulator: simulated actions per second on large plans"};
  app.add_option("devices", p, "Pipeline devices")->check(CLI::Range(2, 1024));
  app.add_option("microbatches", m, "Micro-batches")->check(CLI::Range(1, 16384));
  app.add_option("repeats", repeats, "Runs per schedule (the best is reported)")->check(CLI::Range(1, 1000));
  CLI11_PARSE(app, argc, argv);
  keep_freed_heap_for_reuse();
  nlohmann::json out;
  out["benchmark"] = "simulator_throughput";
  out["devices"] = p;
  out["microbatches"] = m;
  out["repeats"] = repeats;
  nlohmann::json rows = nlohmann::json::array();
  for (const char* name : {"interleaved-1f1b", "1f1b", "zb-v"}) {
    nlohmann::json row;
    row["schedule"] = name;
    try {
      ScheduleKind kind = parse_schedule_kind(name);
      ScheduleOptions so;
      so.devices = p;
      so.microbatches = m;
      Plan plan = generate_schedule(kind, so);
      const int S = plan.placement.num_stages();
      // Heterogeneous per-layer costs (a heavy head) so the event order is not trivially regular.
      CostTable costs;
      for (int l = 0; l < S; ++l) {
        LayerCost c;
        c.f_ms = 1.0 + 0.1 * (l % 3);
        c.b_ms = 2.0 * c.f_ms;
        c.w_ms = c.f_ms;
        c.act_b_bytes = 1e6;
        c.out_bytes = 1e6;
        c.state_bytes = 1e8;
        costs.layers.push_back(c);
      }
      costs.layers.back().f_ms = 8;
      plan.partition = even_partition(S, S);
      Cluster cl = make_uniform_cluster(p);
      SimOptions fast;
      fast.record_gaps = false;
      fast.record_memory_timeline = false;

      auto t0 = Clock::now();
      ValidationReport v = validate_plan(plan, S);
      double validate_s = seconds_since(t0);
      if (!v.ok()) throw InputError(v.message());

      double best = 1e30, full_best = 1e30, cpu_best = 1e30, full_cpu_best = 1e30;
      double iter = 0;
      for (int r = 0; r < repeats; ++r) {
        t0 = Clock::now();
        double c0 = thread_cpu_s();
        SimResult sr = simulate(plan, costs, cl, fast);
        best = std::min(best, seconds_since(t0));
        cpu_best = std::min(cpu_best, thread_cpu_s() - c0);
        iter = sr.iteration_ms;
        t0 = Clock::now();
        c0 = thread_cpu_s();
        SimResult full = simulate(plan, costs, cl, SimOptions{});
        full_best = std::min(full_best, seconds_since(t0));
        full_cpu_best = std::min(full_cpu_best, thread_cpu_s() - c0);
      }
      double n = static_cast<double>(plan.num_actions());
      row["actions"] = n;
      row["iteration_ms"] = iter;
      row["simulate_s"] = best;
      row["actions_per_s"] = n / best;
      row["simulate_with_gaps_and_memory_s"] = full_best;
      row["actions_per_s_with_gaps_and_memory"] = n / full_best;
      row["simulate_cpu_s"] = cpu_best;
      row["actions_per_cpu_s"] = n / cpu_best;
      row["actions_per_cpu_s_with_gaps_and_memory"] = n / full_cpu_best;
      row["validate_s"] = validate_s;
    } catch (const std::exception& e) {
      row["error"] = e.what();
    }
    rows.push_back(row);
  }
  out["results"] = rows;
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
