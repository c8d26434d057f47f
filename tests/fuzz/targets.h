#pragma once
// The parsers the fuzz driver exercises, each with its seed corpus, its dictionary and what it runs
// on one input. A target's run() must end in success or adaptis::InputError; after a success it also
// checks that what was read is sane (finite times, a simulation that finishes) and throws
// SilentlyWrong otherwise.
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace adaptis::fuzz {

struct SilentlyWrong : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Target {
  std::string name;
  std::vector<std::string> seeds;
  std::vector<std::string> dictionary;
  std::string open = "[", close = "]";  // this format's nesting brackets
  std::function<void(const std::string& input)> run;
};

// `samples` is the repository's samples/ directory; `scratch` a private directory for the files and
// the run database the targets need.
std::vector<Target> make_targets(const std::string& samples, const std::string& scratch);

}  // namespace adaptis::fuzz
