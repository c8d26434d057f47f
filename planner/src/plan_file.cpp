#include "adaptis/planner/plan_file.h"

#include <algorithm>
#include <cmath>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis {

std::string format_action(const Action& a) {
  return std::string(a.overlap_prev ? "&" : "") + op_name(a.op) + std::to_string(a.stage) + "." + std::to_string(a.mb);
}

Action parse_action(const std::string& text, const std::string& where) {
  Action a;
  size_t i = 0;
  if (i < text.size() && text[i] == '&') {
    a.overlap_prev = true;
    ++i;
  }
  if (text.compare(i, 2, "BW") == 0) {
    a.op = Op::BW;
    i += 2;
  } else if (i < text.size() && (text[i] == 'F' || text[i] == 'B' || text[i] == 'W' || text[i] == 'R')) {
    a.op = text[i] == 'F' ? Op::F : text[i] == 'B' ? Op::B : text[i] == 'W' ? Op::W : Op::R;
    ++i;
  } else {
    throw InputError(where + ": action '" + text.substr(0, 60) + "' must start with F, B, W, BW or R (e.g. \"F3.1\")");
  }
  size_t dot = text.find('.', i);
  auto num = [&](const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
      throw InputError(where + ": action '" + text.substr(0, 60) + "' must be <op><stage>.<micro-batch>, e.g. \"F3.1\"");
    return std::stoi(s);
  };
  if (dot == std::string::npos) num("");
  a.stage = num(text.substr(i, dot - i));
  a.mb = num(text.substr(dot + 1));
  return a;
}

nlohmann::json plan_to_json(const Plan& plan, const nlohmann::json& meta) {
  nlohmann::json j;
  j["format"] = "adaptis-plan/1";
  j["name"] = plan.name;
  j["microbatches"] = plan.num_microbatches;
  j["partition"] = plan.partition.sizes();
  j["placement"] = plan.placement.device_stages;
  nlohmann::json sched = nlohmann::json::array();
  for (const auto& list : plan.schedule) {
    nlohmann::json row = nlohmann::json::array();
    for (const auto& a : list) row.push_back(format_action(a));
    sched.push_back(std::move(row));
  }
  j["schedule"] = std::move(sched);
  if (plan.parallel) j["parallel"] = parallel_config_to_json(*plan.parallel);  // whole-cluster config
  if (has_memory_policy(plan)) {
    nlohmann::json mem = nlohmann::json::array();
    for (int s = 0; s < static_cast<int>(plan.memory.size()); ++s) {
      const StageMemoryPolicy& p = plan.memory[s];
      if (p == StageMemoryPolicy{}) continue;
      nlohmann::json e = {{"stage", s}, {"recompute", recompute_name(p.recompute)}};
      if (p.full_layers > 0) e["layers"] = p.full_layers;
      if (p.offload_fraction > 0) e["offload"] = p.offload_fraction;
      if (!p.units.empty()) e["units"] = p.units;
      mem.push_back(std::move(e));
    }
    j["memory"] = std::move(mem);
  }
  if (!plan.units.empty()) j["units"] = units_to_json(plan.units);
  if (!meta.empty()) j["meta"] = meta;
  return j;
}

nlohmann::json units_to_json(const std::vector<WorkUnit>& units) {
  nlohmann::json arr = nlohmann::json::array();
  for (const WorkUnit& u : units) {
    nlohmann::json o = {{"docs", u.docs}};
    if (u.row >= 0) {
      o["row"] = u.row;
      o["slice"] = u.slice;
    }
    if (u.first_doc_offset > 0) o["offset"] = u.first_doc_offset;
    if (u.padded_tokens > 0) o["padded_tokens"] = u.padded_tokens;
    arr.push_back(std::move(o));
  }
  return arr;
}

