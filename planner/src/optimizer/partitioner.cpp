#include "adaptis/planner/partitioner.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "adaptis/model/error.h"

namespace adaptis {

std::vector<double> layer_weights(const CostTable& costs) {
  std::vector<double> w;
  w.reserve(costs.layers.size());
  for (const auto& l : costs.layers) w.push_back(l.f_ms + l.b_ms + l.w_ms);
  return w;
}

namespace {

// Stage s ends where the layer-weight prefix comes closest to the stages 0..s's share of the total (their
// speeds over all speeds), each stage keeping at least one layer and leaving one for every later stage.
Partition proportional_partition(const std::vector<double>& prefix, const std::vector<double>& stage_speed) {
  const int L = static_cast<int>(prefix.size()) - 1;
  const int S = static_cast<int>(stage_speed.size());
  double speed_sum = 0;
  for (double v : stage_speed) speed_sum += v;
  Partition p;
  p.bounds.assign(S + 1, 0);
  p.bounds[S] = L;
  double cum = 0;
  for (int s = 1; s < S; ++s) {
    cum += stage_speed[s - 1];
    const double target = prefix[L] * cum / speed_sum;
    int j = static_cast<int>(std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin());
    if (j > 0 && j <= L && target - prefix[j - 1] < prefix[j] - target) --j;
    p.bounds[s] = std::clamp(j, p.bounds[s - 1] + 1, L - (S - s));
  }
  return p;
}

}  // namespace

Partition balanced_partition(const std::vector<double>& layer_weight, const std::vector<double>& stage_speed) {
  const int L = static_cast<int>(layer_weight.size());
  const int S = static_cast<int>(stage_speed.size());
  if (S < 1) throw InputError("partition: need at least one stage");
  if (S > L)
    throw InputError("partition: " + std::to_string(S) + " stages but the model has only " + std::to_string(L) +
                     " layers; every stage needs at least one layer");
  for (double v : stage_speed)
    if (!(v > 0)) throw InputError("partition: device speeds must be > 0");
  std::vector<double> prefix(L + 1, 0.0);
  for (int l = 0; l < L; ++l) prefix[l + 1] = prefix[l] + layer_weight[l];
  if (double(S) * double(L) * double(L) > kExactPartitionWork) return proportional_partition(prefix, stage_speed);

  // cost[s][j]: best sum of squares with stages 0..s-1 covering layers [0, j).
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> cost(S + 1, std::vector<double>(L + 1, kInf));
  std::vector<std::vector<int>> from(S + 1, std::vector<int>(L + 1, -1));
  cost[0][0] = 0;
  for (int s = 1; s <= S; ++s) {
    // Stage s-1 ends at j; every earlier stage needs a layer and so does every later one.
    for (int j = s; j <= L - (S - s); ++j) {
      for (int i = s - 1; i < j; ++i) {
        if (cost[s - 1][i] == kInf) continue;
        double t = (prefix[j] - prefix[i]) / stage_speed[s - 1];
        double c = cost[s - 1][i] + t * t;
        // Ties go to the later split: earlier stages get the extra layer, as even_partition does.
        if (c < cost[s][j] - 1e-12 * (1 + std::abs(c))) cost[s][j] = c, from[s][j] = i;
        else if (c <= cost[s][j] + 1e-12 * (1 + std::abs(c)) && i > from[s][j]) from[s][j] = i;
      }
    }
  }
  Partition p;
  p.bounds.assign(S + 1, 0);
  int j = L;
  for (int s = S; s >= 1; --s) {
    p.bounds[s] = j;
    j = from[s][j];
  }
  p.bounds[0] = 0;
  return p;
}

Partition balanced_partition(const std::vector<double>& layer_weight, int num_stages) {
  return balanced_partition(layer_weight, std::vector<double>(std::max(num_stages, 0), 1.0));
}

void balance_device_loads(const std::vector<double>& layer_weight, const std::vector<int>& stage_device,
                          const std::vector<double>& device_speed, Partition& part,
                          const std::function<bool()>& stop) {
  const int S = part.num_stages();
  const int D = static_cast<int>(device_speed.size());
  if (S < 2) return;
  std::vector<double> prefix(layer_weight.size() + 1, 0.0);
  for (size_t l = 0; l < layer_weight.size(); ++l) prefix[l + 1] = prefix[l] + layer_weight[l];
  std::vector<double> load(D, 0.0);
  for (int s = 0; s < S; ++s)
    load[stage_device[s]] += (prefix[part.bounds[s + 1]] - prefix[part.bounds[s]]) / device_speed[stage_device[s]];
  auto sumsq = [&] {
    double q = 0;
    for (double l : load) q += l * l;
    return q;
  };
  auto max_load = [&] { return *std::max_element(load.begin(), load.end()); };
  // Moving boundary i (between stages i-1 and i) to position nb changes two devices' loads.
  auto apply = [&](int i, int nb) {
    const int dl = stage_device[i - 1], dr = stage_device[i];
    double w = prefix[nb] - prefix[part.bounds[i]];  // > 0: layers move from stage i to i-1
    load[dl] += w / device_speed[dl];
    load[dr] -= w / device_speed[dr];
    part.bounds[i] = nb;
  };
  // Greedy descent on the sum of squares, then a randomised refinement that also accepts sideways
  // moves (same max load and sum of squares) so single-layer shifts can chain across stages. The
  // generator is a fixed LCG: the result depends on the inputs only.
  for (int iter = 0; iter < 64 * (S + 1); ++iter) {
    if (stop && stop()) return;
    double best = sumsq() - 1e-12, best_max = 0;
    int bi = -1, bnb = 0;
    for (int i = 1; i < S; ++i) {
      if (stage_device[i - 1] == stage_device[i]) continue;
      for (int nb : {part.bounds[i] - 1, part.bounds[i] + 1}) {
        if (nb <= part.bounds[i - 1] || nb >= part.bounds[i + 1]) continue;
        int old = part.bounds[i];
        apply(i, nb);
        double q = sumsq();
        if (q < best) best = q, best_max = max_load(), bi = i, bnb = nb;
        apply(i, old);
      }
    }
    (void)best_max;
    if (bi < 0) break;
    apply(bi, bnb);
  }
  uint64_t state = 0x2545F4914F6CDD1DULL ^ static_cast<uint64_t>(S * 7919 + D);
  auto next = [&](int n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((state >> 33) % static_cast<uint64_t>(n));
  };
  double cur_max = max_load(), cur_q = sumsq();
  for (int trial = 0; trial < 300 * S; ++trial) {
    if (stop && (trial & 1023) == 0 && stop()) return;
    int i = 1 + next(S - 1);
    if (stage_device[i - 1] == stage_device[i]) continue;
    int delta = next(2) ? 1 + next(2) : -1 - next(2);
    int nb = part.bounds[i] + delta;
    if (nb <= part.bounds[i - 1] || nb >= part.bounds[i + 1]) continue;
    int old = part.bounds[i];
    apply(i, nb);
    double mx = max_load(), q = sumsq();
    if (mx < cur_max - 1e-9 || (mx <= cur_max + 1e-9 && q <= cur_q + 1e-9)) cur_max = mx, cur_q = q;
    else apply(i, old);
  }
}

std::vector<int> looped_stage_devices(int S, int D) {
  std::vector<int> out(S);
  for (int s = 0; s < S; ++s) out[s] = s % D;
  return out;
}

std::vector<int> wave_stage_devices(int S, int D) {
  std::vector<int> out(S);
  for (int s = 0; s < S; ++s) {
    int lap = s / D, pos = s % D;
    out[s] = lap % 2 == 0 ? pos : D - 1 - pos;
  }
  return out;
}

std::vector<int> lpt_stage_devices(const std::vector<double>& stage_weight, const std::vector<double>& device_speed) {
  const int S = static_cast<int>(stage_weight.size());
  const int D = static_cast<int>(device_speed.size());
  std::vector<int> order(S);
  for (int s = 0; s < S; ++s) order[s] = s;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return stage_weight[a] > stage_weight[b]; });
  std::vector<double> load(D, 0.0);
  std::vector<int> count(D, 0), out(S, 0);
  int empty = D;
  for (int i = 0; i < S; ++i) {
    const int s = order[i];
    // While as many stages are left as devices without one, only those devices may take it.
    const bool must_fill = S - i <= empty;
    int best = -1;
    double best_end = 0;
    for (int d = 0; d < D; ++d) {
      if (must_fill && count[d] > 0) continue;
      const double end = (load[d] + stage_weight[s]) / device_speed[d];
      if (best < 0 || end < best_end) best = d, best_end = end;
    }
    out[s] = best;
    load[best] += stage_weight[s];
    if (count[best]++ == 0) --empty;
  }
  return out;
}

