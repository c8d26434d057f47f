// The NCCL backend's communication order (nccl_comm_sequence), checked without a GPU against a model of
// NCCL's semantics: each rank's point-to-point operations run one after another on its communication
// stream, a send and its receive complete together (rendezvous), a send cannot start before the compute
// that produces its tensor, and a compute that consumes a message waits for its receive.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"

using namespace adaptis;
using namespace adaptis::exec;

namespace {

// True when every rank reaches the end of both its instruction list and its communication sequence.
// `why` describes where it stuck otherwise.
bool runs_to_completion(const Program& p, const std::vector<std::vector<CommStep>>& seq, std::string* why) {
  const int D = p.num_devices();
  std::vector<size_t> list_pos(D, 0), comm_pos(D, 0);
  std::set<TensorTag> received;
  auto comm_head = [&](int d) -> const CommStep* { return comm_pos[d] < seq[d].size() ? &seq[d][comm_pos[d]] : nullptr; };
  for (bool progress = true; progress;) {
    progress = false;
    // Host / compute stream: runs until a WAIT whose receive has not completed.
    for (int d = 0; d < D; ++d)
      while (list_pos[d] < p.devices[d].size()) {
        const Instruction& ins = p.devices[d][list_pos[d]];
        if (ins.kind == InstrKind::WaitRecv && !received.count(ins.tensor)) break;
        ++list_pos[d];
        progress = true;
      }
    // Communication streams: the heads of two ranks' sequences complete together when they are the two
    // halves of one message and the send's tensor has been produced (its SEND instruction was reached).
    for (int d = 0; d < D; ++d) {
      const CommStep* s = comm_head(d);
      if (!s || !s->send) continue;
      if (list_pos[d] <= static_cast<size_t>(s->instruction)) continue;
      const CommStep* r = comm_head(s->peer);
      if (!r || r->send || r->peer != d || !(r->tensor == s->tensor)) continue;
      received.insert(s->tensor);
      ++comm_pos[d];
      ++comm_pos[s->peer];
      progress = true;
    }
  }
  for (int d = 0; d < D; ++d)
    if (list_pos[d] < p.devices[d].size() || comm_pos[d] < seq[d].size()) {
      if (why) {
        *why = "rank " + std::to_string(d) + " stuck at list #" + std::to_string(list_pos[d]);
        if (const CommStep* c = comm_head(d))
          *why += ", comm " + std::string(c->send ? "send " : "recv ") + to_string(c->tensor) + " peer " +
                  std::to_string(c->peer);
      }
      return false;
    }
  return true;
}

// The naive alternative: every rank issues its operations in its own list order.
std::vector<std::vector<CommStep>> list_order(const Program& p) {
  std::vector<std::vector<CommStep>> seq(p.num_devices());
  for (int d = 0; d < p.num_devices(); ++d)
    for (size_t i = 0; i < p.devices[d].size(); ++i) {
      const Instruction& ins = p.devices[d][i];
      if (ins.kind == InstrKind::Send || ins.kind == InstrKind::PostRecv)
        seq[d].push_back({ins.kind == InstrKind::Send, ins.tensor, ins.peer, static_cast<int>(i), 0});
    }
  return seq;
}

bool try_program(const std::string& schedule, int devices, int m, int lookahead, Program& out) {
  try {
    ScheduleOptions so;
    so.devices = devices;
    so.microbatches = m;
    Plan probe = generate_schedule(parse_schedule_kind(schedule), so);
    PlanRequest req;
    req.schedule = schedule;
    req.devices = devices;
    req.microbatches = m;
    out = lower_plan(build_plan(req, 2 * probe.placement.num_stages()), {lookahead});
    return true;
  } catch (const InputError&) {
    return false;
  }
}

}  // namespace

TEST(NcclCommOrder, EveryScheduleRunsToCompletionUnderRendezvousSemantics) {
  int checked = 0;
  for (const auto& info : all_schedules())
    for (int devices : {2, 4})
      for (int m : {4, 8})
        for (int lookahead : {0, 1, 1000}) {
          Program p;
          if (!try_program(info.name, devices, m, lookahead, p)) continue;
          SCOPED_TRACE(std::string(info.name) + " p=" + std::to_string(devices) + " m=" + std::to_string(m) +
                       " lookahead=" + std::to_string(lookahead));
          auto seq = nccl_comm_sequence(p);
          ASSERT_EQ(static_cast<int>(seq.size()), p.num_devices());
          std::string why;
          EXPECT_TRUE(runs_to_completion(p, seq, &why)) << why << "\n" << format_program(p);
          ++checked;
        }
  EXPECT_GE(checked, 20);
}

TEST(NcclCommOrder, PairsMatchInOrderAndEveryMessageAppearsOnBothSides) {
  Program p;
  ASSERT_TRUE(try_program("zb-h1", 4, 8, 1, p));
  auto seq = nccl_comm_sequence(p);
  std::map<TensorTag, int> sends, recvs;
  for (int d = 0; d < p.num_devices(); ++d) {
    int64_t last = -1;
    for (const CommStep& c : seq[d]) {
      EXPECT_GT(c.order, last) << "rank " << d << " not in global order";
      last = c.order;
      const Instruction& ins = p.devices[d][c.instruction];
      EXPECT_EQ(ins.kind, c.send ? InstrKind::Send : InstrKind::PostRecv);
      EXPECT_EQ(ins.tensor, c.tensor);
      (c.send ? sends : recvs)[c.tensor] = d;
    }
  }
  EXPECT_EQ(sends.size(), recvs.size());
  for (const auto& [t, d] : sends) EXPECT_TRUE(recvs.count(t)) << to_string(t);
  // Between each pair of ranks, the k-th send one way is the k-th receive on the other side.
  for (int a = 0; a < p.num_devices(); ++a)
    for (int b = 0; b < p.num_devices(); ++b) {
      if (a == b) continue;
      std::vector<TensorTag> out, in;
      for (const CommStep& c : seq[a])
        if (c.send && c.peer == b) out.push_back(c.tensor);
      for (const CommStep& c : seq[b])
        if (!c.send && c.peer == a) in.push_back(c.tensor);
      EXPECT_EQ(out, in) << "rank " << a << " -> " << b;
    }
}

TEST(NcclCommOrder, ListOrderCanDeadlockWhereTheGlobalOrderDoesNot) {
  // With receives posted early (large lookahead), issuing in list order puts a receive ahead of a send the
  // peer is itself waiting for; the global order never does. At least one built-in schedule shows it.
  int naive_stuck = 0;
  for (const char* schedule : {"1f1b", "zb-h1", "interleaved-1f1b", "zb-v", "dualpipev"}) {
    Program p;
    if (!try_program(schedule, 4, 8, 1000, p)) continue;
    std::string why;
    EXPECT_TRUE(runs_to_completion(p, nccl_comm_sequence(p), &why)) << schedule << ": " << why;
    if (!runs_to_completion(p, list_order(p), nullptr)) ++naive_stuck;
  }
  EXPECT_GE(naive_stuck, 1);
}

TEST(NcclCommOrder, RejectsProgramsThatDoNotPassTheChecker) {
  Program p;
  ASSERT_TRUE(try_program("1f1b", 2, 4, 1, p));
  // Drop device 1's first WAIT: its consumer would compute before its input arrived.
  auto& l = p.devices[1];
  for (size_t i = 0; i < l.size(); ++i)
    if (l[i].kind == InstrKind::WaitRecv) {
      l.erase(l.begin() + static_cast<long>(i));
      break;
    }
  EXPECT_THROW(nccl_comm_sequence(p), InputError);
}
