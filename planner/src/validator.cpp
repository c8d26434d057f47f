#include "adaptis/planner/validator.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "adaptis/model/cluster.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/units.h"

namespace adaptis {

std::string ValidationReport::message() const {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e;
  return out;
}

namespace {

// A plan read from a file can be wrong a million times over (one stray id implies a million missing
// micro-batches): the report lists the first problems and counts the rest.
class Problems {
 public:
  static constexpr size_t kMaxListed = 20;
  void operator()(std::string s) {
    if (report_.errors.size() < kMaxListed) report_.errors.push_back(std::move(s));
    else ++unlisted_;
  }
  bool ok() const { return report_.ok(); }
  ValidationReport take() {
    if (unlisted_ > 0) report_.errors.push_back("... and " + std::to_string(unlisted_) + " more problems");
    return std::move(report_);
  }

 private:
  ValidationReport report_;
  size_t unlisted_ = 0;
};

void check_plan(const Plan& plan, int num_layers, Problems& r) {
  auto err = [&](std::string s) { r(std::move(s)); };
  const Partition& part = plan.partition;
  const int S = part.num_stages(), D = plan.num_devices(), m = plan.num_microbatches;

  if (S < 1) err("partition: no stages");
  if (m < 1) err("plan: num_microbatches must be >= 1, got " + std::to_string(m));
  if (D < 1) err("placement: no devices");
  if (plan.parallel) {  // a whole-cluster plan: its devices are the pipeline ranks of one replica
    if (plan.parallel->pp != D)
      err("parallel.pp: " + std::to_string(plan.parallel->pp) + " but the plan has " + std::to_string(D) + " devices");
    if (plan.parallel->microbatches != m)
      err("parallel.microbatches: " + std::to_string(plan.parallel->microbatches) + " but the plan runs " +
          std::to_string(m) + " micro-batches");
    // The configuration's recompute is already folded into every layer's costs (uniformly); a stage
    // policy on top would recompute the same layers a second time.
    if (plan.parallel->recompute != Recompute::None)
      for (size_t s = 0; s < plan.memory.size(); ++s)
        if (plan.memory[s].recompute != Recompute::None)
          err("memory: stage " + std::to_string(s) + " recomputes ('" + recompute_name(plan.memory[s].recompute) +
              "') on top of parallel.recompute '" + recompute_name(plan.parallel->recompute) +
              "', which would recompute its layers twice; set one of them to none");
  }
  if (S >= 1) {
    if (part.bounds.front() != 0) err("partition: must start at layer 0, starts at " + std::to_string(part.bounds.front()));
    if (num_layers >= 0 && part.num_layers() != num_layers)
      err("partition: covers " + std::to_string(part.num_layers()) + " layers but the model has " +
          std::to_string(num_layers) + " (sizes must add up to the layer count)");
    for (int s = 0; s < S; ++s)
      if (part.stage_size(s) < 1) err("partition: stage " + std::to_string(s) + " has " + std::to_string(part.stage_size(s)) + " layers; every stage needs at least one");
  }
  std::vector<int> placed(std::max(S, 0), 0);
  for (int d = 0; d < D; ++d)
    for (int s : plan.placement.device_stages[d]) {
      if (s < 0 || s >= S) err("placement: device " + std::to_string(d) + " holds stage " + std::to_string(s) + " which does not exist (stages 0.." + std::to_string(S - 1) + ")");
      else ++placed[s];
    }
  for (int s = 0; s < S; ++s)
    if (placed[s] != 1) err("placement: stage " + std::to_string(s) + " is placed on " + std::to_string(placed[s]) + " devices; it must be on exactly one");
  // Variable-length units: one per micro-batch, well formed (units.h).
  if (!plan.units.empty()) {
    if (static_cast<int>(plan.units.size()) != m)
      err("units: " + std::to_string(plan.units.size()) + " units for " + std::to_string(m) +
          " micro-batches; there must be one unit per micro-batch");
    for (auto& e : unit_problems(plan.units)) err(e);
  }
  if (static_cast<int>(plan.schedule.size()) != D) {
    err("schedule: has " + std::to_string(plan.schedule.size()) + " device lists but the placement has " + std::to_string(D) + " devices");
    return;
  }
  if (!r.ok()) return;

  // Every (stage, mb) needs its own F, so a valid plan holds at least S * m actions; checking that
  // first keeps the table below as small as the plan itself, whatever m and S claim.
  const size_t total = plan.num_actions();
  if (static_cast<size_t>(S) * static_cast<size_t>(m) > total) {
    err("schedule: holds " + std::to_string(total) + " actions, but " + std::to_string(S) + " stages x " +
        std::to_string(m) + " micro-batches need at least " + std::to_string(static_cast<size_t>(S) * m) +
        " forward (F) actions alone");
    return;
  }
  std::vector<int> stage_dev = plan.placement.stage_device();
  // Per (stage, mb): counts and positions of each op.
  struct Seen { int count[kNumOps] = {}; int pos[kNumOps] = {-1, -1, -1, -1, -1}; };
  std::vector<Seen> seen(static_cast<size_t>(S) * m);
  for (int d = 0; d < D; ++d) {
    for (size_t i = 0; i < plan.schedule[d].size(); ++i) {
      const Action& a = plan.schedule[d][i];
      // Built only for an error: formatting it for every action would dominate validating a large plan.
      auto at = [&] { return "schedule: device " + std::to_string(d) + " position " + std::to_string(i) + " '" + to_string(a) + "'"; };
      if (a.stage < 0 || a.stage >= S) { err(at() + ": stage out of range 0.." + std::to_string(S - 1)); continue; }
      if (a.mb < 0 || a.mb >= m) { err(at() + ": micro-batch out of range 0.." + std::to_string(m - 1)); continue; }
      if (stage_dev[a.stage] != d) err(at() + ": stage " + std::to_string(a.stage) + " is placed on device " + std::to_string(stage_dev[a.stage]));
      if (a.overlap_prev && i == 0) err(at() + ": marked overlapped but has no previous action");
      Seen& sn = seen[static_cast<size_t>(a.stage) * m + a.mb];
      int o = static_cast<int>(a.op);
      if (++sn.count[o] == 1) sn.pos[o] = static_cast<int>(i);
    }
  }
  if (!r.ok()) return;
  for (int s = 0; s < S; ++s)
    for (int mb = 0; mb < m; ++mb) {
      const Seen& sn = seen[static_cast<size_t>(s) * m + mb];
      auto at = [&] { return "schedule: stage " + std::to_string(s) + " mb " + std::to_string(mb); };
      int f = sn.count[0], b = sn.count[1], w = sn.count[2], bw = sn.count[3];
      if (f != 1) err(at() + ": has " + std::to_string(f) + " F actions, needs exactly 1");
      if (bw > 1 || b > 1 || w > 1) err(at() + ": a backward action is repeated");
      if (bw == 1 && (b || w)) err(at() + ": has both BW and split B/W");
      if (bw == 0 && (b != 1 || w != 1)) err(at() + ": is missing its backward (needs BW, or B and W)");
      // Same device for all ops of a stage, so positions compare directly.
      if (f == 1) {
        int pf = sn.pos[0];
        if (b == 1 && sn.pos[1] < pf) err(at() + ": B comes before its F");
        if (bw == 1 && sn.pos[3] < pf) err(at() + ": BW comes before its F");
        if (b == 1 && w == 1 && sn.pos[2] < sn.pos[1]) err(at() + ": W comes before its B");
      }
    }
  if (!r.ok()) return;
  // Memory policies and their R actions (memory_policy.h).
  std::vector<std::string> memory_errors;
  check_memory_policy(plan, memory_errors);
  for (auto& e : memory_errors) r(std::move(e));
  if (!r.ok()) return;

  // Deadlock check on the send/recv order: simulate with unit costs and no latency. The orders are
  // static, so any cost vector exposes the same cycles.
  try {
    std::vector<StageCost> unit(S);
    for (auto& c : unit) c.f_ms = c.b_ms = c.w_ms = 1.0;
    Cluster cl = make_uniform_cluster(D);
    if (plan.parallel) cl.topology.gpus_per_node = std::max(D, plan.parallel->gpus());  // room for its config
    SimOptions opt;
    opt.comm_latency_ms = 0;
    opt.record_gaps = false;
    opt.record_memory_timeline = false;
    SimResult sr = simulate_stages(plan, unit, cl, opt);
    if (!sr.ok) err(sr.error);
  } catch (const InputError& e) {
    err(e.what());
  }
}

}  // namespace

ValidationReport validate_plan(const Plan& plan, int num_layers) {
  Problems r;
  check_plan(plan, num_layers, r);
  return r.take();
}

void require_valid_plan(const Plan& plan, int num_layers, const std::string& origin) {
  ValidationReport r = validate_plan(plan, num_layers);
  if (!r.ok()) throw InputError(origin + ": invalid plan:\n" + r.message());
}

}  // namespace adaptis
