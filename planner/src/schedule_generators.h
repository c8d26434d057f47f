#pragma once
// Internal: one function per built-in schedule family. Each returns placement + per-device orders
// (the partition is filled in by the caller). Options are already resolved (v, g set).
#include "adaptis/planner/plan.h"
#include "adaptis/planner/schedules.h"

namespace adaptis::gen {

Plan gpipe(int p, int m);
Plan one_f_one_b(int p, int m);
Plan interleaved_1f1b_megatron(int p, int v, int m, int g);
Plan interleaved_1f1b_torch(int p, int v, int m);
Plan looped_bfs(int p, int v, int m);
Plan zb_h1(int p, int m);
Plan zb_h2(int p, int m);
Plan zb_v(int p, int m);
Plan dualpipe_v(int p, int m);

// Shared helpers.
inline Action F(int s, int mb) { return Action{Op::F, s, mb, false}; }
inline Action B(int s, int mb) { return Action{Op::B, s, mb, false}; }
inline Action W(int s, int mb) { return Action{Op::W, s, mb, false}; }
inline Action BW(int s, int mb) { return Action{Op::BW, s, mb, false}; }

}  // namespace adaptis::gen
