#pragma once
// One error type for every bad input the tool can be given (files, flags, plans).
// The message always names where the problem is (file, field, line/column) and what is wrong,
// so the CLI can print it as-is and exit non-zero.
#include <stdexcept>
#include <string>

namespace adaptis {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

// `text` in single quotes for a message, cut to about `max_chars` (then "...") with control
// characters shown as \xNN: quoting a line or cell from a file never echoes megabytes or raw
// terminal escapes.
std::string quoted_excerpt(const std::string& text, size_t max_chars = 60);

}  // namespace adaptis
