#include "adaptis/model/cost_table.h"

#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "adaptis/model/checked.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"

namespace adaptis {

bool CostTable::split_backward() const {
  for (const auto& l : layers)
    if (l.w_ms > 0) return true;
  return false;
}

namespace {

// A time or size field: a finite number >= 0 in the file, and still finite and in range once scaled
// to ms or bytes (a "time_unit_ms" of 1e308 must not turn f = 10 into inf).
double non_negative(const nlohmann::json& obj, const char* key, double scale, double max_scaled,
                    const std::string& where, bool required) {
  double v = required ? json_number(obj, key, where) : json_number_or(obj, key, 0.0, where);
  checked_finite(v, 0.0, std::numeric_limits<double>::max(), where + ": field '" + key + "'");
  return checked_finite(v * scale, 0.0, max_scaled,
                        where + ": field '" + key + "'" + (scale != 1.0 ? " (times time_unit_ms)" : ""));
}

// The parts of a layer's fields never exceed what they are parts of (scores of what F keeps, the per-unit
// split of each pass's time); `where` names the layer ("FILE: layers[3]").
void check_layer_cost_parts(const LayerCost& c, const std::string& where) {
  if (c.act_score_bytes > c.act_b_bytes * (1 + 1e-9))
    throw InputError(where + ": field 'act_score_bytes' (" + std::to_string(c.act_score_bytes) +
                     ") exceeds 'act_b_bytes' (" + std::to_string(c.act_b_bytes) +
                     "): the attention scores are part of what F keeps for B");
  if (c.kept_selective_score_bytes >= 0) {
    if (c.kept_selective_score_bytes > c.act_score_bytes * (1 + 1e-9))
      throw InputError(where + ": field 'kept_selective_score_bytes' exceeds 'act_score_bytes': selective recompute "
                       "cannot keep more scores than F makes");
    if (c.kept_selective_bytes >= 0 && c.kept_selective_score_bytes > c.kept_selective_bytes * (1 + 1e-9))
      throw InputError(where + ": field 'kept_selective_score_bytes' exceeds 'kept_selective_bytes' (it is part of it)");
  }
  for (auto [part, whole, name] : {std::tuple{c.f_pair_ms + c.f_fixed_ms, c.f_ms, "f"},
                                   std::tuple{c.b_pair_ms + c.b_fixed_ms, c.b_ms, "b"},
                                   std::tuple{c.w_pair_ms + c.w_fixed_ms, c.w_ms, "w"}})
    if (part > whole * (1 + 1e-9) + 1e-12)
      throw InputError(where + ": fields '" + name + "_pair' + '" + name + "_fixed' exceed '" + name +
                       "' (they are the parts of it that grow with attention pairs and that every micro-batch pays)");
}

}  // namespace

CostTable load_cost_table(const std::string& path) {
  nlohmann::json j = read_json_file(path);
  if (!j.is_object())
    throw InputError(path + ": expected a JSON object with a 'layers' array, got " + describe_json(j));
  reject_unknown_fields(j,
                        {"format", "model", "source", "time_unit_ms", "microbatches", "tokens_per_microbatch",
                         "pairs_per_microbatch", "layers"},
                        path);
  const std::string format = json_string_or(j, "format", "adaptis-costs/1", path);
  if (format != "adaptis-costs/1")
    throw InputError(path + ": field 'format' is \"" + format.substr(0, 60) + "\"; this build reads \"adaptis-costs/1\"");
  CostTable t;
  t.model = json_string_or(j, "model", "", path);
  t.source = "profile:" + path;
  // A positive unit; what it scales is checked after scaling.
  double unit = json_number_in_or(j, "time_unit_ms", 1.0, std::numeric_limits<double>::min(),
                                  std::numeric_limits<double>::max(), path);
  t.microbatches = json_int_in_or(j, "microbatches", 0, 0, kMaxMicrobatches, path);
  // Variable-length units (planner/units.h): the reference micro-batch the times are for.
  t.tokens_per_microbatch = non_negative(j, "tokens_per_microbatch", 1.0, kMaxBytes, path, false);
  t.pairs_per_microbatch = non_negative(j, "pairs_per_microbatch", 1.0, std::numeric_limits<double>::max(), path, false);
  const auto& layers = json_array(j, "layers", path);
  if (layers.empty()) throw InputError(path + ": field 'layers' is empty: a model needs at least one layer");
  if (layers.size() > static_cast<size_t>(kMaxLayers))
    throw InputError(path + ": field 'layers' holds " + std::to_string(layers.size()) + " layers; at most " +
                     std::to_string(kMaxLayers) + " are supported");
  t.layers.reserve(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    std::string where = path + ": layers[" + std::to_string(i) + "]";
    if (!l.is_object()) throw InputError(where + ": expected an object, got " + describe_json(l));
    reject_unknown_fields(l,
                          {"name", "kind", "type", "f", "b", "w", "param_bytes", "state_bytes", "act_b_bytes",
                           "act_w_bytes", "w_grad_bytes", "out_bytes", "kept_selective_bytes", "recompute_selective_ms",
                           "kept_full_bytes", "kv_bytes", "act_score_bytes", "kept_selective_score_bytes", "recurrent", "f_pair", "b_pair", "w_pair", "f_fixed", "b_fixed", "w_fixed"},
                          where);
    LayerCost c;
    // Authors' profiles use "type"; ours use "name" and "kind".
    c.kind = json_string_or(l, "kind", json_string_or(l, "type", "layer", where), where);
    c.name = json_string_or(l, "name", c.kind, where);
    c.f_ms = non_negative(l, "f", unit, kMaxLayerTimeMs, where, true);
    c.b_ms = non_negative(l, "b", unit, kMaxLayerTimeMs, where, true);
    c.w_ms = non_negative(l, "w", unit, kMaxLayerTimeMs, where, false);
    c.param_bytes = non_negative(l, "param_bytes", 1.0, kMaxBytes, where, false);
    c.state_bytes = non_negative(l, "state_bytes", 1.0, kMaxBytes, where, false);
    c.act_b_bytes = non_negative(l, "act_b_bytes", 1.0, kMaxBytes, where, false);
    c.act_w_bytes = non_negative(l, "act_w_bytes", 1.0, kMaxBytes, where, false);
    c.w_grad_bytes = non_negative(l, "w_grad_bytes", 1.0, kMaxBytes, where, false);
    c.out_bytes = non_negative(l, "out_bytes", 1.0, kMaxBytes, where, false);
    // Optional recompute fields: absent stays "not given" (negative), present must be >= 0.
    if (l.contains("kept_selective_bytes"))
      c.kept_selective_bytes = non_negative(l, "kept_selective_bytes", 1.0, kMaxBytes, where, true);
    if (l.contains("recompute_selective_ms"))
      c.recompute_selective_ms = non_negative(l, "recompute_selective_ms", unit, kMaxLayerTimeMs, where, true);
    if (l.contains("kept_full_bytes")) c.kept_full_bytes = non_negative(l, "kept_full_bytes", 1.0, kMaxBytes, where, true);
    if (l.contains("kv_bytes")) c.kv_bytes = non_negative(l, "kv_bytes", 1.0, kMaxBytes, where, true);
    c.act_score_bytes = non_negative(l, "act_score_bytes", 1.0, kMaxBytes, where, false);
    if (l.contains("kept_selective_score_bytes"))
      c.kept_selective_score_bytes = non_negative(l, "kept_selective_score_bytes", 1.0, kMaxBytes, where, true);
    if (l.contains("recurrent")) {
      if (!l["recurrent"].is_boolean())
        throw InputError(where + ": field 'recurrent' must be true or false (whether the layer carries state from "
                         "token to token, as a Mamba scan does), got " + describe_json(l["recurrent"]));
      c.recurrent = l["recurrent"].get<bool>();
    }
    // The per-unit split (planner/units.h): parts of each pass's time.
    c.f_pair_ms = non_negative(l, "f_pair", unit, kMaxLayerTimeMs, where, false);
    c.b_pair_ms = non_negative(l, "b_pair", unit, kMaxLayerTimeMs, where, false);
    c.w_pair_ms = non_negative(l, "w_pair", unit, kMaxLayerTimeMs, where, false);
    c.f_fixed_ms = non_negative(l, "f_fixed", unit, kMaxLayerTimeMs, where, false);
    c.b_fixed_ms = non_negative(l, "b_fixed", unit, kMaxLayerTimeMs, where, false);
    c.w_fixed_ms = non_negative(l, "w_fixed", unit, kMaxLayerTimeMs, where, false);
    check_layer_cost_parts(c, where);
    t.layers.push_back(std::move(c));
  }
  return t;
}

void validate_cost_table(const CostTable& costs, const std::string& origin) {
  checked_int(costs.microbatches, 0, kMaxMicrobatches, origin + ": field 'microbatches'");
  checked_finite(costs.tokens_per_microbatch, 0.0, kMaxBytes, origin + ": field 'tokens_per_microbatch'");
  checked_finite(costs.pairs_per_microbatch, 0.0, std::numeric_limits<double>::max(),
                 origin + ": field 'pairs_per_microbatch'");
  checked_finite(costs.model_flops_per_microbatch, 0.0, std::numeric_limits<double>::max(),
                 origin + ": field 'model_flops_per_microbatch'");
  for (size_t i = 0; i < costs.layers.size(); ++i) {
    const LayerCost& l = costs.layers[i];
    const std::string where = origin + ": layers[" + std::to_string(i) + "] ('" + l.name.substr(0, 60) + "'): field '";
    const std::pair<const char*, double> times[] = {
        {"f", l.f_ms},           {"b", l.b_ms},           {"w", l.w_ms},           {"f_pair", l.f_pair_ms},
        {"b_pair", l.b_pair_ms}, {"w_pair", l.w_pair_ms}, {"f_fixed", l.f_fixed_ms}, {"b_fixed", l.b_fixed_ms},
        {"w_fixed", l.w_fixed_ms}};
    for (const auto& [name, v] : times) checked_finite(v, 0.0, kMaxLayerTimeMs, where + name + "' (ms)");
    const std::pair<const char*, double> bytes[] = {
        {"param_bytes", l.param_bytes},   {"state_bytes", l.state_bytes},   {"act_b_bytes", l.act_b_bytes},
        {"act_w_bytes", l.act_w_bytes},   {"w_grad_bytes", l.w_grad_bytes}, {"out_bytes", l.out_bytes},
        {"act_score_bytes", l.act_score_bytes}};
    for (const auto& [name, v] : bytes) checked_finite(v, 0.0, kMaxBytes, where + name + "'");
    // Optional fields: any finite negative is "not given"; a given one is in range like the others.
    const std::tuple<const char*, double, double, const char*> optional[] = {
        {"kept_selective_bytes", l.kept_selective_bytes, kMaxBytes, ""},
        {"recompute_selective_ms", l.recompute_selective_ms, kMaxLayerTimeMs, " (ms"},
        {"kept_full_bytes", l.kept_full_bytes, kMaxBytes, ""},
        {"kv_bytes", l.kv_bytes, kMaxBytes, ""},
        {"kept_selective_score_bytes", l.kept_selective_score_bytes, kMaxBytes, ""}};
    for (const auto& [name, v, hi, unit] : optional)
      if (!(std::isfinite(v) && v < 0))
        checked_finite(v, 0.0, hi, where + name + "'" + (*unit ? std::string(unit) + ", " : std::string(" (")) +
                                       "negative = not given)");
  }
}

void validate_cost_parts(const CostTable& costs, const std::string& origin) {
  for (size_t i = 0; i < costs.layers.size(); ++i)
    check_layer_cost_parts(costs.layers[i],
                           origin + ": layers[" + std::to_string(i) + "] ('" + costs.layers[i].name.substr(0, 60) + "')");
}

nlohmann::json cost_table_json(const CostTable& costs) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerCost& l : costs.layers) {
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
    // The recompute fields only when given (absent = not given, resolved by layer_recompute.h).
    if (l.kept_selective_bytes >= 0) row["kept_selective_bytes"] = l.kept_selective_bytes;
    if (l.recompute_selective_ms >= 0) row["recompute_selective_ms"] = l.recompute_selective_ms;
    if (l.kept_full_bytes >= 0) row["kept_full_bytes"] = l.kept_full_bytes;
    if (l.kv_bytes >= 0) row["kv_bytes"] = l.kv_bytes;
    if (l.act_score_bytes > 0) row["act_score_bytes"] = l.act_score_bytes;  // absent = 0 (flash or no attention)
    if (l.kept_selective_score_bytes >= 0) row["kept_selective_score_bytes"] = l.kept_selective_score_bytes;
    if (l.recurrent) row["recurrent"] = true;  // absent = false, as files from before the field read
    // The per-unit split only when known, so files without it stay as they were.
    for (auto [key, v] : {std::pair{"f_pair", l.f_pair_ms}, std::pair{"b_pair", l.b_pair_ms}, std::pair{"w_pair", l.w_pair_ms},
                          std::pair{"f_fixed", l.f_fixed_ms}, std::pair{"b_fixed", l.b_fixed_ms},
                          std::pair{"w_fixed", l.w_fixed_ms}})
      if (v > 0) row[key] = v;
    layers.push_back(std::move(row));
  }
  nlohmann::json j = {{"format", "adaptis-costs/1"},
                      {"model", costs.model},
                      {"source", costs.source},
                      {"time_unit_ms", 1.0},
                      {"layers", std::move(layers)}};
  if (costs.microbatches > 0) j["microbatches"] = costs.microbatches;
  if (costs.tokens_per_microbatch > 0) j["tokens_per_microbatch"] = costs.tokens_per_microbatch;
  if (costs.pairs_per_microbatch > 0) j["pairs_per_microbatch"] = costs.pairs_per_microbatch;
  return j;
}

void save_cost_table(const CostTable& costs, const std::string& path) { write_json_file(path, cost_table_json(costs)); }

}  // namespace adaptis
