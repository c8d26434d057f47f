// The variable-length optimizer (varlen_optimizer.h): screen sequence processings, then the full joint
// plan search on the best few.
#include "adaptis/planner/varlen_optimizer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "adaptis/model/error.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/unit_slicing.h"
#include "adaptis/planner/units.h"
#include "processing_screen.h"
#include "unit_checkpointing.h"
#include "worker_pool.h"

namespace adaptis {

namespace {

using Clock = std::chrono::steady_clock;
// Processings (the best by the screen) that get the per-unit checkpointing search when nothing fits.
constexpr size_t kCheckpointCandidates = 4;
constexpr size_t kCheckpointMaxUnits = 1024;
// The screen's fastest fitting plan this much slower than its fastest plan at all: memory binds.
constexpr double kMemoryBindsSlowdown = 1.05;
// Processings screened between two looks at the lower bound: a fixed number, so that where the screen stops
// does not depend on the thread count.
constexpr size_t kScreenBatch = 8;
// A plan this close to the lowest bound (relative) has reached it: rounding in the schedulers' sums.
constexpr double kBoundTolerance = 1e-9;

// The processings that get the checkpointing search: the best by the screen, and those whose rows have the
// fewest tokens in slices that later slices read (a row's slices before its last), since with checkpointing
// their keys and values are what memory still has to hold.
std::vector<size_t> checkpoint_candidates(const std::vector<size_t>& order,
                                          const std::vector<ScreenedProcessing>& procs) {
  auto pinned_tokens = [&](size_t i) {
    const std::vector<WorkUnit>& units = procs[i].units;
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
    if (procs[i].units.size() <= kCheckpointMaxUnits) order_ok.push_back(i);
  for (size_t k = 0; k < order_ok.size() && out.size() < kCheckpointCandidates / 2; ++k) out.push_back(order_ok[k]);
  std::vector<size_t> by_pinned = order_ok;
  std::vector<long long> pinned(procs.size(), 0);
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
  opt::check_worker_threads(o.search.threads);
  if (o.finalists < 1) throw InputError("optimize: finalists must be >= 1");
  check_sequence_lengths(data, o.allow_slicing);
  const int D = o.search.devices;
  Cluster used = cluster;
  used.devices.resize(static_cast<size_t>(D));
  auto cancelled = [&] { return cancel && cancel->load(); };

  VarlenOptimizeResult out;
  out.tokens = data.total_tokens();
  // The screen and the checkpointing search run on this pool; the full searches have their own (it is gone
  // by then).
  std::optional<opt::WorkerPool> pool;
  pool.emplace(opt::worker_threads(o.search.threads));
  // A model whose layers cannot run slices (a Mamba scan) is offered none: packing without slicing only.
  const bool can_slice = o.allow_slicing && slicing_blocker(costs).empty();
  std::vector<SequenceProcessing> candidates =
      o.processings.empty() ? default_processings(data, D, can_slice, o.slice_multiple) : o.processings;
  std::vector<ScreenedProcessing> procs =
      prepare_processings(*pool, costs, used, D, data, candidates, o.search.sim);

  // No plan of any candidate can beat the lowest of their bounds: once the best plan that fits reaches it, the
  // search is over. (Only processings that can run count; a later one joins before it is screened.)
  auto lowest_bound = [&] {
    double lowest = 0;
    for (const ScreenedProcessing& p : procs)
      if (p.error.empty() && p.lower_bound_ms > 0 && (lowest == 0 || p.lower_bound_ms < lowest)) lowest = p.lower_bound_ms;
    return lowest;
  };
  auto at_bound = [&](double ms) {
    const double lowest = lowest_bound();
    return lowest > 0 && ms > 0 && ms <= lowest * (1 + kBoundTolerance);
  };
  auto best_screen_fit = [&](size_t upto) {
    double best = 0;
    for (size_t i = 0; i < upto; ++i)
      if (procs[i].screened && procs[i].error.empty() && procs[i].screen.fits && (best == 0 || procs[i].screen.ms < best))
        best = procs[i].screen.ms;
    return best;
  };
  bool ended_early = false;  // something was left out because a plan reached the bound

  // The screen, a fixed batch of processings at a time (whatever the thread count, so the stop at the bound
  // falls on the same batch). Cancelled, the processings screened in order so far stand; the first batch always
  // runs whole, so that a cancelled search still has a plan.
  size_t screened = 0;
  while (screened < procs.size()) {
    if (screened > 0 && cancelled()) break;
    if (at_bound(best_screen_fit(screened))) {
      ended_early = true;
      break;
    }
    const size_t end = std::min(procs.size(), screened + kScreenBatch);
    screen_processings(*pool, costs, used, D, o.search.sim, procs, screened, end, screened > 0 ? cancel : nullptr);
    screened = end;
    if (cancelled()) break;
    // When memory binds everywhere so far, smaller units: halve the smallest budget tried (down to 512 tokens),
    // as equal-token packs, cost-balanced packs and elastic units.
    if (screened == procs.size() && o.processings.empty() && can_slice) {
      bool any_fits = false;
      long long smallest = data.context;
      for (const ScreenedProcessing& p : procs) any_fits = any_fits || (p.screened && p.error.empty() && p.screen.fits);
      for (const auto& c : candidates)
        if (c.unit_tokens > 0) smallest = std::min(smallest, c.unit_tokens);
      if (!any_fits && smallest / 2 >= 512) {
        std::vector<SequenceProcessing> more;
        SequenceProcessing p;
        p.unit_tokens = smallest / 2;
        p.slice_multiple = o.slice_multiple;
        for (PackingMode m : {PackingMode::PackTokens, PackingMode::Pack, PackingMode::Elastic}) {
          p.mode = m;
          p.order = m == PackingMode::Elastic ? UnitOrder::LongFirst : UnitOrder::AsBuilt;
          more.push_back(p);
        }
        candidates.insert(candidates.end(), more.begin(), more.end());
        for (ScreenedProcessing& q : prepare_processings(*pool, costs, used, D, data, more, o.search.sim))
          procs.push_back(std::move(q));
      }
    }
  }
  // The trials: the processings screened in order (a cancellation leaves the rest out).
  for (size_t i = 0; i < screened; ++i) {
    const ScreenedProcessing& p = procs[i];
    if (!p.screened && p.error.empty()) break;
    ProcessingTrial t;
    t.processing = p.processing;
    t.error = p.error;
    t.units = static_cast<int>(p.units.size());
    t.slices = p.slices;
    t.lower_bound_ms = p.lower_bound_ms;
    if (p.screened) {
      t.screen_ms = p.screen.ok ? p.screen.ms : 0;
      t.fits = p.screen.fits;
      t.screen_plan = p.screen.what;
    }
    out.evaluations += p.evaluations;
    out.trials.push_back(std::move(t));
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
  // (A screened plan at the bound fits and is the fastest of all, so memory does not bind then.)
  const bool memory_binds = fit_ms == 0 || fit_ms > kMemoryBindsSlowdown * any_ms;
  if (memory_binds && !cancelled()) {
    checkpoint_tried = true;
    double closest = 0;
    for (size_t i : checkpoint_candidates(order, procs)) {
      if (cancelled()) break;
      if (found.found && at_bound(found.ms)) {
        ended_early = true;
        break;
      }
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
          search_unit_checkpointing(costs, used, D, procs[i].units, o.search.sim, *pool, out_of_time);
      out.evaluations += c.evaluations;
      out.trials[i].checkpoint_searched = true;
      checkpoint_ran = true;
      out.trials[i].checkpoint_ms = c.found ? c.ms : 0;
      if (c.found && (!found.found || c.ms < found.ms - 1e-9)) found = std::move(c), found_trial = i;
      else if (!c.found && !c.why_not.empty() && (why.empty() || c.closest_overflow_bytes < closest))
        why = c.why_not, closest = c.closest_overflow_bytes;
    }
  }

  pool.reset();  // the full searches run on pools of their own

  struct Final {
    size_t trial;
    OptimizeResult r;
  };
  std::vector<Final> finals;
  // The fastest plan that fits so far, from the screen, the checkpointing search and the full searches.
  double best_fit_ms = best_screen_fit(screened);
  if (found.found && (best_fit_ms == 0 || found.ms < best_fit_ms)) best_fit_ms = found.ms;
  for (size_t k = 0; k < n_final; ++k) {
    if (cancelled()) break;
    if (at_bound(best_fit_ms)) {
      ended_early = true;
      break;
    }
    const size_t i = order[k];
    OptimizeOptions so = o.search;
    so.units = procs[i].units;
    const double spent = std::chrono::duration<double>(Clock::now() - t0).count();
    so.time_limit_s = std::max(0.05, (o.search.time_limit_s - spent) / double(n_final - k));
    if (o.search.max_evaluations > 0) so.max_evaluations = std::max<long long>(1, o.search.max_evaluations / (long long)n_final);
    OptimizeResult r = optimize(costs, used, so, on_progress, cancel);
    out.trials[i].finalist = true;
    out.trials[i].final_ms = r.sim.ok ? r.sim.iteration_ms : 0;
    out.evaluations += r.search_evaluations;
    if (r.feasible && (best_fit_ms == 0 || r.sim.iteration_ms < best_fit_ms)) best_fit_ms = r.sim.iteration_ms;
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
  const ScreenResult& top_screen = procs[top].screen;
  if (top_screen.ok &&
      (best < 0 || better(top_screen.fits, top_screen.ms, finals[best].r.feasible, finals[best].r.sim.iteration_ms))) {
    OptimizeResult r = best >= 0 ? finals[best].r : OptimizeResult{};
    r.best = top_screen.plan;
    r.best.name = "adaptis-opt";
    r.sim = simulate(r.best, costs, used, o.search.sim);
    r.feasible = r.sim.ok && !r.sim.oom;
    r.message = "best plan: " + top_screen.what + " (from the sequence-processing screen)";
    if (r.lower_bound.ms <= 0) r.lower_bound = iteration_lower_bound(costs, used, D, procs[top].units, o.search.sim);
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
    r.lower_bound = iteration_lower_bound(costs, used, D, procs[found_trial].units, o.search.sim);
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
  // No full search ran (the bound, or a cancellation): the progress the result reports is the whole search's.
  if (std::none_of(out.trials.begin(), out.trials.end(), [](const ProcessingTrial& t) { return t.finalist; })) {
    out.best.final_progress.evaluated = out.evaluations;
    out.best.final_progress.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    out.best.final_progress.fraction = 1;
    out.best.final_progress.best_ms = out.best.feasible ? out.best.sim.iteration_ms : 0;
    out.best.final_progress.phase = "screen";
  }
  out.lower_bound_ms = lowest_bound();
  out.reached_lower_bound = out.best.feasible && out.best.sim.ok && at_bound(out.best.sim.iteration_ms);
  out.ended_at_lower_bound = ended_early && out.reached_lower_bound;
  if (out.ended_at_lower_bound) out.best.stopped_by = StopReason::Optimal;
  char buf[256];
  std::snprintf(buf, sizeof buf, "units: %s (%zu units); %.0f tokens/s; ", describe(out.processing).c_str(),
                out.best.best.units.size(), out.tokens_per_s);
  out.message = buf + out.best.message;
  if (out.reached_lower_bound) {
    std::snprintf(buf, sizeof buf, "; at the lower bound of every candidate processing (%.3f ms): none can be faster%s",
                  out.lower_bound_ms, out.ended_at_lower_bound ? ", so the search ended there" : "");
    out.message += buf;
  }
  return out;
}

}  // namespace adaptis
