#include "candidate.h"

#include <algorithm>
#include <cmath>

namespace adaptis::opt {

namespace {

constexpr double kTol = 1e-9;

// Uniform integer in [0, n) from the raw generator: std::uniform_int_distribution differs between
// standard libraries, and the search must be reproducible from the seed alone.
int pick(std::mt19937_64& rng, int n) { return n <= 1 ? 0 : static_cast<int>(rng() % static_cast<uint64_t>(n)); }

}  // namespace

bool better(const Score& a, const Score& b, double slack_tolerance) {
  if (!a.valid) return false;
  if (!b.valid) return true;
  if (a.fits != b.fits) return a.fits;
  if (!a.fits && std::abs(a.overflow - b.overflow) > 1e-6 * std::max(1.0, std::abs(b.overflow)))
    return a.overflow < b.overflow;
  if (a.ms < b.ms - kTol) return true;
  if (a.ms > b.ms + kTol) return false;
  return a.slack < b.slack - slack_tolerance;
}

bool no_worse(const Score& a, const Score& b) { return a.valid && !better(b, a); }

SearchContext::SearchContext(const CostTable& c, const Cluster& cl, const SimOptions& s, int d, int m, int max_k)
    : costs(&c), cluster(cl), sim(s), devices(d), microbatches(m), max_stages_per_device(max_k), cache(c) {
  cluster.devices.resize(d);
  split_backward = c.split_backward();
  layer_weight = layer_weights(c);
  layer_prefix.assign(layer_weight.size() + 1, 0.0);
  for (size_t l = 0; l < layer_weight.size(); ++l) layer_prefix[l + 1] = layer_prefix[l] + layer_weight[l];
  for (int i = 0; i < d; ++i) speed.push_back(cluster.devices[i].speed);
  // The inner loop needs neither gaps nor memory samples; the final replay records what the user asked for.
  sim.record_gaps = false;
  sim.record_memory_timeline = false;
}

namespace {

// Variable-length units: the candidate's per-unit costs and the slice links.
void add_units(const SearchContext& ctx, ListScheduleProblem& pb) {
  if (ctx.units.empty()) return;
  unit_stage_costs(pb.stages, ctx.units, ctx.keys, ctx.ref, pb.unit_costs);
  if (ctx.links.any && pb.slice_prev.empty()) {
    pb.slice_prev = ctx.links.prev;
    pb.slice_next = ctx.links.next;
  }
}

}  // namespace

void SearchContext::set_memory_choices(std::vector<Recompute> recompute, std::vector<double> offload, bool partial) {
  if (recompute.empty()) recompute = {Recompute::None};
  if (offload.empty()) offload = {0.0};
  std::sort(recompute.begin(), recompute.end());
  recompute.erase(std::unique(recompute.begin(), recompute.end()), recompute.end());
  std::sort(offload.begin(), offload.end());
  offload.erase(std::unique(offload.begin(), offload.end()), offload.end());
  recompute_choices = recompute;
  offload_choices = offload;
  partial_full = partial && recompute.size() > 1 &&
                 std::find(recompute.begin(), recompute.end(), Recompute::Full) != recompute.end();
  ladder.clear();
  if (recompute == std::vector<Recompute>{Recompute::None} && offload == std::vector<double>{0.0}) return;
  // Recompute first (it costs compute, which a bubble may hide), then more offload on the strongest.
  for (Recompute r : recompute) {
    StageMemoryPolicy p;
    p.recompute = r;
    p.offload_fraction = offload.front();
    ladder.push_back(p);
  }
  for (size_t i = 1; i < offload.size(); ++i) {
    StageMemoryPolicy p = ladder.back();
    p.offload_fraction = offload[i];
    ladder.push_back(p);
  }
}

ListScheduleProblem Evaluator::problem(const Candidate& c) {
  ListScheduleProblem pb;
  pb.microbatches = ctx_.microbatches;
  pb.num_devices = ctx_.devices;
  ctx_.cache.stages(c.bounds, pb.stages, c.memory.empty() ? nullptr : &c.memory);
  pb.stage_device = c.stage_device;
  pb.memory = c.memory;
  add_units(ctx_, pb);
  return pb;
}

Score Evaluator::score(const Candidate& c) {
  pb_.microbatches = ctx_.microbatches;
  pb_.num_devices = ctx_.devices;
  ctx_.cache.stages(c.bounds, pb_.stages, c.memory.empty() ? nullptr : &c.memory);
  pb_.stage_device = c.stage_device;
  pb_.memory = c.memory;
  add_units(ctx_, pb_);
  ListScheduleResult r = scheduler_.run(pb_, ctx_.cluster, ctx_.sim, c.policy, false);
  overflow_.assign(ctx_.devices, 0.0);
  if (!r.ok) return Score::invalid();
  for (int d = 0; d < ctx_.devices && d < static_cast<int>(r.peak_bytes.size()); ++d)
    overflow_[d] = r.peak_bytes[d] - ctx_.cluster.devices[d].memory_limit();
  Score s;
  s.valid = true;
  s.fits = r.fits_memory;
  s.overflow = r.overflow_bytes;
  s.ms = r.iteration_ms;
  s.slack = r.mean_device_end_ms;
  return s;
}

Plan Evaluator::plan(const Candidate& c, const std::string& name) {
  Partition part;
  part.bounds = c.bounds;
  Plan p = list_schedule_plan(problem(c), part, ctx_.cluster, ctx_.sim, c.policy, name);
  p.units = ctx_.units;
  return p;
}

bool well_formed(const Candidate& c, const SearchContext& ctx) {
  const int S = c.num_stages();
  const int L = ctx.costs->num_layers();
  if (S < 1 || static_cast<int>(c.bounds.size()) != S + 1 || c.bounds.front() != 0 || c.bounds.back() != L) return false;
  for (int s = 0; s < S; ++s)
    if (c.bounds[s + 1] <= c.bounds[s]) return false;
  std::vector<int> n(ctx.devices, 0);
  for (int d : c.stage_device) {
    if (d < 0 || d >= ctx.devices) return false;
    ++n[d];
  }
  for (int k : n)
    if (k < 1 || k > ctx.max_stages_per_device) return false;
  if (!c.memory.empty()) {
    if (static_cast<int>(c.memory.size()) != S) return false;
    for (int s = 0; s < S; ++s)
      if (c.memory[s].full_layers > c.bounds[s + 1] - c.bounds[s]) return false;
  }
  return true;
}

Score repair_memory(Candidate& c, Score current, Evaluator& ev, const SearchContext& ctx, int rounds,
                    long long& evaluations) {
  if (!ctx.memory_search() || !current.valid || current.fits) return current;
  auto step = [&](const StageMemoryPolicy& p) {
    // The next ladder step above p (p itself when it is the strongest or off the ladder).
    for (size_t i = 0; i + 1 < ctx.ladder.size(); ++i)
      if (ctx.ladder[i].recompute == p.recompute && ctx.ladder[i].offload_fraction == p.offload_fraction)
        return ctx.ladder[i + 1];
    return p.full_layers > 0 ? StageMemoryPolicy{Recompute::Full, 0, p.offload_fraction, {}} : p;
  };
  Candidate best = c;
  Score best_score = current;
  for (int round = 0; round < rounds; ++round) {
    const std::vector<double> over = ev.last_overflow();
    Candidate n = c;
    bool changed = false;
    for (int s = 0; s < n.num_stages(); ++s) {
      const int d = n.stage_device[s];
      if (d >= static_cast<int>(over.size()) || !(over[d] > 0)) continue;
      StageMemoryPolicy up = step(n.memory[s]);
      if (!(up == n.memory[s])) n.memory[s] = up, changed = true;
    }
    if (!changed) break;
    ++evaluations;
    Score sc = ev.score(n);
    if (!sc.valid) break;
    c = n;
    if (better(sc, best_score)) best = n, best_score = sc;
    if (sc.fits) break;
  }
  c = best;
  return best_score;
}

namespace {

void shift_boundary(Candidate& n, std::mt19937_64& rng) {
  const int S = n.num_stages();
  if (S < 2) return;
  int i = 1 + pick(rng, S - 1);
  int step = pick(rng, 5) == 0 ? 2 + pick(rng, 2) : 1;
  n.bounds[i] += pick(rng, 2) ? step : -step;
}

void move_stage(Candidate& n, const SearchContext& ctx, std::mt19937_64& rng) {
  int s = pick(rng, n.num_stages());
  int d = pick(rng, ctx.devices - 1);
  n.stage_device[s] = d >= n.stage_device[s] ? d + 1 : d;
}

void swap_stages(Candidate& n, std::mt19937_64& rng) {
  const int S = n.num_stages();
  int a = pick(rng, S), b = pick(rng, S);
  // Half the swaps are between neighbours: that changes which stage transitions cross devices.
  if (pick(rng, 2) && S > 1) b = a + 1 < S ? a + 1 : a - 1;
  std::swap(n.stage_device[a], n.stage_device[b]);
}

void split_stage(Candidate& n, const SearchContext& ctx, std::mt19937_64& rng) {
  const int S = n.num_stages();
  int s = pick(rng, S);
  int size = n.bounds[s + 1] - n.bounds[s];
  if (size < 2) return;
  int cut = n.bounds[s] + 1 + pick(rng, size - 1);
  n.bounds.insert(n.bounds.begin() + s + 1, cut);
  n.stage_device.insert(n.stage_device.begin() + s + 1, pick(rng, ctx.devices));
  if (!n.memory.empty()) {
    StageMemoryPolicy p = n.memory[s];
    p.full_layers = 0;  // each half recomputes all of its layers or none
    n.memory[s] = p;
    n.memory.insert(n.memory.begin() + s + 1, p);
  }
}

void merge_stages(Candidate& n, std::mt19937_64& rng) {
  const int S = n.num_stages();
  if (S < 2) return;
  int s = pick(rng, S - 1);
  const bool second = pick(rng, 2) != 0;
  int keep = n.stage_device[second ? s + 1 : s];
  n.bounds.erase(n.bounds.begin() + s + 1);
  n.stage_device.erase(n.stage_device.begin() + s + 1);
  n.stage_device[s] = keep;
  if (!n.memory.empty()) {
    n.memory[s] = n.memory[second ? s + 1 : s];
    n.memory[s].full_layers = 0;
    n.memory.erase(n.memory.begin() + s + 1);
  }
}

void mutate_policy(ListSchedulePolicy& p, const SearchContext& ctx, std::mt19937_64& rng) {
  const int D = ctx.devices;
  // Justification passes (improve_passes) are not mutated here: they cost several list passes
  // each and rarely change which plan is best, so the optimizer applies them to its finalists only.
  switch (pick(rng, ctx.split_backward ? 7 : 6)) {
    case 0: p.order = static_cast<ListSchedulePolicy::Order>(pick(rng, 3)); break;
    case 1: p.forward = static_cast<ListSchedulePolicy::Pick>(pick(rng, 4)); break;
    case 2: p.backward = static_cast<ListSchedulePolicy::Pick>(pick(rng, 4)); break;
    case 3: {
      // Caps near the device count matter most (1F1B keeps D - d micro-batches in flight).
      int k = p.max_inflight;
      switch (pick(rng, 4)) {
        case 0: k = 0; break;
        case 1: k = std::max(1, (k > 0 ? k : D) - 1); break;
        case 2: k = (k > 0 ? k : D) + 1; break;
        default: k = 1 + pick(rng, 3 * D); break;
      }
      if (k >= ctx.microbatches) k = 0;  // no cap is the same as a cap at m
      p.max_inflight = k;
      break;
    }
    case 4: {
      // A new sample around the priority rule, or back to the exact rule.
      static constexpr int kJitter[] = {0, 1, 2, 4, 8};
      p.jitter = kJitter[pick(rng, 5)];
      p.jitter_seed = static_cast<uint32_t>(rng());
      break;
    }
    case 5: p.reserve_memory = !p.reserve_memory; break;
    default: p.split_backward = !p.split_backward; break;
  }
}

// Takes load off the most loaded device: shift a boundary layer of one of its stages to a
// neighbouring stage on another device, or move one of its stages to the least loaded device.
void rebalance(Candidate& n, const SearchContext& ctx, std::mt19937_64& rng) {
  const int S = n.num_stages();
  std::vector<double> load(ctx.devices, 0.0);
  for (int s = 0; s < S; ++s)
    load[n.stage_device[s]] += (ctx.layer_prefix[n.bounds[s + 1]] - ctx.layer_prefix[n.bounds[s]]) / ctx.speed[n.stage_device[s]];
  int hi = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
  int lo = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
  std::vector<int> mine;
  for (int s = 0; s < S; ++s)
    if (n.stage_device[s] == hi) mine.push_back(s);
  if (mine.empty()) return;
  int s = mine[pick(rng, static_cast<int>(mine.size()))];
  const int r = pick(rng, 8);
  if (r < 2) {
    n.stage_device[s] = lo;
    return;
  }
  if (r < 4 && n.bounds[s + 1] - n.bounds[s] >= 2) {
    // Carve the stage's first or last layer into a new stage on the least loaded device: moves one
    // layer's load where no neighbouring stage sits on another device (a split and a move in one).
    const bool first = pick(rng, 2) == 0;
    const int cut = first ? n.bounds[s] + 1 : n.bounds[s + 1] - 1;
    n.bounds.insert(n.bounds.begin() + s + 1, cut);
    n.stage_device.insert(n.stage_device.begin() + s + (first ? 0 : 1), lo);
    if (!n.memory.empty()) {
      n.memory[s].full_layers = 0;
      n.memory.insert(n.memory.begin() + s + 1, n.memory[s]);
    }
    return;
  }
  // Boundary i sits between stages i-1 and i; give away the layer at that edge.
  bool left_ok = s > 0 && n.stage_device[s - 1] != hi;
  bool right_ok = s + 1 < S && n.stage_device[s + 1] != hi;
  if (left_ok && (!right_ok || pick(rng, 2))) ++n.bounds[s];
  else if (right_ok) --n.bounds[s + 1];
}

// Shifts single layers across stage boundaries between different devices while that lowers the
// most loaded device's load (then the sum of squared loads). A placement move changes which device
// carries the LM head or the heavy stages; repairing the boundaries right after judges the move at
// its balanced partition instead of rejecting it for the imbalance it creates.
void repair_device_loads(Candidate& n, const SearchContext& ctx) {
  const int S = n.num_stages();
  const int D = ctx.devices;
  std::vector<double> load(D, 0.0);
  auto weight = [&](int a, int b) { return ctx.layer_prefix[b] - ctx.layer_prefix[a]; };
  auto stage_weight = [&](int s) { return weight(n.bounds[s], n.bounds[s + 1]); };
  for (int s = 0; s < S; ++s) load[n.stage_device[s]] += stage_weight(s) / ctx.speed[n.stage_device[s]];
  auto measure = [&](double& mx, double& q) {
    mx = 0, q = 0;
    for (double l : load) mx = std::max(mx, l), q += l * l;
  };
  double cur_max, cur_q;
  measure(cur_max, cur_q);
  auto improves = [&](double mx, double q) { return mx < cur_max - kTol || (mx <= cur_max + kTol && q < cur_q - kTol); };
  for (int iter = 0; iter < 2 * S + 8; ++iter) {
    // Best single-layer boundary shift between stages on different devices.
    int bi = -1, bnb = 0;
    double best_max = cur_max, best_q = cur_q;
    for (int i = 1; i < S; ++i) {
      const int dl = n.stage_device[i - 1], dr = n.stage_device[i];
      if (dl == dr) continue;
      for (int nb : {n.bounds[i] - 1, n.bounds[i] + 1}) {
        if (nb <= n.bounds[i - 1] || nb >= n.bounds[i + 1]) continue;
        const double w = nb > n.bounds[i] ? weight(n.bounds[i], nb) : -weight(nb, n.bounds[i]);  // to the left stage
        load[dl] += w / ctx.speed[dl];
        load[dr] -= w / ctx.speed[dr];
        double mx, q;
        measure(mx, q);
        load[dl] -= w / ctx.speed[dl];
        load[dr] += w / ctx.speed[dr];
        if (mx < best_max - kTol || (mx <= best_max + kTol && q < best_q - kTol)) best_max = mx, best_q = q, bi = i, bnb = nb;
      }
    }
    if (bi >= 0) {
      const int dl = n.stage_device[bi - 1], dr = n.stage_device[bi];
      const double w = bnb > n.bounds[bi] ? weight(n.bounds[bi], bnb) : -weight(bnb, n.bounds[bi]);
      load[dl] += w / ctx.speed[dl];
      load[dr] -= w / ctx.speed[dr];
      n.bounds[bi] = bnb;
      cur_max = best_max, cur_q = best_q;
      continue;
    }
    // No shift helps: the first swap of two stages' devices that lowers the most loaded device
    // (stage-level bin packing: the LM head's stage trading places with a lighter one).
    const int hi = static_cast<int>(std::max_element(load.begin(), load.end()) - load.begin());
    bool swapped = false;
    for (int s = 0; s < S && !swapped; ++s) {
      if (n.stage_device[s] != hi) continue;
      for (int t = 0; t < S && !swapped; ++t) {
        const int dt = n.stage_device[t];
        if (dt == hi) continue;
        const double ws = stage_weight(s), wt = stage_weight(t);
        load[hi] += (wt - ws) / ctx.speed[hi];
        load[dt] += (ws - wt) / ctx.speed[dt];
        double mx, q;
        measure(mx, q);
        if (improves(mx, q)) {
          std::swap(n.stage_device[s], n.stage_device[t]);
          cur_max = mx, cur_q = q;
          swapped = true;
        } else {
          load[hi] -= (wt - ws) / ctx.speed[hi];
          load[dt] -= (ws - wt) / ctx.speed[dt];
        }
      }
    }
    if (!swapped) break;
  }
}

// A memory-policy move: one stage's recompute or offload, a step up or down the ladder, or one
// device's stages all given the same policy.
void mutate_memory(Candidate& n, const SearchContext& ctx, std::mt19937_64& rng) {
  const int S = n.num_stages();
  if (S < 1 || n.memory.size() != static_cast<size_t>(S)) return;
  const int s = pick(rng, S);
  StageMemoryPolicy& p = n.memory[s];
  switch (pick(rng, 5)) {
    case 0: {  // another recompute choice (full possibly of the first k layers only)
      p.recompute = ctx.recompute_choices[pick(rng, static_cast<int>(ctx.recompute_choices.size()))];
      p.full_layers = 0;
      const int size = n.bounds[s + 1] - n.bounds[s];
      if (p.recompute == Recompute::Full && ctx.partial_full && size > 1 && pick(rng, 2) == 0)
        p.full_layers = 1 + pick(rng, size - 1);
      break;
    }
    case 1: p.offload_fraction = ctx.offload_choices[pick(rng, static_cast<int>(ctx.offload_choices.size()))]; break;
    case 2:
    case 3: {  // a step along the ladder, up or down
      int at = -1;
      for (size_t i = 0; i < ctx.ladder.size(); ++i)
        if (ctx.ladder[i].recompute == p.recompute && ctx.ladder[i].offload_fraction == p.offload_fraction)
          at = static_cast<int>(i);
      const int to = std::clamp(at + (pick(rng, 2) ? 1 : -1), 0, static_cast<int>(ctx.ladder.size()) - 1);
      p = ctx.ladder[at < 0 ? 0 : to];
      break;
    }
    default: {  // every stage of this stage's device gets its policy
      const StageMemoryPolicy q = p;
      for (int t = 0; t < S; ++t)
        if (n.stage_device[t] == n.stage_device[s]) n.memory[t] = q;
      break;
    }
  }
}

// After boundary moves: a partial full recompute never asks for more layers than its stage has.
void clamp_full_layers(Candidate& n) {
  for (size_t s = 0; s < n.memory.size(); ++s) {
    const int size = n.bounds[s + 1] - n.bounds[s];
    if (n.memory[s].full_layers >= size) n.memory[s].full_layers = 0;
  }
}

}  // namespace

Candidate neighbour(const Candidate& c, const SearchContext& ctx, std::mt19937_64& rng) {
  for (int attempt = 0; attempt < 32; ++attempt) {
    Candidate n = c;
    // With memory policies in the search, one move in eight changes them.
    if (ctx.memory_search() && pick(rng, 8) == 0) {
      mutate_memory(n, ctx, rng);
      if (!(n == c) && well_formed(n, ctx)) return n;
      continue;
    }
    int r = pick(rng, 100);
    bool structural = true;
    if (ctx.placement_fixed) {
      // Only moves that keep every stage on its device and the stage count.
      if (r < 60) shift_boundary(n, rng);
      else mutate_policy(n.policy, ctx, rng);
      if (!(n == c) && well_formed(n, ctx)) return n;
      continue;
    }
    if (r < 25) shift_boundary(n, rng), structural = false;
    else if (r < 40) move_stage(n, ctx, rng);
    else if (r < 55) swap_stages(n, rng);
    else if (r < 62) split_stage(n, ctx, rng);
    else if (r < 69) merge_stages(n, rng);
    else if (r < 84) rebalance(n, ctx, rng), structural = false;
    else mutate_policy(n.policy, ctx, rng), structural = false;
    // Half the placement and stage-count moves come with their partition repaired.
    if (structural && pick(rng, 2) == 0 && well_formed(n, ctx)) repair_device_loads(n, ctx);
    clamp_full_layers(n);
    if (!(n == c) && well_formed(n, ctx)) return n;
  }
  return c;
}

std::vector<ListSchedulePolicy> seed_policies(const SearchContext& ctx) {
  using O = ListSchedulePolicy::Order;
  using P = ListSchedulePolicy::Pick;
  auto mk = [](O o, P f, P b, int inflight) {
    ListSchedulePolicy p;
    p.order = o;
    p.forward = f;
    p.backward = b;
    p.max_inflight = inflight;
    return p;
  };
  const int D = ctx.devices;
  const int cap = D < ctx.microbatches ? D : 0;
  std::vector<ListSchedulePolicy> out = {
      mk(O::Alternate, P::OldestMicrobatch, P::EarliestStage, 0),
      mk(O::ForwardFirst, P::OldestMicrobatch, P::EarliestStage, 0),
      mk(O::Alternate, P::EarliestStage, P::EarliestStage, 0),
      mk(O::Alternate, P::FurthestStage, P::EarliestStage, 0),
      mk(O::BackwardFirst, P::OldestMicrobatch, P::OldestMicrobatch, 0),
      mk(O::BackwardFirst, P::EarliestStage, P::OldestMicrobatch, 0),
      mk(O::Alternate, P::Grouped, P::Grouped, 0),
      mk(O::Alternate, P::OldestMicrobatch, P::EarliestStage, cap),
      mk(O::BackwardFirst, P::Grouped, P::Grouped, cap),
  };
  if (ctx.split_backward) {
    ListSchedulePolicy fused = out[0];
    fused.split_backward = false;
    out.push_back(fused);
  }
  // Admission on live memory: more micro-batches in flight where a device's stages hold their
  // activations at different times (see ListSchedulePolicy::reserve_memory).
  for (int i : {1, 6}) {
    ListSchedulePolicy live = out[i];
    live.reserve_memory = false;
    out.push_back(live);
  }
  return out;
}

std::vector<size_t> seed_probe_policies(const std::vector<ListSchedulePolicy>& policies) {
  // Alternating with critical-path picks (the most frequent winner), backward-first (1F1B-like),
  // and grouped with admission on live memory (the memory-bound winner).
  std::vector<size_t> out = {0, 4, policies.size() - 1};
  out.erase(std::remove_if(out.begin(), out.end(), [&](size_t i) { return i >= policies.size(); }), out.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace adaptis::opt
