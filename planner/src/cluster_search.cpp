// The whole-cluster plan search (cluster_search.h): enumerate, bound, simulate in bound order with
// pruning, optimize the best few, rank.
#include "adaptis/planner/cluster_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <tuple>

#include "adaptis/model/error.h"
#include "adaptis/model/parallel_costs.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/plan_builder.h"

namespace adaptis {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<int> divisors(long long n, long long limit) {
  std::vector<int> out;
  for (long long d = 1; d <= n && d <= limit; ++d)
    if (n % d == 0) out.push_back(static_cast<int>(d));
  return out;
}

bool has_component(const ModelSpec& m, ComponentKind k) {
  for (const auto& l : m.layers)
    if (l.has(k)) return true;
  return false;
}

long long min_experts(const ModelSpec& m) {
  long long e = 0;
  for (const auto& l : m.layers)
    for (const auto& c : l.parts)
      if (c.kind == ComponentKind::Moe) e = e == 0 ? c.experts : std::min(e, c.experts);
  return e;
}

void check_values(const std::vector<int>& v, const char* field, int lo, int hi) {
  for (int x : v)
    if (x < lo || x > hi)
      throw InputError(field, std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
                                  std::to_string(hi) + "]");
}

// Per-GPU costs for each (tp, cp, ep, micro-batch size, recomputation): the split is the costly
// part; ZeRO level and data-parallel degree are re-applied per configuration.
class CostCache {
 public:
  CostCache(const ModelSpec& model, const Cluster& cluster) : model_(model), cluster_(cluster) {}
  CostTable costs(const ParallelConfig& p) {
    auto key = std::make_tuple(p.tp, p.cp, p.ep, p.micro_batch_size, static_cast<int>(p.recompute), p.sequence_parallel);
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, parallel_costs(model_, cluster_, p)).first;
    CostTable t = it->second;
    t.microbatches = p.microbatches;
    apply_data_parallel(t, model_, cluster_, p);
    return t;
  }

 private:
  const ModelSpec& model_;
  const Cluster& cluster_;
  std::map<std::tuple<int, int, int, int, int, bool>, CostTable> cache_;
};

// The row of the ranked table, from a simulated plan.
void fill_metrics(ClusterCandidate& c, const Plan& plan, const SimResult& r, const std::vector<StageCost>& stages,
                  const Cluster& replica) {
  c.plan = plan;
  c.evaluated = true;
  c.iteration_ms = r.iteration_ms;
  c.pipeline_ms = r.parallel.pipeline_ms;
  c.bubble_ratio = r.bubble_ratio;
  c.tokens_per_s = r.parallel.tokens_per_s;
  c.model_flops_per_gpu = r.parallel.model_flops_per_gpu;
  c.mfu = r.parallel.mfu;
  c.exposed_comm_ms = r.parallel.exposed_comm_ms;
  c.exposed_grad_sync_ms = r.parallel.exposed_grad_sync_ms;
  c.fits = !r.oom;
  c.peak_memory_bytes = 0;
  for (const auto& d : r.devices)
    if (d.peak_memory_bytes >= c.peak_memory_bytes) {
      c.peak_memory_bytes = d.peak_memory_bytes;
      c.memory_limit_bytes = d.memory_limit_bytes;
    }
  c.tp_comm_ms = c.cp_comm_ms = c.ep_comm_ms = c.optimizer_ms = c.recompute_ms = 0;
  for (size_t d = 0; d < r.parallel.device_ms.size(); ++d) {
    const auto& ms = r.parallel.device_ms[d];
    c.tp_comm_ms = std::max(c.tp_comm_ms, ms[static_cast<int>(CollectiveKind::TensorParallel)]);
    c.cp_comm_ms = std::max(c.cp_comm_ms, ms[static_cast<int>(CollectiveKind::ContextParallel)]);
    c.ep_comm_ms = std::max(c.ep_comm_ms, ms[static_cast<int>(CollectiveKind::ExpertParallel)]);
    c.optimizer_ms = std::max(c.optimizer_ms, ms[static_cast<int>(CollectiveKind::OptimizerStep)]);
    // The configuration's recompute runs inside B; per-stage policies add R actions of their own.
    double rc = d < r.devices.size() ? r.devices[d].recompute_ms : 0.0;
    for (const auto& ta : r.timeline[d])
      if (ta.action.op == Op::B || ta.action.op == Op::BW)
        rc += stages[ta.action.stage].parallel.recompute_ms / replica.devices[d].speed;
    c.recompute_ms = std::max(c.recompute_ms, rc);
  }
}

