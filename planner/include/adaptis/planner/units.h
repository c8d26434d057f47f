#pragma once
// Costs and checks of variable-length units (unit.h, Plan::units).
//
// Cost model. Every per-layer time of the cost table is for one reference micro-batch of T_ref tokens
// and Q_ref causal attention pairs (CostTable::tokens_per_microbatch / pairs_per_microbatch), split into a part every
// micro-batch pays once (kernel launches), a part that grows with the attention pairs (the causal
// attention core) and the rest, which grows with tokens (projections, MLP, norms, the LM head). A unit
// of T tokens and Q pairs then takes, per layer and pass,
//     t(u) = fixed + token_part * T / T_ref + pair_part * Q / Q_ref
// i.e. alpha * T + beta * Q + c0. Its activation memory and the bytes it sends to the next stage grow
// with T (flash attention keeps no T x T matrix). A cost file without the split counts everything as
// token-linear at its reference tokens per micro-batch: right for the projections and MLPs, low for
// attention on units longer than the reference and high on shorter ones.
//
// Slice dependencies (unit.h): F(stage, slice k) after F(stage, slice k-1); B (or BW) of slice k after
// B of slice k+1, on every stage. The keys/values of slice k are part of its activations, which the
// simulator holds from its F to its B; with the reversed backward order that is exactly "kept until
// every later slice's backward has run". A recomputed slice that later slices read keeps its keys and
// values anyway (StageCost::kept_read_bytes): what InfiniPipe calls chunk-level checkpointing.
#include <string>
#include <vector>

#include "adaptis/model/cost_table.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/unit.h"

namespace adaptis {

// The micro-batch the per-layer costs are for.
struct CostReference {
  double tokens = 0;  // T_ref
  double pairs = 0;   // Q_ref
  // The reference micro-batch's attention area (WorkUnit::attention_area): its sequences are whole, so
  // each of s tokens spans s^2 = twice its s^2 / 2 pairs.
  double area() const { return 2 * pairs; }
};

// The table's reference. Throws InputError when it states no tokens per micro-batch (set
// CostTable::tokens_per_microbatch, e.g. to the context length, before asking for unit costs), or when it has
// pair-dependent times or attention score bytes but no reference pairs.
CostReference cost_reference(const CostTable& costs);

// One unit on one stage, on a speed-1.0 device.
struct UnitStageCost {
  double f_ms = 0, b_ms = 0, w_ms = 0;
  // Held from F until B / W. The stage's attention scores (StageCost::act_score_bytes) scale with the
  // unit's attention area, the rest with its tokens.
  double act_b_bytes = 0, act_w_bytes = 0;
  double w_grad_bytes = 0;  // created by a separate B, held until its W (StageCost::w_grad_bytes), by tokens
  double out_bytes = 0;                     // sent to the next stage (and its gradient back)
  double in_bytes = 0;                      // received from the previous stage
  // Per-unit checkpointing (StageMemoryPolicy::units): whether this (stage, unit) recomputes, what its F
  // keeps until R (with its keys and values when later slices read them), and R's duration, all scaled
  // from the stage's figures like the F they re-run.
  bool recompute = false;
  double kept_bytes = 0;
  double recompute_ms = 0;
  double kept() const { return recompute ? kept_bytes : act_b_bytes + act_w_bytes; }
  // Key/value gradient carries of slices. The backward of a later slice of the row produces the gradients
  // of this unit's keys and values (when later slices read them), and they wait in a carry of this unit's
  // key/value size until this unit's own B folds them in: held from the start of the B of the unit's last
  // reader (the first B over its keys, backwards running in reverse slice order) to the end of its own B.
  double carry_bytes = 0;            // this unit's carry (0 when no later slice reads its keys)
  double carries_created_bytes = 0;  // the carries this unit's B creates: of the units it is last reader of
  // Activation offload: the stage's offload fraction of what this unit's F keeps, copied to host after its
  // F and back before its R (or B); a slice that later slices read keeps its keys and values (carry_bytes'
  // size) on the device, so it copies at most the rest.
  double offload_bytes = 0;
};

// The unit on a stage whose memory policy is already applied (memory_policy.h's stage_costs); the unit
// recomputes when the stage does (unit_stage_costs narrows that to a policy's selected units).
// `keys_read_later`: later slices of its row attend to its keys and values (keys_read_later() below).
UnitStageCost unit_stage_cost(const StageCost& stage, const WorkUnit& unit, const CostReference& ref,
                              bool keys_read_later = false);
// Every (stage, unit): out[stage * units.size() + unit]. `memory` (Plan::memory, empty = none): a stage
// recomputes only the units its policy selects.
void unit_stage_costs(const std::vector<StageCost>& stages, const std::vector<WorkUnit>& units, const CostReference& ref,
                      std::vector<UnitStageCost>& out, const std::vector<StageMemoryPolicy>& memory = {});

// A unit's time through the whole model (F + B + W over every layer) as fixed + per_token * T +
// per_pair * Q: what the sequence processor balances units by.
struct UnitCostModel {
  double fixed_ms = 0, per_token_ms = 0, per_pair_ms = 0;
  double ms(double tokens, double pairs) const { return fixed_ms + per_token_ms * tokens + per_pair_ms * pairs; }
  double ms(const WorkUnit& u) const { return ms(double(u.run_tokens()), u.pairs()); }
};
UnitCostModel unit_cost_model(const CostTable& costs);  // uses cost_reference(costs)

// Structural problems of a unit list, each naming units[i] and the field: empty or non-positive
// documents, a negative offset, a padded unit holding several documents or shorter than its content,
// an offset on a unit that is not a later slice, a row whose slices are not 0..k-1 exactly once or
// whose offsets do not continue the previous slice's document. Empty = fine.
std::vector<std::string> unit_problems(const std::vector<WorkUnit>& units);

// Per unit, the unit index of the previous / next slice of its row (-1 = none). Throws InputError
// with unit_problems()'s first message when the list is malformed.
struct SliceLinks {
  std::vector<int> prev, next;
  bool any = false;  // some unit has a neighbour slice
};
SliceLinks slice_links(const std::vector<WorkUnit>& units);
// Per unit, whether the next slice of its row continues its last document (attends to its keys and
// values). Throws like slice_links().
std::vector<char> keys_read_later(const std::vector<WorkUnit>& units);
// Who reads a unit's keys and values: keys_read_later(), and per unit the last slice of its row that
// attends to them (-1 = none; a document running on through several slices is read by all of them).
struct KeyReaders {
  std::vector<char> read_later;
  std::vector<int> last_reader;
};
KeyReaders key_readers(const std::vector<WorkUnit>& units);
// unit_stage_costs with the units' key_readers() given: a search that costs one unit list on many partitions
// derives (and checks) them once. Throws InputError when they are not for as many units.
void unit_stage_costs(const std::vector<StageCost>& stages, const std::vector<WorkUnit>& units, const KeyReaders& keys,
                      const CostReference& ref, std::vector<UnitStageCost>& out,
                      const std::vector<StageMemoryPolicy>& memory = {});

// "3 docs, 8192 tok" / "slice 1/4 of row 2, 4238 tok" / "padded 512 -> 8192 tok": one line per unit.
std::string describe_unit(const WorkUnit& unit);

}  // namespace adaptis
