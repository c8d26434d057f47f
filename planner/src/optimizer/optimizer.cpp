// The auto-optimizer's coordinator: validates the options, runs the search phases on a worker pool
// and picks the final plan by replaying candidates in the simulator.
//
// Why this search and not the AdaPtis tuner (arXiv 2509.23722, its tuner section): the authors' phase
// tuner changes one phase at a time (partition, placement or schedule, chosen by a bubble rule) and
// only accepts strict improvements, which stalls when the chosen phase has no improving move; their
// later tuner ranks (partition, placement) pairs by a variance proxy and fully simulates only a
// handful. Here every move is judged by a full dynamic schedule of the moved plan (the list
// scheduler does tens of thousands per second), moves of all three phases are mixed in one
// neighbourhood (placement moves come with their partition re-balanced), equal-makespan moves are
// accepted on a secondary slack score so plateaus do not stop the search, chains that stall restart
// from the global best, and later rounds restart from kicked copies of the best plan and from
// seeds not tried yet (iterated local search).
//
// Phases and their share of the progress bar: baselines (every built-in schedule, 5%), seeds
// (every stage count x looped / wave / bin-packed placement x balanced partitions, 15%), local
// search (75%), verify (the finalists replayed by simulate(), with justification passes, 5%).
#include "adaptis/planner/optimizer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/model/problem_limits.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/torch_rules.h"
#include "candidate.h"
#include "megatron_search.h"
#include "worker_pool.h"

