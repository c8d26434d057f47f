#pragma once
// The libraries name the option at fault by its field (InputError::field(): "microbatches", "time_limit_s");
// the CLI speaks in flags. This one table maps the first to the second, so every command prints
// "--microbatches: must be >= 1" while the GUI and TUI show the library's own "microbatches: must be >= 1".
#include <string>
#include <utility>
#include <vector>

#include "adaptis/model/error.h"

namespace adaptis::cli {

// Every library field the CLI sets from a flag, with that flag.
const std::vector<std::pair<std::string, std::string>>& field_flags();
// The flag that sets `field` ("" when no flag does).
std::string flag_for_field(const std::string& field);
// The error in the CLI's words: "<flag>: <problem>" when its field has a flag, else what() unchanged.
std::string cli_error_message(const InputError& e);

}  // namespace adaptis::cli
