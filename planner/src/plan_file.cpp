#include "adaptis/planner/plan_file.h"

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"

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
  } else if (i < text.size() && (text[i] == 'F' || text[i] == 'B' || text[i] == 'W')) {
    a.op = text[i] == 'F' ? Op::F : text[i] == 'B' ? Op::B : Op::W;
    ++i;
  } else {
    throw InputError(where + ": action '" + text + "' must start with F, B, W or BW (e.g. \"F3.1\")");
  }
  size_t dot = text.find('.', i);
  auto num = [&](const std::string& s) {
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 9)
      throw InputError(where + ": action '" + text + "' must be <op><stage>.<micro-batch>, e.g. \"F3.1\"");
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
  if (!arr.is_array()) throw InputError(where + ": must be a list of units");
  std::vector<WorkUnit> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const auto& o = arr[i];
    if (!o.is_object()) throw InputError(at + ": a unit must be an object like {\"docs\": [512, 300]}");
    for (auto it = o.begin(); it != o.end(); ++it)
      if (it.key() != "docs" && it.key() != "row" && it.key() != "slice" && it.key() != "offset" &&
          it.key() != "padded_tokens")
        throw InputError(at + ": unknown field '" + it.key() + "' (a unit has docs, row, slice, offset, padded_tokens)");
    WorkUnit u;
    const auto& docs = json_array(o, "docs", at);
    for (size_t k = 0; k < docs.size(); ++k) {
      if (!docs[k].is_number_integer() || docs[k].get<long long>() < 1)
        throw InputError(at + ": docs[" + std::to_string(k) + "] must be a whole number of tokens >= 1, got " +
                         docs[k].dump());
      u.docs.push_back(docs[k].get<long long>());
    }
    auto integer = [&](const char* key, long long fallback, long long lo) {
      long long v = json_int_or(o, key, fallback, at);
      if (v < lo) throw InputError(at + ": field '" + key + "' must be >= " + std::to_string(lo) + ", got " + std::to_string(v));
      return v;
    };
    u.row = static_cast<int>(integer("row", -1, -1));
    u.slice = static_cast<int>(integer("slice", 0, 0));
    u.first_doc_offset = integer("offset", 0, 0);
    u.padded_tokens = integer("padded_tokens", 0, 0);
    out.push_back(std::move(u));
  }
  return out;
}

Plan plan_from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw InputError(origin + ": expected a JSON object (an adaptis plan)");
  std::string fmt = json_string_or(j, "format", "adaptis-plan/1", origin);
  if (fmt != "adaptis-plan/1")
    throw InputError(origin + ": field 'format' is '" + fmt + "', expected 'adaptis-plan/1'");
  Plan p;
  p.name = json_string_or(j, "name", "custom", origin);
  long long m = json_int(j, "microbatches", origin);
  if (m < 1 || m > 1000000) throw InputError(origin + ": field 'microbatches' must be in [1, 1000000]");
  p.num_microbatches = static_cast<int>(m);
  const auto& part = json_array(j, "partition", origin);
  std::vector<int> sizes;
  for (size_t s = 0; s < part.size(); ++s) {
    if (!part[s].is_number_integer() || part[s].get<long long>() < 1)
      throw InputError(origin + ": partition[" + std::to_string(s) + "] must be an integer >= 1 (layers in stage " +
                       std::to_string(s) + ")");
    sizes.push_back(part[s].get<int>());
  }
  p.partition = Partition::from_sizes(sizes);
  const auto& pl = json_array(j, "placement", origin);
  for (size_t d = 0; d < pl.size(); ++d) {
    std::string where = origin + ": placement[" + std::to_string(d) + "]";
    if (!pl[d].is_array()) throw InputError(where + ": must be a list of stage indices");
    std::vector<int> stages;
    for (const auto& s : pl[d]) {
      if (!s.is_number_integer()) throw InputError(where + ": stage indices must be integers, got " + s.dump());
      stages.push_back(s.get<int>());
    }
    p.placement.device_stages.push_back(std::move(stages));
  }
  const auto& sched = json_array(j, "schedule", origin);
  for (size_t d = 0; d < sched.size(); ++d) {
    std::string where = origin + ": schedule[" + std::to_string(d) + "]";
    if (!sched[d].is_array()) throw InputError(where + ": must be a list of actions");
    std::vector<Action> list;
    for (size_t i = 0; i < sched[d].size(); ++i) {
      const auto& a = sched[d][i];
      std::string w = where + "[" + std::to_string(i) + "]";
      if (!a.is_string()) throw InputError(w + ": action must be a string like \"F3.1\"");
      list.push_back(parse_action(a.get<std::string>(), w));
    }
    p.schedule.push_back(std::move(list));
  }
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
