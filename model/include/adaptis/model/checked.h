#pragma once
// Range checks for numbers that come from outside (files, databases) before they are used:
// one place that narrows integers and one that insists on finite values, so that no input can
// wrap around (4294967297 read as 1) or turn into inf/NaN further down (1e308 ms * a unit).
// Both throw InputError "<what>: must be in [lo, hi], got <value>"; `what` names the file and
// field (e.g. "cluster.json: devices[2]: field 'node'").
#include <limits>
#include <string>

namespace adaptis {

// `v` as an int after checking lo <= v <= hi (lo and hi must fit an int).
int checked_int(long long v, long long lo, long long hi, const std::string& what);

// `v` unchanged after checking it is finite and lo <= v <= hi.
double checked_finite(double v, double lo, double hi, const std::string& what);

}  // namespace adaptis
