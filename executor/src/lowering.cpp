#include "adaptis/executor/lowering.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

struct Need {
  TensorTag tag;
  int peer;
};

// The message a compute action needs from another device, if any.
bool remote_input(const Action& a, const std::vector<int>& stage_device, int device, Need& out) {
  const int S = static_cast<int>(stage_device.size());
  if (a.op == Op::F && a.stage > 0 && stage_device[a.stage - 1] != device) {
    out = {{TensorKind::Activation, a.stage - 1, a.mb}, stage_device[a.stage - 1]};
    return true;
  }
  if ((a.op == Op::B || a.op == Op::BW) && a.stage + 1 < S && stage_device[a.stage + 1] != device) {
    out = {{TensorKind::Gradient, a.stage + 1, a.mb}, stage_device[a.stage + 1]};
    return true;
  }
  return false;
}

// The message a compute action sends to another device, if any.
bool remote_output(const Action& a, const std::vector<int>& stage_device, int device, Need& out) {
  const int S = static_cast<int>(stage_device.size());
  if (a.op == Op::F && a.stage + 1 < S && stage_device[a.stage + 1] != device) {
    out = {{TensorKind::Activation, a.stage, a.mb}, stage_device[a.stage + 1]};
    return true;
  }
  if ((a.op == Op::B || a.op == Op::BW) && a.stage > 0 && stage_device[a.stage - 1] != device) {
    out = {{TensorKind::Gradient, a.stage, a.mb}, stage_device[a.stage - 1]};
    return true;
  }
  return false;
}

}  // namespace

