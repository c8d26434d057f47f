#pragma once
// The schedule comparison (common/schedule_compare.h) as text and JSON, for `compare` and `optimize`.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "cli/inputs.h"
#include "common/schedule_compare.h"

namespace adaptis::cli {

using app::add_compare_row;
using app::compare_schedules;
using app::CompareRow;
using app::fastest;

// The comparison as `adaptis compare` prints it, and its --json document.
std::string compare_table(const std::vector<CompareRow>& rows);
nlohmann::json compare_json(const std::vector<CompareRow>& rows);

}  // namespace adaptis::cli
