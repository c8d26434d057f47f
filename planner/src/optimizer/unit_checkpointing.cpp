// Per-unit checkpointing search for the variable-length optimizer (unit_checkpointing.h).
#include "unit_checkpointing.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>

#include "adaptis/model/error.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/units.h"

namespace adaptis {

std::vector<double> unit_layer_weights(const CostTable& costs, const std::vector<WorkUnit>& units) {
  const CostReference ref = cost_reference(costs);
  std::vector<double> w(costs.layers.size(), 0.0);
  const StageCostCache cache(costs);
  for (size_t l = 0; l < costs.layers.size(); ++l) {
    const StageCost sc = cache.stage(static_cast<int>(l), static_cast<int>(l) + 1);
    for (const WorkUnit& u : units) {
      const UnitStageCost c = unit_stage_cost(sc, u, ref);
      w[l] += c.f_ms + c.b_ms + c.w_ms;
    }
  }
  return w;
}

std::vector<ListSchedulePolicy> unit_screen_policies() {
  using O = ListSchedulePolicy::Order;
  using P = ListSchedulePolicy::Pick;
  std::vector<ListSchedulePolicy> policies;
  auto add = [&](O order, P f, P b, bool split) {
    ListSchedulePolicy p;
    p.order = order, p.forward = f, p.backward = b, p.split_backward = split;
    policies.push_back(p);
  };
  add(O::Alternate, P::OldestMicrobatch, P::EarliestStage, true);
  add(O::BackwardFirst, P::OldestMicrobatch, P::OldestMicrobatch, true);
  add(O::Alternate, P::OldestMicrobatch, P::EarliestStage, false);
  ListSchedulePolicy live = policies[0];
  live.reserve_memory = false;
  policies.push_back(live);
  return policies;
}

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::string gib(double bytes) {
  char buf[32];
  if (bytes >= kGiB) std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / kGiB);
  else std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

// One (placement, recompute kind): the selection state and its evaluations.
struct Layout {
  const CostTable& costs;
  const Cluster& cluster;
  const SimOptions& sim;
  const std::vector<WorkUnit>& units;
  const KeyReaders& keys;  // key_readers(units)
  const std::vector<ListSchedulePolicy>& policies;
  Recompute kind;
  Partition part;
  ListScheduleProblem pb;
  int S = 0, U = 0;
  CostReference ref;
  // Per (stage, unit) under the kind applied to every unit: bytes recomputing saves and R's time.
  std::vector<double> saving, r_ms;
  std::vector<char> read;  // per unit: later slices read its keys and values (kept even when it recomputes)
  std::vector<char> sel;   // per (stage, unit): selected
  // Per stage: the fraction of what its F keeps copied to host memory (0 = none). Only where recomputing
  // every unit it can still leaves a device over its limit, and the device has a host link.
  std::vector<double> offload;
  ListScheduler ls;
  int evaluations = 0;

  struct Eval {
    bool ok = false, fits = false;
    double ms = 0, overflow = 0;
    size_t policy = 0;
    std::vector<double> peak;
  };

  std::vector<StageMemoryPolicy> memory() const {
    std::vector<StageMemoryPolicy> out(static_cast<size_t>(S));
    bool any = false;
    for (int s = 0; s < S; ++s) {
      if (s < static_cast<int>(offload.size()) && offload[s] > 0) {
        out[s].offload_fraction = offload[s];
        any = true;
      }
      std::vector<int> list;
      for (int u = 0; u < U; ++u)
        if (sel[static_cast<size_t>(s) * U + u]) list.push_back(u);
      if (list.empty()) continue;
      any = true;
      out[s].recompute = kind;
      if (static_cast<int>(list.size()) < U) out[s].units = std::move(list);  // all = empty selection
    }
    if (!any) out.clear();
    return out;
  }

  void load_problem() {
    pb.memory = memory();
    pb.stages = stage_costs(costs, part, pb.memory);
    unit_stage_costs(pb.stages, units, keys, ref, pb.unit_costs, pb.memory);
  }