namespace adaptis {

namespace {

using namespace opt;
using Clock = std::chrono::steady_clock;

// Fixed search shape: these do not depend on the thread count, so the same seed gives the same
// plan on any machine (the budgets are checked between batches only, see optimizer.h).
constexpr int kChains = 8;          // independent local-search chains
// Rounds of local search (iterated: later rounds restart). At least kMinRounds; after that the
// search goes on while rounds still improve the best plan (a longer budget then buys a better
// plan) and ends by itself after kStaleRounds rounds in a row without a better one.
constexpr int kMinRounds = 4;
constexpr int kMaxRounds = 64;
constexpr int kStaleRounds = 2;
constexpr int kMaxEpochs = 32;      // epochs per round at most
constexpr int kPatience = 8;        // a round ends after this many epochs without a better plan
constexpr int kRestartAfter = 4;    // a chain stuck this many epochs restarts from the global best
constexpr int kVerifyPerChain = 1;  // each chain's best plan is replayed in the simulator
constexpr int kFullSeedStructures = 24;  // seed structures scheduled by every seed policy
constexpr int kSeedBatch = 16;      // seed jobs per batch (the budgets are checked between batches)
// Without --max-stages-per-device, a model of more layers than this is searched with at most this many
// stages in all (or 4 per device when that is more), so a 100,000-layer input does not make seeds with
// 100,000 stages; a model up to this many layers may have as many stages as layers, as before.
constexpr int kMaxSearchStages = 256;

int default_max_stages_per_device(const CostTable& costs, const OptimizeOptions& o) {
  const int L = costs.num_layers();
  return L <= kMaxSearchStages ? L : std::max(4, kMaxSearchStages / o.devices);
}

// A finished plan, replayed by simulate().
struct Entry {
  std::string origin;
  Plan plan;
  SimResult sim;
  bool ok = false;
  bool fits = false;
  double overflow = 0;  // max over devices of peak - limit
  double peak = 0;      // max over devices of peak memory
};

Entry entry_of(std::string origin, Plan plan, SimResult sim) {
  Entry e;
  e.origin = std::move(origin);
  e.plan = std::move(plan);
  e.sim = std::move(sim);
  e.ok = e.sim.ok;
  e.fits = e.sim.ok && !e.sim.oom;
  e.overflow = -std::numeric_limits<double>::infinity();
  for (const auto& d : e.sim.devices) {
    e.overflow = std::max(e.overflow, d.peak_memory_bytes - d.memory_limit_bytes);
    e.peak = std::max(e.peak, d.peak_memory_bytes);
  }
  return e;
}

// Judged with its data-parallel sync and optimizer step when the search plans one replica of a cluster.
Entry make_entry(std::string origin, Plan plan, const CostTable& costs, const Cluster& cluster, const SimOptions& sim,
                 const std::optional<ParallelConfig>& parallel) {
  plan.parallel = parallel;
  SimResult r = simulate(plan, costs, cluster, sim);
  return entry_of(std::move(origin), std::move(plan), std::move(r));
}

// The search's order (opt::better) on replayed plans: fits first, then faster, then less memory (peaks
// within a byte-scale tolerance tie); plans that do not fit by smaller overflow.
bool entry_better(const Entry& a, const Entry& b) {
  auto score = [](const Entry& e) { return Score{e.ok, e.fits, e.overflow, e.sim.iteration_ms, e.peak}; };
  return better(score(a), score(b), 1e-6);
}

void check_options(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o) {
  const int L = costs.num_layers();
  if (L < 1) throw InputError("optimize: the cost table" + (costs.model.empty() ? "" : " '" + costs.model + "'") +
                              " has no layers");
  if (!(o.time_limit_s > 0) || !std::isfinite(o.time_limit_s))
    throw InputError("time_limit_s", "the time budget must be a positive number of seconds, got " +
                     std::to_string(o.time_limit_s));
  if (o.devices < 1) throw InputError("devices", "must be at least 1, got " + std::to_string(o.devices));
  if (o.devices > cluster.num_devices())
    throw InputError("devices", "asks for " + std::to_string(o.devices) + " devices but the cluster '" + cluster.name +
                     "' has " + std::to_string(cluster.num_devices()));
  if (o.devices > L)
    throw InputError("devices", std::to_string(o.devices) + " devices but the model has only " +
                     std::to_string(L) + " layers; every device needs at least one layer");
  const int m = o.units.empty() ? o.microbatches : static_cast<int>(std::min<size_t>(o.units.size(), kMaxMicrobatches));
  if (o.units.empty() && o.microbatches < 1)
    throw InputError("microbatches", "must be at least 1, got " + std::to_string(o.microbatches));
  check_problem_size({L, o.devices, m, o.devices});
  opt::check_worker_threads(o.threads);
  if (o.max_evaluations < 0)
    throw InputError("max_evaluations", "must be >= 0 (0 = no limit), got " + std::to_string(o.max_evaluations));
  if (o.max_stages_per_device < 0)
    throw InputError("max_stages_per_device", "must be >= 0 (0 = no limit), got " + std::to_string(o.max_stages_per_device));
  for (int d = 0; d < o.devices; ++d)
    if (!(cluster.devices[d].speed > 0))
      throw InputError("cluster '" + cluster.name + "': device " + std::to_string(d) + " has speed " +
                       std::to_string(cluster.devices[d].speed) + "; speeds must be > 0");
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    if (!(c.f_ms >= 0 && c.b_ms >= 0 && c.w_ms >= 0) || !std::isfinite(c.f_ms + c.b_ms + c.w_ms))
      throw InputError("costs: layer " + std::to_string(l) + " has a negative or non-finite time");
    for (double bytes : {c.act_b_bytes, c.act_w_bytes, c.w_grad_bytes, c.state_bytes, c.out_bytes})
      if (!(bytes >= 0) || !std::isfinite(bytes))
        throw InputError("costs: layer " + std::to_string(l) + " has negative or non-finite bytes");
  }
  if (!o.units.empty()) {
    std::vector<std::string> problems = unit_problems(o.units);
    if (!problems.empty()) throw InputError("units", problems.front());
    cost_reference(costs);  // throws when the table cannot scale to units
    if (o.target != PlanTarget::Adaptis)
      throw InputError("target", "variable-length units are planned for the adaptis runtime only (other targets "
                                 "relabel or regroup micro-batches)");
    if (o.recompute_choices != std::vector<Recompute>{Recompute::None} || o.offload_choices != std::vector<double>{0.0})
      throw InputError("recompute_choices", "uniform memory policies (recompute, offload) are not searched over "
                                            "variable-length units: the variable-length optimizer (optimize_lengths) "
                                            "chooses recompute per unit, and offload where that is not enough, when "
                                            "memory binds");
  }
  bool offloads = false;
  for (double f : o.offload_choices) {
    if (!std::isfinite(f) || f < 0 || f > 1)
      throw InputError("offload_choices", "the fraction of kept activations copied to host must be in [0, 1], got " +
                                              std::to_string(f));
    offloads = offloads || f > 0;
  }
  if (offloads)
    for (int d = 0; d < o.devices; ++d)
      if (!cluster.devices[d].host_link.present())
        throw InputError("offload_choices", "device " + std::to_string(d) + " ('" + cluster.devices[d].name + "') of cluster '" +
                                                cluster.name + "' has no host link to offload to (cluster file field 'host_link')");
}

// "; memory stages 0-3 full, ..." for origins of plans with per-stage policies.
std::string memory_origin(const std::vector<StageMemoryPolicy>& memory) {
  const std::string m = describe_memory(memory);
  return m.empty() ? m : "; memory: " + m;
}

// ", full" etc. for origins of built-ins with a uniform policy.
std::string policy_suffix(const StageMemoryPolicy& p) {
  return p == StageMemoryPolicy{} ? std::string() : ", " + describe(p);
}

std::string gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

// The stage counts the seeds cover. All of [D, 4D] and every multiple of D (the regular
// interleavings) with its neighbours (irregular counts such as 7/6/6/5), capped so seeding stays a
// small share of the budget on deep models.
std::vector<int> seed_stage_counts(int D, int L, int max_k) {
  const int hi = std::min(L, D * max_k);
  std::vector<int> out;
  for (int S = D; S <= hi; ++S) {
    bool near_multiple = S % D == 0 || S % D == 1 || S % D == D - 1;
    if (S <= 4 * D || near_multiple) out.push_back(S);
  }
  if (static_cast<int>(out.size()) > 96) {  // deep models on few devices: thin out evenly
    std::vector<int> thin;
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i] <= 4 * D || i % ((out.size() + 63) / 64) == 0 || out[i] == hi) thin.push_back(out[i]);
    out.swap(thin);
  }
  return out;
}

// The partitions a seed placement is tried with: stage-balanced (every stage about the same time),
// device-balanced (boundaries shifted until devices carry the same load), and tapered (the first
// stages one layer each and the last stage alone, the rest balanced): short first stages shorten the
// warm-up and cool-down ramps, and the LM head's layer is usually the heaviest on its own.
std::vector<Partition> seed_partitions(const std::vector<double>& weights, const std::vector<int>& stage_device,
                                       const std::vector<double>& device_speed, const std::function<bool()>& stop) {
  const int S = static_cast<int>(stage_device.size());
  const int L = static_cast<int>(weights.size());
  const int D = static_cast<int>(device_speed.size());
  std::vector<double> speed(S);
  for (int s = 0; s < S; ++s) speed[s] = device_speed[stage_device[s]];
  std::vector<Partition> out;
  auto add = [&](Partition p) {
    for (const auto& q : out)
      if (q.bounds == p.bounds) return;
    out.push_back(std::move(p));
  };
  Partition stage_balanced = balanced_partition(weights, speed);
  add(stage_balanced);
  Partition device_balanced = stage_balanced;
  balance_device_loads(weights, stage_device, device_speed, device_balanced, stop);
  add(device_balanced);
  const int taper = D - 1;
  if (S >= taper + 3 && L - taper - 1 >= S - taper - 1) {
    std::vector<double> mid(weights.begin() + taper, weights.end() - 1);
    std::vector<double> mid_speed(speed.begin() + taper, speed.end() - 1);
    Partition inner = balanced_partition(mid, mid_speed);
    Partition p;
    for (int i = 0; i <= taper; ++i) p.bounds.push_back(i);
    for (size_t i = 1; i < inner.bounds.size(); ++i) p.bounds.push_back(inner.bounds[i] + taper);
    p.bounds.push_back(L);
    balance_device_loads(weights, stage_device, device_speed, p, stop);
    add(p);
  }
  return out;
}