StageCostCache::StageCostCache(const CostTable& costs) : memory_(costs) {
  const int L = costs.num_layers();
  for (auto* v : {&f_, &b_, &w_, &state_, &param_, &act_b_, &act_w_, &w_grad_, &f_pair_, &b_pair_, &w_pair_, &f_fixed_, &b_fixed_,
                  &w_fixed_, &kv_, &score_})
    v->assign(L + 1, 0.0);
  out_bytes_.resize(L);
  for (int l = 0; l < L; ++l) {
    const LayerCost& c = costs.layers[l];
    f_[l + 1] = f_[l] + c.f_ms;
    b_[l + 1] = b_[l] + c.b_ms;
    w_[l + 1] = w_[l] + c.w_ms;
    state_[l + 1] = state_[l] + c.state_bytes;
    param_[l + 1] = param_[l] + c.param_bytes;
    act_b_[l + 1] = act_b_[l] + c.act_b_bytes;
    act_w_[l + 1] = act_w_[l] + c.act_w_bytes;
    w_grad_[l + 1] = w_grad_[l] + c.w_grad_bytes;
    out_bytes_[l] = c.out_bytes;
    f_pair_[l + 1] = f_pair_[l] + c.f_pair_ms;
    b_pair_[l + 1] = b_pair_[l] + c.b_pair_ms;
    w_pair_[l + 1] = w_pair_[l] + c.w_pair_ms;
    f_fixed_[l + 1] = f_fixed_[l] + c.f_fixed_ms;
    b_fixed_[l + 1] = b_fixed_[l] + c.b_fixed_ms;
    w_fixed_[l + 1] = w_fixed_[l] + c.w_fixed_ms;
    kv_[l + 1] = kv_[l] + known_kv_bytes(c);
    score_[l + 1] = score_[l] + known_score_bytes(c);
  }
}