Program lower_plan(const Plan& plan, const LoweringOptions& opt) {
  const int S = plan.num_stages(), D = plan.num_devices(), m = plan.num_microbatches;
  if (S < 1) throw InputError("lowering: the plan's partition has no stages");
  if (m < 1) throw InputError("lowering: the plan has no micro-batches");
  if (static_cast<int>(plan.schedule.size()) != D)
    throw InputError("lowering: the placement has " + std::to_string(D) + " devices but the schedule has " +
                     std::to_string(plan.schedule.size()) + " device lists");
  if (opt.recv_lookahead < 0) throw InputError("lowering: recv_lookahead must be >= 0");
  std::vector<int> stage_device = plan.placement.stage_device();
  if (static_cast<int>(stage_device.size()) != S)
    throw InputError("lowering: the placement holds " + std::to_string(stage_device.size()) +
                     " stages but the partition has " + std::to_string(S));
  for (int s = 0; s < S; ++s)
    if (stage_device[s] < 0) throw InputError("lowering: stage " + std::to_string(s) + " is not placed on any device");

  Program p;
  p.num_microbatches = m;
  if (!plan.units.empty()) {
    if (static_cast<int>(plan.units.size()) != m)
      throw InputError("lowering: the plan has " + std::to_string(plan.units.size()) + " units for " +
                       std::to_string(m) + " micro-batches (one unit per micro-batch)");
    p.mb_loss_weight = unit_loss_weights(plan.units);
  }
  p.stage_bounds = plan.partition.bounds;
  p.stage_device = stage_device;
  p.device_stages = plan.placement.device_stages;
  p.devices.resize(D);
  if (!plan.memory.empty()) {
    if (static_cast<int>(plan.memory.size()) != S)
      throw InputError("lowering: " + std::to_string(plan.memory.size()) + " stage memory policies for " +
                       std::to_string(S) + " stages");
    for (int s = 0; s < S; ++s) {
      const StageMemoryPolicy& pol = plan.memory[s];
      StageMemory sm;
      sm.recompute = pol.recompute;
      sm.full_end = pol.recompute == Recompute::Full && pol.full_layers > 0 &&
                            pol.full_layers < plan.partition.stage_size(s)
                        ? plan.partition.bounds[s] + pol.full_layers
                        : -1;
      sm.offload_fraction = pol.offload_fraction;
      if (pol.recompute != Recompute::None) sm.microbatches = pol.units;
      p.memory.push_back(sm);
    }
  }
  auto offloads = [&](int s) { return !p.memory.empty() && p.memory[s].offload_fraction > 0; };

  for (int d = 0; d < D; ++d) {
    const auto& acts = plan.schedule[d];
    for (size_t i = 0; i < acts.size(); ++i) {
      const Action& a = acts[i];
      if (a.stage < 0 || a.stage >= S || a.mb < 0 || a.mb >= m || stage_device[a.stage] != d)
        throw InputError("lowering: device " + std::to_string(d) + " position " + std::to_string(i) + " '" +
                         to_string(a) + "' names a stage not held by this device or a micro-batch out of range");
    }
    // Group each action with the overlapped partners that follow it: a group computes back to back
    // and starts only when all of its inputs are in.
    std::vector<std::pair<size_t, size_t>> groups;  // [begin, end) into acts
    for (size_t i = 0; i < acts.size();) {
      size_t j = i + 1;
      while (j < acts.size() && acts[j].overlap_prev) ++j;
      groups.emplace_back(i, j);
      i = j;
    }
    const size_t G = groups.size();
    std::vector<size_t> group_of(acts.size());
    for (size_t g = 0; g < G; ++g)
      for (size_t i = groups[g].first; i < groups[g].second; ++i) group_of[i] = g;
    // Activation offload (memory_policy.h's rules, as the simulator applies them): OFFLOAD after the F,
    // RELOAD as the action before the consumer (R, else B/BW) starts, WAIT_RELOAD before the consumer;
    // nothing when the F is that action itself.
    std::vector<std::vector<Instruction>> offload_after(G), reload_before(G), wait_before(G);
    {
      std::map<std::pair<int, int>, size_t> pos_f, pos_c;
      for (size_t i = 0; i < acts.size(); ++i) {
        const Action& a = acts[i];
        if (a.op == Op::F) pos_f[{a.stage, a.mb}] = i;
        if (a.op == Op::R) pos_c[{a.stage, a.mb}] = i;
        if ((a.op == Op::B || a.op == Op::BW) && !pos_c.count({a.stage, a.mb})) pos_c[{a.stage, a.mb}] = i;
      }
      for (const auto& [key, c] : pos_c) {
        if (!offloads(key.first)) continue;
        auto f = pos_f.find(key);
        if (f == pos_f.end()) continue;
        const long trigger = static_cast<long>(c) - (acts[c].overlap_prev ? 2 : 1);
        if (trigger < 0 || group_of[static_cast<size_t>(trigger)] <= group_of[f->second]) continue;
        offload_after[group_of[f->second]].push_back(Instruction::host_copy(InstrKind::Offload, key.first, key.second));
        reload_before[group_of[static_cast<size_t>(trigger)]].push_back(
            Instruction::host_copy(InstrKind::Reload, key.first, key.second));
        wait_before[group_of[c]].push_back(Instruction::host_copy(InstrKind::WaitReload, key.first, key.second));
      }
    }
    std::vector<std::vector<Need>> needs(G), sends(G), posts_before(G);
    for (size_t g = 0; g < G; ++g) {
      for (size_t i = groups[g].first; i < groups[g].second; ++i) {
        Need n;
        if (remote_input(acts[i], stage_device, d, n)) needs[g].push_back(n);
        if (remote_output(acts[i], stage_device, d, n)) sends[g].push_back(n);
      }
      size_t target = g >= static_cast<size_t>(opt.recv_lookahead) ? g - opt.recv_lookahead : 0;
      for (const Need& n : needs[g]) posts_before[target].push_back(n);
    }
    auto& out = p.devices[d];
    for (size_t g = 0; g < G; ++g) {
      for (const Need& n : posts_before[g]) out.push_back(Instruction::post_recv(n.tag, n.peer));
      for (const Need& n : needs[g]) out.push_back(Instruction::wait_recv(n.tag, n.peer));
      for (const Instruction& x : reload_before[g]) out.push_back(x);
      for (const Instruction& x : wait_before[g]) out.push_back(x);
      for (size_t i = groups[g].first; i < groups[g].second; ++i) out.push_back(Instruction::compute(acts[i]));
      for (const Need& n : sends[g]) out.push_back(Instruction::send(n.tag, n.peer));
      for (const Instruction& x : offload_after[g]) out.push_back(x);
    }
  }
  return p;
}

std::string ProgramReport::message() const {
  std::string out;
  for (const auto& e : errors) out += (out.empty() ? "" : "\n") + e;
  return out;
}

namespace {

constexpr size_t kMaxErrors = 25;

struct Checker {
  const Program& p;
  ProgramReport r;
  int S = 0, D = 0, m = 0;

  explicit Checker(const Program& prog) : p(prog) {}