struct Chain {
  Candidate cur, best;
  Score cur_score, best_score;
  std::mt19937_64 rng;
  int stale = 0;  // epochs without improving its own best
};

class Optimizer {
 public:
  Optimizer(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& o, const OptimizeCallback& cb,
            const std::atomic<bool>* cancel)
      : costs_(costs),
        opt_(o),
        cb_(cb),
        cancel_(cancel),
        ctx_(costs, cluster, o.sim, o.devices, o.units.empty() ? o.microbatches : static_cast<int>(o.units.size()),
             o.max_stages_per_device > 0 ? o.max_stages_per_device : default_max_stages_per_device(costs, o)),
        pool_(opt::worker_threads(o.threads)),
        start_(o.budget_start.value_or(Clock::now())),
        // The search stops a little before the budget so that replaying the finalists in the
        // simulator still ends inside it.
        deadline_(start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                               o.time_limit_s - std::min(0.08 * o.time_limit_s, 0.15)))),
        budget_end_(start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.time_limit_s))) {
    ctx_.set_memory_choices(o.recompute_choices, o.offload_choices, o.partial_full);
    ctx_.placement_fixed = o.target == PlanTarget::Torchtitan;
    if (!o.units.empty()) {
      ctx_.units = o.units;
      ctx_.ref = cost_reference(costs);
      ctx_.links = slice_links(o.units);
      ctx_.keys = key_readers(o.units);
    }
    for (int w = 0; w < pool_.size(); ++w) evals_.emplace_back(ctx_);
    bound_ = o.units.empty() ? iteration_lower_bound(costs, ctx_.cluster, o.devices, o.microbatches, o.sim)
                             : iteration_lower_bound(costs, ctx_.cluster, o.devices, o.units, o.sim);
  }

  OptimizeResult run();

 private:
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }
  // Checked between batches only, so that a batch's result never depends on timing: false means
  // the search stops here (and records why). A wall-clock stop is taken before a batch that would
  // probably not finish in time (its expected evaluations at the last batch's time per evaluation;
  // the last batch's duration when not given), so batches are rarely cut inside.
  bool can_start_batch(double expected_evaluations = 0) {
    if (stopped_by_) return false;
    if (cancelled()) stopped_by_ = StopReason::Cancelled;
    else if (reached_bound()) stopped_by_ = StopReason::Optimal;
    else if (opt_.max_evaluations > 0 && evaluated_.load() >= opt_.max_evaluations)
      stopped_by_ = StopReason::Evaluations;
    else if (Clock::now() + expected_duration(expected_evaluations) > deadline_) stopped_by_ = StopReason::Time;
    return !stopped_by_;
  }
  // Checked inside a batch's jobs, as a last resort: a cancellation, or a batch that overran the
  // deadline. Either cuts the batch short, and the result is then not reproducible.
  bool must_abandon_batch() {
    if (!cancelled() && Clock::now() < deadline_) return false;
    cut_.store(true, std::memory_order_relaxed);
    return true;
  }
  // The best plan equals the lower bound: no plan can be faster, the search is done. (best_ only
  // changes between batches, so this stop is deterministic too.)
  bool reached_bound() const { return have_best_ && best_.fits && at_bound(best_.sim.iteration_ms); }
  bool at_bound(double iteration_ms) const { return iteration_ms <= bound_.ms * (1 + 1e-9) + 1e-9; }
  // Schedules `c` with worker `w`'s evaluator and counts it: the one place the search's
  // evaluations (what --max-evaluations budgets) are counted.
  Score score(const Candidate& c, int w) {
    evaluated_.fetch_add(1, std::memory_order_relaxed);
    return evals_[w].score(c);
  }
  // Runs one batch of jobs on the pool and remembers how long it took.
  void run_batch(int n, const std::function<void(int, int)>& job, const std::function<void()>& tick) {
    auto t0 = Clock::now();
    const long long e0 = evaluated_.load();
    pool_.run(n, job, tick);
    last_batch_ = Clock::now() - t0;
    if (const long long done = evaluated_.load() - e0; done > 0) last_eval_ = last_batch_ / done;
  }
  Clock::duration expected_duration(double evaluations) const {
    if (evaluations > 0 && last_eval_.count() > 0)
      return std::chrono::duration_cast<Clock::duration>(last_eval_ * evaluations);
    return last_batch_;
  }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void set_phase(const char* phase, double base, double span) {
    phase_ = phase;
    phase_base_ = base;
    phase_span_ = span;
    phase_done_ = 0;
  }
  void report(bool force);
  void offer(const Entry& in);

  void run_baselines();
  void run_seeds();
  void run_local_search();
  void run_verify();

  const CostTable& costs_;
  const OptimizeOptions& opt_;
  const OptimizeCallback& cb_;
  const std::atomic<bool>* cancel_;
  SearchContext ctx_;
  WorkerPool pool_;
  std::vector<Evaluator> evals_;
  Clock::time_point start_, deadline_;
  Clock::time_point budget_end_;  // start + the whole budget: the replay of the finalists stops here
  Clock::duration last_replay_{};
  Clock::time_point last_report_{};
  Clock::duration last_batch_{};
  Clock::duration last_eval_{};  // time per evaluation in the last batch
  std::atomic<long long> evaluated_{0};
  std::atomic<bool> cut_{false};  // a batch was cut inside (cancel or deadline)
  std::optional<StopReason> stopped_by_;  // empty while the search runs
  IterationLowerBound bound_;

  std::string phase_ = "baselines";
  double phase_base_ = 0, phase_span_ = 0.05, phase_done_ = 0;

  std::vector<Entry> baselines_;
  std::vector<BuiltinResult> builtins_;
  std::vector<std::pair<Candidate, Score>> seeds_;
  std::vector<Chain> chains_;
  Candidate global_best_;
  Score global_best_score_;
  std::vector<Entry> verified_;

  // The best plan known to the coordinator, for progress reports.
  Entry best_;
  bool have_best_ = false;
  bool improved_ = false;
};

