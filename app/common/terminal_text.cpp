#include "common/terminal_text.h"

#include <cstdio>

namespace adaptis::app {

namespace {

void append_escape(std::string& out, const char* format, unsigned value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

// Length of the valid UTF-8 sequence starting at text[i] (1..4), or 0 when it is not one (overlong
// encodings, surrogates and code points above U+10FFFF count as invalid).
size_t utf8_sequence_length(std::string_view text, size_t i, unsigned& code_point) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned c = byte(i);
  size_t n = 0;
  unsigned min = 0;
  if (c >= 0xC2 && c <= 0xDF) n = 2, code_point = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, code_point = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, code_point = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i + k) & 0x3F);
  }
  if (code_point < min || code_point > 0x10FFFF || (code_point >= 0xD800 && code_point <= 0xDFFF)) return 0;
  return n;
}

}  // namespace

std::string terminal_safe(std::string_view text, bool keep_newlines_and_tabs) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      const bool kept = keep_newlines_and_tabs && (c == '\n' || c == '\t');
      if ((c < 0x20 && !kept) || c == 0x7F) append_escape(out, "\\x%02x", c);
      else out += static_cast<char>(c);
      ++i;
      continue;
    }
    unsigned code_point = 0;
    const size_t n = utf8_sequence_length(text, i, code_point);
    if (n == 0) {
      append_escape(out, "\\x%02x", c);
      ++i;
    } else if (code_point <= 0x9F) {  // C1 control, UTF-8 encoded
      append_escape(out, "\\u%04x", code_point);
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace adaptis::app
