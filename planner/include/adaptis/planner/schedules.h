#pragma once
// Built-in schedule generators. Each reproduces the reference implementation's exact per-device
// order (Megatron, PyTorch pipelining, sail-sg zero-bubble, DeepSeek DualPipe), re-derived from
// their sources (each generator file names its reference), and emits the common Plan IR.
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis {

enum class ScheduleKind {
  GPipe,
  OneFOneB,               // Megatron 1F1B (PipeDream-Flush)
  Interleaved1F1B,        // Megatron virtual pipeline, microbatch group size g
  Interleaved1F1BTorch,   // PyTorch ScheduleInterleaved1F1B (rounds variant)
  LoopedBFS,
  InterleavedZB,          // PyTorch ScheduleInterleavedZeroBubble (ZB1P on a looped placement)
  ZBH1,                   // zero bubble H1: 1F1B memory, W deferred into the cool-down
  ZBH2,                   // zero bubble H2: 2p-1 in flight, parallelogram on F=B=W
  ZBV,                    // PyTorch ScheduleZBVZeroBubble on the V placement
  DualPipeV,              // DeepSeek DualPipeV (PyTorch ScheduleDualPipeV) with overlapped F&B pairs
};

struct ScheduleOptions {
  int devices = 4;
  int microbatches = 8;
  int stages_per_device = 0;  // chunks per device (v); 0 = the schedule's default (1, or 2 for loop/V)
  int group_size = 0;         // Megatron microbatch group size per virtual stage; 0 = devices
};

struct ScheduleInfo {
  ScheduleKind kind;
  const char* name;         // CLI name: "gpipe", "1f1b", "interleaved-1f1b", ...
  const char* description;  // one line
  const char* constraints;  // the reference implementation's rule on p/v/m, "" when there is none
};

const std::vector<ScheduleInfo>& all_schedules();
// Throws InputError listing the valid names when `name` is unknown.
ScheduleKind parse_schedule_kind(const std::string& name);
const char* schedule_name(ScheduleKind kind);
// Chunks per device the schedule uses for `opt` (resolves the 0 default).
int schedule_stages_per_device(ScheduleKind kind, const ScheduleOptions& opt);

// The placement and per-device orders of a schedule (plan.partition is left empty).
// Throws InputError with the schedule's own constraint when the options violate it
// (e.g. Megatron's p <= g <= m for interleaved 1F1B).
Plan generate_schedule(ScheduleKind kind, const ScheduleOptions& opt);

}  // namespace adaptis
