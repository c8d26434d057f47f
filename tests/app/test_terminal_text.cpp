// terminal_safe (app/common/terminal_text.h): control characters from names and messages reach the
// terminal as visible escapes, valid UTF-8 passes unchanged.
#include <gtest/gtest.h>

#include <string>

#include "common/terminal_text.h"

namespace {

using adaptis::app::terminal_safe;
using adaptis::app::terminal_safe_text;

TEST(TerminalText, EscapeSequencesBecomeVisibleText) {
  // A window-title change (OSC) and a clear-screen (CSI) as a plan name.
  const std::string name = "plan\x1b]0;owned\x07\x1b[2J";
  const std::string safe = terminal_safe(name);
  EXPECT_EQ(safe, "plan\\x1b]0;owned\\x07\\x1b[2J");
  EXPECT_EQ(safe.find('\x1b'), std::string::npos);
  EXPECT_EQ(safe.find('\x07'), std::string::npos);
}

TEST(TerminalText, EveryC0ControlAndDelIsEscaped) {
  for (int c = 0; c < 0x20; ++c) {
    const std::string in(1, static_cast<char>(c));
    const std::string out = terminal_safe(in);
    ASSERT_EQ(out.size(), 4u) << c;
    EXPECT_EQ(out.substr(0, 2), "\\x") << c;
  }
  EXPECT_EQ(terminal_safe("\x7f"), "\\x7f");
}

TEST(TerminalText, NewlinesAndTabsAreKeptOnlyInMessages) {
  EXPECT_EQ(terminal_safe("a\nb\tc"), "a\\x0ab\\x09c");
  EXPECT_EQ(terminal_safe_text("a\nb\tc\rd"), "a\nb\tc\\x0dd");
}

TEST(TerminalText, C1ControlsAndInvalidBytesAreEscapedValidUtf8Kept) {
  EXPECT_EQ(terminal_safe("\xc2\x9b" "31m"), "\\u009b31m");  // U+009B, CSI in UTF-8
  EXPECT_EQ(terminal_safe("\x9b" "2J"), "\\x9b2J");          // raw 8-bit CSI
  EXPECT_EQ(terminal_safe("\xc0\xaf"), "\\xc0\\xaf");        // overlong encoding
  EXPECT_EQ(terminal_safe("\xe2\x82"), "\\xe2\\x82");        // truncated sequence
  const std::string utf8 = "Gr\xc3\xb6\xc3\x9f" "e \xe2\x86\x92 \xf0\x9f\x9a\x80";  // "Größe → 🚀"
  EXPECT_EQ(terminal_safe(utf8), utf8);
  EXPECT_EQ(terminal_safe("plain name-1.5_x"), "plain name-1.5_x");
}

}  // namespace
