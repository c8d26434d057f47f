#include "adaptis/executor/instruction.h"

#include <algorithm>

namespace adaptis::exec {

const char* instr_kind_name(InstrKind k) {
  switch (k) {
    case InstrKind::Compute: return "COMPUTE";
    case InstrKind::Send: return "SEND";
    case InstrKind::PostRecv: return "RECV";
    case InstrKind::WaitRecv: return "WAIT";
    case InstrKind::Offload: return "OFFLOAD";
    case InstrKind::Reload: return "RELOAD";
    case InstrKind::WaitReload: return "WAIT_RELOAD";
  }
  return "?";
}

const char* tensor_kind_name(TensorKind k) { return k == TensorKind::Activation ? "act" : "grad"; }

std::string to_string(const TensorTag& t) {
  return std::string(tensor_kind_name(t.kind)) + " s" + std::to_string(t.stage) + " mb" + std::to_string(t.mb);
}

std::string describe_message(int src, int dst, const TensorTag& t) {
  std::string out = "d";
  out += std::to_string(src);
  out += " -> d";
  out += std::to_string(dst);
  out += ' ';
  out += to_string(t);
  return out;
}

Instruction Instruction::compute(const Action& a) {
  Instruction i;
  i.kind = InstrKind::Compute;
  i.op = a.op;
  i.stage = a.stage;
  i.mb = a.mb;
  i.overlap_prev = a.overlap_prev;
  return i;
}

static Instruction comm(InstrKind k, const TensorTag& t, int peer) {
  Instruction i;
  i.kind = k;
  i.tensor = t;
  i.stage = t.stage;
  i.mb = t.mb;
  i.peer = peer;
  return i;
}

Instruction Instruction::send(const TensorTag& t, int to) { return comm(InstrKind::Send, t, to); }
Instruction Instruction::post_recv(const TensorTag& t, int from) { return comm(InstrKind::PostRecv, t, from); }
Instruction Instruction::wait_recv(const TensorTag& t, int from) { return comm(InstrKind::WaitRecv, t, from); }

Instruction Instruction::host_copy(InstrKind k, int stage, int mb) {
  Instruction i;
  i.kind = k;
  i.stage = stage;
  i.mb = mb;
  i.tensor = TensorTag{TensorKind::Activation, stage, mb};
  return i;
}

std::string Instruction::to_string() const {
  switch (kind) {
    case InstrKind::Compute:
      return std::string(overlap_prev ? "&" : "") + op_name(op) + " s" + std::to_string(stage) + " mb" +
             std::to_string(mb);
    case InstrKind::Send:
      return "SEND " + exec::to_string(tensor) + " -> d" + std::to_string(peer);
    case InstrKind::PostRecv:
      return "RECV " + exec::to_string(tensor) + " <- d" + std::to_string(peer);
    case InstrKind::WaitRecv:
      return "WAIT " + exec::to_string(tensor) + " <- d" + std::to_string(peer);
    case InstrKind::Offload:
    case InstrKind::Reload:
    case InstrKind::WaitReload:
      return std::string(instr_kind_name(kind)) + " s" + std::to_string(stage) + " mb" + std::to_string(mb);
  }
  return "?";
}

const char* Instruction::kind_name() const {
  return kind == InstrKind::Compute ? op_name(op) : instr_kind_name(kind);
}

bool StageMemory::recomputes_mb(int mb) const {
  return recomputes() && (microbatches.empty() || std::binary_search(microbatches.begin(), microbatches.end(), mb));
}

size_t Program::num_instructions() const {
  size_t n = 0;
  for (const auto& d : devices) n += d.size();
  return n;
}

}  // namespace adaptis::exec
