#pragma once
// One error type for every bad input the tool can be given (files, options, plans).
// The message always names where the problem is (file, field, line/column) and what is wrong,
// so a front end can show it as-is and exit non-zero.
//
// Libraries speak in fields, never in a front end's words: an error about one option of a library call
// carries the option's name as its options struct spells it ("devices", "microbatches", "time_limit_s")
// in field(), and what() reads "<field>: <problem>". The CLI maps fields to its flags in one table
// (app/cli/field_flags.h) and prints "--devices: <problem>"; the GUI and TUI show what() as it is.
#include <stdexcept>
#include <string>

namespace adaptis {

class InputError : public std::runtime_error {
 public:
  // A message that names its own origin (a file and a JSON path, a line of a CSV, a schedule's rule).
  explicit InputError(const std::string& what) : std::runtime_error(what), problem_(what) {}
  // A problem with one option: `field` is its name in the library's options, `problem` what is wrong.
  InputError(const std::string& field, const std::string& problem)
      : std::runtime_error(field + ": " + problem), field_(field), problem_(problem) {}

  // The option at fault ("" when the message names its own origin).
  const std::string& field() const noexcept { return field_; }
  // The message without the field (all of what() when there is no field).
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string field_, problem_;
};

// `text` in single quotes for a message, cut to about `max_chars` (then "...") with control
// characters shown as \xNN: quoting a line or cell from a file never echoes megabytes or raw
// terminal escapes.
std::string quoted_excerpt(const std::string& text, size_t max_chars = 60);

}  // namespace adaptis