// Candidate is better: fits first, then faster; among plans that do not fit, less memory.
bool candidate_better(const ClusterCandidate& a, const ClusterCandidate& b) {
  if (a.evaluated != b.evaluated) return a.evaluated;
  if (a.fits != b.fits) return a.fits;
  if (!a.fits) return a.peak_memory_bytes - a.memory_limit_bytes < b.peak_memory_bytes - b.memory_limit_bytes;
  return a.iteration_ms < b.iteration_ms - 1e-9;
}

// The built-in pipeline schedules a configuration is first judged by, each with a cost-balanced
// partition: 1F1B, interleaved 1F1B with 2 chunks per device (when every device can hold two
// stages), and ZB-H1 when B and W are split.
ClusterCandidate plan_with_builtins(const CostTable& costs, const Cluster& replica, const ParallelConfig& p,
                                    const SimOptions& sim) {
  ClusterCandidate best;
  best.config = p;
  const int L = costs.num_layers();
  std::vector<double> weights = layer_weights(costs);
  struct Try {
    const char* schedule;
    int v;
  };
  std::vector<Try> tries = {{"1f1b", 0}};
  if (p.pp > 1 && L >= 2 * p.pp) tries.push_back({"interleaved-1f1b", 2});
  if (p.pp > 1 && costs.split_backward()) tries.push_back({"zb-h1", 0});
  for (const Try& t : tries) {
    PlanRequest req;
    req.schedule = t.schedule;
    req.devices = p.pp;
    req.microbatches = p.microbatches;
    req.stages_per_device = t.v;
    try {
      Plan plan = build_plan(req, L);
      std::vector<int> sd = plan.placement.stage_device();
      std::vector<double> speed(plan.num_stages());
      for (int s = 0; s < plan.num_stages(); ++s) speed[s] = replica.devices[sd[s]].speed;
      req.partition = balanced_partition(weights, speed).sizes();
      plan = build_plan(req, L);
      plan.parallel = p;
      std::vector<StageCost> stages = stage_costs(costs, plan.partition);
      SimResult r = simulate(plan, costs, replica, sim);
      if (!r.ok) continue;
      ClusterCandidate c;
      c.config = p;
      fill_metrics(c, plan, r, stages, replica);
      c.schedule = t.v ? std::string(t.schedule) + " (v=" + std::to_string(t.v) + ")" : std::string(t.schedule);
      if (!best.evaluated || candidate_better(c, best)) best = std::move(c);
    } catch (const InputError&) {
      // This schedule does not apply to the configuration (its own constraint on p, v, m).
    }
  }
  return best;
}

SimOptions quiet(SimOptions s) {
  s.record_gaps = false;
  s.record_memory_timeline = false;
  s.record_collectives = false;
  return s;
}

// Optimizer evaluations for one configuration: about 2 M simulated actions of list scheduling.
long long optimizer_budget(long long requested, const ParallelConfig& p, bool split) {
  if (requested > 0) return requested;
  const double actions = double(p.pp) * p.microbatches * (split ? 3 : 2) * 2.0;  // ~2 stages per device
  return std::clamp(static_cast<long long>(2e6 / std::max(1.0, actions)), 60LL, 4000LL);
}

