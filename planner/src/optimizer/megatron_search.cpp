#include "megatron_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/megatron_layout.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/schedules.h"
#include "candidate.h"
#include "worker_pool.h"

namespace adaptis::opt {

namespace {

using Clock = std::chrono::steady_clock;

// Structures whose partitions are hill-climbed after every structure got its seed partitions. A
// fixed number (not the thread count), so the result does not depend on the machine.
constexpr int kClimbed = 12;
constexpr int kPhase1Batch = 16;  // structures per batch of seed evaluations

// One Megatron configuration: v stages per rank, group size g (0 for 1F1B), and the per-device
// order Megatron runs for it (the plan's partition is left empty).
struct Structure {
  int v = 1, g = 0;
  Plan skeleton;
  std::vector<int> bounds;  // best partition found
  Score score;
};

class MegatronSearch {
 public:
  MegatronSearch(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o, const OptimizeCallback& cb,
                 const std::atomic<bool>* cancel)
      : costs_(costs),
        opt_(o),
        cb_(cb),
        cancel_(cancel),
        cache_(costs),
        pool_(o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency())),
        start_(Clock::now()),
        deadline_(start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.time_limit_s))) {
    cluster_ = cluster;
    cluster_.devices.resize(o.devices);
    sim_ = o.sim;
    sim_.record_gaps = false;
    sim_.record_memory_timeline = false;
    weights_ = layer_weights(costs);
    for (int i = 0; i < o.devices; ++i) speed_.push_back(cluster_.devices[i].speed);
    const std::vector<std::string> kinds = layer_kinds(costs);
    for (size_t l = 0; l < kinds.size(); ++l)
      has_mtp_.push_back(megatron_layer_symbols(kinds[l], l ? kinds[l - 1] : "").find('m') != std::string::npos);
  }

  OptimizeResult run();

 private:
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  bool out_of_time() const { return Clock::now() > deadline_; }
  bool budget_left(long long used, long long cap) const { return cap <= 0 || used < cap; }
  void check_layer_kinds() const;
  void enumerate_structures();
  bool mtp_ok(const std::vector<int>& bounds, int v) const;
  Score evaluate(Plan& work, const std::vector<int>& bounds, std::vector<StageCost>& scratch) const;
  std::vector<std::vector<int>> seed_bounds(const Structure& st) const;
  void climb(Structure& st, long long cap, long long& used);
  void report(const char* phase, double fraction);

  const CostTable& costs_;
  const OptimizeOptions& opt_;
  const OptimizeCallback& cb_;
  const std::atomic<bool>* cancel_;
  Cluster cluster_;
  SimOptions sim_;
  StageCostCache cache_;
  WorkerPool pool_;
  Clock::time_point start_, deadline_;
  std::vector<double> weights_, speed_;
  std::vector<bool> has_mtp_;
  std::vector<Structure> structures_;
  mutable std::atomic<long long> evaluated_{0};
  std::atomic<bool> cut_{false};
  std::mutex best_mu_;
  Score best_seen_;
};

void MegatronSearch::check_layer_kinds() const {
  // Megatron's rules on layer kinds (embedding first, loss last, MTP after the decoder) do not
  // depend on the partition: probe once with every MTP layer in the last stage.
  const int p = opt_.devices, L = costs_.num_layers();
  std::vector<int> sizes(p, 1);
  sizes.back() = L - (p - 1);
  Plan probe = generate_schedule(ScheduleKind::OneFOneB, {p, opt_.microbatches, 1, 0});
  probe.partition = Partition::from_sizes(sizes);
  try {
    export_megatron(probe, costs_);
  } catch (const InputError& e) {
    throw InputError("target", std::string("megatron: the model cannot be split for Megatron-LM: ") + e.what());
  }
}

