#include "adaptis/planner/torch_rules.h"

#include <algorithm>
#include <numeric>

#include "adaptis/model/error.h"
#include "torch_lowering.h"

namespace adaptis {

namespace {

using torch_ir::TAction;
using torch_ir::Type;

constexpr const char* kRankHasActions = "rank-has-actions";
constexpr const char* kStageRank = "stage-on-its-rank";
constexpr const char* kMicrobatchRange = "microbatch-range";
constexpr const char* kForwardOnce = "forward-once";
constexpr const char* kBackwardOnce = "backward-once";
constexpr const char* kBackwardAfterForward = "backward-after-forward";
constexpr const char* kWeightAfterInput = "weight-after-input";
constexpr const char* kLossOrder = "loss-order";
constexpr const char* kLossAvailable = "loss-available";
constexpr const char* kLocalInputOrder = "local-input-order";
constexpr const char* kOverlapPair = "overlap-pair";
constexpr const char* kSendRecvLowering = "send-recv-lowering";

// Positions of one (stage, micro-batch)'s actions: index of the cell in its rank's compute row
// (an overlapped pair is one cell), -1 when absent; counts to catch repeats.
struct Seen {
  int count[4] = {0, 0, 0, 0};  // F, I, W, B
  int cell[4] = {-1, -1, -1, -1};
  int position[4] = {-1, -1, -1, -1};  // index in the plan's device list
};

int slot(Type t) { return t == Type::F ? 0 : t == Type::I ? 1 : t == Type::W ? 2 : 3; }

}  // namespace

const std::vector<TorchRule>& torch_rules() {
  static const std::vector<TorchRule> k = {
      {kRankHasActions, "every rank has at least one action (PyTorch's lowering asserts non-empty rows)"},
      {kStageRank, "each stage's actions sit on the one rank that holds the stage (PyTorch infers stage -> rank "
                   "from the rows)"},
      {kMicrobatchRange, "micro-batch indices are 0..m-1 (PyTorch indexes the micro-batch inputs by them)"},
      {kForwardOnce, "every stage runs F exactly once for every micro-batch"},
      {kBackwardOnce, "every stage runs one backward per micro-batch: a full B, or an I and a W"},
      {kBackwardAfterForward, "I or B of a (stage, micro-batch) comes after its F in the rank's row"},
      {kWeightAfterInput, "W of a (stage, micro-batch) comes after its I in the rank's row"},
      {kLossOrder, "the last stage's forwards run micro-batches 0, 1, 2, ... in order (losses are stored in "
                   "forward order and looked up by micro-batch index)"},
      {kLossAvailable, "on the last stage's rank, a backward of micro-batch k issued once losses exist needs k "
                       "losses already computed"},
      {kLocalInputOrder, "when stages s and s+1 share a rank, F of s precedes F of s+1 and the backward of s+1 "
                         "precedes the backward of s for each micro-batch (handed over in memory, no RECV)"},
      {kOverlapPair, "an OVERLAP_F_B pair is one forward and one backward (I or B), run forward first"},
      {kSendRecvLowering, "PyTorch's send/recv lowering can place every action: no rank waits for an input "
                          "that another rank only sends after waiting on it"},
  };
  return k;
}

std::string TorchRuleViolation::message() const {
  std::string where = device < 0 ? "" : " at device " + std::to_string(device) + ", action " + std::to_string(position) +
                                            " ('" + torch_ir::cell(torch_ir::from_action(action)) + "')";
  return "torch rule '" + rule + "'" + where + ": " + detail;
}

std::string TorchRulesReport::message(size_t max_lines) const {
  std::string out;
  for (size_t i = 0; i < violations.size() && i < max_lines; ++i) {
    if (i) out += '\n';
    out += violations[i].message();
  }
  if (violations.size() > max_lines)
    out += "\n... and " + std::to_string(violations.size() - max_lines) + " more violations";
  return out;
}

TorchRulesReport check_torch_rules(const Plan& plan) {
  TorchRulesReport r;
  const int D = static_cast<int>(plan.schedule.size()), S = plan.num_stages(), m = plan.num_microbatches;
  const std::vector<int> stage_rank = plan.placement.stage_device();
  auto add = [&](const char* rule, int d, int pos, const Action& a, std::string detail) {
    TorchRuleViolation v;
    v.rule = rule;
    v.device = d;
    v.position = pos;
    v.action = a;
    v.detail = std::move(detail);
    r.violations.push_back(std::move(v));
  };
  auto name = [](const TAction& a) { return "'" + torch_ir::cell(a) + "'"; };
  if (S < 1 || m < 1) {
    add(kForwardOnce, -1, -1, {}, "the plan has " + std::to_string(S) + " stages and " + std::to_string(m) +
                                       " micro-batches; PyTorch needs at least one of each");
    return r;
  }

  std::vector<std::vector<int>> origin;
  const torch_ir::Rows rows = torch_ir::compute_rows(plan, &origin);
  // The action behind cell c of rank d (the pair's first action for a pair).
  auto action_at = [&](int d, size_t c) { return plan.schedule[d][origin[d][c]]; };

  for (int d = 0; d < D; ++d)
    if (rows[d].empty())
      add(kRankHasActions, -1, -1, {}, "device " + std::to_string(d) + " has no actions; PyTorch's runtime needs "
                                       "every rank to run at least one (give it a stage)");

  // Per (stage, mb): where each op sits. Out-of-range actions are reported and skipped.
  std::vector<Seen> seen(static_cast<size_t>(S) * m);
  for (int d = 0; d < D; ++d)
    for (size_t c = 0; c < rows[d].size(); ++c) {
      const TAction& cellv = rows[d][c];
      if (cellv.type == Type::OverlapFB) {
        const Type a = cellv.subs[0].type, b = cellv.subs[1].type;
        if (!(a == Type::F && (b == Type::I || b == Type::B)))
          add(kOverlapPair, d, origin[d][c], action_at(d, c),
              "overlaps " + name(cellv.subs[0]) + " with " + name(cellv.subs[1]) +
                  "; PyTorch's OVERLAP_F_B pairs one forward with one backward (I or B)");
      }
      for (size_t k = 0; k < (cellv.type == Type::OverlapFB ? 2u : 1u); ++k) {
        const TAction& t = cellv.type == Type::OverlapFB ? cellv.subs[k] : cellv;
        const int pos = origin[d][c] + static_cast<int>(k);
        const Action& a = plan.schedule[d][std::min<size_t>(pos, plan.schedule[d].size() - 1)];
        if (t.stage < 0 || t.stage >= S) {
          add(kStageRank, d, pos, a, "names stage " + std::to_string(t.stage) + " but the plan has stages 0.." +
                                         std::to_string(S - 1));
          continue;
        }
        if (stage_rank[t.stage] != d) {
          add(kStageRank, d, pos, a, "stage " + std::to_string(t.stage) + " is placed on device " +
                                         std::to_string(stage_rank[t.stage]) + ", not on this rank");
          continue;
        }
        if (t.mb < 0 || t.mb >= m) {
          add(kMicrobatchRange, d, pos, a, "micro-batch " + std::to_string(t.mb) + " is outside 0.." +
                                               std::to_string(m - 1));
          continue;
        }
        Seen& s = seen[static_cast<size_t>(t.stage) * m + t.mb];
        const int k2 = slot(t.type);
        if (s.count[k2]++ == 0) {
          s.cell[k2] = static_cast<int>(c);
          s.position[k2] = pos;
        }
      }
    }

  for (int st = 0; st < S; ++st)
    for (int mb = 0; mb < m; ++mb) {
      const Seen& s = seen[static_cast<size_t>(st) * m + mb];
      const int d = stage_rank[st];
      const std::string id = "stage " + std::to_string(st) + " micro-batch " + std::to_string(mb);
      auto at = [&](int k) {
        Action a;
        a.op = k == 0 ? Op::F : k == 1 ? Op::B : k == 2 ? Op::W : Op::BW;
        a.stage = st;
        a.mb = mb;
        return a;
      };
      if (s.count[0] != 1) {
        add(kForwardOnce, s.count[0] ? d : -1, s.position[0], at(0),
            id + " has " + std::to_string(s.count[0]) + " forwards; PyTorch's validator needs exactly one");
        continue;
      }
      const int I = s.count[1], W = s.count[2], B = s.count[3];
      if (!((B == 1 && I == 0 && W == 0) || (B == 0 && I == 1 && W == 1))) {
        add(kBackwardOnce, d, -1, at(B ? 3 : I ? 1 : 2),
            id + " has " + std::to_string(B) + " B, " + std::to_string(I) + " I and " + std::to_string(W) +
                " W; PyTorch needs one full backward B or one I plus one W");
        continue;
      }
      const int back = B ? 3 : 1;
      if (s.cell[back] < s.cell[0])  // a pair runs its forward first, so the same cell is fine
        add(kBackwardAfterForward, d, s.position[back], at(back),
            "runs before its forward (cell " + std::to_string(s.cell[0]) + " of the row)");
      if (I && s.cell[2] < s.cell[1])
        add(kWeightAfterInput, d, s.position[2], at(2), "runs before its I (cell " + std::to_string(s.cell[1]) + ")");
      // Same-rank hand-over: the producer must be issued strictly earlier.
      if (st > 0 && stage_rank[st - 1] == d) {
        const Seen& up = seen[static_cast<size_t>(st - 1) * m + mb];
        if (up.count[0] == 1 && up.cell[0] >= s.cell[0])
          add(kLocalInputOrder, d, s.position[0], at(0),
              "stage " + std::to_string(st - 1) + " is on the same rank and its forward of micro-batch " +
                  std::to_string(mb) + " comes later (cell " + std::to_string(up.cell[0]) + ")");
      }
      if (st + 1 < S && stage_rank[st + 1] == d) {
        const Seen& down = seen[static_cast<size_t>(st + 1) * m + mb];
        const int producer = down.count[3] == 1 ? 3 : 1;
        if (down.count[producer] == 1 && down.cell[producer] >= s.cell[back])
          add(kLocalInputOrder, d, s.position[back], at(back),
              "stage " + std::to_string(st + 1) + " is on the same rank and its backward of micro-batch " +
                  std::to_string(mb) + " comes later (cell " + std::to_string(down.cell[producer]) + ")");
      }
    }

  // Loss bookkeeping on the last stage's rank, in the order the runtime executes the row.
  const int last_rank = stage_rank[S - 1];
  if (last_rank >= 0 && last_rank < D) {
    int losses = 0;
    bool order_reported = false, avail_reported = false;
    for (size_t c = 0; c < rows[last_rank].size(); ++c) {
      const TAction& cellv = rows[last_rank][c];
      for (size_t k = 0; k < (cellv.type == Type::OverlapFB ? 2u : 1u); ++k) {
        const TAction& t = cellv.type == Type::OverlapFB ? cellv.subs[k] : cellv;
        const int pos = origin[last_rank][c] + static_cast<int>(k);
        const Action& a = plan.schedule[last_rank][std::min<size_t>(pos, plan.schedule[last_rank].size() - 1)];
        if (t.type == Type::F && t.stage == S - 1) {
          if (t.mb != losses && !order_reported) {
            add(kLossOrder, last_rank, pos, a,
                "the last stage's forward number " + std::to_string(losses) + " runs micro-batch " + std::to_string(t.mb) +
                    "; PyTorch stores losses in forward order and reads loss k for micro-batch k, so the last "
                    "stage's forwards must run 0, 1, 2, ... (relabelling the micro-batches fixes this)");
            order_reported = true;
          }
          ++losses;
        } else if ((t.type == Type::I || t.type == Type::B) && losses > 0 && t.mb >= losses && !avail_reported) {
          add(kLossAvailable, last_rank, pos, a,
              "backward of micro-batch " + std::to_string(t.mb) + " while only " + std::to_string(losses) +
                  " losses exist on this rank: PyTorch raises 'Loss for microbatch " + std::to_string(t.mb) +
                  " is not available'");
          avail_reported = true;
        }
      }
    }
  }

  // PyTorch's send/recv placement, only on a plan whose counts are right (else it just stalls
  // on the missing action, already reported).
  if (r.ok()) {
    torch_ir::Rows lowered;
    std::vector<std::pair<int, size_t>> stuck;
    if (!torch_ir::add_send_recv(rows, stage_rank, S, lowered, &stuck))
      for (const auto& [d, c] : stuck)
        add(kSendRecvLowering, d, origin[d][c], action_at(d, static_cast<int>(c)),
            "deadlock: cannot be issued, its input is never sent before it (the ranks' orders wait on each other)");
  }
  return r;
}

std::vector<int> torch_microbatch_relabelling(const Plan& plan) {
  const int m = plan.num_microbatches, S = plan.num_stages();
  std::vector<int> id(std::max(m, 0));
  std::iota(id.begin(), id.end(), 0);
  if (S < 1 || m < 1) return id;
  const std::vector<int> stage_rank = plan.placement.stage_device();
  const int d = stage_rank[S - 1];
  if (d < 0 || d >= static_cast<int>(plan.schedule.size())) return id;
  std::vector<int> next(m, -1);
  int k = 0;
  const torch_ir::Rows rows = torch_ir::compute_rows(plan);  // kept alive: the loop walks one of its rows
  for (const TAction& c : rows[d])
    for (const TAction& t : c.type == Type::OverlapFB ? c.subs : std::vector<TAction>{c}) {
      if (t.type != Type::F || t.stage != S - 1) continue;
      if (t.mb < 0 || t.mb >= m || next[t.mb] >= 0 || k >= m) return id;
      next[t.mb] = k++;
    }
  return k == m ? next : id;
}

Plan relabel_microbatches(const Plan& plan, const std::vector<int>& new_of_old) {
  const int m = plan.num_microbatches;
  std::vector<int> check = new_of_old;
  std::sort(check.begin(), check.end());
  for (int i = 0; i < m; ++i)
    if (static_cast<int>(check.size()) != m || check[i] != i)
      throw InputError("micro-batch relabelling: not a permutation of 0.." + std::to_string(m - 1));
  Plan out = plan;
  for (auto& list : out.schedule)
    for (auto& a : list)
      if (a.mb >= 0 && a.mb < m) a.mb = new_of_old[a.mb];
  // Variable-length units are not interchangeable: unit i moves with micro-batch i.
  if (static_cast<int>(plan.units.size()) == m)
    for (int i = 0; i < m; ++i) out.units[static_cast<size_t>(new_of_old[i])] = plan.units[static_cast<size_t>(i)];
  return out;
}

Plan relabel_for_torch(const Plan& plan) { return relabel_microbatches(plan, torch_microbatch_relabelling(plan)); }

Plan prepare_for_torch(const Plan& plan, const std::string& origin) {
  Plan out = relabel_for_torch(plan);
  TorchRulesReport r = check_torch_rules(out);
  if (!r.ok())
    throw InputError(origin + ": plan" + (plan.name.empty() ? "" : " '" + plan.name + "'") +
                     " cannot run in PyTorch's pipelining runtime:\n" + r.message() +
                     "\n(the optimizer's torch target only returns plans that obey these rules)");
  return out;
}

}  // namespace adaptis
