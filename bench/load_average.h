#pragma once
// How busy the machine was with other work while a benchmark ran: the 1-, 5- and 15-minute load
// averages (zeros where /proc/loadavg cannot be read). Every benchmark reports them beside its figures.
#include <fstream>
#include <vector>

namespace adaptis::bench {

inline std::vector<double> load_averages() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  if (!(in >> a >> b >> c)) return {0, 0, 0};
  return {a, b, c};
}

inline double load_average() { return load_averages()[0]; }  // the 1-minute one

}  // namespace adaptis::bench