  void err(std::string s) {
    if (r.errors.size() < kMaxErrors) r.errors.push_back(std::move(s));
    else if (r.errors.size() == kMaxErrors) r.errors.push_back("... (more errors not shown)");
  }
  std::string at(int d, size_t i) const {
    return "device " + std::to_string(d) + " #" + std::to_string(i) + " '" + p.devices[d][i].to_string() + "'";
  }

  bool structure() {
    S = p.num_stages();
    D = p.num_devices();
    m = p.num_microbatches;
    if (S < 1) err("program: no stages");
    if (D < 1) err("program: no devices");
    if (m < 1) err("program: num_microbatches must be >= 1");
    if (!p.memory.empty() && static_cast<int>(p.memory.size()) != S)
      err("program: " + std::to_string(p.memory.size()) + " stage memory policies for " + std::to_string(S) + " stages");
    for (size_t s = 0; s < p.memory.size(); ++s) {
      const std::vector<int>& sel = p.memory[s].microbatches;
      const std::string at = "program: stage " + std::to_string(s) + "'s recomputed micro-batches";
      if (!sel.empty() && !p.memory[s].recomputes())
        err(at + " are listed but the stage recomputes nothing");
      for (size_t k = 0; k < sel.size(); ++k) {
        if (sel[k] < 0 || sel[k] >= m) {
          err(at + ": " + std::to_string(sel[k]) + " is not a micro-batch of the program (0.." + std::to_string(m - 1) + ")");
          break;
        }
        if (k > 0 && sel[k] <= sel[k - 1]) {
          err(at + " must ascend, each once (" + std::to_string(sel[k - 1]) + " then " + std::to_string(sel[k]) + ")");
          break;
        }
      }
    }
    if (static_cast<int>(p.stage_bounds.size()) != S + 1) {
      err("program: stage_bounds has " + std::to_string(p.stage_bounds.size()) + " entries, expected " +
          std::to_string(S + 1));
    } else {
      for (int s = 0; s < S; ++s)
        if (p.stage_bounds[s + 1] <= p.stage_bounds[s]) err("program: stage " + std::to_string(s) + " holds no layers");
    }
    if (static_cast<int>(p.device_stages.size()) != D)
      err("program: device_stages lists " + std::to_string(p.device_stages.size()) + " devices, expected " +
          std::to_string(D));
    for (int s = 0; s < S; ++s)
      if (p.stage_device[s] < 0 || p.stage_device[s] >= D)
        err("program: stage " + std::to_string(s) + " is on device " + std::to_string(p.stage_device[s]) +
            " which does not exist");
    if (!r.ok()) return false;
    for (int d = 0; d < D; ++d)
      for (int s : p.device_stages[d])
        if (s < 0 || s >= S || p.stage_device[s] != d)
          err("program: device_stages says device " + std::to_string(d) + " holds stage " + std::to_string(s) +
              " but stage_device disagrees");
    return r.ok();
  }

  // A compute or host copy names a (stage, mb) of the program and a stage of device d; false (reported) when
  // the stage or micro-batch is out of range, so nothing may be indexed by them.
  bool on_this_device(const Instruction& ins, int d, size_t i) {
    if (ins.stage < 0 || ins.stage >= S || ins.mb < 0 || ins.mb >= m) {
      err(at(d, i) + ": stage or micro-batch out of range");
      return false;
    }
    if (p.stage_device[ins.stage] != d)
      err(at(d, i) + ": stage " + std::to_string(ins.stage) + " lives on device " + std::to_string(p.stage_device[ins.stage]));
    return true;
  }

