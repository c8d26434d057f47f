#include "adaptis/executor/run_trace.h"

#include <map>
#include <tuple>

#include "adaptis/model/error.h"
#include "adaptis/planner/p2p_transfers.h"
#include "adaptis/planner/plan_file.h"

namespace adaptis::exec {

namespace {

double ms(int64_t ns) { return static_cast<double>(ns) * 1e-6; }

// The plan's overlap flags and whether each (stage, mb) runs split B/W, for labelling actions.
struct PlanFacts {
  std::map<std::tuple<int, int, int>, bool> overlapped;  // (op, stage, mb)
  std::map<std::pair<int, int>, bool> split;             // (stage, mb) has a B
  explicit PlanFacts(const Plan& plan) {
    for (const auto& list : plan.schedule)
      for (const Action& a : list) {
        overlapped[{static_cast<int>(a.op), a.stage, a.mb}] = a.overlap_prev;
        if (a.op == Op::B) split[{a.stage, a.mb}] = true;
      }
  }
  Action action(Op op, int stage, int mb) const {
    auto it = overlapped.find({static_cast<int>(op), stage, mb});
    return Action{op, stage, mb, it != overlapped.end() && it->second};
  }
  Op grad_op(int stage, int mb) const { return split.count({stage, mb}) ? Op::B : Op::BW; }
};

}  // namespace

TraceTimeline measured_trace_timeline(const RunRecord& run, const Plan& plan, int step) {
  if (run.steps.empty())
    throw InputError("run " + std::to_string(run.summary.id) + " recorded no iteration to export");
  const StepRow* row = nullptr;
  for (const StepRow& s : run.steps)
    if (step < 0 ? true : s.step == step) row = &s;
  if (!row)
    throw InputError("run " + std::to_string(run.summary.id) + " has no recorded iteration " + std::to_string(step) +
                     " (it recorded " + std::to_string(run.steps.size()) + ")");
  const PlanFacts facts(plan);
  const int D = std::max(plan.num_devices(), run.summary.num_devices);
  TraceTimeline t;
  t.label = "measured";
  t.actions.assign(D, {});
  t.iteration_ms = row->iteration_ms();
  double bytes = 0;
  if (run.model.contains("micro_batch") && run.model.contains("seq") && run.model.contains("hidden"))
    bytes = 4.0 * run.model["micro_batch"].get<double>() * run.model["seq"].get<double>() *
            run.model["hidden"].get<double>();

  std::vector<const MeasuredInterval*> rows;
  for (const MeasuredInterval& m : run.measured)
    if (m.step == row->step && m.device >= 0 && m.device < D) rows.push_back(&m);
  std::vector<double> first_compute(D, -1), last_compute(D, 0), list_end(D, 0);
  for (const MeasuredInterval* m : rows) {
    const double s = ms(m->start_ns - row->start_ns), e = ms(m->end_ns - row->start_ns);
    if (m->seq >= 0) list_end[m->device] = std::max(list_end[m->device], e);
    if (m->kind == MeasuredKind::Compute) {
      t.actions[m->device].push_back({facts.action(m->op, m->stage, m->mb), m->device, s, e});
      if (first_compute[m->device] < 0) first_compute[m->device] = s;
      last_compute[m->device] = std::max(last_compute[m->device], e);
    }
  }
  // Each SEND is the copy of one message into its receiver's buffer.
  for (const MeasuredInterval* m : rows) {
    if (m->kind != MeasuredKind::Send) continue;
    const bool act = m->tensor == TensorKind::Activation;
    Transfer tr;
    tr.src_device = m->device;
    tr.dst_device = m->peer;
    tr.producer = act ? facts.action(Op::F, m->stage, m->mb) : facts.action(facts.grad_op(m->stage, m->mb), m->stage, m->mb);
    tr.consumer = act ? facts.action(Op::F, m->stage + 1, m->mb)
                      : facts.action(facts.grad_op(m->stage - 1, m->mb), m->stage - 1, m->mb);
    tr.bytes = bytes;
    tr.start = ms(m->start_ns - row->start_ns);
    tr.end = ms(m->end_ns - row->start_ns);
    t.transfers.push_back(tr);
  }
  // Every WAIT is idle time with a known cause: the device could not start its next compute.
  std::map<std::pair<int, int>, const MeasuredInterval*> by_seq;  // (device, seq)
  for (const MeasuredInterval* m : rows) by_seq[{m->device, m->seq}] = m;
  for (const MeasuredInterval* m : rows) {
    const bool reload = m->kind == MeasuredKind::WaitReload;  // activations still coming back from host memory
    if ((m->kind != MeasuredKind::WaitRecv && !reload) || m->end_ns <= m->start_ns) continue;
    Gap g;
    g.device = m->device;
    g.start = ms(m->start_ns - row->start_ns);
    g.end = ms(m->end_ns - row->start_ns);
    g.cause = reload ? GapCause::Reload : GapCause::Dependency;
    g.phase = first_compute[m->device] < 0 || g.end <= first_compute[m->device] ? BubblePhase::WarmUp
              : g.start >= last_compute[m->device]                                ? BubblePhase::CoolDown
                                                                                  : BubblePhase::InBetween;
    for (int k = m->seq + 1;; ++k) {  // the compute this wait held up
      auto it = by_seq.find({m->device, k});
      if (it == by_seq.end()) break;
      if (it->second->kind == MeasuredKind::Compute) {
        g.waiting = facts.action(it->second->op, it->second->stage, it->second->mb);
        break;
      }
    }
    const bool act = m->tensor == TensorKind::Activation;
    g.producer = act ? facts.action(Op::F, m->stage, m->mb) : facts.action(facts.grad_op(m->stage, m->mb), m->stage, m->mb);
    g.producer_device = reload ? m->device : m->peer;
    if (reload) {
      g.producer_end = g.arrival = g.end;
      t.gaps.push_back(g);
      continue;
    }
    for (const Transfer& tr : t.transfers)
      if (tr.src_device == m->peer && tr.dst_device == m->device && tr.producer.stage == m->stage &&
          tr.producer.mb == m->mb) {
        g.producer_end = tr.start;
        g.arrival = tr.end;
      }
    t.gaps.push_back(g);
  }
  for (int d = 0; d < D; ++d)
    if (list_end[d] < t.iteration_ms) {
      Gap g;
      g.device = d;
      g.start = list_end[d];
      g.end = t.iteration_ms;
      g.cause = GapCause::Drain;
      g.phase = BubblePhase::CoolDown;
      t.gaps.push_back(g);
    }
  return t;
}

TraceTimeline predicted_trace_timeline(const RunRecord& run, const Plan& plan) {
  const PlanFacts facts(plan);
  TraceTimeline t;
  t.label = "predicted";
  t.actions.assign(std::max(plan.num_devices(), run.summary.num_devices), {});
  for (const PredictedInterval& p : run.predicted) {
    if (p.device < 0 || p.device >= static_cast<int>(t.actions.size())) continue;
    t.actions[p.device].push_back({facts.action(p.op, p.stage, p.mb), p.device, ms(p.start_ns), ms(p.end_ns)});
  }
  t.iteration_ms = run.summary.predicted_iteration_ms;
  try {
    t.transfers = derive_transfers(plan, t.actions);
  } catch (const InputError&) {
    // A prediction without every action (an old or partial record) still draws its compute lanes.
  }
  return t;
}

nlohmann::json run_chrome_trace(const RunRecord& run, int step) {
  Plan plan = plan_from_json(run.plan, "run " + std::to_string(run.summary.id) + " plan");
  std::vector<TraceTimeline> timelines;
  if (!run.predicted.empty()) timelines.push_back(predicted_trace_timeline(run, plan));
  timelines.push_back(measured_trace_timeline(run, plan, step));
  nlohmann::json meta = {{"run", run.summary.id},
                         {"status", run.summary.status},
                         {"model", run.summary.model_name},
                         {"backend", run.summary.backend},
                         {"step", step < 0 ? run.steps.back().step : step},
                         {"machine", run.machine}};
  ChromeTraceOptions opt;
  opt.memory = false;
  return chrome_trace_json(plan, timelines, opt, meta);
}

size_t export_run_chrome_trace(const std::string& db_path, int64_t run_id, const std::string& out_path, int step) {
  RunStore store(db_path, StoreAccess::ReadOnly);
  RunRecord run = store.load_run(run_id);
  nlohmann::json trace = run_chrome_trace(run, step);
  write_chrome_trace(out_path, trace);
  return trace["traceEvents"].size();
}

}  // namespace adaptis::exec
