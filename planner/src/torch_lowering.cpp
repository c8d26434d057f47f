#include "torch_lowering.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "adaptis/model/error.h"

namespace adaptis::torch_ir {

const char* type_name(Type t) {
  switch (t) {
    case Type::F: return "F";
    case Type::I: return "I";
    case Type::W: return "W";
    case Type::B: return "B";
    case Type::OverlapFB: return "OVERLAP_F_B";
    case Type::Unshard: return "UNSHARD";
    case Type::Reshard: return "RESHARD";
    case Type::SendF: return "SEND_F";
    case Type::RecvF: return "RECV_F";
    case Type::SendB: return "SEND_B";
    case Type::RecvB: return "RECV_B";
    case Type::WaitSendF: return "WAIT_SEND_F";
    case Type::WaitSendB: return "WAIT_SEND_B";
    case Type::ReduceGrad: return "REDUCE_GRAD";
    case Type::WaitReduceGrad: return "WAIT_REDUCE_GRAD";
  }
  return "?";
}

std::string cell(const TAction& a) {
  if (a.type == Type::OverlapFB) {
    std::string inner;
    for (const auto& s : a.subs) {
      if (!inner.empty()) inner += ';';
      inner += cell(s);
    }
    return "(" + inner + ")" + type_name(a.type);
  }
  return std::to_string(a.stage) + type_name(a.type) + (a.mb >= 0 ? std::to_string(a.mb) : std::string());
}

bool is_compute(Type t) {
  return t == Type::F || t == Type::I || t == Type::W || t == Type::B || t == Type::OverlapFB;
}

Type torch_type(Op op) {
  switch (op) {
    case Op::F: return Type::F;
    case Op::B: return Type::I;
    case Op::W: return Type::W;
    case Op::BW: return Type::B;
    case Op::R: return Type::F;  // never asked: compute_rows leaves R out
  }
  return Type::F;
}

TAction from_action(const Action& a) {
  TAction t;
  t.type = torch_type(a.op);
  t.stage = a.stage;
  t.mb = a.mb;
  return t;
}

Rows compute_rows(const Plan& plan, std::vector<std::vector<int>>* origin) {
  Rows rows(plan.schedule.size());
  if (origin) origin->assign(plan.schedule.size(), {});
  for (size_t d = 0; d < plan.schedule.size(); ++d) {
    const auto& list = plan.schedule[d];
    // Recompute (R) has no action in PyTorch's IR (pytorch_csv.h): it is left out, and an action
    // overlapped with an R runs alone.
    auto paired = [&](size_t i) {
      return i + 1 < list.size() && list[i + 1].overlap_prev && list[i].op != Op::R && list[i + 1].op != Op::R;
    };
    for (size_t i = 0; i < list.size(); ++i) {
      if (list[i].op == Op::R) continue;
      if (origin) (*origin)[d].push_back(static_cast<int>(i));
      if (paired(i)) {
        TAction pair;
        pair.type = Type::OverlapFB;
        TAction first = from_action(list[i]), second = from_action(list[i + 1]);
        // PyTorch's overlap runners take the forward as the first sub-action.
        if (second.type == Type::F && first.type != Type::F) std::swap(first, second);
        pair.subs = {first, second};
        rows[d].push_back(std::move(pair));
        ++i;
      } else {
        rows[d].push_back(from_action(list[i]));
      }
    }
  }
  return rows;
}

namespace {

const std::vector<TAction>& parts(const TAction& a, std::vector<TAction>& single) {
  if (a.type == Type::OverlapFB) return a.subs;
  single.assign(1, a);
  return single;
}

// Pass 1 on one rank: UNSHARD/RESHARD around the compute actions (three resident stages).
std::vector<TAction> add_unshard_reshard(const std::vector<TAction>& compute, size_t max_active = 3) {
  const size_t n = compute.size();
  // resident[i]: the distinct stages of compute[i..] in order of first use, whole actions at a
  // time until at least `max_active` are found (a backward sweep keeps each stage's next use).
  std::vector<std::vector<int>> resident(n);
  std::map<int, std::pair<size_t, size_t>> next_use;  // stage -> (action index, sub position)
  std::vector<TAction> scratch;
  for (size_t k = n; k-- > 0;) {
    const auto& ps = parts(compute[k], scratch);
    for (size_t j = ps.size(); j-- > 0;) next_use[ps[j].stage] = {k, j};
    std::vector<std::pair<std::pair<size_t, size_t>, int>> order;
    for (const auto& [stage, at] : next_use) order.push_back({at, stage});
    std::sort(order.begin(), order.end());
    std::vector<int>& r = resident[k];
    for (size_t j = 0; j < order.size(); ++j) {
      // Stop at an action boundary once enough stages are collected.
      if (r.size() >= max_active && order[j].first.first != order[j - 1].first.first) break;
      r.push_back(order[j].second);
    }
  }
  std::vector<int> active;
  std::vector<TAction> out;
  for (size_t i = 0; i < n; ++i) {
    const std::vector<int>& want = resident[i];
    std::vector<int> evict;
    for (int s : active)
      if (std::find(want.begin(), want.end(), s) == want.end()) evict.push_back(s);
    for (int s : evict) {
      active.erase(std::find(active.begin(), active.end(), s));
      out.push_back({Type::Reshard, s, -1, {}});
    }
    for (int s : want)
      if (std::find(active.begin(), active.end(), s) == active.end()) {
        active.push_back(s);
        out.push_back({Type::Unshard, s, -1, {}});
      }
    out.push_back(compute[i]);
  }
  for (int s : active) out.push_back({Type::Reshard, s, -1, {}});
  return out;
}

// Pass 2 on one rank: REDUCE_GRAD and its wait after a stage's last weight-gradient action.
std::vector<TAction> add_reduce_grad(const std::vector<TAction>& actions, int microbatches) {
  std::map<int, int> done;
  std::vector<TAction> out, scratch;
  for (const TAction& a : actions) {
    out.push_back(a);
    std::vector<int> finished;
    for (const TAction& p : parts(a, scratch))
      if ((p.type == Type::W || p.type == Type::B) && ++done[p.stage] == microbatches) finished.push_back(p.stage);
    for (int s : finished) {
      out.push_back({Type::ReduceGrad, s, -1, {}});
      out.push_back({Type::WaitReduceGrad, s, -1, {}});
    }
  }
  return out;
}

// Pass 4 on one rank: one WAIT_SEND per SEND.
std::vector<TAction> add_wait_send(const std::vector<TAction>& actions) {
  std::vector<std::tuple<Type, int, int>> pending;  // in the order sent
  std::vector<TAction> out, scratch;
  for (const TAction& a : actions) {
    out.push_back(a);
    if (a.type == Type::SendF || a.type == Type::SendB) pending.emplace_back(a.type, a.stage, a.mb);
    for (const TAction& p : parts(a, scratch)) {
      if (p.type != Type::I && p.type != Type::B) continue;
      auto it = std::find(pending.begin(), pending.end(), std::make_tuple(Type::SendF, p.stage, p.mb));
      if (it == pending.end()) continue;
      pending.erase(it);
      out.push_back({Type::WaitSendF, p.stage, p.mb, {}});
    }
  }
  for (const auto& [type, stage, mb] : pending)
    out.push_back({type == Type::SendF ? Type::WaitSendF : Type::WaitSendB, stage, mb, {}});
  return out;
}

}  // namespace

bool add_send_recv(const Rows& rows, const std::vector<int>& stage_rank, int S, Rows& out,
                   std::vector<std::pair<int, size_t>>* stuck) {
  const int D = static_cast<int>(rows.size());
  auto rank = [&](int s) { return s >= 0 && s < static_cast<int>(stage_rank.size()) ? stage_rank[s] : -1; };
  using Key = std::tuple<Type, int, int>;
  std::vector<std::set<Key>> have(D);
  std::vector<size_t> head(D, 0);
  out.assign(D, {});

  auto ready = [&](const TAction& a, const std::set<Key>& h) {
    if (a.type == Type::F && a.stage != 0)
      return h.count({Type::RecvF, a.stage, a.mb}) || h.count({Type::F, a.stage - 1, a.mb});
    if ((a.type == Type::I || a.type == Type::B) && a.stage != S - 1)
      return h.count({Type::RecvB, a.stage, a.mb}) || h.count({Type::I, a.stage + 1, a.mb}) ||
             h.count({Type::B, a.stage + 1, a.mb});
    return true;
  };
  auto has_comms = [&](const TAction& a) {
    if (a.type == Type::F) return a.stage != S - 1 && rank(a.stage + 1) != rank(a.stage);
    if (a.type == Type::I || a.type == Type::B) return a.stage != 0 && rank(a.stage - 1) != rank(a.stage);
    return false;
  };

  std::vector<TAction> scratch;
  while (true) {
    bool left = false, progress = false;
    for (int d = 0; d < D; ++d) {
      if (head[d] >= rows[d].size()) continue;
      left = true;
      const TAction& a = rows[d][head[d]];
      const auto& ps = parts(a, scratch);
      bool ok = true;
      for (const TAction& p : ps) ok = ok && ready(p, have[d]);
      if (!ok) continue;
      out[d].push_back(a);
      std::vector<TAction> subs = ps;  // `scratch` may be reused below
      for (const TAction& p : subs) {
        have[d].insert({p.type, p.stage, p.mb});
        if (!has_comms(p)) continue;
        const bool fwd = p.type == Type::F;
        const int to_stage = fwd ? p.stage + 1 : p.stage - 1, to = rank(to_stage);
        if (to < 0) continue;  // an unplaced stage: the validator reports it
        out[d].push_back({fwd ? Type::SendF : Type::SendB, p.stage, p.mb, {}});
        out[to].push_back({fwd ? Type::RecvF : Type::RecvB, to_stage, p.mb, {}});
        have[to].insert({fwd ? Type::RecvF : Type::RecvB, to_stage, p.mb});
      }
      ++head[d];
      progress = true;
    }
    if (!left) return true;
    if (!progress) {
      if (stuck) {
        stuck->clear();
        for (int d = 0; d < D; ++d)
          if (head[d] < rows[d].size()) stuck->emplace_back(d, head[d]);
      }
      return false;
    }
  }
}

Rows lower_to_compute_comms(const Plan& plan) {
  Rows compute = compute_rows(plan);
  Rows staged(compute.size());
  for (size_t d = 0; d < compute.size(); ++d)
    staged[d] = add_reduce_grad(add_unshard_reshard(compute[d]), plan.num_microbatches);
  Rows comms;
  std::vector<std::pair<int, size_t>> stuck;
  if (!add_send_recv(staged, plan.placement.stage_device(), plan.num_stages(), comms, &stuck)) {
    std::string msg;
    for (const auto& [d, i] : stuck)
      msg += "\n  rank " + std::to_string(d) + " cannot issue " + cell(staged[d][i]) +
             ": its input is never sent before it";
    throw InputError("pytorch csv: PyTorch's send/recv lowering cannot place the actions, the per-device orders "
                     "deadlock:" + msg);
  }
  for (auto& row : comms) row = add_wait_send(row);
  return comms;
}

}  // namespace adaptis::torch_ir