// Per-stage policies of a fitting plan, weakened where memory allows: from the last stage (the one that
// holds the fewest micro-batches in flight) to the first, each stage's recompute steps down to
// selective and none while the plan still fits and gets faster. The optimizer strengthens policies
// until a plan fits; this walks back what the stages with room do not need.
void relax_stage_memory(Plan& plan, SimResult& sim, const CostTable& costs, const Cluster& replica,
                        const SimOptions& opt) {
  if (plan.memory.empty() || sim.oom) return;
  for (int s = plan.num_stages() - 1; s >= 0; --s) {
    for (Recompute weaker : {Recompute::None, Recompute::Selective}) {
      if (static_cast<int>(weaker) >= static_cast<int>(plan.memory[s].recompute)) continue;
      Plan p = plan;
      std::vector<StageMemoryPolicy> mem = p.memory;
      mem[s].recompute = weaker;
      mem[s].full_layers = 0;
      set_memory_policy(p, std::move(mem));
      SimResult r = simulate(p, costs, replica, opt);
      if (!r.ok || r.oom || !(r.iteration_ms < sim.iteration_ms)) continue;
      plan = std::move(p);
      sim = std::move(r);
      break;  // the weakest that fits (None is tried first)
    }
  }
}

// The pipeline optimizer on configuration `config` (c's own, or c's without its uniform recompute when
// `recompute_choices` lets the optimizer choose recompute per stage); c becomes its plan when that fits
// and is faster.
void optimize_candidate(ClusterCandidate& c, const ParallelConfig& config, const CostTable& costs,
                        const Cluster& replica, long long evaluations, const SimOptions& sim, uint64_t seed,
                        int threads, const std::atomic<bool>* cancel, long long* used,
                        const std::vector<Recompute>& recompute_choices = {Recompute::None}) {
  OptimizeOptions o;
  o.devices = config.pp;
  o.microbatches = config.microbatches;
  o.recompute_choices = recompute_choices;
  o.time_limit_s = 1e6;  // the evaluation budget decides: deterministic
  o.max_evaluations = evaluations;
  o.seed = seed;
  o.threads = threads;
  o.sim = quiet(sim);
  o.parallel = config;
  if (o.devices > costs.num_layers()) return;
  OptimizeResult r = optimize(costs, replica, o, {}, cancel);
  if (used) *used += r.final_progress.evaluated;
  if (!r.feasible || !r.sim.ok) return;
  if (recompute_choices.size() > 1) relax_stage_memory(r.best, r.sim, costs, replica, o.sim);
  if (c.fits && r.sim.iteration_ms >= c.iteration_ms - 1e-9) return;
  std::vector<StageCost> stages = stage_costs(costs, r.best.partition, r.best.memory);
  ClusterCandidate better = c;
  fill_metrics(better, r.best, r.sim, stages, replica);
  better.config = config;
  better.schedule = "optimized (" + std::to_string(r.best.num_stages()) + " stages";
  if (const std::string m = describe_memory(r.best.memory); !m.empty()) better.schedule += "; recompute " + m;
  better.schedule += ")";
  if (config.recompute != c.config.recompute)
    better.lower_bound_ms = iteration_lower_bound(costs, replica, config.pp, config.microbatches, sim).ms;
  if (better.fits) c = std::move(better);
}

}  // namespace

ClusterCandidate candidate_from_simulation(const Plan& plan, const SimResult& sim, const CostTable& costs,
                                           const Cluster& replica, std::string schedule) {
  ClusterCandidate c;
  if (plan.parallel) c.config = *plan.parallel;
  c.schedule = std::move(schedule);
  if (!sim.ok) return c;
  fill_metrics(c, plan, sim, stage_costs(costs, plan.partition), replica);
  return c;
}

ClusterCandidate evaluate_cluster_config(const ModelSpec& model, const Cluster& cluster, const ParallelConfig& config,
                                         long long optimize_evaluations, const SimOptions& sim, uint64_t seed,
                                         int threads) {
  validate_parallel_config(config, model, cluster.topology);
  CostTable costs = parallel_costs(model, cluster, config);
  Cluster replica = replica_cluster(cluster, config);
  ClusterCandidate c = plan_with_builtins(costs, replica, config, quiet(sim));
  c.config = config;
  IterationLowerBound lb = iteration_lower_bound(costs, replica, config.pp, config.microbatches, sim);
  c.lower_bound_ms = lb.ms;
  if (optimize_evaluations > 0)
    optimize_candidate(c, config, costs, replica, optimize_evaluations, sim, seed, threads, nullptr, nullptr);
  return c;
}

