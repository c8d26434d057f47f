#include "tui/screen.h"

#include <algorithm>
#include <string>

#include "common/terminal_text.h"

namespace adaptis::tui {

Screen::Screen(int width, int height)
    : width_(std::max(0, width)), height_(std::max(0, height)),
      cells_(static_cast<size_t>(width_) * static_cast<size_t>(height_)) {}

int Screen::put(int x, int y, std::string_view text, Style style, int max_len) {
  if (y < 0 || y >= height_) return x;
  // Names come from files anyone can write: a control character shows as its escape ("\x1b"), the
  // same text the CLI prints (common/terminal_text.h), not as a bare '?'.
  std::string escaped;
  if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    escaped = app::terminal_safe(text);
    text = escaped;
  }
  int n = static_cast<int>(text.size());
  if (max_len >= 0) n = std::min(n, max_len);
  for (int i = 0; i < n; ++i) {
    int cx = x + i;
    if (cx >= width_) return width_;
    if (cx < 0) continue;
    char ch = text[static_cast<size_t>(i)];
    // Control characters would move the terminal's cursor: the model holds printable ASCII only.
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
    cells_[static_cast<size_t>(y) * width_ + cx] = Cell{ch, style};
  }
  return std::min(width_, x + n);
}

void Screen::fill(int x, int y, int count, char ch, Style style) {
  if (y < 0 || y >= height_) return;
  for (int cx = std::max(0, x); cx < std::min(width_, x + count); ++cx)
    cells_[static_cast<size_t>(y) * width_ + cx] = Cell{ch, style};
}

void Screen::set(int x, int y, char ch, Style style) { fill(x, y, 1, ch, style); }

void Screen::restyle(int x, int y, int count, Style style) {
  if (y < 0 || y >= height_) return;
  for (int cx = std::max(0, x); cx < std::min(width_, x + count); ++cx)
    cells_[static_cast<size_t>(y) * width_ + cx].style = style;
}

std::string Screen::row(int y) const {
  std::string s;
  if (y < 0 || y >= height_) return s;
  s.reserve(static_cast<size_t>(width_));
  for (int x = 0; x < width_; ++x) s.push_back(at(x, y).ch);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string Screen::text() const {
  std::string s;
  for (int y = 0; y < height_; ++y) {
    s += row(y);
    if (y + 1 < height_) s.push_back('\n');
  }
  return s;
}

bool Screen::contains(std::string_view needle) const {
  for (int y = 0; y < height_; ++y)
    if (row(y).find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace adaptis::tui