void MegatronSearch::enumerate_structures() {
  const int p = opt_.devices, m = opt_.microbatches, L = costs_.num_layers();
  int vmax = L / p;
  if (opt_.max_stages_per_device > 0) vmax = std::min(vmax, opt_.max_stages_per_device);
  for (int v = 1; v <= vmax; ++v) {
    std::vector<int> groups;
    if (v == 1) {
      groups.push_back(0);
    } else {
      // Megatron's interleaved schedule: p <= g <= m, and a last group of 0 or >= p micro-batches.
      for (int g = p; g <= m; ++g)
        if (m % g == 0 || m % g >= p) groups.push_back(g);
    }
    for (int g : groups) {
      Structure st;
      st.v = v;
      st.g = g;
      st.skeleton = generate_schedule(v == 1 ? ScheduleKind::OneFOneB : ScheduleKind::Interleaved1F1B,
                                      {p, m, v, g});
      structures_.push_back(std::move(st));
    }
  }
}

bool MegatronSearch::mtp_ok(const std::vector<int>& bounds, int v) const {
  const int S = static_cast<int>(bounds.size()) - 1, p = opt_.devices;
  int stages_with_mtp = 0;
  for (int s = 0; s < S; ++s) {
    bool any = false;
    for (int l = bounds[s]; l < bounds[s + 1] && !any; ++l) any = has_mtp_[l];
    if (!any) continue;
    ++stages_with_mtp;
    if (s / p != v - 1) return false;  // MTP only in a rank's last virtual stage
  }
  return stages_with_mtp <= 1;  // and all MTP layers in one stage
}

Score MegatronSearch::evaluate(Plan& work, const std::vector<int>& bounds, std::vector<StageCost>& scratch) const {
  evaluated_.fetch_add(1, std::memory_order_relaxed);
  work.partition.bounds = bounds;
  cache_.stages(bounds, scratch);
  SimResult r = simulate_stages(work, scratch, cluster_, sim_);
  Score s;
  if (!r.ok) return s;
  s.valid = true;
  s.fits = !r.oom;
  s.ms = r.iteration_ms;
  double over = -std::numeric_limits<double>::infinity(), end = 0;
  for (const auto& d : r.devices) over = std::max(over, d.peak_memory_bytes - d.memory_limit_bytes);
  for (const auto& tl : r.timeline) end += tl.empty() ? 0.0 : tl.back().end;
  s.overflow = s.fits ? 0.0 : over;
  s.slack = r.timeline.empty() ? 0.0 : end / static_cast<double>(r.timeline.size());
  return s;
}

std::vector<std::vector<int>> MegatronSearch::seed_bounds(const Structure& st) const {
  const int S = st.skeleton.num_devices() * st.v, L = costs_.num_layers();
  const std::vector<int> stage_device = st.skeleton.placement.stage_device();
  std::vector<double> stage_speed(S);
  for (int s = 0; s < S; ++s) stage_speed[s] = speed_[stage_device[s]];
  std::vector<std::vector<int>> out;
  auto add = [&](const std::vector<int>& b) {
    if (std::find(out.begin(), out.end(), b) == out.end() && mtp_ok(b, st.v)) out.push_back(b);
  };
  Partition balanced = balanced_partition(weights_, stage_speed);
  add(balanced.bounds);
  Partition device_balanced = balanced;
  balance_device_loads(weights_, stage_device, speed_, device_balanced);
  add(device_balanced.bounds);
  add(even_partition(L, S).bounds);
  if (out.empty()) {  // every seed splits the MTP layers: put them all in the last stage
    std::vector<int> sizes(S, 1);
    sizes.back() = L - (S - 1);
    add(Partition::from_sizes(sizes).bounds);
  }
  return out;
}