ClusterSearchResult search_cluster_plans(const ModelSpec& model, const Cluster& cluster,
                                         const ClusterSearchOptions& opt, const ClusterSearchCallback& progress,
                                         const std::atomic<bool>* cancel) {
  const auto t0 = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  ClusterSearchResult res;
  const int total_gpus = cluster.topology.num_gpus();
  const int N = opt.gpus > 0 ? opt.gpus : total_gpus;
  if (N > total_gpus)
    throw InputError("gpus", std::to_string(N) + " but cluster '" + cluster.name + "' has " + std::to_string(total_gpus));
  if (N < 1) throw InputError("gpus", "must be at least 1");
  if (opt.global_batch_tokens <= 0) throw InputError("global_batch_tokens", "give the tokens per iteration (> 0)");
  if (opt.global_batch_tokens % model.seq_len != 0)
    throw InputError("global_batch_tokens", std::to_string(opt.global_batch_tokens) +
                                                " is not a whole number of sequences of seq_len " +
                                                std::to_string(model.seq_len) + " (model '" + model.name + "')");
  const long long G = opt.global_batch_tokens / model.seq_len;
  res.gpus = N;
  res.global_batch = G;
  const int gpn = cluster.topology.gpus_per_node;
  const int L = model.num_layers();
  check_values(opt.tp, "tp", 1, gpn);
  check_values(opt.pp, "pp", 1, L);
  check_values(opt.cp, "cp", 1, 1 << 16);
  check_values(opt.ep, "ep", 1, 1 << 16);
  check_values(opt.micro_batch_sizes, "micro_batch_sizes", 1, 1 << 16);
  check_values(opt.zero_levels, "zero_levels", 0, 3);
  if (opt.optimize_top < 0) throw InputError("optimize_top", "must be >= 0");
  if (opt.evaluations < 0) throw InputError("evaluations", "must be >= 0");

  auto report = [&](const char* phase, long long done, long long total, double fraction) {
    if (!progress) return;
    ClusterSearchProgress p;
    p.phase = phase;
    p.done = done;
    p.total = total;
    p.fraction = std::clamp(fraction, 0.0, 1.0);
    p.elapsed_s = elapsed();
    if (res.best.evaluated && res.best.fits) {
      p.best_tokens_per_s = res.best.tokens_per_s;
      p.best = describe(res.best.config);
    }
    progress(p);
  };
  auto stop_now = [&] {
    if (cancel && cancel->load()) {
      res.stopped_by = "cancelled";
      return true;
    }
    if (opt.time_limit_s > 0 && elapsed() > opt.time_limit_s) {
      res.stopped_by = "time";
      return true;
    }
    return false;
  };

  // 1. Enumerate.
  report("enumerate", 0, 0, 0);
  const bool moe = has_component(model, ComponentKind::Moe);
  const bool mamba = has_component(model, ComponentKind::Mamba);
  std::vector<int> tps = opt.tp.empty() ? divisors(gpn, gpn) : opt.tp;
  std::vector<int> cps = opt.cp;
  if (cps.empty())
    for (int c : {1, 2, 4, 8})
      if (c == 1 || (!mamba && model.seq_len % (2 * c) == 0 && model.seq_len / c >= 1024)) cps.push_back(c);
  std::vector<int> mbss = opt.micro_batch_sizes.empty() ? std::vector<int>{1, 2, 4, 8} : opt.micro_batch_sizes;
  std::vector<int> zeros = opt.zero_levels.empty() ? std::vector<int>{0, 1, 2, 3} : opt.zero_levels;
  std::vector<Recompute> rcs = opt.recompute.empty()
                                   ? std::vector<Recompute>{Recompute::None, Recompute::Selective, Recompute::Full}
                                   : opt.recompute;
  std::vector<ParallelConfig> configs;
  for (int tp : tps)
    for (int cp : cps) {
      if (N % (1LL * tp * cp) != 0) continue;
      const long long rest = N / (1LL * tp * cp);
      std::vector<int> pps = opt.pp.empty() ? divisors(rest, L) : opt.pp;
      for (int pp : pps) {
        if (rest % pp != 0) continue;
        const int dp = static_cast<int>(rest / pp);
        if (G % dp != 0) {  // counted once: no micro-batching of these degrees divides the batch
          ++res.enumerated;
          ++res.invalid;
          continue;
        }
        std::vector<int> eps = opt.ep;
        if (eps.empty()) {
          eps.push_back(1);
          if (moe)
            for (int e = 2; e <= dp * cp && e <= min_experts(model); e *= 2) eps.push_back(e);
        }
        for (int mbs : mbss) {
          if ((G / dp) % mbs != 0) continue;
          const long long m = G / dp / mbs;
          if (m > 100000) continue;
          for (int ep : eps)
            for (int zero : zeros) {
              if (zero > 0 && dp * cp == 1) continue;  // nothing to shard over
              for (Recompute rc : rcs) {
                ParallelConfig p;
                p.pp = pp, p.tp = tp, p.dp = dp, p.cp = cp, p.ep = ep;
                p.zero = zero;
                p.distributed_optimizer = zero == 1;
                p.sequence_parallel = tp > 1;
                p.micro_batch_size = mbs;
                p.microbatches = static_cast<int>(m);
                p.global_batch_size = G;
                p.recompute = rc;
                p.overlap_grad_reduce = opt.overlap_grad_reduce;
                p.overlap_param_gather = opt.overlap_param_gather;
                ++res.enumerated;
                try {
                  validate_parallel_config(p, model, cluster.topology, N);
                  configs.push_back(p);
                } catch (const InputError&) {
                  ++res.invalid;
                }
              }
            }
        }
      }
    }
  if (configs.empty())
    throw InputError("no parallel configuration of model '" + model.name + "' fits " + std::to_string(N) +
                     " GPUs with a global batch of " + std::to_string(G) + " sequences (" +
                     std::to_string(res.invalid) + " rejected by the model's heads/widths, the node size or the batch)");

  // 2. Memory and time lower bounds.
  CostCache cache(model, cluster);
  struct Entry {
    size_t index;
    double bound;
  };
  std::vector<Entry> live;
  for (size_t i = 0; i < configs.size(); ++i) {
    if (i % 64 == 0) {
      report("bound", static_cast<long long>(i), static_cast<long long>(configs.size()), 0.1 * i / configs.size());
      if (stop_now()) break;
    }
    const ParallelConfig& p = configs[i];
    CostTable costs = cache.costs(p);
    Cluster replica = replica_cluster(cluster, p);
    // Some GPU holds at least the average static state, and one micro-batch of its lightest layer.
    double static_total = 0, min_act = 1e300, min_optimizer = 1e300;
    for (const auto& l : costs.layers) {
      static_total += l.state_bytes;
      min_act = std::min(min_act, l.act_b_bytes + l.act_w_bytes);
      min_optimizer = std::min(min_optimizer, l.parallel.optimizer_ms);
    }
    double limit = 0;
    for (const auto& d : replica.devices) limit = std::max(limit, d.memory_limit());
    if (static_total / p.pp + min_act > limit) {
      ++res.over_memory;
      continue;
    }
    IterationLowerBound lb = iteration_lower_bound(costs, replica, p.pp, p.microbatches, opt.sim);
    live.push_back({i, lb.ms + min_optimizer / replica.devices.front().speed});
  }
  std::stable_sort(live.begin(), live.end(), [](const Entry& a, const Entry& b) { return a.bound < b.bound; });

  // 3. Simulate in bound order until no later configuration can beat the best plan.
  std::vector<ClusterCandidate> evaluated;
  ClusterCandidate best_any;
  const SimOptions sim_quiet = quiet(opt.sim);
  size_t k = 0;
  for (; k < live.size() && res.stopped_by.empty(); ++k) {
    report("simulate", static_cast<long long>(k), static_cast<long long>(live.size()),
           0.1 + 0.5 * double(k) / live.size());
    if (stop_now()) break;
    const double best_ms = res.best.fits ? res.best.iteration_ms : 1e300;
    if (live[k].bound >= best_ms * (1 - 1e-9)) break;
    const ParallelConfig& p = configs[live[k].index];
    Cluster replica = replica_cluster(cluster, p);
    ClusterCandidate c = plan_with_builtins(cache.costs(p), replica, p, sim_quiet);
    c.config = p;
    c.lower_bound_ms = live[k].bound;
    ++res.simulated;
    if (!c.evaluated) continue;
    if (!best_any.evaluated || candidate_better(c, best_any)) best_any = c;
    if (c.fits) {
      if (!res.best.fits || candidate_better(c, res.best)) res.best = c;
      evaluated.push_back(std::move(c));
    } else {
      ++res.over_memory;
    }
  }
  res.pruned = static_cast<long long>(live.size() - std::min(k, live.size()));
  if (!res.stopped_by.empty()) res.pruned = 0;

  // 4. The pipeline optimizer on the most promising configurations.
  std::stable_sort(evaluated.begin(), evaluated.end(),
                   [](const ClusterCandidate& a, const ClusterCandidate& b) { return candidate_better(a, b); });
  const int top = std::min<int>(opt.optimize_top, static_cast<int>(evaluated.size()));
  for (int i = 0; i < top && res.stopped_by.empty(); ++i) {
    report("optimize", i, top, 0.6 + 0.4 * double(i) / std::max(1, top));
    if (stop_now()) break;
    ClusterCandidate& c = evaluated[i];
    CostTable costs = cache.costs(c.config);
    Cluster replica = replica_cluster(cluster, c.config);
    const long long budget = optimizer_budget(opt.evaluations, c.config, costs.split_backward());
    const ParallelConfig uniform = c.config;
    optimize_candidate(c, uniform, costs, replica, budget, opt.sim, opt.seed, opt.threads, cancel,
                       &res.optimizer_evaluations);
    if (opt.per_stage_memory && uniform.recompute != Recompute::None && !(cancel && cancel->load())) {
      ParallelConfig none = uniform;
      none.recompute = Recompute::None;
      optimize_candidate(c, none, cache.costs(none), replica, budget, opt.sim, opt.seed, opt.threads, cancel,
                         &res.optimizer_evaluations, {Recompute::None, Recompute::Selective, Recompute::Full});
    }
    ++res.optimized;
    if (cancel && cancel->load()) res.stopped_by = "cancelled";
  }
  std::stable_sort(evaluated.begin(), evaluated.end(),
                   [](const ClusterCandidate& a, const ClusterCandidate& b) { return candidate_better(a, b); });

  res.feasible = !evaluated.empty();
  if (res.feasible) {
    res.best = evaluated.front();
  } else if (best_any.evaluated) {
    res.best = best_any;
  }
  for (size_t i = 0; i < evaluated.size() && static_cast<int>(i) < opt.max_ranked; ++i) res.ranked.push_back(evaluated[i]);
  if (res.best.evaluated) {
    res.best_costs = cache.costs(res.best.config);
    res.best_replica = replica_cluster(cluster, res.best.config);
    res.best_sim = simulate(res.best.plan, res.best_costs, res.best_replica, opt.sim);
  }
  res.cancelled = res.stopped_by == "cancelled";
  if (res.stopped_by.empty()) res.stopped_by = "complete";
  res.elapsed_s = elapsed();
  char buf[512];
  if (res.feasible) {
    std::snprintf(buf, sizeof buf,
                  "best of %lld configurations: %s, %.0f tokens/s (%.1f%% MFU), %.1f ms per iteration; %lld simulated, "
                  "%lld pruned by the lower bound, %lld over memory, %lld invalid",
                  res.enumerated, describe(res.best.config).c_str(), res.best.tokens_per_s, 100 * res.best.mfu,
                  res.best.iteration_ms, res.simulated, res.pruned, res.over_memory, res.invalid);
  } else {
    std::snprintf(buf, sizeof buf,
                  "no configuration fits memory (%lld enumerated, %lld over memory, %lld invalid)%s", res.enumerated,
                  res.over_memory, res.invalid,
                  best_any.evaluated ? ("; the closest is " + describe(best_any.config)).c_str() : "");
  }
  res.message = buf;
  if (res.stopped_by != "complete") res.message += " [" + res.stopped_by + ": best so far]";
  report("done", 1, 1, 1.0);
  return res;
}

}  // namespace adaptis
