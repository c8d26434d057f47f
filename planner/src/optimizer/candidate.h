#pragma once
// Internal to the optimizer: one point of the search space (partition bounds, stage -> device,
// list-scheduling policy), how it is scored, and the moves between neighbouring points.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/planner/list_scheduler.h"
#include "adaptis/planner/partitioner.h"
#include "adaptis/planner/plan.h"
#include "adaptis/planner/units.h"

namespace adaptis::opt {

struct Candidate {
  std::vector<int> bounds;        // partition: stage s = layers [bounds[s], bounds[s+1])
  std::vector<int> stage_device;  // stage -> device
  ListSchedulePolicy policy;
  // Per stage (aligned with stage_device) when the search chooses memory policies; empty = none.
  std::vector<StageMemoryPolicy> memory;

  int num_stages() const { return static_cast<int>(stage_device.size()); }
  bool operator==(const Candidate&) const = default;
};

// Lower is better: plans that fit memory first, then by iteration time; plans that do not fit
// by how far they overflow. `slack` breaks ties between equal makespans: the mean device end time in
// the search (so the local search can move across plateaus), the peak memory among finalists.
struct Score {
  bool valid = false;  // false: not evaluated, or the scheduler could not run it
  bool fits = false;
  double overflow = 0;
  double ms = 0;
  double slack = 0;

  static Score invalid() { return Score{}; }
};
// Strictly better; `slack_tolerance` is how much smaller a's slack must be to break a tie.
bool better(const Score& a, const Score& b, double slack_tolerance = 1e-9);
bool no_worse(const Score& a, const Score& b);          // a is at least as good as b (for plateau moves)

// The fixed inputs of one optimize() call and per-thread scratch space to score candidates.
struct SearchContext {
  const CostTable* costs = nullptr;
  Cluster cluster;  // the first `devices` devices of the user's cluster
  SimOptions sim;
  int devices = 0;
  int microbatches = 0;
  int max_stages_per_device = 0;  // resolved: >= 1
  bool split_backward = false;    // the costs have W time
  StageCostCache cache;
  std::vector<double> layer_weight;  // f + b + w per layer
  std::vector<double> layer_prefix;  // prefix sums of layer_weight
  std::vector<double> speed;         // per device
  // Variable-length units (OptimizeOptions::units; empty = identical micro-batches): every candidate is
  // scheduled with their per-unit costs and slice dependencies.
  std::vector<WorkUnit> units;
  CostReference ref;
  SliceLinks links;
  KeyReaders keys;  // key_readers(units), derived once for every evaluation
  // Memory policies a stage may get (OptimizeOptions::recompute_choices / offload_choices), and
  // the ladder from weakest to strongest that memory repairs climb. Empty ladder = no search.
  std::vector<Recompute> recompute_choices;
  std::vector<double> offload_choices;
  bool partial_full = false;  // full recompute of the first k layers of a stage
  std::vector<StageMemoryPolicy> ladder;
  bool memory_search() const { return !ladder.empty(); }
  // The placement must stay as seeded (a target that only runs fixed placement styles, e.g.
  // torchtitan's looped and V): moves change only layer boundaries and the scheduling policy.
  bool placement_fixed = false;

  SearchContext(const CostTable& c, const Cluster& cl, const SimOptions& s, int d, int m, int max_k);
  // Sets the memory choices and builds the ladder (none when the only choice is the default).
  void set_memory_choices(std::vector<Recompute> recompute, std::vector<double> offload, bool partial);
};

class Evaluator {
 public:
  explicit Evaluator(const SearchContext& ctx) : ctx_(ctx) {}
  Score score(const Candidate& c);
  // Per device: peak memory minus its limit in the last score() (> 0: over).
  const std::vector<double>& last_overflow() const { return overflow_; }
  // The candidate's plan (orders from the list scheduler), named `name`.
  Plan plan(const Candidate& c, const std::string& name);

 private:
  ListScheduleProblem problem(const Candidate& c);
  const SearchContext& ctx_;
  ListScheduler scheduler_;
  ListScheduleProblem pb_;
  std::vector<double> overflow_;
};

// Structural check: bounds cover the layers with non-empty stages, every device holds 1..max_k stages,
// memory policies (when any) one per stage with full_layers within the stage.
bool well_formed(const Candidate& c, const SearchContext& ctx);

// Memory repair: while the candidate does not fit, every stage on a device over its limit climbs
// one step of the ladder (at most `rounds` rounds, each one evaluation). Returns the best score
// seen and leaves `c` at it; `evaluations` counts the scoring calls.
Score repair_memory(Candidate& c, Score current, Evaluator& ev, const SearchContext& ctx, int rounds,
                    long long& evaluations);

// A random neighbour of `c` (always well formed). The move kinds: shift a layer boundary, move a
// stage to another device, swap two stages' devices, split a stage, merge two adjacent stages,
// change one field of the scheduling policy, and targeted rebalancing (a layer, a carved-out layer
// or a stage off the most loaded device). Half the placement and stage-count moves come with the
// partition repaired for device balance (boundary shifts, then stage swaps, while the most loaded
// device gets lighter).
Candidate neighbour(const Candidate& c, const SearchContext& ctx, std::mt19937_64& rng);

// The policies seeds are scheduled with (a few that work well across models), and the indices of
// the probes among them: the few every seed structure gets before the best structures get all.
std::vector<ListSchedulePolicy> seed_policies(const SearchContext& ctx);
std::vector<size_t> seed_probe_policies(const std::vector<ListSchedulePolicy>& policies);

}  // namespace adaptis::opt
