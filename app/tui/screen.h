#pragma once
// The TUI's screen model: a width x height grid of characters, each with a semantic style. The
// renderer fills one from a TuiState (pure, testable without a terminal); the ncurses layer maps
// styles to colour pairs or attributes and draws it; the plain/line mode prints it as text.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace adaptis::tui {

// What a cell means, not how it looks: the drawing layer decides colours (or their absence).
enum class Style : uint8_t {
  Normal,
  Dim,        // secondary text, axis labels
  Title,      // header line
  Tab,        // inactive view tab
  TabActive,  // the current view's tab
  Header,     // table column headers
  Selected,   // cursor row / selected boundary
  Good,       // best value, success
  Warn,       // warnings, running states
  Bad,        // errors, OOM
  OpF,        // Gantt cells by op
  OpB,
  OpW,
  OpBW,
  OpR,          // recompute (memory policies)
  HostCopy,     // host-link copies (offload / reload) on the Gantt's host row
  Collective,   // a whole-cluster plan's collectives on the Gantt's dp / tp rows
  Idle,         // Gantt idle cell
  BarBusy,      // device bars
  BarWarmUp,
  BarBetween,
  BarCoolDown,
  BarMemory,
  BarRecomputed,  // the part of a device's memory peak that R re-created
  BarEmpty,
  Progress,     // optimizer progress bar fill
  Key,          // key names in the hint line
};
constexpr int kNumStyles = static_cast<int>(Style::Key) + 1;

struct Cell {
  char ch = ' ';
  Style style = Style::Normal;
  bool operator==(const Cell& o) const { return ch == o.ch && style == o.style; }
};

class Screen {
 public:
  Screen(int width, int height);

  int width() const { return width_; }
  int height() const { return height_; }
  const Cell& at(int x, int y) const { return cells_[static_cast<size_t>(y) * width_ + x]; }

  // Writes `text` from (x, y), clipped at the right edge and to at most `max_len` characters
  // (-1 = up to the edge). Returns the column after the last character written.
  int put(int x, int y, std::string_view text, Style style = Style::Normal, int max_len = -1);
  // Sets `count` cells from (x, y) to `ch` (clipped).
  void fill(int x, int y, int count, char ch, Style style);
  void set(int x, int y, char ch, Style style);
  // Restyles `count` cells keeping their characters (clipped).
  void restyle(int x, int y, int count, Style style);

  // Row y as text, trailing spaces removed.
  std::string row(int y) const;
  // All rows joined with '\n' (trailing spaces removed per row): plain mode output and test oracle.
  std::string text() const;
  // True when any row contains `needle`.
  bool contains(std::string_view needle) const;

 private:
  int width_, height_;
  std::vector<Cell> cells_;
};

}  // namespace adaptis::tui
