#include "adaptis/model/cost_table.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"

namespace adaptis {

bool CostTable::split_backward() const {
  for (const auto& l : layers)
    if (l.w_ms > 0) return true;
  return false;
}

namespace {

double non_negative(const nlohmann::json& obj, const char* key, double scale, const std::string& where,
                    bool required) {
  double v = required ? json_number(obj, key, where) : json_number_or(obj, key, 0.0, where);
  if (!std::isfinite(v) || v < 0)
    throw InputError(where + ": field '" + key + "' must be a finite number >= 0, got " + std::to_string(v));
  return v * scale;
}

}  // namespace

CostTable load_cost_table(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object()) throw InputError(path + ": expected a JSON object with a 'layers' array");
  CostTable t;
  t.model = json_string_or(j, "model", "", path);
  t.source = "profile:" + path;
  double unit = json_number_or(j, "time_unit_ms", 1.0, path);
  if (!(unit > 0) || !std::isfinite(unit)) throw InputError(path + ": field 'time_unit_ms' must be > 0");
  long long mb = json_int_or(j, "microbatches", 0, path);
  if (mb < 0 || mb > 1000000) throw InputError(path + ": field 'microbatches' must be in [0, 1000000]");
  t.microbatches = static_cast<int>(mb);
  t.ref_tokens = non_negative(j, "tokens_per_microbatch", 1.0, path, false);
  t.ref_pairs = non_negative(j, "pairs_per_microbatch", 1.0, path, false);
  const auto& layers = json_array(j, "layers", path);
  if (layers.empty()) throw InputError(path + ": field 'layers' is empty: a model needs at least one layer");
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    std::string where = path + ": layers[" + std::to_string(i) + "]";
    if (!l.is_object()) throw InputError(where + ": expected an object");
    LayerCost c;
    // Authors' profiles use "type"; ours use "name" and "kind".
    c.kind = json_string_or(l, "kind", json_string_or(l, "type", "layer", where), where);
    c.name = json_string_or(l, "name", c.kind, where);
    c.f_ms = non_negative(l, "f", unit, where, true);
    c.b_ms = non_negative(l, "b", unit, where, true);
    c.w_ms = non_negative(l, "w", unit, where, false);
    c.param_bytes = non_negative(l, "param_bytes", 1.0, where, false);
    c.state_bytes = non_negative(l, "state_bytes", 1.0, where, false);
    c.act_b_bytes = non_negative(l, "act_b_bytes", 1.0, where, false);
    c.act_w_bytes = non_negative(l, "act_w_bytes", 1.0, where, false);
    c.w_grad_bytes = non_negative(l, "w_grad_bytes", 1.0, where, false);
    c.out_bytes = non_negative(l, "out_bytes", 1.0, where, false);
    c.f_pair_ms = non_negative(l, "f_pair", unit, where, false);
    c.b_pair_ms = non_negative(l, "b_pair", unit, where, false);
    c.w_pair_ms = non_negative(l, "w_pair", unit, where, false);
    c.f_fixed_ms = non_negative(l, "f_fixed", unit, where, false);
    c.b_fixed_ms = non_negative(l, "b_fixed", unit, where, false);
    c.w_fixed_ms = non_negative(l, "w_fixed", unit, where, false);
    // The split parts are shares of the pass's time.
    for (auto [part, whole, name] : {std::tuple{c.f_pair_ms + c.f_fixed_ms, c.f_ms, "f"},
                                     std::tuple{c.b_pair_ms + c.b_fixed_ms, c.b_ms, "b"},
                                     std::tuple{c.w_pair_ms + c.w_fixed_ms, c.w_ms, "w"}})
      if (part > whole * (1 + 1e-9) + 1e-12)
        throw InputError(where + ": fields '" + name + "_pair' + '" + name + "_fixed' exceed '" + name +
                         "' (they are the parts of it that grow with attention pairs and that every micro-batch pays)");
    t.layers.push_back(std::move(c));
  }
  return t;
}

void save_cost_table(const CostTable& costs, const std::string& path) {
  nlohmann::json j;
  j["format"] = "adaptis-costs/1";
  j["model"] = costs.model;
  j["source"] = costs.source;
  j["time_unit_ms"] = 1.0;
  if (costs.microbatches > 0) j["microbatches"] = costs.microbatches;
  if (costs.ref_tokens > 0) j["tokens_per_microbatch"] = costs.ref_tokens;
  if (costs.ref_pairs > 0) j["pairs_per_microbatch"] = costs.ref_pairs;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& l : costs.layers) {
    nlohmann::json row = {{"name", l.name},
                   {"kind", l.kind},
                   {"f", l.f_ms},
                   {"b", l.b_ms},
                   {"w", l.w_ms},
                   {"param_bytes", l.param_bytes},
                   {"state_bytes", l.state_bytes},
                   {"act_b_bytes", l.act_b_bytes},
                   {"act_w_bytes", l.act_w_bytes},
                   {"w_grad_bytes", l.w_grad_bytes},
                   {"out_bytes", l.out_bytes}};
    // The per-unit split only when known, so files without it stay as they were.
    for (auto [key, v] : {std::pair{"f_pair", l.f_pair_ms}, std::pair{"b_pair", l.b_pair_ms}, std::pair{"w_pair", l.w_pair_ms},
                          std::pair{"f_fixed", l.f_fixed_ms}, std::pair{"b_fixed", l.b_fixed_ms},
                          std::pair{"w_fixed", l.w_fixed_ms}})
      if (v > 0) row[key] = v;
    arr.push_back(std::move(row));
  }
  j["layers"] = std::move(arr);
  write_json_file(path, j);
}

}  // namespace adaptis
