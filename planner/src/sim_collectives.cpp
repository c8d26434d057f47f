// Gradient sync, ZeRO gathers, optimizer step and throughput of a plan with a parallel configuration
// (see sim_collectives.h).
#include "sim_collectives.h"

#include <algorithm>
#include <cmath>

#include "adaptis/model/cluster_topology.h"
#include "adaptis/model/error.h"

namespace adaptis {

const char* collective_kind_name(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::GradSync: return "dp-sync";
    case CollectiveKind::ParamGather: return "param-gather";
    case CollectiveKind::TensorParallel: return "tp";
    case CollectiveKind::ContextParallel: return "cp";
    case CollectiveKind::ExpertParallel: return "ep";
    case CollectiveKind::OptimizerStep: return "optimizer";
  }
  return "?";
}

namespace sim {

namespace {

// The gradient-reduction group of one GPU: its dp x cp peers, stride tp (parallel_config.h).
CollectiveGroup grad_group(const ParallelConfig& p, const Cluster& cluster) {
  return collective_group(cluster.topology, p.data_parallel_ranks(), p.tp);
}

struct Bucket {
  double ready = 0;
  double bytes = 0;
  int stage = 0;
  int mb = -1;
};

// Buckets of `bytes` of gradients produced over [start, end]: the last layer's first, each ready
// when the action has produced its share.
void add_buckets(std::vector<Bucket>& out, double bytes, double bucket_bytes, double start, double end, int stage,
                 int mb) {
  if (bytes <= 0) return;
  const int n = std::max(1, static_cast<int>(std::ceil(bytes / bucket_bytes - 1e-9)));
  for (int j = 0; j < n; ++j) {
    const double share = std::min(bucket_bytes, bytes - j * bucket_bytes);
    const double done = std::min(bytes, (j + 1) * bucket_bytes) / bytes;
    out.push_back({start + done * (end - start), share, stage, mb});
  }
}

}  // namespace

void check_parallel_plan(const Plan& plan, const Cluster& cluster) {
  const ParallelConfig& p = *plan.parallel;
  if (p.pp != plan.num_devices())
    throw InputError("plan '" + plan.name + "': parallel.pp is " + std::to_string(p.pp) + " but the plan has " +
                     std::to_string(plan.num_devices()) + " pipeline devices");
  if (p.microbatches != plan.num_microbatches)
    throw InputError("plan '" + plan.name + "': parallel.microbatches is " + std::to_string(p.microbatches) +
                     " but the plan runs " + std::to_string(plan.num_microbatches) + " micro-batches");
  if (p.gpus() > cluster.topology.num_gpus())
    throw InputError("plan '" + plan.name + "': " + describe(p) + " needs " + std::to_string(p.gpus()) +
                     " GPUs but cluster '" + cluster.name + "' has " + std::to_string(cluster.topology.num_gpus()));
}

ParamGatherLane::ParamGatherLane(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                                 bool record)
    : record_(record) {
  const CollectiveGroup g = grad_group(*plan.parallel, cluster);
  for (const StageCost& s : stages) {
    gather_bytes_.push_back(s.parallel.gather_bytes);
    gather_ms_.push_back(g.size > 1 ? all_gather_ms(s.parallel.gather_bytes, g) : 0.0);
  }
  stream_free_.assign(plan.num_devices(), 0.0);
  busy_ms.assign(plan.num_devices(), 0.0);
}

double ParamGatherLane::ready(int d, const Action& a, double issue_at) {
  if (a.op == Op::W) return 0.0;  // weight gradients do not read the weights
  const double ms = gather_ms_[a.stage];
  if (ms <= 0) return 0.0;
  const double start = std::max(stream_free_[d], issue_at);
  const double end = start + ms;
  stream_free_[d] = end;
  busy_ms[d] += ms;
  if (record_) records.push_back({CollectiveKind::ParamGather, d, a.stage, a.mb, a.op, start, end, gather_bytes_[a.stage]});
  return end;
}

void add_parallel_collectives(const Plan& plan, const std::vector<StageCost>& stages, const Cluster& cluster,
                              const SimOptions& opt, const CostTable* workload, ParamGatherLane* gathers,
                              SimResult& r) {
  const ParallelConfig& p = *plan.parallel;
  const int D = plan.num_devices();
  const CollectiveGroup group = grad_group(p, cluster);
  const bool reduce = group.size > 1;
  const double bucket_bytes = p.bucket_size_params() * (p.grad_reduce_fp32 ? 4.0 : 2.0);
  const bool per_microbatch = p.zero >= 2;  // no full gradient kept: every W reduce-scatters
  const bool record = opt.record_collectives;

  ParallelMetrics& m = r.parallel;
  r.has_parallel = true;
  m.gpus = p.gpus();
  m.pipeline_ms = r.iteration_ms;
  m.device_ms.assign(D, {});
  m.device_grad_sync_exposed_ms.assign(D, 0.0);
  if (gathers) {
    for (int d = 0; d < D; ++d) m.device_ms[d][static_cast<int>(CollectiveKind::ParamGather)] += gathers->busy_ms[d];
    if (record) r.collectives.insert(r.collectives.end(), gathers->records.begin(), gathers->records.end());
  }

  double iteration = r.iteration_ms;
  double compute_plus_step = 0;  // latest device end had its gradient sync cost nothing
  double worst_blocking = 0;
  for (int d = 0; d < D; ++d) {
    const auto& tl = r.timeline[d];
    const double speed = cluster.devices[d].speed;
    auto& dev_ms = m.device_ms[d];
    double compute_end = 0;
    for (const auto& ta : tl) compute_end = std::max(compute_end, ta.end);

    // Blocking tensor/context/expert-parallel shares of each action, drawn at its end.
    double blocking = 0;
    for (const auto& ta : tl) {
      const LayerCost::Parallel& sp = stages[ta.action.stage].parallel;
      const bool fwd = ta.action.op == Op::F;
      const bool bwd = ta.action.op == Op::B || ta.action.op == Op::BW;
      if (!fwd && !bwd) continue;
      const double parts[3] = {(fwd ? sp.tp_f_ms : sp.tp_b_ms) / speed, (fwd ? sp.cp_f_ms : sp.cp_b_ms) / speed,
                               (fwd ? sp.ep_f_ms : sp.ep_b_ms) / speed};
      const CollectiveKind kinds[3] = {CollectiveKind::TensorParallel, CollectiveKind::ContextParallel,
                                       CollectiveKind::ExpertParallel};
      double at = ta.end;
      for (int k = 0; k < 3; ++k) {
        if (parts[k] <= 0) continue;
        const double len = std::min(parts[k], std::max(0.0, at - ta.start));
        dev_ms[static_cast<int>(kinds[k])] += parts[k];
        blocking += parts[k];
        if (record) r.collectives.push_back({kinds[k], d, ta.action.stage, ta.action.mb, ta.action.op, at - len, at, 0.0});
        at -= len;
      }
    }
    worst_blocking = std::max(worst_blocking, blocking);

    // Gradient buckets, in the order they become ready.
    std::vector<Bucket> buckets;
    if (reduce) {
      for (int s : plan.placement.device_stages[d]) {
        const double bytes = stages[s].parallel.grad_bytes;
        if (bytes <= 0) continue;
        const TimedAction* last = nullptr;
        for (const auto& ta : tl) {
          if (ta.action.stage != s || (ta.action.op != Op::W && ta.action.op != Op::BW)) continue;
          if (per_microbatch)
            add_buckets(buckets, bytes, bucket_bytes, ta.start, ta.end, s, ta.action.mb);
          else if (!last || ta.end > last->end)
            last = &ta;
        }
        if (!per_microbatch && last) {
          if (p.overlap_grad_reduce) add_buckets(buckets, bytes, bucket_bytes, last->start, last->end, s, -1);
          else add_buckets(buckets, bytes, bucket_bytes, compute_end, compute_end, s, -1);
        }
      }
    }
    std::stable_sort(buckets.begin(), buckets.end(), [](const Bucket& a, const Bucket& b) { return a.ready < b.ready; });
    double stream = 0;
    for (const Bucket& b : buckets) {
      const double ms = p.zero == 0 ? all_reduce_ms(b.bytes, group) : reduce_scatter_ms(b.bytes, group);
      const double start = std::max(stream, b.ready);
      stream = start + ms;
      dev_ms[static_cast<int>(CollectiveKind::GradSync)] += ms;
      if (record) r.collectives.push_back({CollectiveKind::GradSync, d, b.stage, b.mb, Op::W, start, stream, b.bytes});
    }
    const double synced = std::max(compute_end, stream);
    m.device_grad_sync_exposed_ms[d] = synced - compute_end;

    // Optimizer step over the device's shards, then (ZeRO 1) the updated weights all-gathered.
    double optimizer = 0, weights = 0;
    for (int s : plan.placement.device_stages[d]) {
      optimizer += stages[s].parallel.optimizer_ms / speed;
      weights += stages[s].param_bytes;
    }
    double end = synced;
    if (optimizer > 0) {
      if (record) r.collectives.push_back({CollectiveKind::OptimizerStep, d, -1, -1, Op::F, end, end + optimizer, 0.0});
      dev_ms[static_cast<int>(CollectiveKind::OptimizerStep)] += optimizer;
      end += optimizer;
    }
    double exposed_gather = 0;
    if (p.zero == 1 && reduce) {
      const double ag = all_gather_ms(weights, group);
      dev_ms[static_cast<int>(CollectiveKind::ParamGather)] += ag;
      // With overlap_param_gather it runs under the next iteration's first forwards (drawn at this
      // iteration's start, where the previous step's gather runs).
      const double start = p.overlap_param_gather ? 0.0 : end;
      if (record) r.collectives.push_back({CollectiveKind::ParamGather, d, -1, -1, Op::F, start, start + ag, weights});
      if (!p.overlap_param_gather) {
        end += ag;
        exposed_gather = ag;
      }
    }
    iteration = std::max(iteration, end);
    compute_plus_step = std::max(compute_plus_step, compute_end + optimizer + exposed_gather);
  }

  m.iteration_ms = iteration;
  r.iteration_ms = iteration;
  m.exposed_grad_sync_ms = std::max(0.0, iteration - compute_plus_step);
  m.exposed_comm_ms = m.exposed_grad_sync_ms + worst_blocking;
  if (workload && workload->tokens_per_microbatch > 0 && iteration > 0) {
    const double replicas = p.dp;
    const double mbs = plan.num_microbatches;
    m.tokens_per_iteration = workload->tokens_per_microbatch * mbs * replicas;
    m.tokens_per_s = m.tokens_per_iteration / (iteration * 1e-3);
    const double flops = workload->model_flops_per_microbatch * mbs * replicas;
    m.model_flops_per_gpu = flops / m.gpus / (iteration * 1e-3);
    const double peak = cluster.devices.front().peak_tflops * 1e12;
    m.mfu = peak > 0 ? m.model_flops_per_gpu / peak : 0.0;
  }
  if (record)
    std::stable_sort(r.collectives.begin(), r.collectives.end(), [](const CollectiveRecord& a, const CollectiveRecord& b) {
      return a.device != b.device ? a.device < b.device : a.start < b.start;
    });
}

}  // namespace sim
}  // namespace adaptis