void Optimizer::offer(const Entry& in) {
  // Torch targets: the plan as PyTorch would get it (relabelled micro-batches, same simulated
  // time), and only if its runtime accepts it.
  const Entry* candidate = &in;
  Entry relabelled;
  if (opt_.target == PlanTarget::Torch || opt_.target == PlanTarget::Torchtitan) {
    if (!in.ok) return;
    relabelled = in;
    relabelled.plan = relabel_for_torch(in.plan);
    if (!target_can_run(relabelled.plan, opt_.target, costs_)) return;
    candidate = &relabelled;
  }
  const Entry& e = *candidate;
  if (!have_best_ || entry_better(e, best_)) {
    best_ = e;
    have_best_ = true;
    improved_ = true;
  }
}

void Optimizer::report(bool force) {
  if (!cb_) return;
  auto now = Clock::now();
  if (!force && !improved_ && now - last_report_ < std::chrono::milliseconds(100)) return;
  last_report_ = now;
  improved_ = false;
  OptimizeProgress p;
  p.elapsed_s = elapsed();
  p.evaluated = evaluated_.load(std::memory_order_relaxed);
  double budget_used = p.elapsed_s / opt_.time_limit_s;
  if (opt_.max_evaluations > 0) budget_used = std::max(budget_used, double(p.evaluated) / opt_.max_evaluations);
  p.fraction = std::clamp(std::max(phase_base_ + phase_span_ * std::clamp(phase_done_, 0.0, 1.0), budget_used), 0.0,
                          1.0);
  p.best_ms = have_best_ && best_.fits ? best_.sim.iteration_ms : 0.0;
  p.phase = phase_;
  cb_(p, have_best_ ? &best_.plan : nullptr);
}

// Every built-in schedule as a candidate: with its own (even) partition, as `compare` runs it, and
// with a partition balanced for its placement. Looped schedules also get 3 and 4 chunks per device.
void Optimizer::run_baselines() {
  set_phase("baselines", 0.0, 0.05);
  struct Job {
    ScheduleKind kind;
    int v;
    bool balanced;
  };
  std::vector<Job> jobs;
  const int L = costs_.num_layers(), D = ctx_.devices;
  for (const auto& info : all_schedules()) {
    // Looped schedules take any chunk count; the others fix theirs.
    ScheduleOptions probe;
    probe.devices = D;
    probe.stages_per_device = 3;
    bool looped = schedule_stages_per_device(info.kind, probe) == 3;
    std::vector<int> vs = {0};
    if (looped)
      for (int v = 3; v <= 4; ++v)
        if (D * v <= L && v <= ctx_.max_stages_per_device) vs.push_back(v);
    for (int v : vs) {
      jobs.push_back({info.kind, v, false});
      jobs.push_back({info.kind, v, true});
    }
  }
  // With memory policies in the search, every built-in also runs with each uniform recompute
  // policy (the ladder's recompute steps): what the optimizer has to beat when the cap binds.
  std::vector<StageMemoryPolicy> uniform = {StageMemoryPolicy{}};
  if (ctx_.memory_search()) {
    uniform.clear();
    for (const auto& p : ctx_.ladder)
      if (p.offload_fraction == ctx_.ladder.front().offload_fraction) uniform.push_back(p);
  }
  const size_t base_jobs = jobs.size();
  for (size_t u = 1; u < uniform.size(); ++u)
    for (size_t i = 0; i < base_jobs; ++i) jobs.push_back(jobs[i]);
  std::vector<Entry> out(jobs.size());
  // The even-partition job of each schedule with its default chunks is what `compare` runs (once per
  // uniform policy): kept for OptimizeResult::builtins, with the reason when it does not apply or was not reached.
  std::vector<BuiltinResult> builtin(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    builtin[i].name = schedule_name(jobs[i].kind);
    builtin[i].memory = uniform[i / base_jobs];
    builtin[i].error = "not evaluated: the search stopped (time budget or cancel) before it";
  }
  std::vector<double> weights = layer_weights(costs_);
  auto keep_builtins = [&] {
    for (size_t i = 0; i < jobs.size(); ++i)
      if (jobs[i].v == 0 && !jobs[i].balanced) builtins_.push_back(std::move(builtin[i]));
  };
  if (!can_start_batch()) {
    keep_builtins();
    return;
  }
  run_batch(
      static_cast<int>(jobs.size()),
      [&](int i, int) {
        if (must_abandon_batch()) return;
        const Clock::time_point t0 = Clock::now();
        const Job& j = jobs[i];
        const StageMemoryPolicy& mem = uniform[static_cast<size_t>(i) / base_jobs];
        PlanRequest req;
        req.schedule = schedule_name(j.kind);
        req.devices = D;
        req.microbatches = ctx_.microbatches;
        req.units = ctx_.units;
        req.stages_per_device = j.v;
        try {
          Plan plan = build_plan(req, L);
          plan.parallel = opt_.parallel;
          // Simulating the plan takes about as long as building it: on a huge input, a job that would
          // end past the deadline is not finished.
          if (const Clock::time_point now = Clock::now(); now + (now - t0) > deadline_) {
            cut_.store(true, std::memory_order_relaxed);
            return;
          }
          auto keep_builtin = [&](const SimResult& sim) {
            BuiltinResult& b = builtin[i];
            b.plan = plan;
            b.sim = sim;
            b.ok = sim.ok;
            b.error = sim.ok ? std::string() : sim.error;
          };
          if (plan.num_stages() > D * ctx_.max_stages_per_device) {
            if (ctx_.memory_search()) set_uniform_memory_policy(plan, mem);
            if (j.v == 0 && !j.balanced) keep_builtin(simulate(plan, costs_, ctx_.cluster, ctx_.sim));
            return;
          }
          std::string origin = std::string("built-in ") + req.schedule +
                               (j.v ? " (" + std::to_string(j.v) + " chunks per device)" : std::string());
          if (j.balanced) {
            std::vector<int> sd = plan.placement.stage_device();
            std::vector<double> speed(plan.num_stages());
            for (int s = 0; s < plan.num_stages(); ++s) speed[s] = ctx_.cluster.devices[sd[s]].speed;
            req.partition = balanced_partition(weights, speed).sizes();
            plan = build_plan(req, L);
            plan.parallel = opt_.parallel;
            origin += " with a cost-balanced partition";
          } else {
            origin += " with an even partition";
          }
          if (ctx_.memory_search()) set_uniform_memory_policy(plan, mem);
          out[i] = make_entry(origin + policy_suffix(mem), plan, costs_, ctx_.cluster, ctx_.sim, opt_.parallel);
          if (j.v == 0 && !j.balanced) keep_builtin(out[i].sim);
          evaluated_.fetch_add(1, std::memory_order_relaxed);
        } catch (const InputError& e) {
          // The schedule does not apply to this input (its own constraint) or is not built yet.
          builtin[i].error = e.what();
        }
      },
      [&] { report(false); });
  keep_builtins();
  for (auto& e : out)
    if (!e.plan.schedule.empty()) {
      offer(e);
      baselines_.push_back(std::move(e));
    }
  phase_done_ = 1;
  report(true);
}

