// Per-unit costs, unit list checks and slice links (units.h).
#include "adaptis/planner/units.h"

#include <algorithm>
#include <map>

#include "adaptis/model/error.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis {

CostReference cost_reference(const CostTable& costs) {
  const std::string what = "costs" + (costs.model.empty() ? std::string() : " '" + costs.model + "'");
  if (!(costs.tokens_per_microbatch > 0))
    throw InputError(what + ": the per-layer costs state no tokens per micro-batch (field 'tokens_per_microbatch'); "
                     "variable-length units need the reference they scale from");
  bool has_pairs = false;
  bool has_scores = false;
  for (const auto& l : costs.layers) {
    has_pairs = has_pairs || l.f_pair_ms > 0 || l.b_pair_ms > 0 || l.w_pair_ms > 0;
    has_scores = has_scores || l.act_score_bytes > 0;
  }
  if ((has_pairs || has_scores) && !(costs.pairs_per_microbatch > 0))
    throw InputError(what + ": layers have " +
                     (has_pairs ? "attention-pair times (f_pair/b_pair/w_pair)" : "attention score bytes (act_score_bytes)") +
                     " but no reference pairs per micro-batch (field 'pairs_per_microbatch')");
  return {costs.tokens_per_microbatch, costs.pairs_per_microbatch};
}

namespace {
// The stage's offload fraction of what the unit's F keeps; a slice that later slices read keeps its keys and
// values on the device (they attend to them while it waits), so it copies at most the rest.
double unit_offload_bytes(const StageCost& c, const UnitStageCost& u) {
  const double share = c.offload_fraction * u.kept();
  return u.carry_bytes > 0 ? std::min(share, std::max(0.0, u.kept() - u.carry_bytes)) : share;
}
}  // namespace

UnitStageCost unit_stage_cost(const StageCost& c, const WorkUnit& u, const CostReference& ref, bool keys_read_later) {
  const double tok = double(u.run_tokens()) / ref.tokens;
  const double pr = ref.pairs > 0 ? u.pairs() / ref.pairs : 0.0;
  const double ar = ref.pairs > 0 ? u.attention_area() / ref.area() : 0.0;
  auto scale = [&](double total, double pair, double fixed) {
    return fixed + std::max(0.0, total - pair - fixed) * tok + pair * pr;
  };
  // Bytes: the attention scores among them grow with the unit's attention area, the rest with its tokens.
  auto scale_bytes = [&](double total, double score) { return std::max(0.0, total - score) * tok + score * ar; };
  UnitStageCost out;
  out.f_ms = scale(c.f_ms, c.f_pair_ms, c.f_fixed_ms);
  out.b_ms = scale(c.b_ms, c.b_pair_ms, c.b_fixed_ms);
  out.w_ms = scale(c.w_ms, c.w_pair_ms, c.w_fixed_ms);
  out.act_b_bytes = scale_bytes(c.act_b_bytes, c.act_score_bytes);
  out.act_w_bytes = c.act_w_bytes * tok;
  out.w_grad_bytes = c.w_grad_bytes * tok;
  out.out_bytes = c.out_bytes * tok;
  out.in_bytes = c.in_bytes * tok;
  out.carry_bytes = keys_read_later ? c.kv_bytes * tok : 0.0;
  out.recompute = c.recompute;
  if (c.recompute) {
    const double kept = keys_read_later ? scale_bytes(c.kept_read_bytes, c.kept_read_score_bytes)
                                        : scale_bytes(c.kept_bytes, c.kept_score_bytes);
    out.kept_bytes = std::min(kept, out.act_b_bytes + out.act_w_bytes);
    out.recompute_ms = scale(c.recompute_ms, c.recompute_pair_ms, c.recompute_fixed_ms);
  }
  out.offload_bytes = unit_offload_bytes(c, out);
  return out;
}

void unit_stage_costs(const std::vector<StageCost>& stages, const std::vector<WorkUnit>& units, const CostReference& ref,
                      std::vector<UnitStageCost>& out, const std::vector<StageMemoryPolicy>& memory) {
  unit_stage_costs(stages, units, key_readers(units), ref, out, memory);
}