  // Every policy, or only `only` (a policy index) once the selection step has found the one that fits.
  Eval evaluate(int only = -1) {
    load_problem();
    Eval best;
    for (size_t i = 0; i < policies.size(); ++i) {
      if (only >= 0 && i != static_cast<size_t>(only)) continue;
      ListScheduleResult r = ls.run(pb, cluster, sim, policies[i], false);
      ++evaluations;
      if (!r.ok) continue;
      const bool better = !best.ok || (r.fits_memory != best.fits)  ? (!best.ok || r.fits_memory)
                          : r.fits_memory                            ? r.iteration_ms < best.ms - 1e-9
                                                                     : r.overflow_bytes < best.overflow - 1e-3;
      if (!better) continue;
      best.ok = true, best.fits = r.fits_memory, best.ms = r.iteration_ms, best.overflow = r.overflow_bytes;
      best.policy = i;
      best.peak = r.peak_bytes;
    }
    return best;
  }

  // Selects on each device over its limit the unselected pairs that save the most bytes until they save
  // `factor` times its overflow. Returns how many were selected.
  int select_more(const Eval& e, double factor) {
    int added = 0;
    for (int d = 0; d < pb.num_devices; ++d) {
      const double over = e.peak[d] - cluster.devices[d].memory_limit();
      if (over <= 0) continue;
      std::vector<size_t> cand;
      for (int s = 0; s < S; ++s)
        if (pb.stage_device[s] == d)
          for (int u = 0; u < U; ++u) {
            const size_t k = static_cast<size_t>(s) * U + u;
            if (!sel[k] && saving[k] > 0) cand.push_back(k);
          }
      // The most bytes first: a device over its limit is usually there because one long unit (with
      // everything re-created by an R) does not fit beside the rest, and only dropping that unit's own
      // activations helps; per ms of recompute short units look cheaper but free too little.
      std::stable_sort(cand.begin(), cand.end(), [&](size_t a, size_t b) { return saving[a] > saving[b]; });
      double saved = 0;
      for (size_t k : cand) {
        if (saved >= factor * over) break;
        sel[k] = 1;
        saved += saving[k];
        ++added;
      }
    }
    return added;
  }

  // Raises the offload of the stages on each device over its limit that has a host link: none, half,
  // everything F keeps. Returns whether any rose.
  bool offload_more(const Eval& e) {
    offload.resize(static_cast<size_t>(S), 0.0);
    bool raised = false;
    for (int s = 0; s < S; ++s) {
      const int d = pb.stage_device[s];
      if (e.peak[d] <= cluster.devices[d].memory_limit() || !cluster.devices[d].host_link.present()) continue;
      if (offload[s] >= 1.0) continue;
      offload[s] = offload[s] > 0 ? 1.0 : 0.5;
      raised = true;
    }
    return raised;
  }

  // ", offloading 100% of stage 0's kept activations" / ", and no host link to offload to" on device d.
  std::string offload_text(int d) const {
    if (!cluster.devices[d].host_link.present()) return ", and no host link to offload to";
    std::string out;
    for (int s = 0; s < S; ++s)
      if (pb.stage_device[s] == d && s < static_cast<int>(offload.size()) && offload[s] > 0)
        out += (out.empty() ? ", offloading " : ", ") + std::to_string(static_cast<int>(100 * offload[s] + 0.5)) +
               "% of stage " + std::to_string(s) + "'s kept activations";
    return out;
  }

