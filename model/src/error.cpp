#include "adaptis/model/error.h"

#include <cstdio>

namespace adaptis {

std::string quoted_excerpt(const std::string& text, size_t max_chars) {
  std::string out = "'";
  for (size_t i = 0; i < text.size(); ++i) {
    if (i >= max_chars) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += text[i];
    }
  }
  return out + "'";
}

}  // namespace adaptis
