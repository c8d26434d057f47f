#pragma once
// What both lower bounds (lower_bound.cpp, lower_bound_units.cpp) read from the devices: the fastest,
// the slowest and the summed speed of the first `devices` ones, and how far DualPipe-style F&B pairs
// may shrink the work.
#include <algorithm>
#include <string>

#include "adaptis/model/cluster.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

struct BoundDevices {
  double fastest = 0, slowest = 0, speed_sum = 0;
  // A pair of F and B may hide part of the shorter action: it takes at least (f + b)(1 - overlap / 2),
  // so all the work may shrink by that factor at most.
  double shrink = 1;
};

inline BoundDevices bound_devices(const Cluster& cluster, int devices, const SimOptions& sim) {
  if (devices < 1 || devices > cluster.num_devices())
    throw InputError("lower bound: " + std::to_string(devices) + " devices asked of cluster '" + cluster.name +
                     "' with " + std::to_string(cluster.num_devices()));
  BoundDevices b;
  for (int d = 0; d < devices; ++d) {
    const double s = cluster.devices[d].speed;
    if (!(s > 0)) throw InputError("lower bound: device " + std::to_string(d) + " has speed <= 0");
    b.fastest = std::max(b.fastest, s);
    b.slowest = d == 0 ? s : std::min(b.slowest, s);
    b.speed_sum += s;
  }
  b.shrink = 1.0 - std::clamp(sim.pair_overlap, 0.0, 1.0) / 2.0;
  return b;
}

}  // namespace adaptis
