#include "cli/memory_options.h"

#include <cmath>
#include <cstdlib>

#include "adaptis/model/error.h"

namespace adaptis::cli {

void add_memory_options(CLI::App* cmd, MemoryOptions& o) {
  cmd->add_option("--recompute", o.recompute,
                  "Activation recomputation on every stage: none, selective, full, or auto (chosen per stage by "
                  "optimize; the weakest that fits elsewhere)")
      ->capture_default_str();
  cmd->add_option("--offload", o.offload,
                  "Fraction of each stage's kept activations copied to host memory after F and back before B "
                  "(0..1), or auto")
      ->capture_default_str();
}

MemoryChoices parse_memory_options(const MemoryOptions& o) {
  MemoryChoices c;
  if (o.recompute == "auto") {
    c.recompute = {Recompute::None, Recompute::Selective, Recompute::Full};
    c.automatic = true;
  } else {
    c.recompute = {parse_recompute(o.recompute, "--recompute")};
  }
  if (o.offload == "auto") {
    c.offload = {0.0, 0.25, 0.5, 0.75, 1.0};
    c.automatic = true;
  } else {
    char* end = nullptr;
    const double f = std::strtod(o.offload.c_str(), &end);
    if (o.offload.empty() || end == nullptr || *end != '\0' || !std::isfinite(f) || f < 0 || f > 1)
      throw InputError("--offload: '" + o.offload + "' is not a fraction in [0, 1] (or auto)");
    c.offload = {f};
  }
  c.given = c.automatic || c.recompute.front() != Recompute::None || c.offload.front() > 0;
  return c;
}

std::vector<StageMemoryPolicy> uniform_policies(const MemoryChoices& c) {
  std::vector<StageMemoryPolicy> out;
  for (Recompute r : c.recompute) {
    StageMemoryPolicy p;
    p.recompute = r;
    p.offload_fraction = c.offload.front();
    out.push_back(p);
  }
  for (size_t i = 1; i < c.offload.size(); ++i) {
    StageMemoryPolicy p = out.back();
    p.offload_fraction = c.offload[i];
    out.push_back(p);
  }
  return out;
}

Plan apply_memory_options(Plan plan, const MemoryChoices& c, const CostTable& costs, const Cluster& cluster,
                          const SimOptions& sim, std::string& chosen) {
  chosen.clear();
  if (!c.given) return plan;
  if (has_memory_policy(plan))
    throw InputError("--recompute/--offload: the plan file carries per-stage memory policies of its own; drop the "
                     "flags or the file's \"memory\" field");
  // Over variable-length units a policy applies to every unit (a slice whose keys later slices read keeps
  // them as it recomputes: memory_policy.h).
  std::vector<StageMemoryPolicy> tries = uniform_policies(c);
  for (StageMemoryPolicy& p : tries) p = policy_over_units(p, plan.units);
  Plan out = plan;
  for (size_t i = 0; i < tries.size(); ++i) {
    out = plan;
    set_uniform_memory_policy(out, tries[i]);
    if (!c.automatic) break;
    SimResult r = simulate(out, costs, cluster, sim);
    if (r.ok && !r.oom) {
      chosen = "memory policy (auto): " + describe(tries[i]) + " on every stage, the weakest that fits";
      return out;
    }
    if (i + 1 == tries.size())
      chosen = "memory policy (auto): nothing fits; the strongest, " + describe(tries[i]) + ", on every stage";
  }
  if (!c.automatic) chosen = "memory policy: " + describe(tries.front()) + " on every stage";
  return out;
}

std::optional<StageMemoryPolicy> starting_memory_policy(const MemoryChoices& c, const Plan& plan,
                                                        const CostTable& costs, const Cluster& cluster,
                                                        const SimOptions& sim) {
  if (!c.given) return std::nullopt;
  std::string chosen;
  const Plan out = apply_memory_options(plan, c, costs, cluster, sim, chosen);
  if (out.memory.empty()) return StageMemoryPolicy{};
  return out.memory.front();
}

}  // namespace adaptis::cli
