#include "stored_run_values.h"

#include <cmath>

#include "adaptis/model/checked.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/validator.h"

namespace adaptis::exec {

std::string stored_where(const std::string& path, int64_t run_id, const char* column) {
  return "run database " + path + ": run " + std::to_string(run_id) + ": field " + column;
}

nlohmann::json parse_stored_object(const std::string& text, const std::string& where) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json j = parse_json_text(text, where);
  if (!j.is_object()) throw InputError(where + ": expected a JSON object, got " + describe_json(j));
  return j;
}

std::vector<double> parse_stored_losses(const std::string& text, const std::string& where) {
  std::vector<double> out;
  if (text.empty()) return out;
  const nlohmann::json l = parse_json_text(text, where);
  if (!l.is_array()) throw InputError(where + ": expected an array of numbers, got " + describe_json(l));
  for (const auto& v : l) out.push_back(v.is_number() ? v.get<double>() : std::nan(""));
  return out;
}

void check_stored_json(const RunRecord& rec, const std::string& path) {
  const int64_t id = rec.summary.id;
  const std::string plan = stored_where(path, id, "plan_json");
  require_valid_plan(plan_from_json(rec.plan, plan), -1, plan);
  const std::string model = stored_where(path, id, "model_json");
  for (const char* key : {"micro_batch", "seq", "hidden"}) json_number_in_or(rec.model, key, 0, 0, 1e12, model);
  json_string_or(rec.costs, "source", "", stored_where(path, id, "costs_json"));
  const std::string machine = stored_where(path, id, "machine_json");
  json_string_or(rec.machine, "cpu", "", machine);
  json_int_in_or(rec.machine, "logical_cores", 0, 0, 1 << 24, machine);
}

int stored_int(int64_t v, long long lo, long long hi, const std::string& path, int64_t run_id, const char* column) {
  return checked_int(v, lo, hi, stored_where(path, run_id, column));
}

int64_t stored_time_ns(int64_t v, const std::string& path, int64_t run_id, const char* column) {
  constexpr double kMaxNs = 4611686018427387904.0;  // 2^62
  checked_finite(static_cast<double>(v), -kMaxNs, kMaxNs, stored_where(path, run_id, column));
  return v;
}

}  // namespace adaptis::exec