// Seeds: every stage count on looped, wave and bin-packed placements with balanced partitions.
// Two passes so deep models on many devices do not spend the budget here: every structure
// (partition + placement) is scheduled by a few probe policies, then the most promising
// structures by every seed policy.
void Optimizer::run_seeds() {
  set_phase("seeds", 0.05, 0.15);
  const int D = ctx_.devices, L = costs_.num_layers();
  std::vector<double> weights = layer_weights(costs_);
  enum class Layout { Looped, Wave, Packed };
  struct Job {
    int S;
    Layout layout;
  };
  std::vector<Job> jobs;
  const bool torchtitan = opt_.target == PlanTarget::Torchtitan;
  for (int S : seed_stage_counts(D, L, ctx_.max_stages_per_device)) {
    if (torchtitan) {
      // torchtitan builds looped placements (the same number of stages per rank) and the V.
      if (S % D == 0) jobs.push_back({S, Layout::Looped});
      if (S == 2 * D) jobs.push_back({S, Layout::Wave});
      continue;
    }
    jobs.push_back({S, Layout::Looped});
    if (S > D) jobs.push_back({S, Layout::Wave});
    if (S > D) jobs.push_back({S, Layout::Packed});
  }
  const std::vector<ListSchedulePolicy> policies = seed_policies(ctx_);
  const std::vector<size_t> probes = seed_probe_policies(policies);
  std::vector<size_t> others;  // the seed policies that are not probes, in order
  for (size_t k = 0; k < policies.size(); ++k)
    if (std::find(probes.begin(), probes.end(), k) == probes.end()) others.push_back(k);
  // `c` scheduled by each of `policy_indices` in turn; the plans the scheduler could run go to `into`.
  // Scores candidate c under each of the given list-scheduling policies; with `repair`, a probe over
  // the memory limit is also tried with recompute (then offload) on the devices that overflow.
  auto score_policies = [&](Candidate c, int w, const std::vector<size_t>& policy_indices,
                            std::vector<std::pair<Candidate, Score>>& into, bool repair) {
    for (size_t k : policy_indices) {
      if (must_abandon_batch()) return;
      c.policy = policies[k];
      Score sc = score(c, w);
      if (sc.valid) into.emplace_back(c, sc);
      if (repair && sc.valid && !sc.fits && ctx_.memory_search()) {
        Candidate r = c;
        long long n = 0;
        Score rs = repair_memory(r, sc, evals_[w], ctx_, 3, n);
        evaluated_.fetch_add(n, std::memory_order_relaxed);
        if (rs.valid && !(r == c)) into.emplace_back(r, rs);
      }
    }
  };
  std::vector<std::vector<std::pair<Candidate, Score>>> out(jobs.size());
  std::atomic<int> finished{0};
  const double total_jobs = static_cast<double>(jobs.size()) + kFullSeedStructures;
  auto tick = [&] {
    phase_done_ = finished.load() / std::max(1.0, total_jobs);
    report(false);
  };
  const int n_jobs = static_cast<int>(jobs.size());
  for (int first = 0; first < n_jobs && can_start_batch(); first += kSeedBatch) run_batch(
      std::min(kSeedBatch, n_jobs - first),
      [&](int batch_index, int w) {
        if (must_abandon_batch()) return;
        const int i = first + batch_index;
        const Job& j = jobs[i];
        Candidate c;
        if (j.layout == Layout::Packed) {
          // Bin-pack the stages of a balanced partition onto devices (the placement AdaPtis's
          // unordered solver aims at), then balance the partition for that placement.
          double mean_speed = 0;
          for (double v : ctx_.speed) mean_speed += v / D;
          Partition p = balanced_partition(weights, std::vector<double>(j.S, mean_speed));
          std::vector<double> stage_weight(j.S);
          for (int s = 0; s < j.S; ++s)
            stage_weight[s] = ctx_.layer_prefix[p.bounds[s + 1]] - ctx_.layer_prefix[p.bounds[s]];
          c.stage_device = lpt_stage_devices(stage_weight, ctx_.speed);
        } else {
          c.stage_device = j.layout == Layout::Wave ? wave_stage_devices(j.S, D) : looped_stage_devices(j.S, D);
        }
        std::vector<Partition> parts =
            seed_partitions(weights, c.stage_device, ctx_.speed, [this] { return must_abandon_batch(); });
        if (ctx_.memory_search()) c.memory.assign(c.stage_device.size(), ctx_.ladder.front());
        for (const Partition& part : parts) {
          c.bounds = part.bounds;
          if (!well_formed(c, ctx_)) continue;  // e.g. a packed placement over max_stages_per_device
          score_policies(c, w, probes, out[i], true);
        }
        finished.fetch_add(1, std::memory_order_relaxed);
      },
      tick);
  for (auto& v : out)
    for (auto& cs : v) seeds_.push_back(std::move(cs));
  // Best first; the stable sort keeps the enumeration order among equals (deterministic).
  auto by_score = [](const auto& a, const auto& b) { return better(a.second, b.second); };
  std::stable_sort(seeds_.begin(), seeds_.end(), by_score);

  // Second pass: the best structures (distinct partition + placement) with every other policy.
  std::vector<Candidate> structures;
  for (const auto& [c, sc] : seeds_) {
    if (static_cast<int>(structures.size()) >= kFullSeedStructures) break;
    bool seen = false;
    for (const auto& t : structures) seen = seen || (t.bounds == c.bounds && t.stage_device == c.stage_device);
    if (!seen) structures.push_back(c);
  }
  std::vector<std::vector<std::pair<Candidate, Score>>> more(structures.size());
  const double per_structure = static_cast<double>(others.size()) +
                               static_cast<double>(probes.size()) * (ctx_.ladder.empty() ? 0 : ctx_.ladder.size() - 1);
  if (can_start_batch(static_cast<double>(structures.size()) * per_structure))
    run_batch(
        static_cast<int>(structures.size()),
        [&](int i, int w) {
          if (must_abandon_batch()) return;
          score_policies(structures[i], w, others, more[i], false);
          // Each uniform memory policy on the structure too (the probes schedule it).
          for (size_t u = 1; u < ctx_.ladder.size(); ++u) {
            Candidate v = structures[i];
            v.memory.assign(v.stage_device.size(), ctx_.ladder[u]);
            score_policies(v, w, probes, more[i], false);
          }
          finished.fetch_add(1, std::memory_order_relaxed);
        },
        tick);
  for (auto& v : more)
    for (auto& cs : v) seeds_.push_back(std::move(cs));
  std::stable_sort(seeds_.begin(), seeds_.end(), by_score);
  phase_done_ = 1;
  report(true);
}