  // Why the closest try still does not fit (its worst device).
  std::string why(const Eval& e) const {
    int d = 0;
    for (int i = 1; i < pb.num_devices; ++i)
      if (e.peak[i] - cluster.devices[i].memory_limit() > e.peak[d] - cluster.devices[d].memory_limit()) d = i;
    const double limit = cluster.devices[d].memory_limit();
    double state = 0;
    for (int s = 0; s < S; ++s)
      if (pb.stage_device[s] == d) state += pb.stages[s].state_bytes;
    // The most one unit re-creates there in its backward, and the most the slices of one row keep there
    // at once however they are checkpointed (those that later slices read keep their keys and values until
    // the last slice's backward).
    std::map<int, double> row_fixed;  // row -> least bytes its read slices keep on d
    std::map<int, long long> row_tokens;
    double unit_max = 0;
    int unit_at = 0;
    for (int u = 0; u < U; ++u) {
      double held = 0, least = 0;
      for (int s = 0; s < S; ++s)
        if (pb.stage_device[s] == d) {
          const size_t k = static_cast<size_t>(s) * U + u;
          const UnitStageCost& c = pb.unit_costs[k];
          held += c.act_b_bytes + c.act_w_bytes;
          least += std::max(0.0, c.act_b_bytes + c.act_w_bytes - saving[k]);
        }
      if (units[u].row >= 0) row_tokens[units[u].row] += units[u].tokens();
      if (read[u]) row_fixed[units[u].row] += least;
      if (held > unit_max) unit_max = held, unit_at = u;
    }
    int row = -1;
    double row_bytes = 0;
    for (const auto& [r, b] : row_fixed)
      if (b > row_bytes) row = r, row_bytes = b;
    int selected = 0, selectable = 0;
    for (int s = 0; s < S; ++s)
      if (pb.stage_device[s] == d)
        for (int u = 0; u < U; ++u) {
          selectable += saving[static_cast<size_t>(s) * U + u] > 0 ? 1 : 0;
          selected += sel[static_cast<size_t>(s) * U + u] ? 1 : 0;
        }
    std::string out = "device " + std::to_string(d) + " still peaks at " + gib(e.peak[d]) + " against its " +
                      gib(limit) + " with " + std::to_string(selected) + " of the " + std::to_string(selectable) +
                      " (stage, unit) pairs it can recompute checkpointed (" + recompute_name(kind) +
                      " recompute)" + offload_text(d) + "; its weights and optimizer state take " + gib(state);
    if (row >= 0 && row_bytes > unit_max)
      out += ", and the slices of row " + std::to_string(row) + " (" + std::to_string(row_tokens[row]) +
             " tokens) other than its last keep at least " + gib(row_bytes) +
             " there at once, recomputed or not (later slices read their keys and values)";
    else
      out += ", and unit " + std::to_string(unit_at) + " (" + std::to_string(units[unit_at].tokens()) +
             " tokens) re-creates " + gib(unit_max) + " of activations there in its backward";
    return out;
  }
};

}  // namespace

