#include "adaptis/model/checked.h"

#include <cmath>
#include <cstdio>

#include "adaptis/model/error.h"

namespace adaptis {

namespace {

std::string fmt(double x) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}

}  // namespace

int checked_int(long long v, long long lo, long long hi, const std::string& what) {
  if (v < lo || v > hi)
    throw InputError(what + ": must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                     std::to_string(v));
  return static_cast<int>(v);
}

double checked_finite(double v, double lo, double hi, const std::string& what) {
  if (!std::isfinite(v) || v < lo || v > hi)
    throw InputError(what + ": must be " + (std::isfinite(v) ? "" : "a finite number ") + "in [" + fmt(lo) + ", " +
                     fmt(hi) + "], got " + fmt(v));
  return v;
}

}  // namespace adaptis