void Optimizer::run_local_search() {
  if (seeds_.empty()) return;
  set_phase("local search", 0.20, 0.75);
  // Round 0's chains start from the best seeds of distinct stage counts, so they explore
  // different regions; later rounds take the next seeds in that order.
  std::vector<int> order;
  for (size_t i = 0; i < seeds_.size(); ++i) {
    bool dup = false;
    for (int p : order) dup = dup || seeds_[p].first.num_stages() == seeds_[i].first.num_stages();
    if (!dup) order.push_back(static_cast<int>(i));
  }
  for (size_t i = 0; i < seeds_.size() && order.size() < static_cast<size_t>(kChains * kMaxRounds); ++i)
    if (std::find(order.begin(), order.end(), static_cast<int>(i)) == order.end()) order.push_back(static_cast<int>(i));
  size_t next_seed = 0;

  chains_.resize(kChains);
  for (int k = 0; k < kChains; ++k)  // one stream per chain, from the seed and the chain's index only
    chains_[k].rng.seed(opt_.seed * 0x9E3779B97F4A7C15ULL + 0xD1B54A32D192ED03ULL * (k + 1));
  global_best_ = seeds_.front().first;
  global_best_score_ = seeds_.front().second;

  // Steps per chain per epoch: about the same work per epoch whatever the problem size.
  const double actions = static_cast<double>(global_best_.num_stages()) * ctx_.microbatches * (ctx_.split_backward ? 3 : 2);
  const int steps = std::clamp(static_cast<int>(60000.0 / std::max(1.0, actions)), 16, 400);
  // The progress bar counts the minimum rounds (later ones show as the bar's last stretch).
  const double total_epochs = static_cast<double>(kMinRounds) * kMaxEpochs;
  int epochs_run = 0;
  int stale_rounds = 0;

  const double epoch_evaluations = static_cast<double>(kChains) * steps;
  for (int round = 0; round < kMaxRounds && can_start_batch(epoch_evaluations); ++round) {
    if (round >= kMinRounds && stale_rounds >= kStaleRounds) break;
    const Score round_start = global_best_score_;
    // Starting points. Round 0: the seeds. Later rounds (iterated local search): half the chains
    // restart from the global best kicked by a few random moves (escaping its basin while keeping
    // most of its structure), the other half from seeds not tried yet.
    for (int k = 0; k < kChains; ++k) {
      Chain& ch = chains_[k];
      const bool kick = round > 0 && (k % 2 == 0 || next_seed >= order.size());
      if (kick) {
        ch.cur = global_best_;
        const int moves = 2 + k % 4;
        for (int i = 0; i < moves; ++i) ch.cur = neighbour(ch.cur, ctx_, ch.rng);
        ch.cur_score = Score::invalid();  // scored by its chain below
      } else {
        const auto& seed = seeds_[order[std::min(next_seed++, order.size() - 1)]];
        ch.cur = seed.first;
        ch.cur_score = seed.second;
      }
      ch.best = ch.cur;
      ch.best_score = ch.cur_score;
      ch.stale = 0;
    }
    int since_improved = 0;
    for (int epoch = 0; epoch < kMaxEpochs && can_start_batch(epoch_evaluations); ++epoch, ++epochs_run) {
      run_batch(
          kChains,
          [&](int k, int w) {
            Chain& ch = chains_[k];
            if (!ch.cur_score.valid) {
              ch.cur_score = ch.best_score = score(ch.cur, w);
            }
            for (int step = 0; step < steps; ++step) {
              if (must_abandon_batch()) return;  // a clock read: nothing next to one evaluation
              Candidate n = neighbour(ch.cur, ctx_, ch.rng);
              Score s = score(n, w);
              // Accept improvements and sideways moves (equal makespan, no less slack): pipelines
              // have wide plateaus where the makespan is fixed by one critical chain.
              if (no_worse(s, ch.cur_score)) {
                ch.cur = std::move(n);
                ch.cur_score = s;
                if (better(s, ch.best_score)) {
                  ch.best = ch.cur;
                  ch.best_score = s;
                  ch.stale = -1;
                }
              }
            }
          },
          [&] {
            phase_done_ = (epochs_run + 0.5) / total_epochs;
            report(false);
          });
      // Deterministic reduction in chain order.
      bool improved = false;
      for (auto& ch : chains_) {
        ++ch.stale;
        if (better(ch.best_score, global_best_score_)) {
          global_best_ = ch.best;
          global_best_score_ = ch.best_score;
          improved = true;
        }
      }
      for (auto& ch : chains_)
        if (ch.stale >= kRestartAfter && better(global_best_score_, ch.best_score)) {
          ch.cur = global_best_;
          ch.cur_score = global_best_score_;
          ch.stale = 0;
        }
      if (improved) {
        since_improved = 0;
        Plan p = evals_[0].plan(global_best_, "adaptis-opt");
        offer(make_entry(std::to_string(global_best_.num_stages()) + " stages, list-scheduled (" +
                             describe(global_best_.policy) + ")" + memory_origin(global_best_.memory),
                         std::move(p), costs_, ctx_.cluster, ctx_.sim, opt_.parallel));
      } else if (++since_improved >= kPatience) {
        break;
      }
      phase_done_ = (epochs_run + 1.0) / total_epochs;
      report(false);
    }
    // A round that stopped early still counts its share of the progress bar.
    epochs_run = std::min(round + 1, kMinRounds - 1) * kMaxEpochs;
    stale_rounds = better(global_best_score_, round_start) ? 0 : stale_rounds + 1;
  }
  phase_done_ = 1;
}

