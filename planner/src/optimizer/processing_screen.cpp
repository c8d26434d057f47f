// The screen of sequence processings (processing_screen.h).
#include "processing_screen.h"

#include <memory>

#include "adaptis/model/error.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/unit_schedules.h"
#include "adaptis/planner/unit_slicing.h"
#include "adaptis/planner/units.h"
#include "unit_checkpointing.h"

namespace adaptis {

namespace {

bool screen_better(bool fits, double ms, const ScreenResult& cur) {
  if (!cur.ok) return true;
  if (fits != cur.fits) return fits;
  return ms < cur.ms - 1e-9;
}

// One list schedule (or the Seq1F1B replay) of the screen.
struct Outcome {
  bool ran = false, ok = false, fits = false;
  double ms = 0;
  std::string error;  // an InputError that stops the processing's screen
  Plan plan;          // the Seq1F1B replay's plan
};

// One processing's screen in progress: its placements' partitions and problems (each list schedule's plan is
// rebuilt only for the winner), and every job's outcome.
struct ScreenWork {
  struct Layout {
    Partition part;
    ListScheduleProblem pb;
  };
  bool set_up = false;
  std::string error;
  std::vector<double> weights, speed;
  std::vector<Layout> layouts;
  bool sliced = false;              // rows are sliced: Seq1F1B's order is screened too
  std::vector<Outcome> schedules;   // layout-major, then policy
  Outcome seq1f1b;
};

// A job of the screen: list-schedule `layout` of processing `work` by `policy`, or (policy < 0) replay
// Seq1F1B's order.
struct Job {
  size_t work;
  int layout, policy;
};

bool cancelled(const std::atomic<bool>* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }

// Why a processing does not apply, for its trial. The trial names its processing: check_slices_runnable's
// "processing" field adds nothing to it.
std::string trial_error(const InputError& e) {
  return e.field() == "processing" ? e.problem() : std::string(e.what());
}

}  // namespace

std::vector<ScreenedProcessing> prepare_processings(opt::WorkerPool& pool, const CostTable& costs,
                                                    const Cluster& cluster, int devices, const SequenceLengths& data,
                                                    const std::vector<SequenceProcessing>& processings,
                                                    const SimOptions& sim) {
  const UnitCostModel cost = unit_cost_model(costs);
  std::vector<ScreenedProcessing> out(processings.size());
  pool.run(
      static_cast<int>(processings.size()),
      [&](int i, int) {
        ScreenedProcessing& p = out[static_cast<size_t>(i)];
        p.processing = processings[static_cast<size_t>(i)];
        try {
          p.units = process_sequences(data, cost, p.processing);
          check_slices_runnable(p.units, costs);
          for (const auto& u : p.units) p.slices += u.is_slice();
          p.lower_bound_ms = iteration_lower_bound(costs, cluster, devices, p.units, sim).ms;
        } catch (const InputError& e) {
          p.error = trial_error(e);
        }
      },
      {});
  return out;
}

void screen_processings(opt::WorkerPool& pool, const CostTable& costs, const Cluster& cluster, int devices,
                        const SimOptions& sim, std::vector<ScreenedProcessing>& all, size_t first, size_t last,
                        const std::atomic<bool>* cancel) {
  const int D = devices, L = costs.num_layers();
  const CostReference ref = cost_reference(costs);
  const std::vector<ListSchedulePolicy> policies = unit_screen_policies();
  const int P = static_cast<int>(policies.size());
  std::vector<std::vector<int>> placements = {looped_stage_devices(D, D)};
  if (2 * D <= L) placements.push_back(wave_stage_devices(2 * D, D));
  const int LP = static_cast<int>(placements.size());

  std::vector<size_t> batch;  // indices into `all` of the processings that apply
  for (size_t i = first; i < last && i < all.size(); ++i)
    if (all[i].error.empty()) batch.push_back(i);
  std::vector<ScreenWork> work(batch.size());

  // 1. Per processing: balanced partitions for each placement and their problems.
  pool.run(
      static_cast<int>(batch.size()),
      [&](int k, int) {
        if (cancelled(cancel)) return;
        ScreenWork& w = work[static_cast<size_t>(k)];
        const std::vector<WorkUnit>& units = all[batch[static_cast<size_t>(k)]].units;
        try {
          const SliceLinks links = slice_links(units);
          const KeyReaders keys = key_readers(units);
          w.weights = unit_layer_weights(costs, units);
          w.speed.resize(static_cast<size_t>(D));
          for (int d = 0; d < D; ++d) w.speed[d] = cluster.devices[d].speed;
          StageCostCache cache(costs);
          for (const auto& stage_device : placements) {
            const int S = static_cast<int>(stage_device.size());
            std::vector<double> sp(static_cast<size_t>(S));
            for (int s = 0; s < S; ++s) sp[s] = w.speed[stage_device[s]];
            ScreenWork::Layout& lay = w.layouts.emplace_back();
            lay.part = balanced_partition(w.weights, sp);
            ListScheduleProblem& pb = lay.pb;
            pb.microbatches = static_cast<int>(units.size());
            pb.num_devices = D;
            pb.stage_device = stage_device;
            cache.stages(lay.part.bounds, pb.stages);
            unit_stage_costs(pb.stages, units, keys, ref, pb.unit_costs);
            if (links.any) pb.slice_prev = links.prev, pb.slice_next = links.next;
          }
          w.sliced = links.any;
          w.schedules.resize(static_cast<size_t>(LP * P));
          w.set_up = true;
        } catch (const InputError& e) {
          w.error = trial_error(e);
        }
      },
      {});

  // 2. Every list schedule and Seq1F1B replay, each writing only its own outcome.
  std::vector<Job> jobs;
  for (size_t k = 0; k < batch.size(); ++k) {
    if (!work[k].set_up) continue;
    for (int l = 0; l < LP; ++l)
      for (int p = 0; p < P; ++p) jobs.push_back({k, l, p});
    if (work[k].sliced) jobs.push_back({k, -1, -1});
  }
  std::vector<std::unique_ptr<ListScheduler>> schedulers;  // one per worker: its scratch state
  for (int t = 0; t < pool.size(); ++t) schedulers.push_back(std::make_unique<ListScheduler>());
  pool.run(
      static_cast<int>(jobs.size()),
      [&](int j, int worker) {
        if (cancelled(cancel)) return;
        const Job& job = jobs[static_cast<size_t>(j)];
        ScreenWork& w = work[job.work];
        const std::vector<WorkUnit>& units = all[batch[job.work]].units;
        if (job.policy >= 0) {
          Outcome& o = w.schedules[static_cast<size_t>(job.layout * P + job.policy)];
          try {
            const ListScheduleResult r = schedulers[static_cast<size_t>(worker)]->run(
                w.layouts[static_cast<size_t>(job.layout)].pb, cluster, sim, policies[static_cast<size_t>(job.policy)],
                false);
            o.ok = r.ok, o.fits = r.fits_memory, o.ms = r.iteration_ms;
          } catch (const InputError& e) {
            o.error = trial_error(e);
          }
          o.ran = true;
          return;
        }
        // Seq1F1B's own order on the sequential placement.
        Outcome& o = w.seq1f1b;
        try {
          Plan p = seq1f1b_schedule(D, units);
          p.partition = balanced_partition(w.weights, w.speed);
          SimOptions so = sim;
          so.record_gaps = false;
          so.record_memory_timeline = false;
          const SimResult r = simulate(p, costs, cluster, so);
          o.ok = r.ok, o.fits = !r.oom, o.ms = r.iteration_ms;
          o.plan = std::move(p);
        } catch (const InputError&) {
          // Seq1F1B needs as many layers as devices; the list schedules stand.
        }
        o.ran = true;
      },
      {});

  // 3. Per processing, in a fixed order: the best of its outcomes, and the winning list schedule's plan.
  pool.run(
      static_cast<int>(batch.size()),
      [&](int k, int) {
        ScreenWork& w = work[static_cast<size_t>(k)];
        ScreenedProcessing& sp = all[batch[static_cast<size_t>(k)]];
        if (!w.error.empty()) {
          sp.error = w.error;
          return;
        }
        if (!w.set_up) return;  // cancelled
        for (const Outcome& o : w.schedules)
          if (!o.ran) return;
        if (w.sliced && !w.seq1f1b.ran) return;
        ScreenResult best;
        int best_layout = -1, best_policy = 0;
        for (size_t i = 0; i < w.schedules.size(); ++i) {
          const Outcome& o = w.schedules[i];
          ++sp.evaluations;
          // The first error stops the processing's screen, as it would in a sequential pass.
          if (!o.error.empty()) {
            sp.error = o.error;
            return;
          }
          if (!o.ok || !screen_better(o.fits, o.ms, best)) continue;
          best.ok = true, best.ms = o.ms, best.fits = o.fits;
          best_layout = static_cast<int>(i) / P, best_policy = static_cast<int>(i) % P;
        }
        const ListSchedulePolicy& policy = policies[static_cast<size_t>(best_policy)];
        if (best_layout >= 0) {
          const ScreenWork::Layout& lay = w.layouts[static_cast<size_t>(best_layout)];
          best.what = std::to_string(lay.pb.stage_device.size()) + " stages, list-scheduled (" + describe(policy) + ")";
        }
        bool seq1f1b_wins = false;
        if (w.sliced) {
          ++sp.evaluations;
          const Outcome& o = w.seq1f1b;
          if (o.ok && screen_better(o.fits, o.ms, best)) {
            best.ok = true, best.ms = o.ms, best.fits = o.fits;
            best.what = "seq1f1b on a cost-balanced partition";
            best.plan = std::move(w.seq1f1b.plan);
            seq1f1b_wins = true;
          }
        }
        if (!seq1f1b_wins && best_layout >= 0) {
          const ScreenWork::Layout& lay = w.layouts[static_cast<size_t>(best_layout)];
          best.plan = list_schedule_plan(lay.pb, lay.part, cluster, sim, policy, "adaptis-opt");
          best.plan.units = sp.units;
        }
        sp.screen = std::move(best);
        sp.screened = true;
        if (!sp.screen.ok) sp.error = "no schedule could run these units";
      },
      {});
}

}  // namespace adaptis
