#pragma once
// Point-to-point transfers of a timed plan: every cross-device dependency edge (an activation
// F(s) -> F(s+1), or an input gradient B/BW(s) -> B/BW(s-1) when the two stages sit on different
// devices) with the interval it occupied its link. Trace exporters draw these as send/recv lanes;
// the executor records measured ones in the same shape.
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"

namespace adaptis {

struct Transfer {
  int src_device = 0, dst_device = 0;
  Action producer;  // F(s) for an activation, B/BW(s) for a gradient
  Action consumer;  // F(s+1), or B/BW(s-1)
  double bytes = 0;
  double start = 0, end = 0;  // on the link, ms
  bool activation() const { return producer.op == Op::F; }
};

// The plan's cross-device edges, timed from `timeline` (per device, execution order; the shape of
// SimResult::timeline). With `stages` and `cluster` given, reproduces the simulator's link model
// exactly: a transfer starts when its producer releases its output and the link (src -> dst, FIFO
// in the sender's order) is free, and lasts latency + bytes / bandwidth. Without them (a measured
// run that recorded no comm events) each transfer spans producer end to consumer start, which is
// all a compute-only timeline can say. Sorted by sender, then start time.
// Plans with units (Plan::units): `unit_costs` (unit_stage_costs()) gives each unit's bytes, as the
// simulator uses them; without it the stage bytes stand for every unit.
std::vector<Transfer> derive_transfers(const Plan& plan, const std::vector<std::vector<TimedAction>>& timeline,
                                       const std::vector<StageCost>* stages = nullptr,
                                       const Cluster* cluster = nullptr, const SimOptions& opt = {},
                                       const std::vector<UnitStageCost>* unit_costs = nullptr);

}  // namespace adaptis
