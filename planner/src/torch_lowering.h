#pragma once
// Internal to the planner: PyTorch pipelining's action IR and the lowering passes its
// `_PipelineScheduleRuntime` runs on a compute-only schedule before executing it, re-implemented
// from their observable rules so that our compute_comms CSV is the schedule PyTorch itself would
// run, and so the rule checker (torch_rules.h) can ask whether PyTorch's send/recv placement
// succeeds on a plan.
//
// The passes, in PyTorch's order (each per rank unless noted):
//   1. UNSHARD/RESHARD: before each action, the stages of the next actions (up to three distinct
//      stages, an OVERLAP_F_B pair counting as one step) must be resident; stages not among them
//      are resharded first, missing ones unsharded; all resident stages are resharded at the end.
//   2. REDUCE_GRAD + WAIT_REDUCE_GRAD right after the action that completes a stage's last
//      weight-gradient (W or full B) of the iteration.
//   3. SEND/RECV (all ranks together): ranks take turns in rank order, one action each per turn.
//      A compute action may be issued once its input is local (the producing action already ran
//      on this rank) or its RECV is already on this rank's list; an OVERLAP_F_B pair needs both
//      inputs before either runs. An issued F/I/B whose consumer stage lives on another rank is
//      followed by its SEND, and the matching RECV is appended to the consumer rank's list.
//   4. WAIT_SEND: a forward send is waited for right after the local backward of the same stage
//      and micro-batch (which proves the peer consumed it); every other send at the end of the
//      rank's list, in the order it was sent.
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis::torch_ir {

enum class Type : uint8_t {
  F,
  I,
  W,
  B,
  OverlapFB,
  Unshard,
  Reshard,
  SendF,
  RecvF,
  SendB,
  RecvB,
  WaitSendF,
  WaitSendB,
  ReduceGrad,
  WaitReduceGrad,
};

struct TAction {
  Type type = Type::F;
  int stage = -1;  // -1 for an OVERLAP_F_B container
  int mb = -1;     // -1 for actions without a micro-batch (UNSHARD, RESHARD, REDUCE_GRAD, ...)
  std::vector<TAction> subs;  // OVERLAP_F_B: its two compute sub-actions, forward first

  bool operator==(const TAction& o) const {
    return type == o.type && stage == o.stage && mb == o.mb && subs == o.subs;
  }
};

using Rows = std::vector<std::vector<TAction>>;

const char* type_name(Type t);  // "F", "I", ..., "SEND_F", "WAIT_REDUCE_GRAD", "OVERLAP_F_B"
std::string cell(const TAction& a);  // "2F0", "1UNSHARD", "(0F3;1B2)OVERLAP_F_B"
bool is_compute(Type t);  // F, I, W, B and OVERLAP_F_B

// Our ops in PyTorch's names: F -> F, B -> I, W -> W, BW -> B.
Type torch_type(Op op);
TAction from_action(const Action& a);

// The plan's per-device lists as PyTorch compute-only rows: one action per cell, an overlapped
// pair as one OVERLAP_F_B cell with the forward first (the order torchtitan's and DualPipeV's
// overlap functions expect). Positions in `origin` map each cell back to the index of its first
// action in the plan's device list.
Rows compute_rows(const Plan& plan, std::vector<std::vector<int>>* origin = nullptr);

// Pass 3 on `rows` (compute actions plus any non-compute actions already inserted). On success
// returns true and fills `out`; when no rank can issue its next action, returns false, fills
// `stuck` with (rank, index into rows[rank]) of every rank's blocked head, and leaves `out` with
// what was placed so far.
bool add_send_recv(const Rows& rows, const std::vector<int>& stage_rank, int num_stages, Rows& out,
                   std::vector<std::pair<int, size_t>>* stuck = nullptr);

// All four passes with PyTorch's defaults (three resident stages, waits not deferred).
// Throws InputError naming the stuck ranks when the send/recv placement cannot finish.
Rows lower_to_compute_comms(const Plan& plan);

}  // namespace adaptis::torch_ir
