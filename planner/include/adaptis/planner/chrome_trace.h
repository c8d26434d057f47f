#pragma once
// Chrome Trace Event JSON (opens in Perfetto and chrome://tracing) for a timed plan.
//
// Layout: one process per device ("device N"). Inside it, per timeline, a "compute" thread with
// one complete event (ph "X") per action (args: stage, mb, op, layers), one "send -> device K"
// and one "recv <- device K" thread per peer for the P2P transfers (linked by flow arrows), an
// "idle" thread with every gap and its cause (cat "bubble"), and a memory counter (ph "C") split
// into static and activation MiB. Times are microseconds of simulated (or measured) time.
// With memory policies: R actions on the compute thread, a "host link -> host" and a "host link ->
// device" thread with every offload / reload copy (args: stage, mb, bytes, request_ms), the
// activation counter split into kept and recomputed MiB, and an "on host MiB" counter.
//
// Several timelines may share one trace (a prediction next to a measured run of the same plan):
// each gets its own threads, prefixed by its label, so nothing overlaps.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/p2p_transfers.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis {

// One timeline to draw, in the shape both the simulator and the executor produce.
struct TraceTimeline {
  std::string label = "simulated";                 // lane prefix when a trace holds several timelines
  std::vector<std::vector<TimedAction>> actions;   // per device, execution order
  std::vector<Transfer> transfers;                 // P2P transfers (derive_transfers); may be empty
  std::vector<std::vector<MemorySample>> memory;   // per device; may be empty
  std::vector<double> static_bytes;                // per device; splits memory into static + activations
  std::vector<Gap> gaps;                           // idle intervals with causes; may be empty
  std::vector<HostTransfer> host_transfers;        // activation offload / reload copies; may be empty
  double iteration_ms = 0;
};

struct ChromeTraceOptions {
  bool transfers = true;  // send/recv threads
  bool flows = true;      // arrows from each send to its recv
  bool memory = true;     // memory counters
  bool gaps = true;       // idle thread
};

// Everything a SimResult says, with transfers timed by the simulator's link model.
// Throws InputError when the simulation deadlocked (there is no timeline to draw).
TraceTimeline trace_timeline_from_simulation(const Plan& plan, const SimResult& sim, const CostTable& costs,
                                             const Cluster& cluster, const SimOptions& opt = {});

// The trace document: {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}.
// `metadata` is merged into otherData (plan name, micro-batches and iteration times are added).
nlohmann::json chrome_trace_json(const Plan& plan, const std::vector<TraceTimeline>& timelines,
                                 const ChromeTraceOptions& opt = {},
                                 const nlohmann::json& metadata = nlohmann::json::object());

// Shorthand: simulate-result -> trace document.
nlohmann::json chrome_trace_json(const Plan& plan, const SimResult& sim, const CostTable& costs,
                                 const Cluster& cluster, const SimOptions& sim_opt = {},
                                 const ChromeTraceOptions& opt = {});

// Writes compact JSON (traces get large); InputError when the file cannot be written.
void write_chrome_trace(const std::string& path, const nlohmann::json& trace);

}  // namespace adaptis
