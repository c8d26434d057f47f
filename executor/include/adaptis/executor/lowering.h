#pragma once
// The lowering pass: Plan (compute-only per-device action lists) -> Program (per-device instruction lists
// with explicit point-to-point traffic), and the static checker that proves a Program is well formed and
// cannot deadlock under the executor's transport semantics (sends never block; a WAIT blocks until the
// matching SEND has run on the peer).
//
// Rules of the pass:
//   - an edge between stages on the same device needs no message: the tensor stays in the device's store;
//   - a SEND follows the compute that produced the tensor (after both halves of an overlapped pair);
//   - a WAIT sits just before the compute that consumes the message (before the first half of a pair, so
//     both halves start together as the simulator models them);
//   - the matching POST_RECV is issued `recv_lookahead` computes earlier, so the transfer can land while
//     the device is busy (0 = post right before the wait; a large value posts everything up front).
// Because sends never block, the WAIT edges are exactly the plan's cross-device dependencies, so a plan
// that passed validate_plan (whose deadlock check simulates those dependencies) lowers to a program that
// check_program accepts.
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"
#include "adaptis/planner/plan.h"

namespace adaptis::exec {

struct LoweringOptions {
  int recv_lookahead = 1;  // computes between a POST_RECV and the compute that consumes it
};

// Throws InputError when the plan is structurally invalid (stages not placed, actions on the wrong device,
// missing producers). Run validate_plan first for the full report; this pass trusts its deadlock check but
// check_program re-proves it on the result.
Program lower_plan(const Plan& plan, const LoweringOptions& opt = {});

// Re-expresses a program's stage bounds from plan layers to the executor's layers: plan layer i is our
// layers [unit_bounds[i], unit_bounds[i+1]) (NetConfig::spec_layers, plan_layer_units). InputError when the
// program covers another number of plan layers than there are units.
Program map_program_layers(Program program, const std::vector<int>& unit_bounds);

struct ProgramReport {
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
  std::string message() const;  // errors joined by newlines
};

// Checks: every stage is on one device and every compute runs on its stage's device; each (stage, mb)
// computes exactly one F and one BW or one B then one W, F first; every SEND has exactly one POST_RECV and
// one WAIT on the peer with the same tag (and vice versa), a POST precedes its WAIT, a consumer's input
// arrives (WAIT, or a local producer) before it computes, nothing is sent twice; exactly one R, between F
// and the backward, for each (stage, mb) its stage recomputes (StageMemory::recomputes_mb: with per-unit
// checkpointing only the selected micro-batches) and none elsewhere; and, simulating the lists
// with non-blocking sends, every device reaches its end. A deadlock names each stuck device, the WAIT it
// is blocked at and what the sender is itself blocked at.
ProgramReport check_program(const Program& program);

// Throws InputError with the report's message when the program is not runnable; `origin` names it.
void require_valid_program(const Program& program, const std::string& origin);

// The per-device lists as text, one instruction per line (for --dump and failing tests).
std::string format_program(const Program& program);

}  // namespace adaptis::exec
