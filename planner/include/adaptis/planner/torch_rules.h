#pragma once
// The rules PyTorch's pipelining runtime (`torch.distributed.pipelining`, `_PipelineScheduleRuntime`
// loading a schedule CSV, as torchtitan does) imposes on a schedule, as a checker over our Plan,
// and the micro-batch relabelling that makes any valid adaptis plan obey the one rule our plans
// break most: the order of the last stage's forwards.
//
// What the runtime does that the rules come from:
//  - It infers each stage's rank from the row the stage's actions appear in, and asserts every
//    rank has a non-empty row.
//  - Its validator counts, per stage, one forward per micro-batch 0..m-1 and one backward per
//    micro-batch: a full backward B, or an input-gradient I plus a weight-gradient W (both
//    spellings may mix within a stage); I/B need the stage's forward earlier in the row, W its I.
//  - The last stage appends each forward's loss to a list and the backward of micro-batch k reads
//    entry k of it: the last stage's forwards must run micro-batches 0, 1, 2, ... in order (else
//    "Loss for microbatch k is not available", or worse, losses silently paired with the wrong
//    micro-batch), and on the last stage's rank any backward of micro-batch k issued after the
//    first loss exists needs k losses already computed.
//  - Stages on one rank hand activations and gradients over in memory, not by RECV: the producer
//    (F of stage s-1, I/B of stage s+1) must come earlier in the same row.
//  - OVERLAP_F_B runs its sub-actions forward first (one forward and one backward, the pair
//    DualPipeV and torchtitan's overlap callback are written for); both inputs must be there
//    before the pair starts.
//  - Lowering (`_add_send_recv`): ranks take turns issuing their next action, each only once its
//    input was sent (RECV placed) or produced locally; a schedule whose orders wait on each other
//    across ranks cannot be lowered.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

struct TorchRule {
  const char* name;         // e.g. "loss-order"
  const char* description;  // one line: what PyTorch needs and why
};

// Every rule the checker knows, in the order it checks them.
const std::vector<TorchRule>& torch_rules();

struct TorchRuleViolation {
  std::string rule;   // a name from torch_rules()
  int device = -1;    // rank whose row holds the offending action; -1 when it concerns the plan as a whole
  int position = -1;  // index of the offending action in plan.schedule[device]
  Action action;      // the offending action (when device >= 0)
  std::string detail; // what is wrong, naming the action in PyTorch's spelling ("3I1")
  std::string message() const;  // "torch rule 'loss-order' at device 3, action 5 ('3F2'): ..."
};

struct TorchRulesReport {
  std::vector<TorchRuleViolation> violations;
  bool ok() const { return violations.empty(); }
  // The first `max_lines` violations, one per line, and how many more there are.
  std::string message(size_t max_lines = 8) const;
};

// Checks `plan` (as our PyTorch CSV export would write it) against every rule.
TorchRulesReport check_torch_rules(const Plan& plan);

// The new index of each micro-batch (new_of_old[old]) that makes the last stage's forwards run
// 0, 1, 2, ... in order. Identity when the plan already does, or when the last stage does not run
// every micro-batch exactly once (then nothing can be derived; the checker says why).
std::vector<int> torch_microbatch_relabelling(const Plan& plan);

// `plan` with every action's micro-batch renamed by `new_of_old` (a permutation of 0..m-1).
// Micro-batches of one iteration are interchangeable, so simulated time and memory do not change;
// variable-length units (Plan::units) move with their micro-batch.
Plan relabel_microbatches(const Plan& plan, const std::vector<int>& new_of_old);

// relabel_microbatches(plan, torch_microbatch_relabelling(plan)).
Plan relabel_for_torch(const Plan& plan);

// The plan PyTorch's runtime can run: relabelled, then checked. Throws InputError starting with
// `origin` and naming the first violated rule and the offending action when a rule still fails.
Plan prepare_for_torch(const Plan& plan, const std::string& origin);

}  // namespace adaptis
