// Variable-length data: the optimizer (planner/varlen_optimizer.h) against the ways pipelines are
// fed today, side by side on the same iteration of data, the same model and the same devices:
//   pad      every sequence padded to the context, one per micro-batch, interleaved 1F1B;
//   pack     documents packed to equal tokens per micro-batch (budgets of the context, 1/2, ... 1/16, at least
//            1024 tokens; the fastest that fits memory), 1F1B and ZB-V;
//   slice    equal-token packs each cut into 2, 4 or 8 equal-cost slices, Seq1F1B's order.
// Each baseline runs with its schedule's even partition, as the frameworks do. The optimizer chooses
// the processing (packing by cost, elastic slicing, unit budget and order) and the plan together, in a
// bounded search (--time-limit-s, 2 threads by default). Throughput is content tokens (padding
// excluded) per second of the simulated iteration; every plan is replayed by simulate() here.
// Inputs: samples/data/pretrain-mix.lengths (skewed), the same number of tokens as fixed-length
// sequences at the context (uniform), and samples/data/long-context-128k.json.
// When memory binds, each baseline also runs with uniform full recompute (of every unit that may
// recompute: a whole row or a row's last slice), and the optimizer may checkpoint units per stage;
// --memory-limit-gib lowers the devices' usable memory to make it bind.
// --max-evaluations N bounds the optimizer's work instead (its full searches share N list-schedule runs,
// the checkpointing search does all its work): with a --time-limit-s it never reaches, every run does
// the same work and finds the same plan, so search_s compares builds and machines (and thread counts: the
// screen, the checkpointing search and the full searches all run on --threads). "evaluations" counts all of
// that work (list-schedule runs and simulations), "search_evaluations" the chosen plan's full search only.
// Prints one JSON document. Usage: bench_varlen [--model FILE] [--devices N (8)] [--threads N (2)]
//                                               [--time-limit-s T (4.5)] [--max-evaluations N (0 = none)]
//                                               [--only NAME] [--memory-limit-gib G]
// Exit 1 when a replay disagrees with the optimizer's reported time or a plan is below its bound.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "adaptis/model.h"
#include "load_average.h"
#include "adaptis/model/heap_tuning.h"
#include "adaptis/model/sequence_lengths.h"
#include "adaptis/planner.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/varlen_optimizer.h"

using namespace adaptis;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

using adaptis::bench::load_average;

struct Baseline {
  std::string family, schedule;
  SequenceProcessing processing;
  bool ok = false, fits = false;
  std::string error;
  double ms = 0;
  int units = 0;
  bool recompute = false;  // full recompute of every unit that may recompute (a row's last slice or a whole row)
};

Baseline run_baseline(const std::string& family, const std::string& schedule, const SequenceProcessing& p,
                      const SequenceLengths& data, const CostTable& costs, const Cluster& cluster, int devices,
                      const SimOptions& sim, bool recompute = false) {
  Baseline b;
  b.recompute = recompute;
  b.family = family;
  b.schedule = schedule;
  b.processing = p;
  try {
    PlanRequest req;
    req.schedule = schedule;
    req.devices = devices;
    req.units = process_sequences(data, unit_cost_model(costs), p);
    b.units = static_cast<int>(req.units.size());
    if (schedule == "interleaved-1f1b") {
      // Megatron's group size: the smallest g >= p whose last group is full or at least p long.
      const int m = b.units;
      int g = devices;
      while (g < m && m % g != 0 && m % g < devices) ++g;
      req.group_size = std::min(g, m);
    }
    Plan plan = build_plan(req, costs.num_layers());
    if (recompute) {
      // Slices whose keys and values later slices read keep their activations (memory_policy.h).
      std::map<int, int> last;
      for (const WorkUnit& u : req.units)
        if (u.row >= 0) last[u.row] = std::max(last[u.row], u.slice);
      StageMemoryPolicy full;
      full.recompute = Recompute::Full;
      for (int u = 0; u < b.units; ++u)
        if (req.units[u].row < 0 || req.units[u].slice == last[req.units[u].row]) full.units.push_back(u);
      if (static_cast<int>(full.units.size()) == b.units) full.units.clear();
      set_uniform_memory_policy(plan, full);
    }
    SimResult r = simulate(plan, costs, cluster, sim);
    b.ok = r.ok;
    b.fits = r.ok && !r.oom;
    b.ms = r.iteration_ms;
    if (!r.ok) b.error = r.error.substr(0, r.error.find('\n'));
  } catch (const InputError& e) {
    b.error = e.what();
  }
  return b;
}