StageCost StageCostCache::stage(int i, int j) const {
  StageCost c;
  c.f_ms = f_[j] - f_[i];
  c.b_ms = b_[j] - b_[i];
  c.w_ms = w_[j] - w_[i];
  c.state_bytes = state_[j] - state_[i];
  c.param_bytes = param_[j] - param_[i];
  c.act_b_bytes = act_b_[j] - act_b_[i];
  c.act_w_bytes = act_w_[j] - act_w_[i];
  c.w_grad_bytes = w_grad_[j] - w_grad_[i];
  c.out_bytes = out_bytes_[j - 1];
  c.in_bytes = i > 0 ? out_bytes_[i - 1] : 0.0;
  c.f_pair_ms = f_pair_[j] - f_pair_[i];
  c.b_pair_ms = b_pair_[j] - b_pair_[i];
  c.w_pair_ms = w_pair_[j] - w_pair_[i];
  c.f_fixed_ms = f_fixed_[j] - f_fixed_[i];
  c.b_fixed_ms = b_fixed_[j] - b_fixed_[i];
  c.w_fixed_ms = w_fixed_[j] - w_fixed_[i];
  c.kv_bytes = kv_[j] - kv_[i];
  c.act_score_bytes = score_[j] - score_[i];
  return c;
}

void StageCostCache::stages(const std::vector<int>& bounds, std::vector<StageCost>& out,
                            const std::vector<StageMemoryPolicy>* memory) const {
  const int S = static_cast<int>(bounds.size()) - 1;
  out.resize(S);
  for (int s = 0; s < S; ++s) {
    out[s] = stage(bounds[s], bounds[s + 1]);
    if (memory && s < static_cast<int>(memory->size())) memory_.apply(out[s], bounds[s], bounds[s + 1], (*memory)[s]);
  }
}

}  // namespace adaptis
