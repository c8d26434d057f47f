#include "adaptis/planner/p2p_transfers.h"

#include <algorithm>

namespace adaptis {

std::vector<Transfer> derive_transfers(const Plan& plan, const std::vector<std::vector<TimedAction>>& timeline,
                                       const std::vector<StageCost>* stages, const Cluster* cluster,
                                       const SimOptions& opt, const std::vector<UnitStageCost>* unit_costs) {
  const int S = plan.num_stages(), m = plan.num_microbatches;
  const int D = static_cast<int>(timeline.size());
  std::vector<Transfer> out;
  if (S < 1 || m < 1 || D < 1) return out;
  const std::vector<int> stage_dev = plan.placement.stage_device();
  auto device_of = [&](int s) { return s >= 0 && s < static_cast<int>(stage_dev.size()) ? stage_dev[s] : -1; };

  // Where each forward and each input-gradient action (B or BW) ran: slot (s, mb, 0=F / 1=grad).
  std::vector<const TimedAction*> where(static_cast<size_t>(S) * m * 2, nullptr);
  auto slot = [&](int s, int mb, bool grad) -> const TimedAction** {
    if (s < 0 || s >= S || mb < 0 || mb >= m) return nullptr;
    return &where[(static_cast<size_t>(s) * m + mb) * 2 + (grad ? 1 : 0)];
  };
  for (const auto& list : timeline)
    for (const auto& ta : list) {
      if (ta.action.op == Op::W || ta.action.op == Op::R) continue;  // they send nothing
      if (auto p = slot(ta.action.stage, ta.action.mb, ta.action.op != Op::F)) *p = &ta;
    }

  const bool link_model = stages && cluster && static_cast<int>(stages->size()) == S;
  const bool per_unit = unit_costs && unit_costs->size() == static_cast<size_t>(S) * m;
  auto bytes_of = [&](int stage, int mb) {
    return per_unit ? (*unit_costs)[static_cast<size_t>(stage) * m + mb].out_bytes : (*stages)[stage].out_bytes;
  };
  std::vector<double> link_free(static_cast<size_t>(D) * D, 0.0);
  for (int d = 0; d < D; ++d) {
    const auto& list = timeline[d];
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i].action;
      if (a.op == Op::R) continue;  // a recompute stays on its device
      int next_stage = a.op == Op::F ? a.stage + 1 : (a.op == Op::W ? -1 : a.stage - 1);
      if (next_stage < 0 || next_stage >= S) continue;
      int dst = device_of(next_stage);
      if (dst < 0 || dst == d || dst >= D) continue;
      const TimedAction** c = slot(next_stage, a.mb, a.op != Op::F);
      if (!c || !*c) continue;  // the consumer never ran (a partial measured timeline)
      Transfer t;
      t.src_device = d;
      t.dst_device = dst;
      t.producer = a;
      t.consumer = (*c)->action;
      // An overlapped F&B pair hands over both outputs when the pair ends (the simulator's rule).
      double release = list[i].end;
      if (i + 1 < list.size() && list[i + 1].action.overlap_prev) release = std::max(release, list[i + 1].end);
      if (link_model) {
        t.bytes = bytes_of(a.op == Op::F ? a.stage : next_stage, a.mb);
        Link l = cluster->link(d, dst);
        if (opt.comm_latency_ms) l.latency_ms = *opt.comm_latency_ms;
        double& lf = link_free[static_cast<size_t>(d) * D + dst];
        t.start = std::max(release, lf);
        t.end = t.start + l.transfer_ms(t.bytes);
        lf = t.end;
      } else {
        if (stages && static_cast<int>(stages->size()) == S)
          t.bytes = bytes_of(a.op == Op::F ? a.stage : next_stage, a.mb);
        t.start = release;
        t.end = std::max(release, (*c)->start);
      }
      out.push_back(t);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Transfer& x, const Transfer& y) {
    return x.src_device != y.src_device ? x.src_device < y.src_device : x.start < y.start;
  });
  return out;
}

}  // namespace adaptis