UnitCheckpointSearch search_unit_checkpointing(const CostTable& costs, const Cluster& cluster, int devices,
                                               const std::vector<WorkUnit>& units, const SimOptions& sim,
                                               opt::WorkerPool& pool, const std::function<bool()>& out_of_time) {
  UnitCheckpointSearch out;
  const int L = costs.num_layers(), U = static_cast<int>(units.size());
  if (U < 1 || devices < 1 || devices > L) return out;
  const std::vector<double> weights = unit_layer_weights(costs, units);
  const SliceLinks links = slice_links(units);
  // The screen's policies, and R just in time: an early R re-creates a unit's activations while another
  // unit's urgent R may do the same, which a tight limit cannot hold.
  std::vector<ListSchedulePolicy> policies = unit_screen_policies();
  for (size_t i = 0, n = policies.size(); i < n; ++i) {
    ListSchedulePolicy p = policies[i];
    p.recompute = ListSchedulePolicy::EarlyRecompute::JustInTime;
    if (std::find(policies.begin(), policies.end(), p) == policies.end()) policies.push_back(p);
  }
  std::vector<std::vector<int>> placements = {looped_stage_devices(devices, devices)};
  if (2 * devices <= L) placements.push_back(wave_stage_devices(2 * devices, devices));
  const KeyReaders keys = key_readers(units);
  const std::vector<char>& read = keys.read_later;

  // What memory must hold per layer whatever is checkpointed: the weights and optimizer state, what the
  // slices of the row that pins the most keep recomputed (later slices read their keys and values), and
  // the longest unit's activations (an R re-creates them). Balancing these instead of time, or half of
  // each, trades speed for room.
  std::vector<double> pinned_w(static_cast<size_t>(L), 0.0);
  {
    const CostReference ref = cost_reference(costs);
    const StageCostCache cache(costs);
    const StageMemoryTable table(costs);
    StageMemoryPolicy full;
    full.recompute = Recompute::Full;
    std::map<int, long long> row_pinned;
    for (int u = 0; u < U; ++u)
      if (read[u]) row_pinned[units[u].row] += units[u].tokens();
    int worst_row = -1;
    long long most = 0;
    for (const auto& [r, t] : row_pinned)
      if (t > most) worst_row = r, most = t;
    for (int l = 0; l < L; ++l) {
      StageCost sc = cache.stage(l, l + 1);
      double pinned = 0, longest = 0;
      for (int u = 0; u < U; ++u) {
        const UnitStageCost c = unit_stage_cost(sc, units[u], ref);
        longest = std::max(longest, c.act_b_bytes + c.act_w_bytes);
      }
      table.apply(sc, l, l + 1, full);
      for (int u = 0; u < U; ++u)
        if (read[u] && units[u].row == worst_row) pinned += unit_stage_cost(sc, units[u], ref, true).kept();
      pinned_w[l] = sc.state_bytes + pinned + longest;
    }
  }
  double wsum = 0, psum = 0;
  for (int l = 0; l < L; ++l) wsum += weights[l], psum += pinned_w[l];
  std::vector<std::vector<double>> partition_weights = {weights};
  if (psum > 0 && wsum > 0) {
    std::vector<double> blend(static_cast<size_t>(L));
    for (int l = 0; l < L; ++l) blend[l] = 0.5 * weights[l] / wsum + 0.5 * pinned_w[l] / psum;
    partition_weights.push_back(std::move(blend));
    partition_weights.push_back(pinned_w);
  }

  // One job per (placement, partition weights, recompute kind); each writes only its own outcome, and the
  // outcomes are then taken in this order (the first of equals wins), so the result does not depend on how
  // many threads ran them.
  struct Spec {
    size_t placement, weights;
    Recompute kind;
  };
  std::vector<Spec> specs;
  for (size_t pl = 0; pl < placements.size(); ++pl)
    for (size_t wi = 0; wi < partition_weights.size(); ++wi)
      for (Recompute kind : {Recompute::Selective, Recompute::Full}) specs.push_back({pl, wi, kind});
  struct Outcome {
    bool ok = false, fits = false;  // ok: it ran (the clock may skip it) and could be scheduled
    double ms = 0, overflow = 0;
    int evaluations = 0;
    std::string why;  // when it does not fit
    // When it fits: what its plan is built from, and what it is.
    ListScheduleProblem pb;
    Partition part;
    ListSchedulePolicy policy;
    std::string what;
  };
  std::vector<Outcome> outcomes(specs.size());
  // Under a clock budget: some layout fits (the stops below wait for one).
  std::atomic<bool> found_any{false};
  pool.run(
      static_cast<int>(specs.size()),
      [&](int job, int) {
        const Spec& spec = specs[static_cast<size_t>(job)];
        Outcome& res = outcomes[static_cast<size_t>(job)];
        if (found_any.load() && out_of_time && out_of_time()) return;
        const std::vector<int>& stage_device = placements[spec.placement];
        const std::vector<double>& layer_w = partition_weights[spec.weights];
        const Recompute kind = spec.kind;
        Layout lay{costs, cluster, sim, units, keys, policies, kind, {}, {}, 0, U, cost_reference(costs), {}, {}, {}, {}, {}, {}, 0};
        lay.S = static_cast<int>(stage_device.size());
        std::vector<double> sp(static_cast<size_t>(lay.S));
        for (int s = 0; s < lay.S; ++s) sp[s] = spec.weights == 0 ? cluster.devices[stage_device[s]].speed : 1.0;
        lay.part = balanced_partition(layer_w, sp);
        lay.pb.microbatches = U;
        lay.pb.num_devices = devices;
        lay.pb.stage_device = stage_device;
        if (links.any) lay.pb.slice_prev = links.prev, lay.pb.slice_next = links.next;
        // What each (stage, unit) saves, and costs, when it recomputes.
        {
          StageMemoryPolicy all;
          all.recompute = kind;
          const std::vector<StageCost> st = stage_costs(costs, lay.part, std::vector<StageMemoryPolicy>(lay.S, all));
          std::vector<UnitStageCost> uc;
          unit_stage_costs(st, units, keys, lay.ref, uc);
          lay.saving.resize(uc.size());
          lay.r_ms.resize(uc.size());
          for (size_t k = 0; k < uc.size(); ++k) {
            lay.saving[k] = std::max(0.0, uc[k].act_b_bytes + uc[k].act_w_bytes - uc[k].kept_bytes);
            const double speed = cluster.devices[stage_device[k / U]].speed;
            lay.r_ms[k] = uc[k].recompute_ms / speed + sim.action_overhead_ms + 1e-9;
          }
        }
        lay.read = read;
        lay.sel.assign(static_cast<size_t>(lay.S) * U, 0);

        // Under a clock budget, once some layout fits, its steps stop when the budget runs out: the plan found
        // stands, and a layout cut short in step 1 counts as not fitting.
        auto late = [&] { return out_of_time && out_of_time(); };
        auto stop = [&] { return found_any.load() && late(); };
        // 1. Select until it fits (a bounded number of rounds, each asking for more).
        Layout::Eval e = lay.evaluate();
        for (int round = 0; e.ok && !e.fits && round < 16 && !stop(); ++round) {
          if (lay.select_more(e, 1.0 + round) == 0) break;
          e = lay.evaluate();
        }
        // Still over with everything it can recompute selected: copy kept activations to host memory on the
        // devices over their limit (a step at a time), selecting more units after each.
        for (int step = 0; e.ok && !e.fits && step < 2 && !stop() && lay.offload_more(e); ++step) {
          e = lay.evaluate();
          for (int round = 0; e.ok && !e.fits && round < 4 && !stop(); ++round) {
            if (lay.select_more(e, 1.0 + round) == 0) break;
            e = lay.evaluate();
          }
        }
        res.evaluations = lay.evaluations;
        if (!e.ok) return;
        res.ok = true;
        if (!e.fits) {
          lay.load_problem();
          res.why = lay.why(e);
          res.overflow = e.overflow;
          return;
        }
        // 2. Drop what memory does not need, under the policy that fit (trying every policy on every step
        // would multiply the search's time by their number for little). First whole stages, the last first:
        // a late stage holds few units in flight, so its checkpointing is the least likely to be needed
        // (stage-aware checkpointing).
        const int fit_policy = static_cast<int>(e.policy);
        // Under a clock budget each dropping step stops once it runs out (what fits already stands).
        for (int s = lay.S - 1; s >= 0 && !late(); --s) {
          std::vector<size_t> on;
          for (int u = 0; u < U; ++u)
            if (lay.sel[static_cast<size_t>(s) * U + u]) on.push_back(static_cast<size_t>(s) * U + u);
          if (on.empty()) continue;
          for (size_t k : on) lay.sel[k] = 0;
          const Layout::Eval t = lay.evaluate(fit_policy);
          if (t.ok && t.fits && t.ms <= e.ms * (1 + 1e-9)) e = t;
          else
            for (size_t k : on) lay.sel[k] = 1;
        }
        // Then single pairs, the least bytes per ms first, in halving chunks.
        std::vector<size_t> chosen;
        for (size_t k = 0; k < lay.sel.size(); ++k)
          if (lay.sel[k]) chosen.push_back(k);
        std::stable_sort(chosen.begin(), chosen.end(), [&](size_t a, size_t b) {
          return lay.saving[a] * lay.r_ms[b] < lay.saving[b] * lay.r_ms[a];
        });
        size_t chunk = chosen.size() / 2;
        for (int tries = 0; chunk > 0 && !chosen.empty() && tries < 12 && !late(); ++tries) {
          chunk = std::min(chunk, chosen.size());
          for (size_t i = 0; i < chunk; ++i) lay.sel[chosen[i]] = 0;
          const Layout::Eval t = lay.evaluate(fit_policy);
          if (t.ok && t.fits && t.ms <= e.ms * (1 + 1e-9)) {
            e = t;
            chosen.erase(chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(chunk));
          } else {
            for (size_t i = 0; i < chunk; ++i) lay.sel[chosen[i]] = 1;
            chunk /= 2;
          }
        }
        // Then offload memory no longer needs, the last stage first (host copies cost link time and can delay
        // the backwards that wait for them).
        for (int s = static_cast<int>(lay.offload.size()) - 1; s >= 0 && !late(); --s)
          for (double lower : {0.5, 0.0}) {
            if (lay.offload[s] <= lower) continue;
            const double was = lay.offload[s];
            lay.offload[s] = lower;
            const Layout::Eval t = lay.evaluate(fit_policy);
            if (t.ok && t.fits && t.ms <= e.ms * (1 + 1e-9)) {
              e = t;
            } else {
              lay.offload[s] = was;
              break;
            }
          }
        // 3. The final selection, with justification passes.
        lay.load_problem();
        ListSchedulePolicy pol = policies[e.policy];
        {
          ListSchedulePolicy tight = pol;
          tight.improve_passes = 2;
          const ListScheduleResult r = lay.ls.run(lay.pb, cluster, sim, tight, false);
          ++lay.evaluations;
          if (r.ok && r.fits_memory && r.iteration_ms < e.ms - 1e-9) pol = tight, e.ms = r.iteration_ms;
        }
        res.evaluations = lay.evaluations;
        res.fits = true;
        res.ms = e.ms;
        found_any.store(true);
        int pairs = 0;
        for (char c : lay.sel) pairs += c;
        res.what = std::to_string(lay.S) + " stages, list-scheduled (" + describe(pol) + "), " + recompute_name(kind) +
                   " recompute of " + std::to_string(pairs) + " (stage, unit) pairs";
        int offloading = 0;
        for (double f : lay.offload) offloading += f > 0 ? 1 : 0;
        if (offloading > 0) res.what += ", activation offload on " + std::to_string(offloading) + " stages";
        res.pb = std::move(lay.pb);
        res.part = std::move(lay.part);
        res.policy = pol;
      },
      {});

  int winner = -1;
  for (size_t k = 0; k < outcomes.size(); ++k) {
    const Outcome& r = outcomes[k];
    if (!r.ok) continue;  // not run (the clock), or nothing could be scheduled
    out.evaluations += r.evaluations;
    if (!r.fits) {
      if (out.why_not.empty() || r.overflow < out.closest_overflow_bytes)
        out.why_not = r.why, out.closest_overflow_bytes = r.overflow;
      continue;
    }
    if (out.found && r.ms >= out.ms - 1e-9) continue;
    out.found = true;
    out.ms = r.ms;
    winner = static_cast<int>(k);
  }
  if (winner >= 0) {
    const Outcome& r = outcomes[static_cast<size_t>(winner)];
    out.plan = list_schedule_plan(r.pb, r.part, cluster, sim, r.policy, "adaptis-opt");
    out.plan.units = units;
    out.what = r.what;
  }
  return out;
}

}  // namespace adaptis
