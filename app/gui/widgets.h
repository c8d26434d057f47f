#pragma once
// Small ImGui building blocks the panels share: splitters, headline "chips", section headers,
// hover help. Drawing only; no state beyond what the caller passes.
#include <imgui.h>

#include <string>

#include "common/format.h"
#include "gui/theme.h"

namespace adaptis::gui {

// A draggable bar between two panes. `size` is the pane before it (or after it when `invert`),
// kept in [min_size, max_size]. Returns true while dragged.
bool splitter(const char* id, bool vertical, float thickness, float length, float* size, float min_size,
              float max_size, bool invert = false);

// A compact headline figure: dim caption over a value in the bold font, with an optional colour.
void metric(const Theme& t, const char* caption, const std::string& value, ImU32 colour = 0,
            const char* tooltip = nullptr);

// Uppercase dim caption for a group of controls.
void section(const Theme& t, const char* title);

// A "(?)" that shows `text` on hover.
void help_marker(const char* text);

// A coloured square the height of the text, for legends.
void swatch(ImU32 colour, float size);

// Text in the mono font.
void mono_text(const Theme& t, const char* fmt, ...) IM_FMTARGS(2);

// One row of a 4-column comparison table (metric, first, second, difference): the values in the
// mono font, the difference green when `better`, red otherwise; an empty difference draws nothing.
void comparison_row(const Theme& t, const char* name, const std::string& first, const std::string& second,
                    const std::string& difference, bool better);

// The text drawn inside a box when it fits: the long form, else the short form, else nothing.
// Digits are measured as '0' so boxes of one width get the same form.
const char* fitting_label(float width, float pad, const char* long_text, const char* short_text);

// Text in `colour` cut to `width` pixels with "..." when longer; the whole text shows on hover.
void clipped_text(const std::string& text, float width, ImU32 colour);

using app::strf;

}  // namespace adaptis::gui
