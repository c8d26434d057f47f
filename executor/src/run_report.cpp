#include "adaptis/executor/run_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <vector>

#include "adaptis/model/error.h"

namespace adaptis::exec {

double relative_error(double predicted, double measured) {
  if (!(predicted > 0) || !std::isfinite(predicted) || !(measured > 0) || !std::isfinite(measured)) return std::nan("");
  return (measured - predicted) / predicted;
}


RunComparison compare_run(const RunRecord& run) {
  if (run.steps.empty())
    throw InputError("run " + std::to_string(run.summary.id) + " recorded no iteration (status " + run.summary.status +
                     ")");
  RunComparison c;
  // Leave the first iteration out when there are several: it pays for first-touch allocation.
  const int first_step = run.steps.size() > 1 ? run.steps[1].step : run.steps[0].step;
  std::map<int, int64_t> step_start;
  for (const StepRow& s : run.steps)
    if (s.step >= first_step) step_start[s.step] = s.start_ns;
  c.steps_used = static_cast<int>(step_start.size());
  c.predicted_iteration_ms = run.summary.predicted_iteration_ms;
  c.measured_iteration_ms = measured_iteration_ms(step_iteration_ms(run.steps));
  c.iteration_error = relative_error(c.predicted_iteration_ms, c.measured_iteration_ms);

  const int D = static_cast<int>(run.devices.size());
  c.devices.resize(D);
  for (int d = 0; d < D; ++d) {
    DeviceComparison& dc = c.devices[d];
    const DeviceInfo& di = run.devices[d];
    dc.device = di.device;
    dc.stages = di.stages;
    dc.predicted_busy_ms = di.predicted_busy_ms;
    dc.predicted_end_ms = di.predicted_end_ms;
    dc.predicted_peak_activation_bytes = di.predicted_peak_activation_bytes;
    dc.measured_peak_activation_bytes = static_cast<double>(di.measured_peak_activation_bytes);
  }
  // Measured sums per device and per step; the list end is the last non-optimizer instruction.
  std::map<std::pair<int, int>, int64_t> end_of;  // (device, step) -> last end
  struct Acc { double sum = 0, cpu = 0; int n = 0; };
  std::map<std::pair<int, Op>, Acc> op_measured;  // (stage, op)
  std::map<int, double> mb_measured;              // mb -> compute ms summed over the steps used
  double compute_wall = 0, compute_cpu = 0;
  bool have_cpu = false;
  const double n_steps = static_cast<double>(c.steps_used);
  for (const MeasuredInterval& m : run.measured) {
    auto it = step_start.find(m.step);
    if (it == step_start.end() || m.device < 0 || m.device >= D || m.seq < 0) continue;
    const double ms = static_cast<double>(m.end_ns - m.start_ns) * 1e-6;
    DeviceComparison& dc = c.devices[m.device];
    if (m.kind == MeasuredKind::Compute) {
      const double cpu_ms = static_cast<double>(m.cpu_ns) * 1e-6;
      dc.measured_busy_ms += ms / n_steps;
      dc.measured_busy_cpu_ms += cpu_ms / n_steps;
      if (m.mb >= 0) mb_measured[m.mb] += ms;
      Acc& a = op_measured[{m.stage, m.op}];
      a.sum += ms;
      a.cpu += cpu_ms;
      ++a.n;
      compute_wall += ms;
      compute_cpu += cpu_ms;
      have_cpu |= m.cpu_ns > 0;
    } else if (m.kind == MeasuredKind::WaitRecv) {
      dc.measured_wait_ms += ms / n_steps;
    } else {
      dc.measured_comm_ms += ms / n_steps;
    }
    int64_t& e = end_of[{m.device, m.step}];
    e = std::max(e, m.end_ns - it->second);
  }
  for (const auto& [key, end] : end_of) c.devices[key.first].measured_end_ms += static_cast<double>(end) * 1e-6 / n_steps;
  for (DeviceComparison& dc : c.devices) {
    dc.busy_error = relative_error(dc.predicted_busy_ms, dc.measured_busy_ms);
    dc.end_error = relative_error(dc.predicted_end_ms, dc.measured_end_ms);
    if (!have_cpu) dc.measured_busy_cpu_ms = std::nan("");
    dc.busy_cpu_error = relative_error(dc.predicted_busy_ms, dc.measured_busy_cpu_ms);
    dc.cpu_share = dc.measured_busy_ms > 0 ? dc.measured_busy_cpu_ms / dc.measured_busy_ms : std::nan("");
  }
  if (have_cpu && compute_wall > 0) {
    c.cpu_share = compute_cpu / compute_wall;
    c.predicted_at_share_ms = c.predicted_iteration_ms / c.cpu_share;
    c.share_adjusted_error = relative_error(c.predicted_at_share_ms, c.measured_iteration_ms);
  } else {
    c.cpu_share = c.predicted_at_share_ms = c.share_adjusted_error = std::nan("");
  }

  // Hand-over latency: each blocked WAIT against the end of the SEND of its message.
  {
    std::map<std::tuple<int, int, TensorKind, int, int>, int64_t> send_end;  // (step, sender, tensor, stage, mb)
    for (const MeasuredInterval& m : run.measured)
      if (m.kind == MeasuredKind::Send && step_start.count(m.step)) send_end[{m.step, m.device, m.tensor, m.stage, m.mb}] = m.end_ns;
    std::vector<double> lat;
    for (const MeasuredInterval& m : run.measured) {
      if (m.kind != MeasuredKind::WaitRecv || !step_start.count(m.step)) continue;
      auto it = send_end.find({m.step, m.peer, m.tensor, m.stage, m.mb});
      if (it == send_end.end() || it->second <= m.start_ns) continue;  // arrived before the wait began
      lat.push_back(static_cast<double>(std::max<int64_t>(0, m.end_ns - it->second)) * 1e-6);
    }
    std::sort(lat.begin(), lat.end());
    c.handoff_ms = lat.empty() ? std::nan("")
                   : lat.size() % 2 ? lat[lat.size() / 2]
                                    : 0.5 * (lat[lat.size() / 2 - 1] + lat[lat.size() / 2]);
  }

  // Predicted duration per (stage, op): the simulator gives every micro-batch the same cost.
  std::map<std::pair<int, Op>, Acc> op_predicted;
  std::map<int, double> mb_predicted;
  for (const PredictedInterval& p : run.predicted) {
    mb_predicted[p.mb] += static_cast<double>(p.end_ns - p.start_ns) * 1e-6;
    Acc& a = op_predicted[{p.stage, p.op}];
    a.sum += static_cast<double>(p.end_ns - p.start_ns) * 1e-6;
    ++a.n;
  }
  for (const auto& [key, m] : op_measured) {
    OpComparison o;
    o.stage = key.first;
    o.op = key.second;
    o.samples = m.n;
    o.measured_ms = m.n ? m.sum / m.n : 0;
    o.measured_cpu_ms = have_cpu && m.n ? m.cpu / m.n : std::nan("");
    auto p = op_predicted.find(key);
    o.predicted_ms = p != op_predicted.end() && p->second.n ? p->second.sum / p->second.n : std::nan("");
    o.error = relative_error(o.predicted_ms, o.measured_ms);
    o.cpu_error = relative_error(o.predicted_ms, o.measured_cpu_ms);
    c.ops.push_back(o);
  }
  std::sort(c.ops.begin(), c.ops.end(), [](const OpComparison& a, const OpComparison& b) {
    return a.stage != b.stage ? a.stage < b.stage : a.op < b.op;
  });
  for (const auto& [mb, ms] : mb_measured) {
    MicroBatchComparison u;
    u.mb = mb;
    u.measured_ms = ms / n_steps;
    auto p = mb_predicted.find(mb);
    u.predicted_ms = p != mb_predicted.end() ? p->second : std::nan("");
    u.error = relative_error(u.predicted_ms, u.measured_ms);
    c.microbatches.push_back(u);
  }
  return c;
}

std::vector<double> microbatch_compute_ms(const Program& program, const StepResult& step) {
  std::vector<double> out(static_cast<size_t>(std::max(program.num_microbatches, 0)), 0.0);
  for (int d = 0; d < program.num_devices() && d < static_cast<int>(step.intervals.size()); ++d) {
    const auto& list = program.devices[static_cast<size_t>(d)];
    const auto& iv = step.intervals[static_cast<size_t>(d)];
    for (size_t i = 0; i < list.size() && i < iv.size(); ++i)
      if (list[i].kind == InstrKind::Compute && list[i].mb >= 0 && list[i].mb < static_cast<int>(out.size()))
        out[static_cast<size_t>(list[i].mb)] += static_cast<double>(iv[i].end_ns - iv[i].start_ns) * 1e-6;
  }
  return out;
}

std::vector<double> predicted_microbatch_ms(const std::vector<PredictedInterval>& predicted, int m) {
  std::vector<double> out(static_cast<size_t>(std::max(m, 0)), 0.0);
  for (const PredictedInterval& p : predicted)
    if (p.mb >= 0 && p.mb < m) out[static_cast<size_t>(p.mb)] += static_cast<double>(p.end_ns - p.start_ns) * 1e-6;
  return out;
}

}  // namespace adaptis::exec
