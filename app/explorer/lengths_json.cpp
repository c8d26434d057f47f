#include "explorer/lengths_json.h"

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/limits.h"

namespace adaptis::explorer {

namespace {

long long int_in(const nlohmann::json& obj, const char* key, long long fallback, long long lo, long long hi,
                 const std::string& where) {
  const long long v = json_int_or(obj, key, fallback, where);
  if (v < lo || v > hi)
    throw InputError(where + ": field '" + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], got " + std::to_string(v));
  return v;
}

// A planner parse error ("packing mode 'x': unknown ...") as a field of this document.
template <typename T, typename Parse>
T parse_field(const nlohmann::json& obj, const char* key, const std::string& fallback, const std::string& where,
              Parse parse) {
  const std::string text = json_string_or(obj, key, fallback, where);
  try {
    return parse(text);
  } catch (const InputError& e) {
    throw InputError(where + ": field '" + key + "': " + e.what());
  }
}

}  // namespace

nlohmann::json processing_to_json(const SequenceProcessing& p) {
  return {{"mode", packing_mode_name(p.mode)}, {"unit_tokens", p.unit_tokens}, {"units", p.units},
          {"slices", p.slices},                {"slice_multiple", p.slice_multiple}, {"order", unit_order_name(p.order)},
          {"allow_slicing", p.allow_slicing}};
}

SequenceProcessing processing_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": must be an object, got " + describe_json(j));
  reject_unknown_fields(j, {"mode", "unit_tokens", "units", "slices", "slice_multiple", "order", "allow_slicing"}, where);
  SequenceProcessing p;
  // The mode has no default: a processing without one says nothing about how the units were made.
  if (!j.contains("mode")) throw InputError(where + ": field 'mode' is missing (pad, pack-tokens, pack, slice or elastic)");
  p.mode = parse_field<PackingMode>(j, "mode", "", where, parse_packing_mode);
  p.unit_tokens = int_in(j, "unit_tokens", 0, 0, kMaxSequenceTokens, where);
  p.units = static_cast<int>(int_in(j, "units", 0, 0, kMaxMicrobatches, where));
  p.slices = static_cast<int>(int_in(j, "slices", 2, 1, 4096, where));
  p.slice_multiple = int_in(j, "slice_multiple", 1, 1, kMaxSequenceTokens, where);
  p.order = parse_field<UnitOrder>(j, "order", "as-built", where, parse_unit_order);
  if (j.contains("allow_slicing")) {
    if (!j["allow_slicing"].is_boolean())
      throw InputError(where + ": field 'allow_slicing' must be true or false, got " + describe_json(j["allow_slicing"]));
    p.allow_slicing = j["allow_slicing"].get<bool>();
  }
  return p;
}

nlohmann::json lengths_to_json(const LengthsSource& l) {
  nlohmann::json j = {{"spec", l.spec},
                      {"context", l.options.context},
                      {"global_batch_tokens", l.options.global_batch_tokens},
                      {"data",
                       {{"origin", l.data->origin}, {"context", l.data->context}, {"lengths", l.data->lengths}}}};
  j["processing"] = l.processing ? processing_to_json(*l.processing) : nlohmann::json();
  return j;
}

LengthsSource lengths_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where + ": must be an object, got " + describe_json(j));
  reject_unknown_fields(j, {"spec", "context", "global_batch_tokens", "data", "processing"}, where);
  LengthsSource l;
  l.spec = json_string_or(j, "spec", "", where);
  l.options.context = int_in(j, "context", 0, 0, kMaxSequenceTokens, where);
  l.options.global_batch_tokens = int_in(j, "global_batch_tokens", 0, 0, kMaxBatchTokens, where);

  if (!j.contains("data")) throw InputError(where + ": field 'data' is missing (the lengths the units were made from)");
  const std::string dw = where + ".data";
  const nlohmann::json& dj = j["data"];
  if (!dj.is_object()) throw InputError(dw + ": must be an object, got " + describe_json(dj));
  reject_unknown_fields(dj, {"origin", "context", "lengths"}, dw);
  auto data = std::make_shared<SequenceLengths>();
  data->origin = json_string_or(dj, "origin", l.spec, dw);
  if (!dj.contains("context")) throw InputError(dw + ": field 'context' is missing (tokens a unit holds)");
  data->context = int_in(dj, "context", 0, 1, kMaxSequenceTokens, dw);
  const nlohmann::json& arr = json_array(dj, "lengths", dw);
  if (arr.empty()) throw InputError(dw + ": field 'lengths' is empty: an iteration needs at least one sequence");
  if (arr.size() > static_cast<size_t>(kMaxSequences))
    throw InputError(dw + ": field 'lengths' has more than " + std::to_string(kMaxSequences) + " sequences");
  long long total = 0;
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string at = dw + ".lengths[" + std::to_string(i) + "]";
    long long v = 0;
    if (!arr[i].is_number_integer() || (v = arr[i].get<long long>()) < 1 || v > kMaxSequenceTokens)
      throw InputError(at + ": must be a whole number of tokens in [1, " + std::to_string(kMaxSequenceTokens) +
                       "], got " + describe_json(arr[i]));
    total += v;
    if (total > kMaxBatchTokens)
      throw InputError(dw + ": field 'lengths' adds up to more than " + std::to_string(kMaxBatchTokens) + " tokens");
    data->lengths.push_back(v);
  }
  data->lines.assign(data->lengths.size(), 0);
  l.data = std::move(data);

  if (j.contains("processing") && !j["processing"].is_null())
    l.processing = processing_from_json(j["processing"], where + ".processing");
  return l;
}

}  // namespace adaptis::explorer
