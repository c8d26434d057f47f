// Stage memory policies: names, R placement, structural checks, host-link checks and the
// per-stage figures (rules in memory_policy.h).
#include "adaptis/planner/memory_policy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "adaptis/model/error.h"
#include "adaptis/model/recompute.h"

namespace adaptis {

std::string describe(const StageMemoryPolicy& p) {
  std::string s = recompute_name(p.recompute);
  if (p.recompute == Recompute::Full && p.full_layers > 0)
    s += " (first " + std::to_string(p.full_layers) + (p.full_layers == 1 ? " layer)" : " layers)");
  if (!p.units.empty() && recomputes(p))
    s += " on " + std::to_string(p.units.size()) + (p.units.size() == 1 ? " unit" : " units");
  if (p.offload_fraction > 0) {
    char buf[48];
    std::snprintf(buf, sizeof buf, " + offload %g%%", 100.0 * p.offload_fraction);
    s += buf;
  }
  return s;
}

std::string describe_memory(const std::vector<StageMemoryPolicy>& policies) {
  bool any = false;
  for (const auto& p : policies) any = any || recomputes(p) || p.offload_fraction > 0;
  if (!any) return "";
  std::string out;
  for (size_t s = 0; s < policies.size();) {
    size_t e = s + 1;
    while (e < policies.size() && policies[e] == policies[s]) ++e;
    // Appended piecewise: GCC 12 warns falsely (-Wrestrict) on "-" + std::to_string(...).
    out += out.empty() ? (e - s > 1 ? "stages " : "stage ") : ", ";
    out += std::to_string(s);
    if (e - s > 1) {
      out += '-';
      out += std::to_string(e - 1);
    }
    out += ' ';
    out += describe(policies[s]);
    s = e;
  }
  return out;
}

bool recomputes(const StageMemoryPolicy& p) { return p.recompute != Recompute::None; }

bool recomputes_unit(const StageMemoryPolicy& p, int mb) {
  return recomputes(p) && (p.units.empty() || std::binary_search(p.units.begin(), p.units.end(), mb));
}

StageMemoryPolicy stage_memory(const Plan& plan, int stage) {
  if (stage >= 0 && stage < static_cast<int>(plan.memory.size())) return plan.memory[stage];
  return StageMemoryPolicy{};
}

bool has_memory_policy(const Plan& plan) {
  for (const auto& p : plan.memory)
    if (recomputes(p) || p.offload_fraction > 0) return true;
  return false;
}

StageMemoryPolicy policy_over_units(StageMemoryPolicy p, const std::vector<WorkUnit>& units) {
  if (!recomputes(p) || units.empty()) p.units.clear();
  return p;
}

void set_memory_policy(Plan& plan, std::vector<StageMemoryPolicy> policies) {
  const int S = plan.num_stages();
  if (!policies.empty() && static_cast<int>(policies.size()) != S)
    throw InputError("memory policy: " + std::to_string(policies.size()) + " stage policies for a plan with " +
                     std::to_string(S) + " stages");
  plan.memory = std::move(policies);
  for (auto& list : plan.schedule) {
    std::vector<Action> out;
    out.reserve(list.size() + list.size() / 2);
    // Which (stage, mb) already have their R, so only the missing ones are added.
    std::vector<char> has_r;
    const int m = std::max(plan.num_microbatches, 1);
    has_r.assign(static_cast<size_t>(std::max(S, 1)) * m, 0);
    auto slot = [&](const Action& a) -> char* {
      if (a.stage < 0 || a.stage >= S || a.mb < 0 || a.mb >= m) return nullptr;
      return &has_r[static_cast<size_t>(a.stage) * m + a.mb];
    };
    auto rec = [&](const Action& a) { return recomputes_unit(stage_memory(plan, a.stage), a.mb); };
    for (const Action& a : list)
      if (a.op == Op::R && rec(a))
        if (char* h = slot(a)) *h = 1;
    for (const Action& a : list) {
      if (a.op == Op::R && !rec(a)) continue;
      if ((a.op == Op::B || a.op == Op::BW) && rec(a)) {
        char* h = slot(a);
        if (h && !*h) {
          // Right before the backward, or before the overlapped pair the backward closes.
          const Action r{Op::R, a.stage, a.mb, false};
          if (a.overlap_prev && !out.empty()) out.insert(out.end() - 1, r);
          else out.push_back(r);
          *h = 1;
        }
      }
      out.push_back(a);
    }
    list = std::move(out);
  }
}

void set_uniform_memory_policy(Plan& plan, const StageMemoryPolicy& policy) {
  set_memory_policy(plan, std::vector<StageMemoryPolicy>(static_cast<size_t>(plan.num_stages()), policy));
}

namespace {

// Stage s's policy against the plan's units (memory_policy.h's rules for units).
void check_unit_selection(const Plan& plan, int s, std::vector<std::string>& errors) {
  const StageMemoryPolicy& p = plan.memory[s];
  const std::string at = "memory: stage " + std::to_string(s);
  const int U = static_cast<int>(plan.units.size());
  if (!p.units.empty()) {
    if (U == 0) {
      errors.push_back(at + ": field 'units' selects units to recompute but the plan has no variable-length units "
                       "(field 'units'); leave it out to recompute every micro-batch");
      return;
    }
    if (!recomputes(p))
      errors.push_back(at + ": field 'units' selects units to recompute but the policy recomputes nothing ('" +
                       recompute_name(p.recompute) + "')");
    for (size_t k = 0; k < p.units.size(); ++k) {
      if (p.units[k] < 0 || p.units[k] >= U) {
        errors.push_back(at + ": units[" + std::to_string(k) + "] is " + std::to_string(p.units[k]) +
                         ", outside the plan's units 0.." + std::to_string(U - 1));
        return;
      }
      if (k > 0 && p.units[k] <= p.units[k - 1]) {
        errors.push_back(at + ": field 'units' must list unit indices in ascending order, each once (" +
                         std::to_string(p.units[k - 1]) + " then " + std::to_string(p.units[k]) + ")");
        return;
      }
    }
  }
}

}  // namespace

void check_memory_policy(const Plan& plan, std::vector<std::string>& errors) {
  const int S = plan.num_stages(), m = plan.num_microbatches;
  const int P = static_cast<int>(plan.memory.size());
  if (P > S) {
    errors.push_back("memory: has a policy for stage " + std::to_string(S) + (P > S + 1 ? ".." + std::to_string(P - 1) : "") +
                     ", which does not exist (the plan has " + std::to_string(S) + " stages: 0.." +
                     std::to_string(S - 1) + ")");
    return;
  }
  if (P > 0 && P < S) {
    errors.push_back("memory: has " + std::to_string(P) + " stage policies but the plan has " + std::to_string(S) +
                     " stages; give one per stage (or none)");
    return;
  }
  for (int s = 0; s < P; ++s) {
    const StageMemoryPolicy& p = plan.memory[s];
    const std::string at = "memory: stage " + std::to_string(s);
    const int n = s < plan.partition.num_stages() ? plan.partition.stage_size(s) : 0;
    if (p.full_layers < 0 || p.full_layers > n)
      errors.push_back(at + ": full_layers " + std::to_string(p.full_layers) + " outside [0, " + std::to_string(n) +
                       "] (the stage has " + std::to_string(n) + " layers; 0 = all)");
    if (p.full_layers != 0 && p.recompute != Recompute::Full)
      errors.push_back(at + ": full_layers applies to full recompute only (the policy is '" +
                       recompute_name(p.recompute) + "')");
    if (!std::isfinite(p.offload_fraction) || p.offload_fraction < 0 || p.offload_fraction > 1)
      errors.push_back(at + ": offload fraction " + std::to_string(p.offload_fraction) + " outside [0, 1]");
    check_unit_selection(plan, s, errors);
  }
  if (!errors.empty() || S < 1 || m < 1) return;

  // Positions of F, R and the backward of each (stage, mb) on its device.
  struct Pos {
    int f = -1, r = -1, b = -1, r_count = 0, r_device = -1, r_index = -1;
  };
  std::vector<Pos> pos(static_cast<size_t>(S) * m);
  for (int d = 0; d < static_cast<int>(plan.schedule.size()); ++d)
    for (size_t i = 0; i < plan.schedule[d].size(); ++i) {
      const Action& a = plan.schedule[d][i];
      if (a.stage < 0 || a.stage >= S || a.mb < 0 || a.mb >= m) continue;  // reported by the validator
      Pos& p = pos[static_cast<size_t>(a.stage) * m + a.mb];
      const int at = static_cast<int>(i);
      if (a.op == Op::F) p.f = at;
      if (a.op == Op::B || a.op == Op::BW) p.b = at;
      if (a.op == Op::R) {
        ++p.r_count;
        p.r = at;
        p.r_device = d;
        p.r_index = at;
        const StageMemoryPolicy sp = stage_memory(plan, a.stage);
        if (!recomputes(sp))
          errors.push_back("schedule: device " + std::to_string(d) + " position " + std::to_string(i) + " '" +
                           to_string(a) + "': R without a recompute policy (stage " + std::to_string(a.stage) +
                           "'s memory policy is '" + recompute_name(sp.recompute) + "')");
        else if (!recomputes_unit(sp, a.mb))
          errors.push_back("schedule: device " + std::to_string(d) + " position " + std::to_string(i) + " '" +
                           to_string(a) + "': R of a unit stage " + std::to_string(a.stage) +
                           " does not recompute (not in its memory policy's field 'units')");
      }
    }
  for (int s = 0; s < S; ++s) {
    const StageMemoryPolicy sp = stage_memory(plan, s);
    for (int mb = 0; mb < m; ++mb) {
      const bool rec = recomputes_unit(sp, mb);
      const Pos& p = pos[static_cast<size_t>(s) * m + mb];
      const std::string at = "schedule: stage " + std::to_string(s) + " mb " + std::to_string(mb);
      if (p.r_count > 1) errors.push_back(at + ": has " + std::to_string(p.r_count) + " R actions, needs at most 1");
      if (rec && p.r_count == 0)
        errors.push_back(at + ": stage " + std::to_string(s) + " recomputes ('" +
                         describe(stage_memory(plan, s)) + "') but has no R action before its backward");
      if (p.r_count == 1 && rec) {
        if (p.f >= 0 && p.r < p.f) errors.push_back(at + ": R comes before its F");
        if (p.b >= 0 && p.b < p.r) errors.push_back(at + ": B comes before its R (the recompute must precede the backward)");
      }
    }
  }
}

void require_host_links(const Plan& plan, const Cluster& cluster) {
  for (int d = 0; d < plan.num_devices(); ++d)
    for (int s : plan.placement.device_stages[d]) {
      const StageMemoryPolicy p = stage_memory(plan, s);
      if (!(p.offload_fraction > 0)) continue;
      if (d >= cluster.num_devices() || !cluster.devices[d].host_link.present())
        throw InputError("plan: stage " + std::to_string(s) + " offloads " + describe(p) + " but device " +
                         std::to_string(d) +
                         (d < cluster.num_devices() ? " ('" + cluster.devices[d].name + "')" : std::string()) +
                         " of cluster '" + cluster.name +
                         "' has no host link (cluster file field 'host_link'; \"none\" disables it)");
    }
}

StageMemoryTable::StageMemoryTable(const CostTable& costs) {
  const int L = costs.num_layers();
  for (auto* v : {&act_, &kept_selective_, &selective_ms_, &f_, &f_pair_, &f_fixed_, &kv_, &kept_selective_read_, &score_,
                  &score_selective_, &score_selective_read_})
    v->assign(L + 1, 0.0);
  kept_full_.resize(L);
  for (int l = 0; l < L; ++l) {
    const LayerRecompute r = layer_recompute(costs, l);
    act_[l + 1] = act_[l] + r.kept_none;
    kept_selective_[l + 1] = kept_selective_[l] + r.kept_selective;
    selective_ms_[l + 1] = selective_ms_[l] + r.selective_ms;
    f_[l + 1] = f_[l] + costs.layers[l].f_ms;
    f_pair_[l + 1] = f_pair_[l] + costs.layers[l].f_pair_ms;
    f_fixed_[l + 1] = f_fixed_[l] + costs.layers[l].f_fixed_ms;
    kept_full_[l] = r.kept_full;
    kv_[l + 1] = kv_[l] + r.kv;
    // Selective keeps q, k and v in the analytical model and the executor; a cost file may say otherwise.
    kept_selective_read_[l + 1] = kept_selective_read_[l] + std::max(r.kept_selective, r.kv);
    score_[l + 1] = score_[l] + r.score_none;
    score_selective_[l + 1] = score_selective_[l] + r.score_selective;
    // Where the keys and values outweigh what selective keeps, the layer keeps them instead: no scores.
    score_selective_read_[l + 1] = score_selective_read_[l] + (r.kept_selective >= r.kv ? r.score_selective : 0.0);
  }
}

void StageMemoryTable::apply(StageCost& c, int first, int end, const StageMemoryPolicy& p) const {
  const double all = c.act_b_bytes + c.act_w_bytes;
  c.recompute = recomputes(p);
  c.kept_bytes = all;
  c.kept_read_bytes = all;
  c.kept_score_bytes = c.act_score_bytes;
  c.kept_read_score_bytes = c.act_score_bytes;
  c.recompute_ms = 0;
  c.recompute_pair_ms = 0;
  c.recompute_fixed_ms = 0;
  if (p.recompute == Recompute::Selective) {
    c.kept_bytes = kept_selective_[end] - kept_selective_[first];
    c.kept_read_bytes = kept_selective_read_[end] - kept_selective_read_[first];
    c.kept_score_bytes = score_selective_[end] - score_selective_[first];
    c.kept_read_score_bytes = score_selective_read_[end] - score_selective_read_[first];
    c.recompute_ms = selective_ms_[end] - selective_ms_[first];
  } else if (p.recompute == Recompute::Full) {
    const int n = end - first;
    const int k = p.full_layers > 0 && p.full_layers < n ? p.full_layers : n;
    c.kept_bytes = kept_full_[first] + (act_[end] - act_[first + k]);
    c.kept_read_bytes = c.kept_bytes + (kv_[first + k] - kv_[first]);
    // The recomputed block keeps its input; the layers after it keep everything, their scores included.
    c.kept_score_bytes = c.kept_read_score_bytes = score_[end] - score_[first + k];
    c.recompute_ms = f_[first + k] - f_[first];
    c.recompute_pair_ms = std::max(0.0, f_pair_[first + k] - f_pair_[first]);
    c.recompute_fixed_ms = std::max(0.0, f_fixed_[first + k] - f_fixed_[first]);
  }
  c.kept_bytes = std::clamp(c.kept_bytes, 0.0, all);
  c.kept_read_bytes = std::clamp(c.kept_read_bytes, c.kept_bytes, all);
  c.kept_score_bytes = std::clamp(c.kept_score_bytes, 0.0, std::min(c.kept_bytes, c.act_score_bytes));
  c.kept_read_score_bytes = std::clamp(c.kept_read_score_bytes, 0.0, std::min(c.kept_read_bytes, c.act_score_bytes));
  c.recompute_ms = std::max(0.0, c.recompute_ms);
  c.offload_fraction = std::clamp(p.offload_fraction, 0.0, 1.0);
  c.offload_bytes = c.offload_fraction * c.kept();
}

std::vector<StageCost> stage_costs(const CostTable& costs, const Partition& partition,
                                   const std::vector<StageMemoryPolicy>& memory) {
  std::vector<StageCost> out = stage_costs(costs, partition);
  if (memory.empty()) return out;
  if (memory.size() != out.size())
    throw InputError("memory: " + std::to_string(memory.size()) + " stage policies for " + std::to_string(out.size()) +
                     " stages");
  StageMemoryTable table(costs);
  for (size_t s = 0; s < out.size(); ++s)
    table.apply(out[s], partition.bounds[s], partition.bounds[s + 1], memory[s]);
  return out;
}

}  // namespace adaptis