void unit_stage_costs(const std::vector<StageCost>& stages, const std::vector<WorkUnit>& units, const KeyReaders& keys,
                      const CostReference& ref, std::vector<UnitStageCost>& out,
                      const std::vector<StageMemoryPolicy>& memory) {
  const size_t U = units.size();
  if (keys.read_later.size() != U || keys.last_reader.size() != U)
    throw InputError("unit costs: key readers of " + std::to_string(keys.read_later.size()) + " units for " +
                     std::to_string(U) + " units");
  out.resize(stages.size() * U);
  for (size_t s = 0; s < stages.size(); ++s) {
    for (size_t u = 0; u < U; ++u) {
      UnitStageCost& c = out[s * U + u];
      c = unit_stage_cost(stages[s], units[u], ref, keys.read_later[u] != 0);
      if (c.recompute && s < memory.size() && !recomputes_unit(memory[s], static_cast<int>(u))) {
        c.recompute = false;
        c.kept_bytes = 0;
        c.recompute_ms = 0;
        c.offload_bytes = unit_offload_bytes(stages[s], c);
      }
    }
    // The B of a unit's last reader creates its carry (the first B over it: backwards run in reverse).
    for (size_t u = 0; u < U; ++u)
      if (keys.last_reader[u] >= 0) out[s * U + static_cast<size_t>(keys.last_reader[u])].carries_created_bytes += out[s * U + u].carry_bytes;
  }
}

UnitCostModel unit_cost_model(const CostTable& costs) {
  const CostReference ref = cost_reference(costs);
  UnitCostModel m;
  double token_part = 0, pair_part = 0;
  for (const auto& l : costs.layers) {
    const double fixed = l.f_fixed_ms + l.b_fixed_ms + l.w_fixed_ms;
    const double pair = l.f_pair_ms + l.b_pair_ms + l.w_pair_ms;
    m.fixed_ms += fixed;
    pair_part += pair;
    token_part += std::max(0.0, l.f_ms + l.b_ms + l.w_ms - pair - fixed);
  }
  m.per_token_ms = token_part / ref.tokens;
  m.per_pair_ms = ref.pairs > 0 ? pair_part / ref.pairs : 0.0;
  return m;
}

std::vector<std::string> unit_problems(const std::vector<WorkUnit>& units) {
  std::vector<std::string> errs;
  std::map<int, std::vector<int>> rows;  // row -> unit indices
  for (size_t i = 0; i < units.size(); ++i) {
    const WorkUnit& u = units[i];
    const std::string at = "units[" + std::to_string(i) + "]";
    if (u.docs.empty()) errs.push_back(at + ": field 'docs' is empty: a unit holds at least one document");
    for (size_t k = 0; k < u.docs.size(); ++k)
      if (u.docs[k] < 1)
        errs.push_back(at + ": docs[" + std::to_string(k) + "] is " + std::to_string(u.docs[k]) +
                       " tokens; every document needs at least 1");
    if (u.first_doc_offset < 0) errs.push_back(at + ": field 'offset' must be >= 0");
    if (u.padded_tokens < 0) errs.push_back(at + ": field 'padded_tokens' must be >= 0");
    if (u.padded_tokens > 0) {
      if (u.docs.size() != 1) errs.push_back(at + ": a padded unit holds one sequence, this one has " + std::to_string(u.docs.size()));
      if (u.padded_tokens < u.tokens())
        errs.push_back(at + ": padded to " + std::to_string(u.padded_tokens) + " tokens, fewer than its " +
                       std::to_string(u.tokens()) + " tokens");
      if (u.row >= 0) errs.push_back(at + ": a slice cannot be padded");
    }
    if (u.row < -1) errs.push_back(at + ": field 'row' must be >= 0 (or absent for a whole row)");
    if (u.row >= 0) {
      if (u.slice < 0) errs.push_back(at + ": field 'slice' must be >= 0");
      rows[u.row].push_back(static_cast<int>(i));
    } else if (u.first_doc_offset > 0) {
      errs.push_back(at + ": field 'offset' is set but the unit is not a slice of a row");
    }
  }
  if (!errs.empty()) return errs;
  for (auto& [row, idx] : rows) {
    std::sort(idx.begin(), idx.end(), [&](int a, int b) { return units[a].slice < units[b].slice; });
    long long carry = 0;  // tokens of the document open at the end of the previous slice
    for (size_t k = 0; k < idx.size(); ++k) {
      const WorkUnit& u = units[idx[k]];
      const std::string at = "units[" + std::to_string(idx[k]) + "]";
      if (u.slice != static_cast<int>(k)) {
        errs.push_back(at + ": row " + std::to_string(row) + " has slice " + std::to_string(u.slice) + " where slice " +
                       std::to_string(k) + " was expected (slices of a row are numbered 0..k-1, each once)");
        break;
      }
      if (k == 0 && u.first_doc_offset != 0)
        errs.push_back(at + ": the first slice of row " + std::to_string(row) + " has offset " +
                       std::to_string(u.first_doc_offset) + "; it must start its document (offset 0)");
      if (k > 0 && u.first_doc_offset != 0 && u.first_doc_offset != carry)
        errs.push_back(at + ": offset " + std::to_string(u.first_doc_offset) + " does not continue row " +
                       std::to_string(row) + ": the previous slice ends " + std::to_string(carry) +
                       " tokens into its last document");
      carry = u.docs.size() == 1 ? u.first_doc_offset + u.docs[0] : u.docs.back();
    }
  }
  return errs;
}

