#pragma once
// Reading values back from a run database as carefully as any input file: it may have been edited,
// damaged, or written by another tool. Every message names where the value came from:
// "run database PATH: run N: field plan_json: ...".
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/executor/run_store.h"

namespace adaptis::exec {

std::string stored_where(const std::string& path, int64_t run_id, const char* column);

// A JSON column: parsed with the limits of any input file (depth, number range) and an object.
nlohmann::json parse_stored_object(const std::string& text, const std::string& where);

// The micro-batch losses of a step: an array (non-numbers read as NaN).
std::vector<double> parse_stored_losses(const std::string& text, const std::string& where);

// What load_run promises (run_store.h): plan_json a valid plan, and the fields of model_json,
// costs_json and machine_json that show/export read have their types.
void check_stored_json(const RunRecord& rec, const std::string& path);

// An INTEGER column narrowed to int after checking lo <= v <= hi.
int stored_int(int64_t v, long long lo, long long hi, const std::string& path, int64_t run_id, const char* column);

// A time in ns within +-2^62 (146 years), so that the difference of any two cannot overflow.
int64_t stored_time_ns(int64_t v, const std::string& path, int64_t run_id, const char* column);

}  // namespace adaptis::exec
