#include "tui/keys.h"

#include <utility>

#include "adaptis/model/error.h"

namespace adaptis::tui::key {

namespace {

const std::pair<const char*, int> kNames[] = {
    {"up", Up},       {"down", Down},   {"left", Left},       {"right", Right}, {"pgup", PageUp},
    {"pgdn", PageDown}, {"home", Home}, {"end", End},         {"enter", Enter}, {"tab", Tab},
    {"btab", BackTab}, {"esc", Escape}, {"bs", Backspace},   {"lt", '<'},  {"gt", '>'},
};

}  // namespace

std::vector<int> parse_script(const std::string& script, const std::string& flag) {
  std::vector<int> keys;
  for (size_t i = 0; i < script.size(); ++i) {
    char c = script[i];
    if (c != '<') {
      keys.push_back(static_cast<unsigned char>(c));
      continue;
    }
    size_t close = script.find('>', i + 1);
    // A lone '<' (nothing that looks like a name follows) is the key itself.
    if (close == std::string::npos || close == i + 1) {
      keys.push_back('<');
      continue;
    }
    std::string nm = script.substr(i + 1, close - i - 1);
    bool found = false;
    for (const auto& [n, k] : kNames)
      if (nm == n) {
        keys.push_back(k);
        found = true;
      }
    if (!found) {
      std::string valid;
      for (const auto& [n, k] : kNames) valid += std::string(valid.empty() ? "" : ", ") + "<" + n + ">";
      throw InputError(flag + ": unknown key <" + nm + "> at position " + std::to_string(i) + "; valid names: " +
                       valid);
    }
    i = close;
  }
  return keys;
}

std::string name(int k) {
  if (k >= 0x20 && k < 0x7f) return std::string(1, static_cast<char>(k));
  std::string inner = std::to_string(k);
  for (const auto& [n, code] : kNames)
    if (code == k) inner = n;
  // Appended piecewise: GCC 12 warns (-Wrestrict, a false positive) on "<" + s + ">".
  std::string out(1, '<');
  out.append(inner);
  out.push_back('>');
  return out;
}

}  // namespace adaptis::tui::key