  // Per-instruction checks, compute counts and orders, message matching and input availability.
  void local() {
    struct Seen { int count[kNumOps] = {}; long pos[kNumOps] = {-1, -1, -1, -1, -1}; };
    std::vector<Seen> seen(static_cast<size_t>(S) * m);
    // Host copies per (stage, mb): OFFLOAD, RELOAD, WAIT_RELOAD counts and positions (device of each).
    struct Host { int count[3] = {}; long pos[3] = {-1, -1, -1}; int device[3] = {-1, -1, -1}; };
    std::vector<Host> host(static_cast<size_t>(S) * m);
    struct Where { int device = -1; long pos = -1; int peer = -1; int count = 0; };
    std::map<TensorTag, Where> sends, posts, waits;

    for (int d = 0; d < D; ++d) {
      const auto& list = p.devices[d];
      for (size_t i = 0; i < list.size(); ++i) {
        const Instruction& ins = list[i];
        if (ins.kind == InstrKind::Compute) {
          if (!on_this_device(ins, d, i)) continue;
          if (ins.overlap_prev && (i == 0 || list[i - 1].kind != InstrKind::Compute))
            err(at(d, i) + ": an overlapped compute must follow another compute");
          Seen& sn = seen[static_cast<size_t>(ins.stage) * m + ins.mb];
          int o = static_cast<int>(ins.op);
          if (++sn.count[o] == 1) sn.pos[o] = static_cast<long>(i);
          continue;
        }
        if (ins.kind == InstrKind::Offload || ins.kind == InstrKind::Reload || ins.kind == InstrKind::WaitReload) {
          if (!on_this_device(ins, d, i)) continue;
          if (p.memory.empty() || !(p.memory[ins.stage].offload_fraction > 0))
            err(at(d, i) + ": stage " + std::to_string(ins.stage) + " does not offload");
          Host& h = host[static_cast<size_t>(ins.stage) * m + ins.mb];
          const int k = ins.kind == InstrKind::Offload ? 0 : ins.kind == InstrKind::Reload ? 1 : 2;
          if (++h.count[k] == 1) h.pos[k] = static_cast<long>(i), h.device[k] = d;
          else err(at(d, i) + ": repeated");
          continue;
        }
        const TensorTag& t = ins.tensor;
        if (t.stage < 0 || t.stage >= S || t.mb < 0 || t.mb >= m) {
          err(at(d, i) + ": message stage or micro-batch out of range");
          continue;
        }
        if (ins.peer < 0 || ins.peer >= D || ins.peer == d) {
          err(at(d, i) + ": peer device " + std::to_string(ins.peer) + " is not another device");
          continue;
        }
        auto& table = ins.kind == InstrKind::Send ? sends : ins.kind == InstrKind::PostRecv ? posts : waits;
        Where& w = table[t];
        if (++w.count == 1) w = {d, static_cast<long>(i), ins.peer, 1};
        else err(at(d, i) + ": the same message appears twice");
      }
    }

    // Message checks below need every compute placed once; duplicate messages do not stop them.
    const size_t errors_before_computes = r.errors.size();
    for (int s = 0; s < S; ++s)
      for (int mb = 0; mb < m; ++mb) {
        const Seen& sn = seen[static_cast<size_t>(s) * m + mb];
        std::string where = "stage " + std::to_string(s) + " mb " + std::to_string(mb);
        int f = sn.count[0], b = sn.count[1], w = sn.count[2], bw = sn.count[3];
        if (f != 1) err(where + ": computes F " + std::to_string(f) + " times, needs exactly once");
        if (b > 1 || w > 1 || bw > 1) err(where + ": a backward compute is repeated");
        if (bw == 1 && (b || w)) err(where + ": has both BW and split B/W");
        if (bw == 0 && (b != 1 || w != 1)) err(where + ": is missing its backward (needs BW, or B and W)");
        if (f == 1 && b == 1 && sn.pos[1] < sn.pos[0]) err(where + ": B runs before its F");
        if (f == 1 && bw == 1 && sn.pos[3] < sn.pos[0]) err(where + ": BW runs before its F");
        if (b == 1 && w == 1 && sn.pos[2] < sn.pos[1]) err(where + ": W runs before its B");
        // Recompute: at most one R, after the F and before the backward.
        const int rc = sn.count[static_cast<int>(Op::R)];
        const long pr = sn.pos[static_cast<int>(Op::R)];
        const bool stage_recomputes = !p.memory.empty() && p.memory[s].recomputes();
        const bool recomputes = stage_recomputes && p.memory[s].recomputes_mb(mb);
        if (rc > 1) err(where + ": R is repeated");
        if (rc == 1 && !stage_recomputes) err(where + ": R but the stage has no recompute policy");
        if (rc == 1 && stage_recomputes && !recomputes)
          err(where + ": R but the stage does not recompute this micro-batch (it is not among the stage's recomputed "
                      "micro-batches, its memory policy's units)");
        if (rc == 0 && recomputes) err(where + ": the stage recomputes this micro-batch but it has no R");
        if (rc == 1 && f == 1 && pr < sn.pos[0]) err(where + ": R runs before its F");
        const long pb = b == 1 ? sn.pos[1] : sn.pos[3];
        if (rc == 1 && pb >= 0 && pb < pr) err(where + ": the backward runs before its R");
        // Offload: all three host copies or none, in order, before the consumer.
        const Host& h = host[static_cast<size_t>(s) * m + mb];
        if (h.count[0] + h.count[1] + h.count[2] > 0) {
          if (h.count[0] != 1 || h.count[1] != 1 || h.count[2] != 1)
            err(where + ": needs exactly one OFFLOAD, RELOAD and WAIT_RELOAD");
          else if (!(sn.pos[0] < h.pos[0] && h.pos[0] < h.pos[1] && h.pos[1] < h.pos[2]))
            err(where + ": host copies out of order (F, OFFLOAD, RELOAD, WAIT_RELOAD)");
          else if (h.pos[2] > (rc == 1 ? pr : pb))
            err(where + ": WAIT_RELOAD after the compute that needs the activations back");
        }
      }
    if (r.errors.size() != errors_before_computes) return;

    auto position = [&](Op op, int s, int mb) { return seen[static_cast<size_t>(s) * m + mb].pos[static_cast<int>(op)]; };
    auto grad_producer_pos = [&](int s, int mb) {
      long b = position(Op::B, s, mb);
      return b >= 0 ? b : position(Op::BW, s, mb);
    };
    // Every message: produced where it is sent, sent once, posted and waited once by its consumer.
    for (const auto& [t, snd] : sends) {
      const int consumer = t.kind == TensorKind::Activation ? t.stage + 1 : t.stage - 1;
      const std::string name = "message '" + to_string(t) + "'";
      if (consumer < 0 || consumer >= S) {
        err(name + ": stage " + std::to_string(t.stage) + " has no neighbour to send it to");
        continue;
      }
      if (snd.device != p.stage_device[t.stage])
        err(name + ": sent by device " + std::to_string(snd.device) + " but stage " + std::to_string(t.stage) +
            " lives on device " + std::to_string(p.stage_device[t.stage]));
      else {
        long prod = t.kind == TensorKind::Activation ? position(Op::F, t.stage, t.mb) : grad_producer_pos(t.stage, t.mb);
        if (prod < 0 || prod > snd.pos) err(at(snd.device, snd.pos) + ": sent before the compute that produces it");
      }
      if (snd.peer != p.stage_device[consumer])
        err(at(snd.device, snd.pos) + ": its consumer stage " + std::to_string(consumer) + " lives on device " +
            std::to_string(p.stage_device[consumer]));
      auto pi = posts.find(t);
      auto wi = waits.find(t);
      if (pi == posts.end()) err(at(snd.device, snd.pos) + ": no device posts a receive for it");
      else if (pi->second.device != snd.peer || pi->second.peer != snd.device)
        err(at(pi->second.device, pi->second.pos) + ": does not match " + at(snd.device, snd.pos));
      if (wi == waits.end()) err(at(snd.device, snd.pos) + ": no device waits for it");
      else if (wi->second.device != snd.peer || wi->second.peer != snd.device)
        err(at(wi->second.device, wi->second.pos) + ": does not match " + at(snd.device, snd.pos));
      if (pi != posts.end() && wi != waits.end() && pi->second.device == wi->second.device &&
          pi->second.pos > wi->second.pos)
        err(at(wi->second.device, wi->second.pos) + ": waits before the receive is posted");
    }
    for (const auto& [t, w] : posts)
      if (!sends.count(t)) err(at(w.device, w.pos) + ": no device sends this message");
    for (const auto& [t, w] : waits) {
      if (!sends.count(t)) err(at(w.device, w.pos) + ": no device sends this message");
      if (!posts.count(t)) err(at(w.device, w.pos) + ": waits for a receive that is never posted");
    }

    // Every compute's input is in the device's store when it runs: a local producer ran earlier on
    // this device, or the message was waited for earlier.
    for (int d = 0; d < D; ++d) {
      const auto& list = p.devices[d];
      for (size_t i = 0; i < list.size(); ++i) {
        const Instruction& ins = list[i];
        if (ins.kind != InstrKind::Compute) continue;
        int src = -1;
        TensorTag need;
        long local_pos = -1;
        if (ins.op == Op::F && ins.stage > 0) {
          src = ins.stage - 1;
          need = {TensorKind::Activation, src, ins.mb};
          local_pos = position(Op::F, src, ins.mb);
        } else if ((ins.op == Op::B || ins.op == Op::BW) && ins.stage + 1 < S) {
          src = ins.stage + 1;
          need = {TensorKind::Gradient, src, ins.mb};
          local_pos = grad_producer_pos(src, ins.mb);
        }
        if (src < 0) continue;
        if (p.stage_device[src] == d) {
          if (local_pos > static_cast<long>(i))
            err(at(d, i) + ": its input '" + to_string(need) + "' is produced later on the same device");
        } else {
          auto wi = waits.find(need);
          if (wi == waits.end() || wi->second.device != d || wi->second.pos > static_cast<long>(i))
            err(at(d, i) + ": computes before waiting for its input '" + to_string(need) + "'");
        }
      }
    }
  }

