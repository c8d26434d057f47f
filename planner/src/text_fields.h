#pragma once
// Internal: the small text helpers the planner's parsers share (plan options, OctoPipe plans, PyTorch CSVs).
#include <string>
#include <vector>

namespace adaptis::text {

// `s` without leading and trailing blanks (spaces, tabs, carriage returns).
inline std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// The fields of `s` between `sep`s, as they are (empty fields kept): "a,,b" -> {"a", "", "b"}.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace adaptis::text