nlohmann::json baseline_json(const Baseline& b, long long tokens) {
  nlohmann::json j = {{"family", b.family}, {"schedule", b.schedule}, {"processing", describe(b.processing)}, {"units", b.units},
                      {"full_recompute", b.recompute}};
  if (!b.ok) {
    j["error"] = b.error;
    return j;
  }
  j["iteration_ms"] = b.ms;
  j["tokens_per_s"] = double(tokens) / (b.ms * 1e-3);
  j["fits_memory"] = b.fits;
  return j;
}

nlohmann::json run_case(const std::string& name, const SequenceLengths& data, const CostTable& costs,
                        const Cluster& cluster, int devices, int threads, double time_limit, long long max_evaluations,
                        bool& ok) {
  SimOptions sim;
  const long long tokens = data.total_tokens();
  const long long ctx = data.context;
  std::vector<Baseline> base;
  {
    SequenceProcessing pad;
    pad.mode = PackingMode::Pad;
    base.push_back(run_baseline("pad", "interleaved-1f1b", pad, data, costs, cluster, devices, sim));
  }
  for (long long budget : {ctx, ctx / 2, ctx / 4, ctx / 8, ctx / 16})
    for (const char* sched : {"1f1b", "zb-v"}) {
      if (budget < 1024) continue;
      SequenceProcessing p;
      p.mode = PackingMode::PackTokens;
      p.unit_tokens = budget;
      base.push_back(run_baseline("pack", sched, p, data, costs, cluster, devices, sim));
    }
  for (int k : {2, 4, 8}) {
    SequenceProcessing p;
    p.mode = PackingMode::Slice;
    p.slices = k;
    base.push_back(run_baseline("slice", "seq1f1b", p, data, costs, cluster, devices, sim));
  }
  // What the baselines need to fit when memory binds: the same runs with uniform full recompute (of every
  // unit that may recompute).
  const size_t plain = base.size();
  for (size_t i = 0; i < plain; ++i)
    base.push_back(run_baseline(base[i].family, base[i].schedule, base[i].processing, data, costs, cluster, devices,
                                sim, true));
  // Best per family and overall: plans that fit memory only; without recompute, then with it.
  nlohmann::json families = nlohmann::json::object(), families_rc = nlohmann::json::object();
  const Baseline* best = nullptr;
  const Baseline* best_rc = nullptr;
  for (const char* fam : {"pad", "pack", "slice"})
    for (bool rc : {false, true}) {
      const Baseline* bf = nullptr;
      for (const auto& b : base)
        if (b.family == fam && b.recompute == rc && b.ok && b.fits && (!bf || b.ms < bf->ms)) bf = &b;
      (rc ? families_rc : families)[fam] = bf ? baseline_json(*bf, tokens) : nlohmann::json(nullptr);
      const Baseline*& bb = rc ? best_rc : best;
      if (bf && (!bb || bf->ms < bb->ms)) bb = bf;
    }

  VarlenOptimizeOptions vo;
  vo.search.devices = devices;
  vo.search.threads = threads;
  vo.search.time_limit_s = time_limit;
  vo.search.max_evaluations = max_evaluations;
  vo.search.sim = sim;
  const auto t0 = Clock::now();
  VarlenOptimizeResult r = optimize_lengths(costs, cluster, data, vo);
  const double search_s = std::chrono::duration<double>(Clock::now() - t0).count();
  SimResult replay = simulate(r.best.best, costs, cluster, sim);
  if (!replay.ok || std::abs(replay.iteration_ms - r.best.sim.iteration_ms) > 1e-6 * replay.iteration_ms) {
    std::cerr << name << ": replay " << replay.iteration_ms << " ms disagrees with the optimizer's " << r.best.sim.iteration_ms
              << " ms\n";
    ok = false;
  }
  if (r.best.lower_bound.ms > replay.iteration_ms * (1 + 1e-9)) {
    std::cerr << name << ": plan below its lower bound\n";
    ok = false;
  }
  // A bound no processing of these documents can beat: packing and slicing keep every token and every
  // causal pair (slices of a row sum to the row's s^2/2), so the devices must at least do the token- and
  // pair-proportional work of the whole iteration, spread perfectly over all of them, with no per-unit
  // overhead, no bubble and no communication. A target over best_baseline / this bound is impossible.
  double data_bound_ms = 0;
  {
    const UnitCostModel unit = unit_cost_model(costs);
    double pairs = 0;
    for (long long len : data.lengths) pairs += 0.5 * double(len) * double(len);
    double speed = 0;
    for (int d = 0; d < devices; ++d) speed += cluster.devices[d].speed;
    data_bound_ms = (unit.per_token_ms * double(tokens) + unit.per_pair_ms * pairs) / speed;
  }
  nlohmann::json all = nlohmann::json::array();
  for (const auto& b : base) all.push_back(baseline_json(b, tokens));
  nlohmann::json trials = nlohmann::json::array();
  for (const auto& t : r.trials)
    trials.push_back({{"processing", describe(t.processing)},
                      {"units", t.units},
                      {"screen_ms", t.screen_ms},
                      {"fits", t.fits},
                      {"finalist", t.finalist},
                      {"final_ms", t.final_ms},
                      {"error", t.error}});
  const double ours_tps = double(tokens) / (replay.iteration_ms * 1e-3);
  nlohmann::json out = {{"case", name},
                        {"model", costs.model},
                        {"devices", devices},
                        {"lengths", data.origin},
                        {"sequences", data.lengths.size()},
                        {"tokens", tokens},
                        {"context", ctx},
                        {"longest", data.longest()},
                        {"baselines", all},
                        {"best_per_family", families},
                        {"adaptis",
                         {{"iteration_ms", replay.iteration_ms},
                          {"tokens_per_s", ours_tps},
                          {"fits_memory", !replay.oom},
                          {"processing", describe(r.processing)},
                          {"units", r.best.best.units.size()},
                          {"stages", r.best.best.num_stages()},
                          {"plan", r.best.message},
                          {"lower_bound_ms", r.best.lower_bound.ms},
                          {"search_s", search_s},
                          {"search_evaluations", r.best.search_evaluations},
                          {"evaluations", r.evaluations},
                          {"reached_lower_bound", r.reached_lower_bound},
                          {"ended_at_lower_bound", r.ended_at_lower_bound},
                          {"memory_note", r.memory_note},
                          {"checkpointing", r.checkpointing.empty() ? "none" : r.checkpointing},
                          {"checkpointed_pairs", r.checkpointed_pairs},
                          {"recompute_ms", r.recompute_ms}}},
                        {"best_per_family_full_recompute", families_rc},
                        {"data_lower_bound_ms", data_bound_ms},
                        {"trials", trials}};
  if (best) {
    out["best_baseline"] = {{"family", best->family}, {"schedule", best->schedule}, {"processing", describe(best->processing)},
                            {"iteration_ms", best->ms}, {"tokens_per_s", double(tokens) / (best->ms * 1e-3)}};
    out["speedup_vs_best_baseline"] = best->ms / replay.iteration_ms;
    out["most_possible_speedup_vs_best_baseline"] = best->ms / data_bound_ms;
  } else {
    out["best_baseline"] = nullptr;
  }
  if (best_rc)
    out["best_baseline_full_recompute"] = {{"family", best_rc->family}, {"schedule", best_rc->schedule},
                                           {"processing", describe(best_rc->processing)}, {"iteration_ms", best_rc->ms},
                                           {"tokens_per_s", double(tokens) / (best_rc->ms * 1e-3)}};
  else
    out["best_baseline_full_recompute"] = nullptr;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_heap_for_reuse();
  CLI::App app{"bench_varlen: variable-length data, optimizer vs padding / packing / slicing baselines"};
  std::string model = kSamples + "/models/llama-2-7b.json";
  int devices = 8, threads = 2;
  double time_limit = 4.5;
  std::string only;
  double memory_limit_gib = 0;
  long long max_evaluations = 0;
  app.add_option("--model", model, "Model spec (analytical H100 costs)");
  app.add_option("--memory-limit-gib", memory_limit_gib,
                 "Usable memory per device in GiB (default: the cluster's); lower it to make memory bind")
      ->check(CLI::Range(1.0, 1.0e6));
  app.add_option("--devices", devices, "Devices (H100-SXM, one node)")->check(CLI::Range(2, 1024));
  app.add_option("--threads", threads, "Optimizer threads")->check(CLI::Range(1, 256));
  app.add_option("--time-limit-s", time_limit, "Optimizer budget per case")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--max-evaluations", max_evaluations,
                 "Bound the optimizer by list-schedule runs instead of the clock (0 = the clock only); pair it with a "
                 "--time-limit-s it never reaches to compare search times on the same work")
      ->check(CLI::Range(0LL, 1000000000LL));
  app.add_option("--only", only, "Run only the case with this name (skewed, uniform, long-context)");
  CLI11_PARSE(app, argc, argv);
  try {
    const Cluster cluster = load_cluster(kSamples + "/clusters/h100x8.json");
    Cluster used = cluster;
    if (devices != cluster.num_devices()) used = make_uniform_cluster(devices);
    if (memory_limit_gib > 0)
      for (auto& d : used.devices) d.memory_limit_bytes = memory_limit_gib * 1024.0 * 1024.0 * 1024.0;
    const CostTable costs = load_model_costs(model, used);

    struct Input {
      std::string name;
      SequenceLengths data;
    };
    std::vector<Input> inputs;
    LengthOptions so;
    so.context = 16384;  // the mix was drawn for a 16k context (its header says so)
    SequenceLengths skewed = load_sequence_lengths(kSamples + "/data/pretrain-mix.lengths", so);
    inputs.push_back({"skewed", skewed});
    LengthOptions uo;
    uo.context = skewed.context;
    uo.global_batch_tokens = skewed.total_tokens();
    inputs.push_back({"uniform", load_sequence_lengths("fixed:length=" + std::to_string(skewed.context), uo)});
    inputs.push_back({"long-context", load_sequence_lengths(kSamples + "/data/long-context-128k.json")});

    bool ok = true;
    nlohmann::json cases = nlohmann::json::array();
    const double la0 = load_average();
    for (const auto& in : inputs) {
      if (!only.empty() && in.name != only) continue;
      cases.push_back(run_case(in.name, in.data, costs, used, devices, threads, time_limit, max_evaluations, ok));
      std::cerr << in.name << " done\n";
    }
    nlohmann::json out = {{"bench", "varlen"},
                          {"model", costs.model},
                          {"cost_source", costs.source},
                          {"cluster", used.name},
                          {"threads", threads},
                          {"time_limit_s", time_limit},
                          {"max_evaluations", max_evaluations},
                          {"memory_limit_gib", used.devices.front().memory_limit() / (1024.0 * 1024.0 * 1024.0)},
                          {"load_average_before", la0},
                          {"load_average_after", load_average()},
                          {"cases", cases}};
    std::cout << out.dump(2) << "\n";
    return ok ? 0 : 1;
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