// Replays the search's best candidates in the simulator; the final choice is made on those numbers.
void Optimizer::run_verify() {
  set_phase("verify", 0.95, 0.05);
  std::vector<Candidate> todo;
  auto add = [&](const Candidate& c) {
    if (std::find(todo.begin(), todo.end(), c) == todo.end()) todo.push_back(c);
  };
  if (!chains_.empty()) add(global_best_);
  for (const auto& ch : chains_)  // a chain the budget stopped before its first epoch has no plan yet
    if (!ch.best.stage_device.empty())
      for (int i = 0; i < kVerifyPerChain; ++i) add(ch.best);
  for (size_t i = 0; i < seeds_.size() && i < 4; ++i) add(seeds_[i].first);
  // Justification passes on each finalist (see ListSchedulePolicy::improve_passes): too costly for
  // the inner loop, worth a try on the few plans that can still win.
  const size_t finalists = todo.size();
  for (size_t i = 0; i < finalists; ++i) {
    const Clock::time_point t0 = Clock::now();
    if (t0 + last_replay_ > budget_end_) {
      cut_.store(true, std::memory_order_relaxed);
      break;
    }
    Candidate j = todo[i];
    j.policy.improve_passes = 3;
    if (better(evals_[0].score(j), evals_[0].score(todo[i]))) add(j);
    last_replay_ = Clock::now() - t0;
  }
  for (size_t i = 0; i < todo.size(); ++i) {
    // The first finalist (the search's best) is always replayed; the others while the budget lasts, each
    // expected to take as long as the previous one.
    const Clock::time_point t0 = Clock::now();
    if (i > 0 && t0 + last_replay_ > budget_end_) {
      cut_.store(true, std::memory_order_relaxed);
      break;
    }
    const Candidate& c = todo[i];
    Plan p = evals_[0].plan(c, "adaptis-opt");
    std::string origin =
        std::to_string(c.num_stages()) + " stages, list-scheduled (" + describe(c.policy) + ")" + memory_origin(c.memory);
    verified_.push_back(make_entry(origin, std::move(p), costs_, ctx_.cluster, ctx_.sim, opt_.parallel));
    evaluated_.fetch_add(1, std::memory_order_relaxed);
    offer(verified_.back());
    last_replay_ = Clock::now() - t0;
  }
  phase_done_ = 1;
}

