#include "cli/option_ranges.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "adaptis/planner/optimizer.h"

namespace adaptis::cli {

namespace {

std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

CLI::Validator int_range(long long min, long long max) {
  const std::string range = "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
  return CLI::Validator(
      [min, max, range](std::string& input) -> std::string {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(input.c_str(), &end, 10);
        if (input.empty() || *end != '\0' || errno == ERANGE || v < min || v > max)
          return "must be an integer in " + range + ", got '" + input + "'";
        return {};
      },
      "INT in " + range);
}

CLI::Validator uint64_value() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        const bool digits = !input.empty() && input.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        if (digits) (void)std::strtoull(input.c_str(), nullptr, 10);
        if (!digits || errno == ERANGE)
          return "must be an integer in [0, 18446744073709551615], got '" + input + "'";
        return {};
      },
      "INT in [0, 2^64-1]");
}

CLI::Validator real_range(double min, double max, bool min_exclusive) {
  const std::string range = (min_exclusive ? "(" : "[") + number_text(min) + ", " + number_text(max) + "]";
  return CLI::Validator(
      [min, max, min_exclusive, range](std::string& input) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(input.c_str(), &end);
        // Comparisons with nan are false, so the finite check comes first.
        if (input.empty() || *end != '\0' || !std::isfinite(v) || v < min || v > max || (min_exclusive && v == min))
          return "must be a finite number in " + range + ", got '" + input + "'";
        return {};
      },
      "NUMBER in " + range);
}

int max_threads_option() { return max_optimizer_threads(); }

}  // namespace adaptis::cli
