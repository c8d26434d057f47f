#include "common/format.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <vector>

namespace adaptis::app {

std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out;
  if (n > 0) {
    std::vector<char> buf(static_cast<size_t>(n) + 1);
    std::vsnprintf(buf.data(), buf.size(), fmt, ap2);
    out.assign(buf.data(), static_cast<size_t>(n));
  }
  va_end(ap2);
  return out;
}

std::string format_ms(double ms) {
  const double a = std::fabs(ms);
  if (a >= 1e4) return strf("%.2f s", ms / 1000);
  if (a >= 100) return strf("%.1f ms", ms);
  if (a >= 1 || a == 0) return strf("%.2f ms", ms);
  if (a >= 1e-3) return strf("%.1f us", ms * 1e3);
  return strf("%.0f ns", ms * 1e6);
}

std::string format_bytes(double bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = std::fabs(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  const char* sign = bytes < 0 ? "-" : "";
  return u == 0 ? strf("%s%.0f B", sign, v) : strf("%s%.2f %s", sign, v, units[u]);
}

std::string format_signed(double v, int decimals) { return strf("%+.*f", decimals, v); }

std::string format_percent(double fraction) { return std::isfinite(fraction) ? strf("%+.1f%%", 100 * fraction) : "-"; }

TimeUnit axis_unit(double step_ms) {
  TimeUnit u;
  double s = step_ms;
  if (step_ms >= 1000) {
    u = {"s", 1e-3, 0};
  } else if (step_ms < 1e-3) {
    u = {"ns", 1e6, 0};
  } else if (step_ms < 1) {
    u = {"us", 1e3, 0};
  }
  s *= u.per_ms;
  u.decimals = s >= 1 || !(s > 0) ? 0 : std::clamp(static_cast<int>(std::ceil(-std::log10(s) - 1e-9)), 0, 6);
  return u;
}

std::string format_in_unit(double ms, const TimeUnit& unit, int extra_decimals) {
  return strf("%.*f %s", std::clamp(unit.decimals + extra_decimals, 0, 9), ms * unit.per_ms, unit.name);
}

double round_tick_step(double min_step_ms) {
  const double min_ms = std::max(1e-12, min_step_ms);
  double p = std::pow(10.0, std::floor(std::log10(min_ms)));
  for (int guard = 0; guard < 64; ++guard) {
    for (double m : {1.0, 2.0, 5.0})
      if (m * p >= min_ms) return m * p;
    p *= 10;
  }
  return min_ms;
}

}  // namespace adaptis::app
