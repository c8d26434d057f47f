#pragma once
// Numbers as the explorers and the CLI print them: durations in a unit that fits their size, byte
// sizes in binary units, signed deltas, and the time unit of an axis (ticks and the cursor's time
// share one unit, so "1.2 s" on a tick and "1180 ms" under the mouse never sit side by side).
#include <string>

namespace adaptis::app {

// printf into a std::string.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// "1058.1 ms", "12.50 ms", "850.0 us", "12.34 s": a duration for labels and tooltips.
std::string format_ms(double ms);
// "1.23 GiB", "512.00 MiB", "0 B" (negative sizes keep their sign).
std::string format_bytes(double bytes);
// "+12.30" style signed number with `decimals` decimals.
std::string format_signed(double v, int decimals);
// A signed percentage of a fraction: 0.123 -> "+12.3%"; "-" when not finite.
std::string format_percent(double fraction);

// The unit an axis labels its times in, chosen from the distance between two ticks.
struct TimeUnit {
  const char* name = "ms";
  double per_ms = 1;  // value in this unit = ms * per_ms
  int decimals = 0;   // enough to tell neighbouring ticks apart
};
TimeUnit axis_unit(double tick_step_ms);
// `ms` in `unit`: "1.5 s", "250 us"; `extra_decimals` more than the ticks (for a cursor readout).
std::string format_in_unit(double ms, const TimeUnit& unit, int extra_decimals = 0);
// A readable tick step: 1, 2 or 5 times a power of ten, at least `min_step_ms`.
double round_tick_step(double min_step_ms);

}  // namespace adaptis::app
