// Calibration of the per-unit cost model (planner/units.h: fixed + token part + attention-pair part) against
// the CPU executor running variable-length units: profile the tiny model with the pair split on this machine
// (profile_cpu_units), make units of a skewed length mix (packed documents; elastic slices), plan them, run
// each plan with one thread per device, and compare every unit's predicted work (its F/B/W summed over the
// stages, from the simulated timeline) with the thread CPU time its instructions took (median over the
// steps after the first), and the iteration time.
//
// usage: bench_units_calibration [--model FILE] [--devices 2] [--steps 6] [--repeats 9]
//                                [--lengths DIST] [--context N] [--tokens N]
// Prints one JSON document.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "adaptis/executor/cpu_profiler.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/sequence_processor.h"

using namespace adaptis;
using namespace adaptis::exec;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> load_average() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return {a, b, c};
}

struct Case {
  std::string name, schedule;
  SequenceProcessing processing;
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";
  std::string lengths = "long-tail:short_median=12,tail=0.15,tail_min=48,seed=5";
  long long context = 96, tokens = 768;
  int devices = 2, steps = 6, repeats = 9;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") model = v;
    else if (k == "--devices") devices = std::stoi(v);
    else if (k == "--steps") steps = std::stoi(v);
    else if (k == "--repeats") repeats = std::stoi(v);
    else if (k == "--lengths") lengths = v;
    else if (k == "--context") context = std::stoll(v);
    else if (k == "--tokens") tokens = std::stoll(v);
    else {
      std::cerr << "unknown option " << k << "\n";
      return 2;
    }
  }
  try {
    const NetConfig cfg = load_net_config(model);
    const LayerUnits layer_units = plan_layer_units(cfg, /*split_blocks=*/true);
    const std::vector<double> load_before = load_average();
    CpuProfileOptions po;
    po.repeats = repeats;
    po.split_blocks = true;
    const auto t0 = std::chrono::steady_clock::now();
    const CostTable costs = profile_cpu_units(cfg, po);
    const double profile_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const UnitCostModel cost = unit_cost_model(costs);

    LengthOptions lo;
    lo.context = context;
    lo.global_batch_tokens = tokens;
    const SequenceLengths data = load_sequence_lengths(lengths, lo);

    std::vector<Case> cases;
    {
      SequenceProcessing p;
      p.mode = PackingMode::PackTokens;
      cases.push_back({"packed, equal tokens", "1f1b", p});
      p.mode = PackingMode::Pack;
      p.units = 8;
      cases.push_back({"packed by cost", "zb-h1", p});
      p.mode = PackingMode::Elastic;
      p.units = 12;
      p.unit_tokens = context / 2;
      cases.push_back({"elastic (slices)", "seq1f1b", p});
    }
    nlohmann::json results = nlohmann::json::array();
    std::vector<double> all_unit_err;
    for (const Case& c : cases) {
      const std::vector<WorkUnit> units = process_sequences(data, cost, c.processing);
      const UnitLayout layout = unit_layout(units);
      const NetConfig ucfg = unit_net_config(cfg, layout);
      PlanRequest req;
      req.schedule = c.schedule;
      req.devices = devices;
      req.units = units;
      const Plan plan = build_plan(req, layer_units.count());
      const Cluster cluster = cpu_thread_cluster(devices);
      const SimResult sim = simulate(plan, costs, cluster, cpu_sim_options());
      if (!sim.ok) throw InputError(c.name + ": " + sim.error);
      std::vector<double> predicted(units.size(), 0.0);
      for (const auto& tl : sim.timeline)
        for (const auto& ta : tl) predicted[ta.action.mb] += ta.end - ta.start;

      const Program program = map_program_layers(lower_plan(plan), layer_units.bounds);
      RuntimeOptions ro;
      PipelineRuntime rt(program, real_stage_factory(ucfg), make_mailbox_transport(devices), ro);
      const DataSource src = unit_data(ucfg, layout);
      std::vector<std::vector<double>> measured(units.size());
      std::vector<double> iters;
      for (int s = 0; s < steps; ++s) {
        StepResult r = rt.run_step(s, src);
        if (s == 0) continue;  // first touches of memory
        iters.push_back(r.iteration_ms());
        std::vector<double> per_unit(units.size(), 0.0);
        for (int d = 0; d < program.num_devices(); ++d)
          for (size_t i = 0; i < program.devices[d].size(); ++i) {
            const Instruction& ins = program.devices[d][i];
            if (ins.kind != InstrKind::Compute) continue;
            per_unit[ins.mb] += double(r.intervals[d][i].cpu_ns) * 1e-6;
          }
        for (size_t u = 0; u < units.size(); ++u) measured[u].push_back(per_unit[u]);
      }
      nlohmann::json per_unit = nlohmann::json::array();
      std::vector<double> errs;
      for (size_t u = 0; u < units.size(); ++u) {
        const double m = median(measured[u]);
        const double err = (predicted[u] - m) / m;
        errs.push_back(std::fabs(err));
        all_unit_err.push_back(std::fabs(err));
        per_unit.push_back({{"unit", u},
                            {"what", describe_unit(units[u])},
                            {"tokens", units[u].tokens()},
                            {"pairs", units[u].pairs()},
                            {"predicted_ms", predicted[u]},
                            {"measured_cpu_ms", m},
                            {"error", err}});
      }
      const double measured_iter = median(iters);
      double mean_err = 0;
      for (double e : errs) mean_err += e / double(errs.size());
      results.push_back({{"case", c.name},
                         {"schedule", plan.name},
                         {"processing", describe(c.processing)},
                         {"units", units.size()},
                         {"predicted_iteration_ms", sim.iteration_ms},
                         {"measured_iteration_ms", measured_iter},
                         {"iteration_error", (sim.iteration_ms - measured_iter) / measured_iter},
                         {"unit_mean_abs_error", mean_err},
                         {"unit_max_abs_error", *std::max_element(errs.begin(), errs.end())},
                         {"per_unit", per_unit}});
      std::cerr << c.name << ": unit work error mean " << mean_err * 100 << "%, iteration predicted " << sim.iteration_ms
                << " ms measured " << measured_iter << " ms\n";
    }
    double mean_all = 0;
    for (double e : all_unit_err) mean_all += e / double(all_unit_err.size());
    nlohmann::json doc = {{"benchmark", "units_calibration"},
                          {"model", cfg.name},
                          {"machine", machine_info()},
                          {"logical_cores", std::thread::hardware_concurrency()},
                          {"load_average_before", load_before},
                          {"load_average_after", load_average()},
                          {"lengths", data.origin},
                          {"sequences", data.lengths.size()},
                          {"tokens", data.total_tokens()},
                          {"profile",
                           {{"seconds", profile_s},
                            {"source", costs.source},
                            {"ref_tokens", costs.ref_tokens},
                            {"fixed_ms", cost.fixed_ms},
                            {"per_token_ms", cost.per_token_ms},
                            {"per_pair_ms", cost.per_pair_ms}}},
                          {"results", results},
                          {"summary", {{"units", all_unit_err.size()}, {"unit_mean_abs_error", mean_all}}}};
    std::cout << doc.dump(2) << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