  // Runs the lists with non-blocking sends; a WAIT blocks until its message has been sent.
  void deadlock() {
    std::vector<size_t> head(D, 0);
    std::map<TensorTag, bool> sent;
    bool progress = true;
    while (progress) {
      progress = false;
      for (int d = 0; d < D; ++d) {
        const auto& list = p.devices[d];
        while (head[d] < list.size()) {
          const Instruction& ins = list[head[d]];
          if (ins.kind == InstrKind::WaitRecv && !sent.count(ins.tensor)) break;
          if (ins.kind == InstrKind::Send) sent[ins.tensor] = true;
          ++head[d];
          progress = true;
        }
      }
    }
    std::vector<int> waits_on(D, -1);
    bool stuck = false;
    std::ostringstream os;
    for (int d = 0; d < D; ++d) {
      if (head[d] >= p.devices[d].size()) continue;
      stuck = true;
      const Instruction& ins = p.devices[d][head[d]];
      const int peer = ins.peer;
      auto pos = [&](int dev) {
        std::ostringstream t;
        t << '#' << head[dev] << " '" << p.devices[dev][head[dev]].to_string() << '\'';
        return t.str();
      };
      os << "\n  device " << d << " blocks at " << pos(d);
      if (peer >= 0 && peer < D) {
        waits_on[d] = peer;
        if (head[peer] < p.devices[peer].size())
          os << "; device " << peer << " is itself blocked at " << pos(peer);
        else
          os << "; device " << peer << " finished without sending it";
      }
    }
    if (!stuck) return;
    for (int d0 = 0; d0 < D; ++d0) {
      if (waits_on[d0] < 0) continue;
      std::vector<char> seen(D, 0);
      int d = d0;
      while (d >= 0 && !seen[d]) {
        seen[d] = 1;
        d = waits_on[d];
      }
      if (d >= 0) {
        os << "\n  cycle: device " << d;
        for (int e = waits_on[d]; e != d; e = waits_on[e]) os << " -> device " << e;
        os << " -> device " << d;
        break;
      }
    }
    err("deadlock: the instruction lists cannot all run to the end" + os.str());
  }
};

}  // namespace