// First-improvement hill-climbing over single layer-boundary shifts of 1 or 2 layers, scanning
// from just after the last improving boundary, until no shift improves (a local optimum), the
// evaluation cap is reached, or time runs out.
void MegatronSearch::climb(Structure& st, long long cap, long long& used) {
  Plan work = st.skeleton;
  std::vector<StageCost> scratch;
  const int S = static_cast<int>(st.bounds.size()) - 1;
  int start = 1;
  bool improved = true;
  while (improved) {
    improved = false;
    for (int k = 0; k < 2 * (S - 1) && !improved; ++k) {
      const int i = 1 + (start - 1 + k % (S - 1)) % (S - 1);
      const int step = k < S - 1 ? 1 : 2;
      for (int dir : {-1, 1}) {
        if (!budget_left(used, cap)) return;
        if (cancelled() || out_of_time()) {
          cut_.store(true);
          return;
        }
        std::vector<int> nb = st.bounds;
        nb[i] += dir * step;
        if (nb[i] <= nb[i - 1] || nb[i] >= nb[i + 1] || !mtp_ok(nb, st.v)) continue;
        Score sc = evaluate(work, nb, scratch);
        ++used;
        if (better(sc, st.score)) {
          st.bounds = std::move(nb);
          st.score = sc;
          start = i + 1 > S - 1 ? 1 : i + 1;
          improved = true;
          break;
        }
      }
    }
  }
}

void MegatronSearch::report(const char* phase, double fraction) {
  if (!cb_) return;
  OptimizeProgress p;
  p.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  p.fraction = std::clamp(fraction, 0.0, 1.0);
  p.evaluated = evaluated_.load();
  p.phase = phase;
  {
    std::lock_guard<std::mutex> lk(best_mu_);
    p.best_ms = best_seen_.valid && best_seen_.fits ? best_seen_.ms : 0.0;
  }
  cb_(p, nullptr);
}

