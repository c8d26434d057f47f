#pragma once
// Internal to the variable-length optimizer (varlen_optimizer.cpp): the search for per-unit activation
// checkpointing (StageMemoryPolicy::units) when the units of a sequence processing do not fit memory.
//
// Why per unit: units differ in length, so their activations differ by orders of magnitude. Recomputing a
// long unit frees many bytes for one forward's time; recomputing a short one frees little and still pays
// its launch overheads. And the stages that hold more units in flight (the early ones of a 1F1B-like
// schedule) run out first, so they should checkpoint more than the late ones.
//
// The search, per placement (sequential, and V when the model has the layers) and recompute kind
// (selective, full), from a cost-balanced partition:
//   1. list-schedule with no checkpointing; while a device is over its limit, select on that device the
//      (stage, unit) pairs that save the most bytes per ms of recompute, until what they save covers a
//      growing multiple of the overflow (a pair's bytes only count while the unit is in flight, so the
//      first round rarely suffices), and schedule again;
//   1b. when a device is still over its limit with every unit it can recompute selected, copy kept
//      activations of its stages to host memory (half, then all, where the device has a host link:
//      OptPipe's offload beside recompute), selecting more units after each step;
//   2. once it fits, drop selections in chunks, the least bytes-per-ms first, while it still fits and is
//      no slower (a recompute that memory does not need only costs time), then offload likewise (F still
//      holds all it keeps until its copy ends, so under a tight limit offload does not replace recompute);
//   3. the fastest fitting plan of all wins.
// A slice that later slices of its row read keeps its keys and values when it recomputes (memory_policy.h),
// so it saves only the rest. Every step is a fixed amount of deterministic work (no clock), so the result repeats.
#include <functional>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/unit.h"
#include "worker_pool.h"

namespace adaptis {

// Per-layer weight under the units: every unit's F + B + W on that layer (balancing by the reference
// micro-batch would misjudge attention layers when units are longer or shorter than it).
std::vector<double> unit_layer_weights(const CostTable& costs, const std::vector<WorkUnit>& units);

// The list-scheduling policies the screen of sequence processings and this search try on each layout.
std::vector<ListSchedulePolicy> unit_screen_policies();

struct UnitCheckpointSearch {
  bool found = false;      // a plan that fits memory
  Plan plan;               // with Plan::units and Plan::memory (the selection)
  double ms = 0;           // its list-scheduled iteration time
  std::string what;        // "16 stages, list-scheduled (...), full recompute of 40 (stage, unit) pairs"
  int evaluations = 0;     // list-schedule runs spent
  // When nothing fits: why, for the closest try (which device, by how much, and what still holds it).
  std::string why_not;
  double closest_overflow_bytes = 0;
};

// Searches per-unit checkpointing for `units` on the first `devices` devices of `cluster`. Each (placement,
// partition, recompute kind) is a job of its own on `pool`; their outcomes are taken in a fixed order (the first
// of equals wins), so the result does not depend on the thread count. `out_of_time` (optional, for a
// clock-budgeted search): once a fitting plan is found, asked before each further (placement, partition,
// recompute kind) and between the selection, offload and dropping rounds inside one; true stops there with the
// best so far (called from the pool's threads). Without it the search does its whole fixed amount of work.
UnitCheckpointSearch search_unit_checkpointing(const CostTable& costs, const Cluster& cluster, int devices,
                                               const std::vector<WorkUnit>& units, const SimOptions& sim,
                                               opt::WorkerPool& pool, const std::function<bool()>& out_of_time = {});

}  // namespace adaptis
