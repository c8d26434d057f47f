#include "explorer/timeline_data.h"

#include <algorithm>
#include <numeric>

#include "adaptis/planner/p2p_transfers.h"
#include "common/format.h"

namespace adaptis::explorer {

const char* box_kind_name(BoxKind k) {
  switch (k) {
    case BoxKind::F: return "F";
    case BoxKind::B: return "B";
    case BoxKind::W: return "W";
    case BoxKind::BW: return "BW";
    case BoxKind::Send: return "send";
    case BoxKind::Recv: return "recv";
    case BoxKind::Idle: return "idle";
    case BoxKind::Measured: return "measured";
    case BoxKind::R: return "R";
    case BoxKind::Offload: return "offload";
    case BoxKind::Reload: return "reload";
    case BoxKind::GradSync: return "dp sync";
    case BoxKind::ParamGather: return "zero gather";
    case BoxKind::TensorComm: return "tp comm";
    case BoxKind::ContextComm: return "cp comm";
    case BoxKind::ExpertComm: return "ep comm";
    case BoxKind::OptimizerStep: return "optimizer step";
  }
  return "?";
}

std::string describe_collective(const TimelineBox& b, const SimResult* sim) {
  const std::string stage = b.stage >= 0 ? " of s" + std::to_string(b.stage) : std::string(" of every stage");
  const std::string action =
      b.mb >= 0 ? std::string(" ") + op_name(b.op) + " s" + std::to_string(b.stage) + " mb" + std::to_string(b.mb) : stage;
  std::string text;
  switch (b.kind) {
    case BoxKind::GradSync: text = "data-parallel gradient sync" + stage; break;
    case BoxKind::ParamGather:
      text = b.mb >= 0 ? "ZeRO weight all-gather for" + action : "ZeRO weight all-gather" + stage + " after the optimizer";
      break;
    case BoxKind::TensorComm: text = "tensor-parallel collectives of" + action; break;
    case BoxKind::ContextComm: text = "context-parallel ring exchange of" + action + " (not hidden)"; break;
    case BoxKind::ExpertComm: text = "expert-parallel all-to-all of" + action; break;
    case BoxKind::OptimizerStep: text = "optimizer step" + stage; break;
    default: return box_kind_name(b.kind);
  }
  if (sim && b.ref < sim->collectives.size() && sim->collectives[b.ref].bytes > 0)
    text += " (" + app::format_bytes(sim->collectives[b.ref].bytes) + ")";
  return text;
}

void Lane::finish() {
  if (!std::is_sorted(boxes.begin(), boxes.end(),
                      [](const TimelineBox& a, const TimelineBox& b) { return a.start < b.start; }))
    std::stable_sort(boxes.begin(), boxes.end(),
                     [](const TimelineBox& a, const TimelineBox& b) { return a.start < b.start; });
  max_end.resize(boxes.size());
  double m = -1e300;
  for (size_t i = 0; i < boxes.size(); ++i) {
    m = std::max(m, boxes[i].end);
    max_end[i] = m;
  }
}

size_t Lane::first_reaching(double t) const {
  return static_cast<size_t>(std::lower_bound(max_end.begin(), max_end.end(), t) - max_end.begin());
}

size_t Lane::last_starting(double t) const {
  return static_cast<size_t>(
      std::upper_bound(boxes.begin(), boxes.end(), t, [](double v, const TimelineBox& b) { return v < b.start; }) -
      boxes.begin());
}

PathStep TimelineData::locate(Op op, int stage, int mb) const {
  if (stage < 0 || stage >= num_stages || mb < 0 || mb >= num_microbatches) return {-1, -1};
  return where[(static_cast<size_t>(stage) * num_microbatches + mb) * kNumOps + static_cast<int>(op)];
}

namespace {

constexpr double kEps = 1e-9;

void index_actions(TimelineData& data) {
  data.where.assign(static_cast<size_t>(data.num_stages) * data.num_microbatches * kNumOps, PathStep{-1, -1});
  for (size_t d = 0; d < data.devices.size(); ++d) {
    const auto& boxes = data.devices[d].compute.boxes;
    for (size_t i = 0; i < boxes.size(); ++i) {
      const TimelineBox& b = boxes[i];
      if (b.stage < 0 || b.stage >= data.num_stages || b.mb < 0 || b.mb >= data.num_microbatches) continue;
      data.where[(static_cast<size_t>(b.stage) * data.num_microbatches + b.mb) * kNumOps + static_cast<int>(b.op)] = {
          static_cast<int>(d), static_cast<int>(i)};
    }
  }
}

// Dense (op, stage, mb) -> value table; plans are small enough (stages * mbs * kNumOps) for a flat array.
template <typename T>
struct ActionTable {
  int stages = 0, mbs = 0;
  std::vector<T> v;
  ActionTable(int s, int m, T fill) : stages(s), mbs(m), v(static_cast<size_t>(s) * m * kNumOps, fill) {}
  bool in_range(int s, int mb) const { return s >= 0 && s < stages && mb >= 0 && mb < mbs; }
  T& at(Op op, int s, int mb) { return v[(static_cast<size_t>(s) * mbs + mb) * kNumOps + static_cast<int>(op)]; }
};

struct Where {
  int device = -1, index = -1;
};

// The box of a timed action; `ref` is its index in the list it came from.
TimelineBox box_of(const TimedAction& ta, BoxKind kind, size_t ref) {
  TimelineBox b;
  b.start = ta.start;
  b.end = ta.end;
  b.kind = kind;
  b.op = ta.action.op;
  b.stage = ta.action.stage;
  b.mb = ta.action.mb;
  b.ref = static_cast<uint32_t>(ref);
  return b;
}

}  // namespace

TimelineData build_timeline(const Plan& plan, const SimResult& sim, const std::vector<StageCost>& stages,
                            const Cluster& cluster, const SimOptions& opt, const std::vector<UnitStageCost>* unit_costs) {
  TimelineData data;
  data.t_end = sim.iteration_ms;
  const int D = static_cast<int>(sim.timeline.size());
  data.devices.resize(D);
  if (!sim.ok) return data;
  for (int d = 0; d < D; ++d) {
    auto& lane = data.devices[d].compute.boxes;
    lane.reserve(sim.timeline[d].size());
    for (size_t i = 0; i < sim.timeline[d].size(); ++i) {
      lane.push_back(box_of(sim.timeline[d][i], box_kind_of(sim.timeline[d][i].action.op), i));
    }
    data.num_actions += lane.size();
  }

  // Transfers, timed with the simulator's own link model (per-link FIFO from the producer's release).
  for (const Transfer& t : derive_transfers(plan, sim.timeline, &stages, &cluster, opt, unit_costs)) {
    if (!(t.end > t.start)) continue;  // nothing to draw: an instantaneous hand-over
    if (t.src_device >= D || t.dst_device >= D) continue;
    TimelineBox b;
    b.start = t.start;
    b.end = t.end;
    b.op = t.producer.op;
    b.stage = t.producer.stage;
    b.mb = t.producer.mb;
    b.kind = BoxKind::Send;
    b.peer = t.dst_device;
    data.devices[t.src_device].send.boxes.push_back(b);
    b.kind = BoxKind::Recv;
    b.peer = t.src_device;
    data.devices[t.dst_device].recv.boxes.push_back(b);
  }

  for (size_t k = 0; k < sim.gaps.size(); ++k) {
    const Gap& g = sim.gaps[k];
    if (g.device < 0 || g.device >= D) continue;
    TimelineBox b;
    b.start = g.start;
    b.end = g.end;
    b.kind = BoxKind::Idle;
    b.op = g.waiting.op;
    b.stage = g.waiting.stage;
    b.mb = g.waiting.mb;
    b.peer = g.producer_device;
    b.ref = static_cast<uint32_t>(k);
    data.devices[g.device].idle.boxes.push_back(b);
  }

  // Host-link copies (memory policies' offload), as the simulator timed them.
  for (size_t k = 0; k < sim.host_transfers.size(); ++k) {
    const HostTransfer& h = sim.host_transfers[k];
    if (h.device < 0 || h.device >= D) continue;
    TimelineBox b;
    b.start = h.start;
    b.end = h.end;
    b.kind = h.to_host ? BoxKind::Offload : BoxKind::Reload;
    b.op = Op::F;
    b.stage = h.stage;
    b.mb = h.mb;
    b.ref = static_cast<uint32_t>(k);
    data.devices[h.device].host.boxes.push_back(b);
  }

  // Collectives of a whole-cluster plan, as the simulator timed them.
  for (size_t k = 0; k < sim.collectives.size(); ++k) {
    const CollectiveRecord& c = sim.collectives[k];
    if (c.device < 0 || c.device >= D || !(c.end > c.start)) continue;
    TimelineBox b;
    b.start = c.start;
    b.end = c.end;
    b.kind = box_kind_of(c.kind);
    b.op = c.op;
    b.stage = c.stage;
    b.mb = c.mb;
    b.ref = static_cast<uint32_t>(k);
    const bool blocking = c.kind == CollectiveKind::TensorParallel || c.kind == CollectiveKind::ContextParallel ||
                          c.kind == CollectiveKind::ExpertParallel;
    (blocking ? data.devices[c.device].tp : data.devices[c.device].dp).boxes.push_back(b);
  }

  for (auto& dev : data.devices) {
    dev.compute.finish();
    dev.send.finish();
    dev.recv.finish();
    dev.idle.finish();
    dev.host.finish();
    dev.dp.finish();
    dev.tp.finish();
  }
  data.num_stages = plan.num_stages();
  data.num_microbatches = plan.num_microbatches;
  index_actions(data);
  data.critical_path = critical_path(data, plan);
  return data;
}

TimelineData timeline_of_actions(const std::vector<std::vector<TimedAction>>& actions, int num_stages,
                                 int num_microbatches) {
  TimelineData data;
  data.devices.resize(actions.size());
  data.num_stages = num_stages;
  data.num_microbatches = num_microbatches;
  for (size_t d = 0; d < actions.size(); ++d) {
    Lane& lane = data.devices[d].compute;
    for (size_t i = 0; i < actions[d].size(); ++i) {
      lane.boxes.push_back(box_of(actions[d][i], box_kind_of(actions[d][i].action.op), i));
      data.t_end = std::max(data.t_end, actions[d][i].end);
    }
    lane.finish();
    data.num_actions += lane.size();
  }
  index_actions(data);
  return data;
}

MeasuredLanes measured_lanes(const std::vector<std::vector<TimedAction>>& measured) {
  MeasuredLanes out;
  out.devices.resize(measured.size());
  for (size_t d = 0; d < measured.size(); ++d) {
    Lane& lane = out.devices[d];
    lane.boxes.reserve(measured[d].size());
    for (size_t i = 0; i < measured[d].size(); ++i) {
      lane.boxes.push_back(box_of(measured[d][i], BoxKind::Measured, i));
      out.t_end = std::max(out.t_end, measured[d][i].end);
    }
    lane.finish();
  }
  return out;
}

std::vector<ActionEdge> action_edges(const TimelineData& data, Op op, int stage, int mb) {
  std::vector<ActionEdge> out;
  auto add = [&](bool incoming, Op o, int s) {
    const PathStep w = data.locate(o, s, mb);
    if (w.device >= 0) out.push_back({incoming, o, s, mb, w});
  };
  switch (op) {
    case Op::F:
      add(true, Op::F, stage - 1);
      add(false, Op::F, stage + 1);
      add(false, Op::R, stage);
      add(false, Op::B, stage);
      add(false, Op::BW, stage);
      break;
    case Op::B:
    case Op::BW:
      add(true, Op::F, stage);
      add(true, Op::R, stage);
      add(true, Op::B, stage + 1);
      add(true, Op::BW, stage + 1);
      add(false, Op::B, stage - 1);
      add(false, Op::BW, stage - 1);
      if (op == Op::B) add(false, Op::W, stage);
      break;
    case Op::W: add(true, Op::B, stage); break;
    case Op::R:
      add(true, Op::F, stage);
      add(false, Op::B, stage);
      add(false, Op::BW, stage);
      break;
  }
  return out;
}

std::vector<PathStep> critical_path(TimelineData& data, const Plan& plan) {
  std::vector<PathStep> path;
  const int D = static_cast<int>(data.devices.size());
  const int S = plan.num_stages(), M = plan.num_microbatches;
  if (D == 0 || S == 0 || M == 0) return path;
  ActionTable<Where> where(S, M, Where{});
  int last_d = -1, last_i = -1;
  double last_end = -1;
  for (int d = 0; d < D; ++d) {
    const auto& boxes = data.devices[d].compute.boxes;
    for (size_t i = 0; i < boxes.size(); ++i) {
      const TimelineBox& b = boxes[i];
      if (where.in_range(b.stage, b.mb)) where.at(b.op, b.stage, b.mb) = {d, static_cast<int>(i)};
      if (b.end > last_end) {
        last_end = b.end;
        last_d = d;
        last_i = static_cast<int>(i);
      }
    }
  }
  // When a cross-device dependency's output reached its consumer: its recv box end, else its end.
  ActionTable<double> arrival(S, M, -1.0);
  for (int d = 0; d < D; ++d)
    for (const TimelineBox& r : data.devices[d].recv.boxes) {
      const int cs = r.op == Op::F ? r.stage + 1 : r.stage - 1;
      if (!arrival.in_range(cs, r.mb)) continue;
      // The consumer is F of the next stage, or B/BW of the previous one (whichever exists).
      if (r.op == Op::F) {
        double& v = arrival.at(Op::F, cs, r.mb);
        v = std::max(v, r.end);
      } else {
        for (Op op : {Op::B, Op::BW}) {
          double& v = arrival.at(op, cs, r.mb);
          v = std::max(v, r.end);
        }
      }
    }

  auto box = [&](const Where& w) -> TimelineBox& { return data.devices[w.device].compute.boxes[w.index]; };
  Where cur{last_d, last_i};
  size_t guard = data.num_actions + 1;
  while (cur.device >= 0 && guard-- > 0) {
    path.push_back({cur.device, cur.index});
    const TimelineBox& c = box(cur);
    if (c.start <= kEps) break;
    // Producers of this action (other than its device predecessor) and when each was ready here.
    Where best{};
    double best_ready = -1;
    auto consider = [&](Op op, int s) {
      if (!where.in_range(s, c.mb)) return;
      Where w = where.at(op, s, c.mb);
      if (w.device < 0) return;
      double ready = box(w).end;
      if (w.device != cur.device) {
        double arr = arrival.at(c.op, c.stage, c.mb);
        if (arr > ready) ready = arr;
      }
      if (ready > best_ready) {
        best_ready = ready;
        best = w;
      }
    };
    for (const ActionEdge& e : action_edges(data, c.op, c.stage, c.mb))
      if (e.incoming) consider(e.op, e.stage);
    Where prev{};
    double prev_end = -1;
    if (cur.index > 0) {
      prev = {cur.device, cur.index - 1};
      prev_end = box(prev).end;
    }
    const double tol = 1e-6 * std::max(1.0, c.start);
    // Prefer the dependency when it arrived last (it explains the pipeline's shape); fall back to
    // the device predecessor when the device was busy until this action started.
    if (best.device >= 0 && best_ready >= c.start - tol && best_ready >= prev_end - tol) cur = best;
    else if (prev.device >= 0 && prev_end >= c.start - tol) cur = prev;
    else if (best.device >= 0 || prev.device >= 0) cur = best_ready >= prev_end ? best : prev;
    else break;
  }
  std::reverse(path.begin(), path.end());
  for (const PathStep& p : path) data.devices[p.device].compute.boxes[p.index].critical = true;
  return path;
}

}  // namespace adaptis::explorer
