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

}  // namespace adaptis
