#pragma once
// The executor's instruction IR: what one device thread actually does, in order. A Plan's per-device
// action lists say only which compute runs when; the lowering pass (lowering.h) adds the point-to-point
// traffic between devices as explicit SEND / POST_RECV / WAIT_RECV instructions, so the runtime is a
// plain interpreter and the static checker can prove the lists cannot deadlock before any thread starts.
//
// A message is named by (tensor kind, producing stage, micro-batch):
//   Activation(s, mb) = output of F(s, mb), the input of F(s+1, mb);
//   Gradient(s, mb)   = gradient of stage s's input, made by B/BW(s, mb), consumed by B/BW(s-1, mb).
// Sender and receiver derive the same name without negotiation, so the tag alone matches a send with its
// receive (the "(kind, stage, mb)" tags of PyTorch pipelining's SEND_F/RECV_F/SEND_B/RECV_B).
#include <cstdint>
#include <string>
#include <vector>

#include "adaptis/planner/plan.h"

namespace adaptis::exec {

enum class InstrKind : uint8_t {
  Compute,     // run F / B / W / BW / R of (stage, mb)
  Send,        // hand a tensor to `peer` (non-blocking: the transport owns a copy when it returns)
  PostRecv,    // announce a receive from `peer` early, so the transfer can land while we compute
  WaitRecv,    // block until the posted receive has completed (placed just before its consumer)
  // Activation offload of (stage, mb) over the device's host link (memory_policy.h's rules):
  Offload,     // after its F: queue the copy of what F kept to host memory (non-blocking)
  Reload,      // just before the compute ahead of its consumer: queue the copy back (non-blocking)
  WaitReload,  // just before its consumer (R, or B/BW without R): block until the copy back has ended
};
const char* instr_kind_name(InstrKind k);  // "COMPUTE", "SEND", "RECV", "WAIT", "OFFLOAD", "RELOAD", "WAIT_RELOAD"

enum class TensorKind : uint8_t { Activation, Gradient };
const char* tensor_kind_name(TensorKind k);  // "act", "grad"

// Name of a message or of a tensor held in a device's local store.
struct TensorTag {
  TensorKind kind = TensorKind::Activation;
  int32_t stage = 0;  // the producing stage
  int32_t mb = 0;

  bool operator==(const TensorTag& o) const { return kind == o.kind && stage == o.stage && mb == o.mb; }
  bool operator<(const TensorTag& o) const {
    if (kind != o.kind) return kind < o.kind;
    if (stage != o.stage) return stage < o.stage;
    return mb < o.mb;
  }
};
std::string to_string(const TensorTag& t);  // "act s2 mb1"
// A message between devices, as transports name it in errors: "d0 -> d1 act s2 mb1".
std::string describe_message(int src, int dst, const TensorTag& t);

struct Instruction {
  InstrKind kind = InstrKind::Compute;
  Op op = Op::F;            // Compute only
  TensorTag tensor;         // Send / PostRecv / WaitRecv: the message
  int32_t stage = 0;        // Compute: its stage (for comm instructions: tensor.stage)
  int32_t mb = 0;           // Compute: its micro-batch (for comm instructions: tensor.mb)
  int32_t peer = -1;        // Send: destination device; PostRecv/WaitRecv: source device
  bool overlap_prev = false;  // Compute: second half of an overlapped pair (DualPipe F&B)

  static Instruction compute(const Action& a);
  static Instruction send(const TensorTag& t, int to);
  static Instruction post_recv(const TensorTag& t, int from);
  static Instruction wait_recv(const TensorTag& t, int from);
  static Instruction host_copy(InstrKind k, int stage, int mb);  // Offload / Reload / WaitReload

  // "F s2 mb1", "&B s3 mb0", "SEND act s2 mb1 -> d3", "RECV grad s3 mb0 <- d2", "WAIT grad s3 mb0 <- d2",
  // "OFFLOAD s1 mb0", "RELOAD s1 mb0", "WAIT_RELOAD s1 mb0".
  std::string to_string() const;
  // Short name of what it does, as recorded in the run store: "F", "B", "W", "BW", "R", "SEND", "RECV", "WAIT",
  // "OFFLOAD", "RELOAD", "WAIT_RELOAD".
  const char* kind_name() const;
};

// Everything a device-thread runtime needs: where stages live, which layers they hold, and each device's
// instruction list. Produced by lower_plan; tests also write programs by hand (e.g. deadlocking ones).
// A stage's memory policy in the executor's terms (Plan::memory, memory_policy.h): which of its layers F
// drops and R re-creates, and the fraction of what F keeps that goes to host memory.
struct StageMemory {
  Recompute recompute = Recompute::None;
  int full_end = -1;            // Full: layers [stage start, full_end) recomputed; -1 = the whole stage
  double offload_fraction = 0;  // OFFLOAD moves whole saved tensors until this share of the kept bytes
  // Per-unit checkpointing (StageMemoryPolicy::units): the micro-batches this stage recomputes, ascending;
  // empty = every one. The others keep everything F saved and have no R.
  std::vector<int> microbatches;

  bool recomputes() const { return recompute != Recompute::None; }
  // Whether micro-batch mb's F drops (and an R re-creates) this stage's selected layers.
  bool recomputes_mb(int mb) const;
};

struct Program {
  int num_microbatches = 0;
  std::vector<int> stage_bounds;  // stage s holds layers [stage_bounds[s], stage_bounds[s+1])
  std::vector<int> stage_device;  // stage -> device
  std::vector<std::vector<int>> device_stages;  // device -> stages it holds, in local order
  std::vector<std::vector<Instruction>> devices;  // per device, in execution order
  std::vector<StageMemory> memory;                // per stage; empty = no recompute, no offload
  // Weight of each micro-batch's loss in the step loss (variable-length units: unit_loss_weights);
  // empty = the mean over micro-batches.
  std::vector<double> mb_loss_weight;

  int num_devices() const { return static_cast<int>(devices.size()); }
  int num_stages() const { return static_cast<int>(stage_device.size()); }
  size_t num_instructions() const;
};

}  // namespace adaptis::exec