std::vector<WorkUnit> units_from_json(const nlohmann::json& arr, const std::string& where) {
  if (!arr.is_array()) throw InputError(where + ": must be a list of units, got " + describe_json(arr));
  if (arr.size() > static_cast<size_t>(kMaxMicrobatches))
    throw InputError(where + ": lists " + std::to_string(arr.size()) + " units; at most " +
                     std::to_string(kMaxMicrobatches) + " are supported");
  std::vector<WorkUnit> out;
  out.reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const auto& o = arr[i];
    if (!o.is_object()) throw InputError(at + ": a unit must be an object like {\"docs\": [512, 300]}, got " + describe_json(o));
    for (auto it = o.begin(); it != o.end(); ++it)
      if (it.key() != "docs" && it.key() != "row" && it.key() != "slice" && it.key() != "offset" &&
          it.key() != "padded_tokens")
        throw InputError(at + ": unknown field " + quoted_excerpt(it.key()) +
                         " (a unit has docs, row, slice, offset, padded_tokens)");
    WorkUnit u;
    const auto& docs = json_array(o, "docs", at);
    if (docs.size() > static_cast<size_t>(kMaxSequences))
      throw InputError(at + ": field 'docs' lists " + std::to_string(docs.size()) + " documents; at most " +
                       std::to_string(kMaxSequences) + " are supported");
    for (size_t k = 0; k < docs.size(); ++k) {
      const std::string what = at + ": docs[" + std::to_string(k) + "] (tokens)";
      if (!docs[k].is_number_integer()) throw InputError(what + ": must be a whole number >= 1, got " + describe_json(docs[k]));
      const long long v = docs[k].get<long long>();
      if (v < 1 || v > kMaxSequenceTokens)
        throw InputError(what + ": must be in [1, " + std::to_string(kMaxSequenceTokens) + "], got " + std::to_string(v));
      u.docs.push_back(v);
    }
    auto integer = [&](const char* key, long long fallback, long long lo, long long hi) {
      long long v = fallback;
      if (o.contains(key)) {
        const auto& x = o[key];
        if (!x.is_number_integer())
          throw InputError(at + ": field '" + key + "' must be a whole number, got " + describe_json(x));
        v = x.get<long long>();
      }
      if (v < lo || v > hi)
        throw InputError(at + ": field '" + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                         "], got " + std::to_string(v));
      return v;
    };
    u.row = static_cast<int>(integer("row", -1, -1, kMaxMicrobatches));
    u.slice = static_cast<int>(integer("slice", 0, 0, kMaxMicrobatches));
    u.first_doc_offset = integer("offset", 0, 0, kMaxSequenceTokens);
    u.padded_tokens = integer("padded_tokens", 0, 0, kMaxSequenceTokens);
    out.push_back(std::move(u));
  }
  return out;
}

namespace {

// "memory": [{"stage", "recompute", "layers", "offload", "units"}, ...] -> one policy per stage. The
// units' range and order are the validator's (it knows the unit count).
std::vector<StageMemoryPolicy> memory_from_json(const nlohmann::json& arr, int num_stages, const std::string& origin) {
  if (!arr.is_array()) throw InputError(origin + ": field 'memory' must be a list of stage policies");
  std::vector<StageMemoryPolicy> out(static_cast<size_t>(num_stages));
  std::vector<char> seen(static_cast<size_t>(num_stages), 0);
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto& e = arr[i];
    const std::string where = origin + ": memory[" + std::to_string(i) + "]";
    if (!e.is_object())
      throw InputError(where + ": must be an object {\"stage\", \"recompute\", \"layers\", \"offload\", \"units\"}");
    for (auto it = e.begin(); it != e.end(); ++it)
      if (it.key() != "stage" && it.key() != "recompute" && it.key() != "layers" && it.key() != "offload" &&
          it.key() != "units")
        throw InputError(where + ": unknown field '" + it.key() + "' (fields: stage, recompute, layers, offload, units)");
    const long long s = json_int(e, "stage", where);
    if (s < 0 || s >= num_stages)
      throw InputError(where + ": field 'stage' is " + std::to_string(s) + ", a stage that does not exist (the plan has " +
                       std::to_string(num_stages) + " stages: 0.." + std::to_string(num_stages - 1) + ")");
    if (seen[s]) throw InputError(where + ": stage " + std::to_string(s) + " has a policy already");
    seen[s] = 1;
    StageMemoryPolicy p;
    p.recompute = parse_recompute(json_string_or(e, "recompute", "none", where), where + ": field 'recompute'");
    const long long k = json_int_or(e, "layers", 0, where);
    if (k < 0) throw InputError(where + ": field 'layers' must be >= 1 (the first k layers recomputed), got " + std::to_string(k));
    if (k > 0 && p.recompute != Recompute::Full)
      throw InputError(where + ": field 'layers' applies to \"recompute\": \"full\" only");
    p.full_layers = static_cast<int>(std::min<long long>(k, 1 << 30));
    p.offload_fraction = json_number_or(e, "offload", 0.0, where);
    if (!std::isfinite(p.offload_fraction) || p.offload_fraction < 0 || p.offload_fraction > 1)
      throw InputError(where + ": field 'offload' must be a fraction in [0, 1], got " + std::to_string(p.offload_fraction));
    if (e.contains("units")) {
      const auto& u = e["units"];
      if (!u.is_array() || u.empty())
        throw InputError(where + ": field 'units' must be a non-empty list of unit indices (leave it out for every unit)");
      for (size_t k = 0; k < u.size(); ++k) {
        if (!u[k].is_number_integer())
          throw InputError(where + ": units[" + std::to_string(k) + "] must be a unit index (an integer)");
        const long long v = u[k].get<long long>();
        if (v < 0 || v > (1 << 30))
          throw InputError(where + ": units[" + std::to_string(k) + "] is " + std::to_string(v) + ", not a unit index");
        p.units.push_back(static_cast<int>(v));
      }
    }
    out[s] = p;
  }
  return out;
}

}  // namespace