OptimizeResult Optimizer::run() {
  report(true);
  run_baselines();
  run_seeds();
  run_local_search();
  // The search proper ends here; the replay below is a fixed amount of work on its result.
  const long long search_evaluations = evaluated_.load();
  run_verify();

  OptimizeResult r;
  r.cancelled = cancelled() || stopped_by_ == StopReason::Cancelled;
  if (!stopped_by_ && reached_bound()) stopped_by_ = StopReason::Optimal;
  r.stopped_by = r.cancelled    ? StopReason::Cancelled
                 : stopped_by_ ? *stopped_by_
                               : (cut_ ? StopReason::Time : StopReason::Complete);
  r.lower_bound = bound_;
  r.builtins = std::move(builtins_);
  r.target = opt_.target;
  r.search_evaluations = search_evaluations;
  r.reproducible = !r.cancelled && !cut_;
  if (!have_best_) {
    // Nothing could be built at all (the budget ran out before the first plan): fall back to the
    // simplest plan so the caller always gets one (simulated already when the first phase got to it).
    const auto t0 = Clock::now();
    const std::string origin = "built-in 1f1b with an even partition";
    auto done = std::find_if(r.builtins.begin(), r.builtins.end(),
                             [](const BuiltinResult& b) { return b.name == "1f1b" && b.ok; });
    if (done != r.builtins.end()) {
      offer(entry_of(origin, done->plan, done->sim));
    } else {
      PlanRequest req;
      req.devices = ctx_.devices;
      req.microbatches = ctx_.microbatches;
      req.units = ctx_.units;
      offer(make_entry(origin, build_plan(req, costs_.num_layers()), costs_, ctx_.cluster, ctx_.sim,
                         opt_.parallel));
      last_replay_ = Clock::now() - t0;
    }
  }
  const Entry& b = best_;
  r.best = b.plan;
  r.best.name = "adaptis-opt";
  // The replay records what the caller may draw (idle gaps, memory over time) when it fits in the budget
  // (about as long as the last replay); otherwise the search's own simulation stands: the same times and
  // peaks, without those records.
  if (Clock::now() + last_replay_ <= budget_end_) {
    r.sim = simulate(r.best, costs_, ctx_.cluster, opt_.sim);
  } else {
    r.sim = b.sim;
  }
  r.feasible = b.fits;
  r.overflow_bytes = b.fits ? 0.0 : std::max(0.0, b.overflow);

  const Entry* best_builtin = nullptr;
  for (const auto& e : baselines_)
    if (e.origin.find("even partition") != std::string::npos && (!best_builtin || entry_better(e, *best_builtin)))
      best_builtin = &e;
  char buf[512];
  if (b.fits) {
    std::snprintf(buf, sizeof buf, "best plan: %.3f ms per iteration, %d stages on %d devices (%s stages per device); %s",
                  r.sim.iteration_ms, r.best.num_stages(), r.best.num_devices(),
                  format_stage_counts(r.best.placement).c_str(), b.origin.c_str());
    r.message = buf;
    if (best_builtin && best_builtin->fits) {
      std::string which = best_builtin->origin;
      if (which.rfind("built-in ", 0) == 0) which = which.substr(9);
      std::snprintf(buf, sizeof buf, "; %.3fx vs the fastest built-in schedule (%s: %.3f ms)",
                    best_builtin->sim.iteration_ms / r.sim.iteration_ms, which.c_str(), best_builtin->sim.iteration_ms);
      r.message += buf;
    }
    if (at_bound(r.sim.iteration_ms)) {
      r.message += "; optimal: equals the lower bound (" + bound_.binding + ")";
    } else {
      std::snprintf(buf, sizeof buf, "; %.1f%% above the lower bound (%.3f ms, %s)",
                    100.0 * (r.sim.iteration_ms / bound_.ms - 1), bound_.ms, bound_.binding.c_str());
      r.message += buf;
    }
  } else {
    int worst = 0;
    double over = -std::numeric_limits<double>::infinity();
    for (int d = 0; d < static_cast<int>(r.sim.devices.size()); ++d) {
      double o = r.sim.devices[d].peak_memory_bytes - r.sim.devices[d].memory_limit_bytes;
      if (o > over) over = o, worst = d;
    }
    const DeviceStats& ds = r.sim.devices.empty() ? DeviceStats{} : r.sim.devices[worst];
    r.message = "no plan fits memory: the closest plan (" + b.origin + ") needs " + gib(ds.peak_memory_bytes) +
                " on device " + std::to_string(worst) + ", over its " + gib(ds.memory_limit_bytes) + " limit by " +
                gib(r.overflow_bytes) + " (static state alone " + gib(ds.static_bytes) + ")";
  }
  if (r.cancelled) {
    r.message += " [search cancelled; best so far]";
  } else if (r.stopped_by != StopReason::Complete && r.stopped_by != StopReason::Optimal) {
    r.message += r.stopped_by == StopReason::Time ? " [time budget reached" : " [evaluation budget reached";
    r.message += " after " + std::to_string(search_evaluations) + " evaluations; best so far";
    if (!r.reproducible)
      r.message += "; cut inside a batch, not reproducible]";
    else if (r.stopped_by == StopReason::Time)
      r.message += "; a budget of " + std::to_string(search_evaluations) +
                   " evaluations (max_evaluations) repeats it on any machine]";
    else
      r.message += "]";
  }

  phase_ = r.cancelled ? "cancelled" : "done";
  r.final_progress.elapsed_s = elapsed();
  r.final_progress.fraction = 1.0;
  r.final_progress.best_ms = b.fits ? r.sim.iteration_ms : 0.0;
  r.final_progress.evaluated = evaluated_.load();
  r.final_progress.phase = phase_;
  if (cb_) cb_(r.final_progress, &r.best);
  return r;
}

}  // namespace

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Complete: return "complete";
    case StopReason::Optimal: return "optimal";
    case StopReason::Evaluations: return "evaluations";
    case StopReason::Time: return "time";
    case StopReason::Cancelled: return "cancelled";
  }
  return "?";
}
int max_optimizer_threads() { return std::min(256, 4 * opt::hardware_threads()); }

OptimizeResult optimize(const CostTable& costs, const Cluster& cluster, const OptimizeOptions& opt,
                        const OptimizeCallback& on_progress, const std::atomic<bool>* cancel) {
  check_options(costs, cluster, opt);
  if (opt.target == PlanTarget::Megatron) {
    OptimizeResult r = opt::megatron_optimize(costs, cluster, opt, on_progress, cancel);
    r.target = PlanTarget::Megatron;
    return r;
  }
  Optimizer o(costs, cluster, opt, on_progress, cancel);
  return o.run();
}

}  // namespace adaptis