OptimizeResult MegatronSearch::run() {
  check_layer_kinds();
  enumerate_structures();
  if (structures_.empty()) throw InputError("target", "megatron: no Megatron configuration fits this input");
  report("megatron: structures", 0.0);

  // Phase 1: every structure with its seed partitions.
  std::optional<StopReason> stopped_by;  // empty while the search runs
  const int n = static_cast<int>(structures_.size());
  int seeded = 0;
  for (int first = 0; first < n; first += kPhase1Batch) {
    if (cancelled()) stopped_by = StopReason::Cancelled;
    else if (opt_.max_evaluations > 0 && evaluated_.load() >= opt_.max_evaluations) stopped_by = StopReason::Evaluations;
    else if (out_of_time() && seeded > 0) stopped_by = StopReason::Time;
    if (stopped_by) break;
    const int count = std::min(kPhase1Batch, n - first);
    pool_.run(
        count,
        [&](int j, int) {
          Structure& st = structures_[first + j];
          Plan work = st.skeleton;
          std::vector<StageCost> scratch;
          for (const auto& b : seed_bounds(st)) {
            Score sc = evaluate(work, b, scratch);
            if (st.bounds.empty() || better(sc, st.score)) st.bounds = b, st.score = sc;
          }
          std::lock_guard<std::mutex> lk(best_mu_);
          if (better(st.score, best_seen_)) best_seen_ = st.score;
        },
        [&] { report("megatron: structures", 0.3 * (first + 0.5 * count) / n); });
    seeded = first + count;
  }
  structures_.resize(seeded);
  const long long phase1 = evaluated_.load();

  // Phase 2: hill-climb the partitions of the most promising structures.
  std::vector<int> order(structures_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return better(structures_[a].score, structures_[b].score); });
  const int K = std::min<int>(kClimbed, static_cast<int>(order.size()));
  long long cap = 0;
  if (opt_.max_evaluations > 0) cap = std::max(0LL, (opt_.max_evaluations - phase1) / std::max(1, K));
  if (!stopped_by && K > 0 && !(opt_.max_evaluations > 0 && cap == 0)) {
    std::vector<long long> used(K, 0);
    pool_.run(
        K,
        [&](int j, int) {
          Structure& st = structures_[order[j]];
          if (!st.score.valid) return;
          climb(st, cap, used[j]);
          std::lock_guard<std::mutex> lk(best_mu_);
          if (better(st.score, best_seen_)) best_seen_ = st.score;
        },
        [&] { report("megatron: partition", 0.3 + 0.65 * std::min(1.0, std::chrono::duration<double>(Clock::now() - start_).count() / opt_.time_limit_s)); });
    if (cancelled()) stopped_by = StopReason::Cancelled;
    else if (cut_) stopped_by = StopReason::Time;
    else if (cap > 0 && std::any_of(used.begin(), used.end(), [&](long long u) { return u >= cap; }))
      stopped_by = StopReason::Evaluations;
  } else if (!stopped_by && opt_.max_evaluations > 0) {
    stopped_by = StopReason::Evaluations;
  }
  const long long search_evaluations = evaluated_.load();

  // The best structure, ties to the earlier one (enumeration order: fewer chunks, smaller groups).
  int best = -1;
  for (int i = 0; i < static_cast<int>(structures_.size()); ++i)
    if (structures_[i].score.valid && (best < 0 || better(structures_[i].score, structures_[best].score))) best = i;
  if (best < 0) throw InputError("target", "megatron: no Megatron configuration could be simulated");
  const Structure& b = structures_[best];

  OptimizeResult r;
  r.best = b.skeleton;
  r.best.partition.bounds = b.bounds;
  r.best.name = "adaptis-opt";
  Cluster full = cluster_;
  r.sim = simulate(r.best, costs_, full, opt_.sim);
  r.feasible = r.sim.ok && !r.sim.oom;
  r.overflow_bytes = r.feasible ? 0.0 : std::max(0.0, b.score.overflow);
  r.cancelled = stopped_by == StopReason::Cancelled;
  r.stopped_by = stopped_by.value_or(StopReason::Complete);
  r.search_evaluations = search_evaluations;
  r.reproducible = !r.cancelled && !cut_;
  r.lower_bound = iteration_lower_bound(costs_, full, opt_.devices, opt_.microbatches, opt_.sim);

  MegatronExport e = export_megatron(r.best, costs_);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "best Megatron-LM plan: %.3f ms per iteration, %d virtual stage(s) per rank%s, layout %s; searched %zu "
                "configurations (stages per rank x micro-batch group size)",
                r.sim.iteration_ms, b.v,
                b.g > 0 ? (", micro-batch group size " + std::to_string(b.g)).c_str() : " (1F1B)", e.layout.c_str(),
                structures_.size());
  r.message = buf;
  if (!r.feasible) r.message += "; no Megatron configuration fits memory (closest shown)";
  // Recompute and offload are not part of this search (Megatron sets one recompute policy for every
  // stage and cannot offload with pipeline parallelism): say so rather than ignore the request.
  const bool memory_asked =
      std::any_of(opt_.recompute_choices.begin(), opt_.recompute_choices.end(), [](Recompute c) { return c != Recompute::None; }) ||
      std::any_of(opt_.offload_choices.begin(), opt_.offload_choices.end(), [](double f) { return f > 0; });
  if (memory_asked)
    r.message += "; recompute and offload are not searched for the Megatron target (the plan has no memory policy; "
                 "give a uniform one with `export --recompute` to get Megatron's --recompute-* flags)";
  if (r.lower_bound.ms > 0) {
    std::snprintf(buf, sizeof buf, "; %.1f%% above the lower bound of any plan (%.3f ms)",
                  100.0 * (r.sim.iteration_ms / r.lower_bound.ms - 1), r.lower_bound.ms);
    r.message += buf;
  }
  if (r.stopped_by == StopReason::Time || r.stopped_by == StopReason::Evaluations) {
    r.message += " [";
    r.message += stop_reason_name(r.stopped_by);
    r.message += " budget reached after " + std::to_string(search_evaluations) + " evaluations; best so far";
    r.message += r.reproducible ? "]" : "; cut inside a batch, not reproducible]";
  }
  r.final_progress.elapsed_s = std::chrono::duration<double>(Clock::now() - start_).count();
  r.final_progress.fraction = 1.0;
  r.final_progress.best_ms = r.feasible ? r.sim.iteration_ms : 0.0;
  r.final_progress.evaluated = evaluated_.load();
  r.final_progress.phase = r.cancelled ? "cancelled" : "done";
  if (cb_) cb_(r.final_progress, &r.best);
  return r;
}

}  // namespace

OptimizeResult megatron_optimize(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o,
                                 const OptimizeCallback& on_progress, const std::atomic<bool>* cancel) {
  MegatronSearch s(costs, cluster, o, on_progress, cancel);
  return s.run();
}

}  // namespace adaptis::opt
