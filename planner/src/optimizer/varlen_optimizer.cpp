// The variable-length optimizer (varlen_optimizer.h): screen sequence processings, then the full joint
// plan search on the best few.
#include "adaptis/planner/varlen_optimizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>

#include "adaptis/model/error.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/unit_slicing.h"
#include "adaptis/planner/units.h"
#include "unit_checkpointing.h"

namespace adaptis {

namespace {

using Clock = std::chrono::steady_clock;
// Processings (the best by the screen) that get the per-unit checkpointing search when nothing fits.
constexpr size_t kCheckpointCandidates = 4;
constexpr size_t kCheckpointMaxUnits = 1024;
// The screen's fastest fitting plan this much slower than its fastest plan at all: memory binds.
constexpr double kMemoryBindsSlowdown = 1.05;

struct ScreenResult {
  double ms = 0;
  bool fits = false;
  bool ok = false;
  std::string what;
  Plan plan;
};

bool screen_better(bool fits, double ms, const ScreenResult& cur) {
  if (!cur.ok) return true;
  if (fits != cur.fits) return fits;
  return ms < cur.ms - 1e-9;
}

// A quick, deterministic look at one set of units: balanced partitions on a sequential and a V
// placement, a few list-scheduling policies, and Seq1F1B's order when rows are sliced.
ScreenResult screen_units(const CostTable& costs, const Cluster& cluster, const std::vector<WorkUnit>& units,
                          const VarlenOptimizeOptions& o) {
  const int D = o.search.devices, L = costs.num_layers();
  const CostReference ref = cost_reference(costs);
  const SliceLinks links = slice_links(units);
  const KeyReaders keys = key_readers(units);
  const std::vector<double> weights = unit_layer_weights(costs, units);
  StageCostCache cache(costs);
  ScreenResult best;
  std::vector<double> speed(static_cast<size_t>(D));
  for (int d = 0; d < D; ++d) speed[d] = cluster.devices[d].speed;

  std::vector<std::vector<int>> layouts = {looped_stage_devices(D, D)};
  if (2 * D <= L) layouts.push_back(wave_stage_devices(2 * D, D));
  const std::vector<ListSchedulePolicy> policies = unit_screen_policies();
  ListScheduler ls;
  // Each layout's partition and problem are kept: the best list schedule's plan (the scheduler again,
  // with orders) is built once, at the end.
  struct Layout {
    Partition part;
    ListScheduleProblem pb;
  };
  std::vector<Layout> problems;
  int best_layout = -1;
  size_t best_policy = 0;
  for (const auto& stage_device : layouts) {
    const int S = static_cast<int>(stage_device.size());
    std::vector<double> sp(static_cast<size_t>(S));
    for (int s = 0; s < S; ++s) sp[s] = speed[stage_device[s]];
    Layout& lay = problems.emplace_back();
    lay.part = balanced_partition(weights, sp);
    ListScheduleProblem& pb = lay.pb;
    pb.microbatches = static_cast<int>(units.size());
    pb.num_devices = D;
    pb.stage_device = stage_device;
    cache.stages(lay.part.bounds, pb.stages);
    unit_stage_costs(pb.stages, units, keys, ref, pb.unit_costs);
    if (links.any) pb.slice_prev = links.prev, pb.slice_next = links.next;
    for (size_t pi = 0; pi < policies.size(); ++pi) {
      ListScheduleResult r = ls.run(pb, cluster, o.search.sim, policies[pi], false);
      if (!r.ok || !screen_better(r.fits_memory, r.iteration_ms, best)) continue;
      best.ok = true;
      best.ms = r.iteration_ms;
      best.fits = r.fits_memory;
      best.what = std::to_string(S) + " stages, list-scheduled (" + describe(policies[pi]) + ")";
      best_layout = static_cast<int>(problems.size()) - 1, best_policy = pi;
    }
  }
  if (best_layout >= 0) {
    const Layout& lay = problems[static_cast<size_t>(best_layout)];
    best.plan = list_schedule_plan(lay.pb, lay.part, cluster, o.search.sim, policies[best_policy], "adaptis-opt");
    best.plan.units = units;
  }
  if (links.any) {
    // Seq1F1B's own order on the sequential placement.
    try {
      Plan p = seq1f1b_schedule(D, units);
      p.partition = balanced_partition(weights, speed);
      SimOptions so = o.search.sim;
      so.record_gaps = false;
      so.record_memory_timeline = false;
      SimResult r = simulate(p, costs, cluster, so);
      if (r.ok && screen_better(!r.oom, r.iteration_ms, best)) {
        best.ok = true;
        best.ms = r.iteration_ms;
        best.fits = !r.oom;
        best.what = "seq1f1b on a cost-balanced partition";
        best.plan = std::move(p);
      }
    } catch (const InputError&) {
      // Seq1F1B needs as many layers as devices; the list schedules above stand.
    }
  }
  return best;
}

// The processings that get the checkpointing search: the best by the screen, and those whose rows have the
// fewest tokens in slices that later slices read (a row's slices before its last), since with checkpointing
// their keys and values are what memory still has to hold.
std::vector<size_t> checkpoint_candidates(const std::vector<size_t>& order,
                                          const std::vector<std::vector<WorkUnit>>& unit_sets) {
  auto pinned_tokens = [&](size_t i) {
    const std::vector<WorkUnit>& units = unit_sets[i];
    const std::vector<char> read = keys_read_later(units);
    std::map<int, long long> pinned;  // row -> tokens of its slices whose keys and values later slices read
    long long most = 0;
    for (size_t u = 0; u < units.size(); ++u)
      if (read[u]) most = std::max(most, pinned[units[u].row] += units[u].tokens());
    return most;
  };
  std::vector<size_t> out, order_ok;
  // Each search list-schedules its units some hundred times: thousands of tiny units are left out.
  for (size_t i : order)
    if (unit_sets[i].size() <= kCheckpointMaxUnits) order_ok.push_back(i);
  for (size_t k = 0; k < order_ok.size() && out.size() < kCheckpointCandidates / 2; ++k) out.push_back(order_ok[k]);
  std::vector<size_t> by_pinned = order_ok;
  std::vector<long long> pinned(unit_sets.size(), 0);
  for (size_t i : order_ok) pinned[i] = pinned_tokens(i);
  std::stable_sort(by_pinned.begin(), by_pinned.end(), [&](size_t a, size_t b) { return pinned[a] < pinned[b]; });
  for (size_t i : by_pinned) {
    if (out.size() >= kCheckpointCandidates) break;
    if (std::find(out.begin(), out.end(), i) == out.end()) out.push_back(i);
  }
  return out;
}

}  // namespace

std::vector<SequenceProcessing> default_processings(const SequenceLengths& data, int devices, bool allow_slicing,
                                                    long long slice_multiple) {
  std::vector<SequenceProcessing> out;
  auto add = [&](SequenceProcessing p) {
    p.allow_slicing = allow_slicing;
    p.slice_multiple = slice_multiple;
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  const long long total = data.total_tokens();
  for (long long budget : {data.context, data.context / 2, data.context / 4}) {
    if (budget < 64) continue;
    if (!allow_slicing && budget < data.longest()) continue;
    const int n = static_cast<int>((total + budget - 1) / budget);
    SequenceProcessing p;
    p.unit_tokens = budget;
    p.mode = PackingMode::PackTokens;
    add(p);
    p.mode = PackingMode::Pack;
    for (UnitOrder ord : {UnitOrder::AsBuilt, UnitOrder::Interleaved}) {
      p.order = ord;
      add(p);
    }
    if (allow_slicing) {
      p.mode = PackingMode::Elastic;
      for (int units : {n, std::max(n + 1, 2 * devices)})
        for (UnitOrder ord : {UnitOrder::LongFirst, UnitOrder::Interleaved}) {
          p.units = units;
          p.order = ord;
          add(p);
        }
    }
  }
  if (allow_slicing)
    for (int k : {2, 4}) {
      SequenceProcessing p;
      p.mode = PackingMode::Slice;
      p.slices = k;
      add(p);
    }
  return out;
}

VarlenOptimizeResult optimize_lengths(const CostTable& costs, const Cluster& cluster, const SequenceLengths& data,
                                      const VarlenOptimizeOptions& options, const OptimizeCallback& on_progress,
                                      const std::atomic<bool>* cancel) {
  const auto t0 = Clock::now();
  const VarlenOptimizeOptions& o = options;
  if (o.search.devices < 1 || o.search.devices > cluster.num_devices())
    throw InputError("devices", "asks for " + std::to_string(o.search.devices) + " devices but the cluster '" +
                     cluster.name + "' has " + std::to_string(cluster.num_devices()));
  if (!(o.search.time_limit_s > 0)) throw InputError("time_limit_s", "the time budget must be a positive number of seconds");
  if (o.finalists < 1) throw InputError("optimize: finalists must be >= 1");
  check_sequence_lengths(data, o.allow_slicing);
  const UnitCostModel cost = unit_cost_model(costs);
  Cluster used = cluster;
  used.devices.resize(static_cast<size_t>(o.search.devices));

  VarlenOptimizeResult out;
  out.tokens = data.total_tokens();
  // A model whose layers cannot run slices (a Mamba scan) is offered none: packing without slicing only.
  const bool can_slice = o.allow_slicing && slicing_blocker(costs).empty();
  std::vector<SequenceProcessing> candidates =
      o.processings.empty() ? default_processings(data, o.search.devices, can_slice, o.slice_multiple) : o.processings;
  std::vector<std::vector<WorkUnit>> unit_sets;
  std::vector<ScreenResult> screens;
  for (size_t i = 0; i < candidates.size(); ++i) {
    unit_sets.emplace_back();
    screens.emplace_back();
    ProcessingTrial t;
    t.processing = candidates[i];
    try {
      unit_sets[i] = process_sequences(data, cost, candidates[i]);
      check_slices_runnable(unit_sets[i], costs);
      t.units = static_cast<int>(unit_sets[i].size());
      for (const auto& u : unit_sets[i]) t.slices += u.is_slice();
      t.lower_bound_ms = iteration_lower_bound(costs, used, o.search.devices, unit_sets[i], o.search.sim).ms;
      screens[i] = screen_units(costs, used, unit_sets[i], o);
      t.screen_ms = screens[i].ok ? screens[i].ms : 0;
      t.fits = screens[i].fits;
      t.screen_plan = screens[i].what;
      if (!screens[i].ok) t.error = "no schedule could run these units";
    } catch (const InputError& e) {
      // The trial names its processing: check_slices_runnable's "processing" field adds nothing to it.
      t.error = e.field() == "processing" ? e.problem() : std::string(e.what());
    }
    out.trials.push_back(std::move(t));
    if (cancel && cancel->load()) break;
    // When memory binds everywhere so far, smaller units: halve the smallest budget tried (down to 512 tokens),
    // as equal-token packs, cost-balanced packs and elastic units.
    if (i + 1 == candidates.size() && o.processings.empty() && can_slice) {
      bool any_fits = false;
      long long smallest = data.context;
      for (const auto& tr : out.trials) any_fits = any_fits || tr.fits;
      for (const auto& c : candidates)
        if (c.unit_tokens > 0) smallest = std::min(smallest, c.unit_tokens);
      if (!any_fits && smallest / 2 >= 512) {
        SequenceProcessing p;
        p.unit_tokens = smallest / 2;
        p.slice_multiple = o.slice_multiple;
        for (PackingMode m : {PackingMode::PackTokens, PackingMode::Pack, PackingMode::Elastic}) {
          p.mode = m;
          p.order = m == PackingMode::Elastic ? UnitOrder::LongFirst : UnitOrder::AsBuilt;
          candidates.push_back(p);
        }
      }
    }
  }

  // Finalists: screened plans that fit first, then the fastest.
  std::vector<size_t> order;
  for (size_t i = 0; i < out.trials.size(); ++i)
    if (out.trials[i].error.empty()) order.push_back(i);
  if (order.empty()) {
    std::string why = "no candidate processing";
    if (!out.trials.empty()) why = out.trials.front().error;
    else if (can_slice != o.allow_slicing)
      why += " packs the longest sequence without slicing, and " + slicing_blocker(costs);
    throw InputError("optimize: no sequence processing gives runnable units (" + why + ")");
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (out.trials[a].fits != out.trials[b].fits) return out.trials[a].fits;
    return out.trials[a].screen_ms < out.trials[b].screen_ms;
  });
  const size_t n_final = std::min<size_t>(static_cast<size_t>(o.finalists), order.size());

  // Memory binds for every processing the screen tried: per-unit checkpointing on the most promising
  // ones (unit_checkpointing.h), before the full searches so that they share the time budget.
  UnitCheckpointSearch found;
  size_t found_trial = 0;
  std::string why;
  bool checkpoint_tried = false, checkpoint_ran = false;
  // Memory binds when no screened plan fits, or when those that fit are clearly slower than the fastest
  // one that does not (the scheduler had to hold units back to stay within the limit).
  double fit_ms = 0, any_ms = 0;
  for (const auto& tr : out.trials) {
    if (!tr.error.empty() || tr.screen_ms <= 0) continue;
    if (tr.fits && (fit_ms == 0 || tr.screen_ms < fit_ms)) fit_ms = tr.screen_ms;
    if (any_ms == 0 || tr.screen_ms < any_ms) any_ms = tr.screen_ms;
  }
  const bool memory_binds = fit_ms == 0 || fit_ms > kMemoryBindsSlowdown * any_ms;
  if (memory_binds && !(cancel && cancel->load())) {
    checkpoint_tried = true;
    double closest = 0;
    for (size_t i : checkpoint_candidates(order, unit_sets)) {
      if (cancel && cancel->load()) break;
      // Under a clock budget (no evaluation budget) it keeps half of it for the full searches, once the
      // most promising processing has had its search.
      if (checkpoint_ran && o.search.max_evaluations == 0 &&
          std::chrono::duration<double>(Clock::now() - t0).count() > 0.5 * o.search.time_limit_s)
        break;
      // Under a clock budget a search that has found a plan stops at three quarters of it (the finals
      // need the rest); with an evaluation budget it does all its work, so the result repeats.
      std::function<bool()> out_of_time;
      if (o.search.max_evaluations == 0)
        out_of_time = [&] {
          return std::chrono::duration<double>(Clock::now() - t0).count() > 0.75 * o.search.time_limit_s;
        };
      UnitCheckpointSearch c =
          search_unit_checkpointing(costs, used, o.search.devices, unit_sets[i], o.search.sim, out_of_time);
      out.trials[i].checkpoint_searched = true;
      checkpoint_ran = true;
      out.trials[i].checkpoint_ms = c.found ? c.ms : 0;
      if (c.found && (!found.found || c.ms < found.ms - 1e-9)) found = std::move(c), found_trial = i;
      else if (!c.found && !c.why_not.empty() && (why.empty() || c.closest_overflow_bytes < closest))
        why = c.why_not, closest = c.closest_overflow_bytes;
    }
  }

  struct Final {
    size_t trial;
    OptimizeResult r;
  };
  std::vector<Final> finals;
  for (size_t k = 0; k < n_final; ++k) {
    if (cancel && cancel->load()) break;
    const size_t i = order[k];
    OptimizeOptions so = o.search;
    so.units = unit_sets[i];
    const double spent = std::chrono::duration<double>(Clock::now() - t0).count();
    so.time_limit_s = std::max(0.05, (o.search.time_limit_s - spent) / double(n_final - k));
    if (o.search.max_evaluations > 0) so.max_evaluations = std::max<long long>(1, o.search.max_evaluations / (long long)n_final);
    OptimizeResult r = optimize(costs, used, so, on_progress, cancel);
    out.trials[i].finalist = true;
    out.trials[i].final_ms = r.sim.ok ? r.sim.iteration_ms : 0;
    finals.push_back({i, std::move(r)});
  }
  auto better = [](bool fits_a, double ms_a, bool fits_b, double ms_b) {
    if (fits_a != fits_b) return fits_a;
    return ms_a < ms_b - 1e-9;
  };
  int best = -1;
  for (size_t k = 0; k < finals.size(); ++k)
    if (finals[k].r.sim.ok && (best < 0 || better(finals[k].r.feasible, finals[k].r.sim.iteration_ms, finals[best].r.feasible,
                                                 finals[best].r.sim.iteration_ms)))
      best = static_cast<int>(k);
  // The screen's own plans compete too (a short full search may not reach what the screen found).
  const size_t top = order.front();
  if (screens[top].ok &&
      (best < 0 || better(screens[top].fits, screens[top].ms, finals[best].r.feasible, finals[best].r.sim.iteration_ms))) {
    OptimizeResult r = best >= 0 ? finals[best].r : OptimizeResult{};
    r.best = screens[top].plan;
    r.best.name = "adaptis-opt";
    r.sim = simulate(r.best, costs, used, o.search.sim);
    r.feasible = r.sim.ok && !r.sim.oom;
    r.message = "best plan: " + screens[top].what + " (from the sequence-processing screen)";
    if (r.lower_bound.ms <= 0) r.lower_bound = iteration_lower_bound(costs, used, o.search.devices, unit_sets[top], o.search.sim);
    finals.push_back({top, std::move(r)});
    best = static_cast<int>(finals.size()) - 1;
  }
  if (best < 0) throw InputError("optimize: no plan could be scheduled for any sequence processing");
  out.best = std::move(finals[best].r);
  out.processing = candidates[finals[best].trial];
  out.tokens_per_s = out.best.sim.ok && out.best.sim.iteration_ms > 0 ? double(out.tokens) / (out.best.sim.iteration_ms * 1e-3) : 0;
  if (found.found && (!out.best.feasible || found.ms < out.best.sim.iteration_ms - 1e-9)) {
    OptimizeResult r = out.best;
    r.best = std::move(found.plan);
    r.sim = simulate(r.best, costs, used, o.search.sim);
    r.feasible = r.sim.ok && !r.sim.oom;
    r.overflow_bytes = 0;
    r.lower_bound = iteration_lower_bound(costs, used, o.search.devices, unit_sets[found_trial], o.search.sim);
    char buf[160];
    if (out.best.feasible)
      std::snprintf(buf, sizeof buf, " (per-unit checkpointing: memory binds; the best plan without it takes %.1f ms)",
                    out.best.sim.iteration_ms);
    else
      std::snprintf(buf, sizeof buf, " (per-unit checkpointing: no plan fits memory without it)");
    out.without_checkpointing_ms = out.best.feasible ? out.best.sim.iteration_ms : 0;
    r.message = "best plan: " + found.what + buf;
    out.best = std::move(r);
    out.processing = candidates[found_trial];
  } else if (!out.best.feasible && checkpoint_tried && !checkpoint_ran) {
    out.memory_note = "no sequence processing fits memory; per-unit activation checkpointing was not searched within "
                      "the time budget (the screen and full searches took it; give more time)";
  } else if (!out.best.feasible && checkpoint_tried) {
    out.memory_note = "no sequence processing fits memory, even with per-unit activation checkpointing" +
                      (why.empty() ? std::string() : ": " + why);
  }
  out.checkpointing = describe_memory(out.best.best.memory);
  for (const StageMemoryPolicy& p : out.best.best.memory)
    if (recomputes(p)) out.checkpointed_pairs += p.units.empty() ? static_cast<int>(out.best.best.units.size())
                                                                  : static_cast<int>(p.units.size());
  if (out.best.sim.ok)
    for (const auto& d : out.best.sim.devices) out.recompute_ms += d.recompute_ms;
  char buf[256];
  std::snprintf(buf, sizeof buf, "units: %s (%zu units); %.0f tokens/s; ", describe(out.processing).c_str(),
                out.best.best.units.size(), out.tokens_per_s);
  out.message = buf + out.best.message;
  return out;
}

}  // namespace adaptis