Plan plan_from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw InputError(origin + ": expected a JSON object (an adaptis plan), got " + describe_json(j));
  reject_unknown_fields(
      j, {"format", "name", "microbatches", "partition", "placement", "schedule", "meta", "parallel", "memory", "units"}, origin);
  std::string fmt = json_string_or(j, "format", "adaptis-plan/1", origin);
  if (fmt != "adaptis-plan/1")
    throw InputError(origin + ": field 'format' is " + describe_json(j["format"]) + ", expected 'adaptis-plan/1'");
  Plan p;
  p.name = json_string_or(j, "name", "custom", origin);
  p.num_microbatches = json_int_in(j, "microbatches", 1, kMaxMicrobatches, origin);
  const auto& part = json_array(j, "partition", origin);
  if (part.empty()) throw InputError(origin + ": field 'partition' is empty; a plan needs at least one stage");
  if (part.size() > static_cast<size_t>(kMaxStages))
    throw InputError(origin + ": field 'partition' lists " + std::to_string(part.size()) + " stages; at most " +
                     std::to_string(kMaxStages) + " are supported");
  std::vector<int> sizes;
  long long layers = 0;
  for (size_t s = 0; s < part.size(); ++s) {
    sizes.push_back(json_value_int_in(part[s], 1, kMaxLayers,
                                      origin + ": partition[" + std::to_string(s) + "] (layers in stage " +
                                          std::to_string(s) + ")"));
    layers += sizes.back();
  }
  if (layers > kMaxLayers)
    throw InputError(origin + ": field 'partition' adds up to " + std::to_string(layers) + " layers; at most " +
                     std::to_string(kMaxLayers) + " are supported");
  p.partition = Partition::from_sizes(sizes);
  const int S = p.partition.num_stages();
  const auto& pl = json_array(j, "placement", origin);
  if (pl.size() > static_cast<size_t>(kMaxDevices))
    throw InputError(origin + ": field 'placement' lists " + std::to_string(pl.size()) + " devices; at most " +
                     std::to_string(kMaxDevices) + " are supported");
  for (size_t d = 0; d < pl.size(); ++d) {
    std::string where = origin + ": placement[" + std::to_string(d) + "]";
    if (!pl[d].is_array()) throw InputError(where + ": must be a list of stage indices, got " + describe_json(pl[d]));
    std::vector<int> stages;
    for (size_t k = 0; k < pl[d].size(); ++k)
      stages.push_back(json_value_int_in(pl[d][k], 0, S - 1, where + "[" + std::to_string(k) + "] (a stage index)"));
    p.placement.device_stages.push_back(std::move(stages));
  }
  const auto& sched = json_array(j, "schedule", origin);
  if (sched.size() > static_cast<size_t>(kMaxDevices))
    throw InputError(origin + ": field 'schedule' lists " + std::to_string(sched.size()) + " devices; at most " +
                     std::to_string(kMaxDevices) + " are supported");
  size_t actions = 0;
  for (size_t d = 0; d < sched.size(); ++d) {
    std::string where = origin + ": schedule[" + std::to_string(d) + "]";
    if (!sched[d].is_array()) throw InputError(where + ": must be a list of actions, got " + describe_json(sched[d]));
    actions += sched[d].size();
    if (actions > static_cast<size_t>(kMaxPlanActions))
      throw InputError(where + ": the plan holds more than " + std::to_string(kMaxPlanActions) + " actions");
    std::vector<Action> list;
    list.reserve(sched[d].size());
    for (size_t i = 0; i < sched[d].size(); ++i) {
      const auto& a = sched[d][i];
      std::string w = where + "[" + std::to_string(i) + "]";
      if (!a.is_string()) throw InputError(w + ": action must be a string like \"F3.1\", got " + describe_json(a));
      list.push_back(parse_action(a.get<std::string>(), w));
    }
    p.schedule.push_back(std::move(list));
  }
  if (j.contains("parallel")) p.parallel = parallel_config_from_json(j["parallel"], origin + ": parallel");
  if (j.contains("memory")) p.memory = memory_from_json(j["memory"], p.partition.num_stages(), origin);
  if (j.contains("units")) {
    p.units = units_from_json(j["units"], origin + ": units");
    if (static_cast<int>(p.units.size()) != p.num_microbatches)
      throw InputError(origin + ": field 'units' has " + std::to_string(p.units.size()) + " units for " +
                       std::to_string(p.num_microbatches) + " micro-batches; there must be one unit per micro-batch");
  }
  return p;
}

void save_plan_file(const Plan& plan, const std::string& path, const nlohmann::json& meta) {
  write_json_file(path, plan_to_json(plan, meta));
}

Plan load_plan_file(const std::string& path) { return plan_from_json(read_json_file(path), path); }

}  // namespace adaptis
