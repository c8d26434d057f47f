#pragma once
// The memory dimension of a plan as both explorers show and edit it: each device's peak against its
// cap with the OOM flag, the activation part of that peak split into what F kept, what R re-created
// and what sat on the host at that moment, the time R and the host-link copies took, and the steps
// the policy controls walk through. Plain data derived once per simulation (Evaluation::memory).
#include <cstddef>
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"
#include "adaptis/planner/simulator.h"

namespace adaptis::explorer {

struct DeviceMemoryRow {
  double peak_bytes = 0;    // static + activations at the device's peak (the simulator's)
  double cap_bytes = 0;     // the limit the simulation checked (0 = unknown)
  double static_bytes = 0;  // weights, gradients and optimizer state of its stages
  // The activation bytes at the peak: kept by F, re-created by R, slices' key/value gradient carries, the
  // output gradients separate Bs made for their Ws; and what was on the host then.
  double kept_bytes = 0, recomputed_bytes = 0, carried_bytes = 0, w_grad_bytes = 0, on_host_bytes = 0;
  double recompute_ms = 0, host_copy_ms = 0;  // R time on the compute stream, host link busy time
  bool oom = false;

  // Peak over cap (0 when the cap is unknown).
  double fill() const { return cap_bytes > 0 ? peak_bytes / cap_bytes : 0; }
};

struct MemoryOverview {
  std::vector<DeviceMemoryRow> devices;
  int worst = -1;           // the device with the highest peak / cap (-1 without sizes)
  bool oom = false;         // some device is over its cap
  bool has_sizes = false;   // the costs carry bytes (otherwise there is nothing to show)
  bool policies = false;    // some stage recomputes or offloads
  std::string policy_text;  // the plan's per-stage policies in a few words ("" = none)
  size_t recompute_actions = 0;  // R actions in the plan
  size_t host_copies = 0;        // offload + reload copies the simulation ran
};

// From a simulation; `caps` is the limit of each device (Evaluation::memory_limit).
MemoryOverview memory_overview(const Plan& plan, const SimResult& sim, const std::vector<double>& caps);

// The recompute steps the controls walk through, weakest first (none, selective, full), wrapping.
Recompute next_recompute(Recompute r, int dir);
// The offload fraction one step (25%) up or down, kept in [0, 1].
double step_offload_fraction(double fraction, int dir);
// What "auto" tries on every stage, weakest first: none, selective, full, each with `offload`.
std::vector<StageMemoryPolicy> auto_memory_ladder(double offload);

}  // namespace adaptis::explorer