ProgramReport check_program(const Program& program) {
  Checker c(program);
  if (!c.structure()) return c.r;
  c.local();
  if (c.r.ok()) c.deadlock();
  return c.r;
}

void require_valid_program(const Program& program, const std::string& origin) {
  ProgramReport r = check_program(program);
  if (!r.ok()) throw InputError(origin + ": invalid instruction lists:\n" + r.message());
}

std::string format_program(const Program& program) {
  std::ostringstream os;
  for (int d = 0; d < program.num_devices(); ++d) {
    os << "device " << d << " (stages";
    for (int s : program.device_stages[d]) os << ' ' << s;
    os << "):\n";
    for (size_t i = 0; i < program.devices[d].size(); ++i)
      os << "  " << i << ": " << program.devices[d][i].to_string() << "\n";
  }
  return os.str();
}

Program map_program_layers(Program program, const std::vector<int>& unit_bounds) {
  const int units = static_cast<int>(unit_bounds.size()) - 1;
  if (units < 1) throw InputError("executor: no layer units to map the plan onto");
  for (int i = 0; i < units; ++i)
    if (unit_bounds[i] >= unit_bounds[i + 1])
      throw InputError("executor: layer unit " + std::to_string(i) + " is empty");
  if (program.stage_bounds.empty() || program.stage_bounds.front() != 0 || program.stage_bounds.back() != units)
    throw InputError("executor: the plan partitions " +
                     std::to_string(program.stage_bounds.empty() ? 0 : program.stage_bounds.back()) +
                     " layers but the model has " + std::to_string(units));
  for (StageMemory& sm : program.memory)
    if (sm.full_end >= 0) {
      if (sm.full_end > units) throw InputError("executor: a full recompute ends past the model's last layer");
      sm.full_end = unit_bounds[sm.full_end];
    }
  for (int& b : program.stage_bounds) b = unit_bounds[b];
  return program;
}

}  // namespace adaptis::exec
