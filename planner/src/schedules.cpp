#include "adaptis/planner/schedules.h"

#include "adaptis/model/error.h"
#include "schedule_generators.h"

namespace adaptis {

namespace gen {

void require(bool ok, const char* schedule, const std::string& rule) {
  if (!ok) throw InputError(std::string("schedule '") + schedule + "': " + rule);
}

}  // namespace gen

const std::vector<ScheduleInfo>& all_schedules() {
  static const std::vector<ScheduleInfo> k = {
      {ScheduleKind::GPipe, "gpipe", "fill-drain: all forwards, then all backwards (GPipe / AFAB)", ""},
      {ScheduleKind::OneFOneB, "1f1b", "one-forward-one-backward, Megatron order (PipeDream-Flush)", ""},
      {ScheduleKind::Interleaved1F1B, "interleaved-1f1b",
       "Megatron virtual pipeline on a looped placement (group size g)", "p <= g <= m; m mod g is 0 or >= p"},
      {ScheduleKind::Interleaved1F1BTorch, "interleaved-1f1b-torch", "PyTorch ScheduleInterleaved1F1B (rounds variant)",
       "m multiple of max(1, m/p)"},
      {ScheduleKind::LoopedBFS, "looped-bfs", "breadth-first: GPipe per chunk on a looped placement", ""},
      {ScheduleKind::InterleavedZB, "interleaved-zb",
       "PyTorch ScheduleInterleavedZeroBubble: ZB1P (split B/W) on a looped placement", "m multiple of max(1, m/p)"},
      {ScheduleKind::ZBH1, "zb-h1", "zero bubble H1: 1F1B memory, W deferred into the cool-down", ""},
      {ScheduleKind::ZBH2, "zb-h2", "zero bubble H2: extra warm-up forwards, 2p-1 in flight, no bubble at F=B=W", ""},
      {ScheduleKind::ZBV, "zb-v", "zero bubble V: two chunks per device in a V placement (PyTorch order)", ""},
      {ScheduleKind::DualPipeV, "dualpipev", "DeepSeek DualPipeV: V placement with overlapped F&B pairs", "m >= 2p"},
  };
  return k;
}

ScheduleKind parse_schedule_kind(const std::string& name) {
  for (const auto& s : all_schedules())
    if (name == s.name) return s.kind;
  std::string names;
  for (const auto& s : all_schedules()) names += std::string(names.empty() ? "" : ", ") + s.name;
  throw InputError("schedule", "unknown schedule '" + name + "' (choose from: " + names + ")");
}

const char* schedule_name(ScheduleKind kind) {
  for (const auto& s : all_schedules())
    if (s.kind == kind) return s.name;
  return "?";
}

int schedule_stages_per_device(ScheduleKind kind, const ScheduleOptions& opt) {
  switch (kind) {
    case ScheduleKind::GPipe:
    case ScheduleKind::OneFOneB:
    case ScheduleKind::ZBH1:
    case ScheduleKind::ZBH2:
      return 1;
    case ScheduleKind::ZBV:
    case ScheduleKind::DualPipeV:
      return 2;
    case ScheduleKind::Interleaved1F1B:
    case ScheduleKind::Interleaved1F1BTorch:
    case ScheduleKind::InterleavedZB:
    case ScheduleKind::LoopedBFS:
      return opt.stages_per_device > 0 ? opt.stages_per_device : 2;
  }
  return 1;
}

Plan generate_schedule(ScheduleKind kind, const ScheduleOptions& opt) {
  const int p = opt.devices, m = opt.microbatches;
  if (p < 1) throw InputError("devices", "must be >= 1, got " + std::to_string(p));
  if (m < 1) throw InputError("microbatches", "must be >= 1, got " + std::to_string(m));
  if (opt.stages_per_device < 0)
    throw InputError("stages_per_device", "must be >= 1 (or 0 for the schedule's default), got " +
                     std::to_string(opt.stages_per_device));
  if (opt.group_size < 0)
    throw InputError("group_size", "must be >= 1 (or 0 for the number of devices), got " +
                     std::to_string(opt.group_size));
  const int v = schedule_stages_per_device(kind, opt);
  if (opt.stages_per_device > 0 && opt.stages_per_device != v)
    throw InputError("stages_per_device", std::string("schedule '") + schedule_name(kind) + "' uses exactly " +
                     std::to_string(v) + " stages per device, got " + std::to_string(opt.stages_per_device));
  Plan plan;
  switch (kind) {
    case ScheduleKind::GPipe: plan = gen::gpipe(p, m); break;
    case ScheduleKind::OneFOneB: plan = gen::one_f_one_b(p, m); break;
    case ScheduleKind::Interleaved1F1B: plan = gen::interleaved_1f1b_megatron(p, v, m, opt.group_size > 0 ? opt.group_size : p); break;
    case ScheduleKind::Interleaved1F1BTorch: plan = gen::interleaved_1f1b_torch(p, v, m); break;
    case ScheduleKind::InterleavedZB: plan = gen::interleaved_zero_bubble_torch(p, v, m); break;
    case ScheduleKind::LoopedBFS: plan = gen::looped_bfs(p, v, m); break;
    case ScheduleKind::ZBH1: plan = gen::zb_h1(p, m); break;
    case ScheduleKind::ZBH2: plan = gen::zb_h2(p, m); break;
    case ScheduleKind::ZBV: plan = gen::zb_v(p, m); break;
    case ScheduleKind::DualPipeV: plan = gen::dualpipe_v(p, m); break;
  }
  plan.name = schedule_name(kind);
  plan.num_microbatches = m;
  return plan;
}

}  // namespace adaptis
