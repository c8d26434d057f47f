#pragma once
// --recompute and --offload on simulate, compare and optimize: the activation memory policies of
// memory_policy.h from the command line.
//   --recompute none|selective|full|auto   (auto: the search chooses, or the first that fits)
//   --offload FRACTION|auto                (of the kept activations copied to host; auto: 0, 1/4 .. 1)
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"

namespace adaptis::cli {

struct MemoryOptions {
  std::string recompute = "none";
  std::string offload = "0";
};

void add_memory_options(CLI::App* cmd, MemoryOptions& o);

// The policies the flags allow, each list weakest first. InputError naming the flag on a bad value.
struct MemoryChoices {
  std::vector<Recompute> recompute;
  std::vector<double> offload;
  bool given = false;  // any flag other than the defaults (none, 0)
  bool automatic = false;  // either flag is auto
};
MemoryChoices parse_memory_options(const MemoryOptions& o);

// Uniform policies to try on a fixed plan, weakest first: recompute steps, then more offload on
// the strongest (one entry when nothing is automatic).
std::vector<StageMemoryPolicy> uniform_policies(const MemoryChoices& c);

// Applies the flags to a plan for `simulate`: its policies when the flags are the defaults; a
// uniform policy otherwise (InputError when the plan file carries policies of its own); with auto,
// the weakest uniform policy whose plan fits memory (the strongest when none does). `chosen`
// receives a line saying what was applied ("" when nothing).
Plan apply_memory_options(Plan plan, const MemoryChoices& c, const CostTable& costs, const Cluster& cluster,
                          const SimOptions& sim, std::string& chosen);

// For the explorers (`tui`, `gui`): the policy every stage of the starting `plan` gets from the
// flags (nullopt when they are the defaults), chosen as apply_memory_options does (auto: the
// weakest whose plan fits). InputError when the plan file carries policies of its own.
std::optional<StageMemoryPolicy> starting_memory_policy(const MemoryChoices& c, const Plan& plan,
                                                        const CostTable& costs, const Cluster& cluster,
                                                        const SimOptions& sim);

}  // namespace adaptis::cli
