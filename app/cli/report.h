#pragma once
// Human and machine-readable reports of a simulated plan.
#include <nlohmann/json.hpp>
#include <string>

#include "adaptis/planner.h"
#include "common/format.h"
#include "common/terminal_text.h"

namespace adaptis::cli {

// Every string from the input (plan, model, cluster, layer and file names, stored commands and errors)
// goes through these before it reaches the terminal (common/terminal_text.h); the tables below already do.
using app::terminal_safe;
using app::terminal_safe_text;

// The --json document of `simulate`: iteration_time_ms, bubble_ratio, oom, plan, memory_policies
// (per stage: recompute, layers recomputed, offload fraction), and per device busy_ms, bubble_ms
// (+ warm-up/in-between/cool-down), peak_memory_bytes, memory_limit_bytes, oom, recompute_ms,
// host_copy_ms, recomputed_bytes, offloaded_bytes and the peak split peak_kept_bytes /
// peak_recomputed_bytes / peak_carried_bytes (slices' key/value gradient carries) / peak_w_grad_bytes
// (output gradients separate Bs made for their Ws) / peak_offloaded_bytes;
// host_transfers (every offload / reload copy).
nlohmann::json simulation_json(const Plan& plan, const SimResult& sim);
nlohmann::json memory_policies_json(const Plan& plan);

// A text table: one line per device plus the totals; with memory policies, a second table of R
// time, host-copy time and each device's activation peak split into kept / recomputed / on host
// (terminal-safe).
std::string simulation_table(const Plan& plan, const SimResult& sim);

// Idle gaps with their causes, largest first (at most `limit`).
std::string gaps_table(const SimResult& sim, size_t limit);

using app::format_bytes;

// The input's iteration-time lower bound (planner/lower_bound.h) in `compare` and `optimize` --json:
// ms, binding, and each part (work_ms, chain_ms with chain_layer, bins_ms).
nlohmann::json lower_bound_json(const IterationLowerBound& bound);

}  // namespace adaptis::cli