SliceLinks slice_links(const std::vector<WorkUnit>& units) {
  std::vector<std::string> errs = unit_problems(units);
  if (!errs.empty()) throw InputError(errs.front());
  SliceLinks l;
  l.prev.assign(units.size(), -1);
  l.next.assign(units.size(), -1);
  std::map<std::pair<int, int>, int> where;
  for (size_t i = 0; i < units.size(); ++i)
    if (units[i].row >= 0) where[{units[i].row, units[i].slice}] = static_cast<int>(i);
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].row < 0) continue;
    auto it = where.find({units[i].row, units[i].slice + 1});
    if (it != where.end()) {
      l.next[i] = it->second;
      l.prev[it->second] = static_cast<int>(i);
      l.any = true;
    }
  }
  return l;
}

std::vector<char> keys_read_later(const std::vector<WorkUnit>& units) { return key_readers(units).read_later; }

KeyReaders key_readers(const std::vector<WorkUnit>& units) {
  const SliceLinks l = slice_links(units);
  KeyReaders out;
  out.read_later.assign(units.size(), 0);
  for (size_t u = 0; u < units.size(); ++u)
    out.read_later[u] = l.next[u] >= 0 && units[static_cast<size_t>(l.next[u])].first_doc_offset > 0;
  out.last_reader.assign(units.size(), -1);
  for (size_t u = 0; u < units.size(); ++u) {
    if (!out.read_later[u]) continue;
    // The next slice continues u's last document; that document goes on through every following slice
    // that holds nothing else and whose own next slice continues it.
    size_t v = static_cast<size_t>(l.next[u]);
    while (units[v].docs.size() == 1 && out.read_later[v]) v = static_cast<size_t>(l.next[v]);
    out.last_reader[u] = static_cast<int>(v);
  }
  return out;
}

std::string describe_unit(const WorkUnit& u) {
  std::string s;
  if (u.padded_tokens > u.tokens()) {
    s = "padded " + std::to_string(u.tokens()) + " -> " + std::to_string(u.padded_tokens) + " tok";
  } else if (u.row >= 0) {
    s = "slice " + std::to_string(u.slice) + " of row " + std::to_string(u.row) + ", " + std::to_string(u.tokens()) +
        " tok";
    if (u.first_doc_offset > 0) s += " at +" + std::to_string(u.first_doc_offset);
    if (u.docs.size() > 1) s += " (" + std::to_string(u.docs.size()) + " docs)";
  } else {
    s = std::to_string(u.docs.size()) + (u.docs.size() == 1 ? " doc, " : " docs, ") + std::to_string(u.tokens()) + " tok";
  }
  return s;
}

}  // namespace adaptis
