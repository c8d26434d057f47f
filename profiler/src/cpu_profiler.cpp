#include "adaptis/profiler/cpu_profiler.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/profiler/cost_split_fit.h"
#include "sample_stats.h"
#include "shape_timing.h"

namespace adaptis::prof {

using exec::DataSource;
using exec::LayerUnits;
using exec::MicroBatchData;
using exec::NetConfig;
using exec::StageCompute;
using exec::StageFactory;
using exec::thread_cpu_ns;

namespace {

struct Timing {
  double wall_ms = 0, cpu_ms = 0;
};

template <class F>
Timing time_ms(F&& f) {
  const int64_t c0 = thread_cpu_ns();
  auto t0 = std::chrono::steady_clock::now();
  f();
  Timing t;
  t.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  t.cpu_ms = static_cast<double>(thread_cpu_ns() - c0) * 1e-6;
  return t;
}

// What a fresh stage over our layers [first, last) of `microbatches` micro-batches keeps after F of `d` as
// micro-batch 0 under `policy` (its own accounting). std::logic_error from a stage that cannot recompute.
double kept_after_forward(const NetConfig& cfg, int first, int last, int microbatches, Recompute policy,
                          const MicroBatchData& d) {
  std::vector<float> input(cfg.activation_floats(), 0.5f), output(cfg.activation_floats());
  std::unique_ptr<StageCompute> st = StageCompute::create(cfg, first, last, microbatches);
  if (policy != Recompute::None) st->set_recompute(policy, -1, {0});
  st->forward(0, d, st->is_first() ? nullptr : input.data(), st->is_last() ? nullptr : output.data());
  return static_cast<double>(st->saved_bytes(0));
}

// The buffers micro-batch 0 of a stage holds now, by address, with their bytes. Nothing for a stage that
// cannot list them (StageCompute::for_each_saved's default).
std::vector<std::pair<const void*, size_t>> held_buffers(StageCompute& s) {
  std::vector<std::pair<const void*, size_t>> out;
  auto add = [&](const auto& v) {
    if (!v.empty()) out.emplace_back(static_cast<const void*>(v.data()), v.size() * sizeof(v[0]));
  };
  s.for_each_saved(0, [&](std::vector<float>& v) { add(v); }, [&](std::vector<int32_t>& v) { add(v); });
  std::sort(out.begin(), out.end());
  return out;
}

// Of what a layer holds after its B: the bytes in buffers its F made (held from F until W) and those B made
// (the output gradients W reads: held from B until W). A buffer is F's when it is still at an address F left
// it at. When the stage cannot list its buffers, or they do not add up to what it says it holds, all of it
// counts as F's (the old, conservative reading).
struct HeldAfterBackward {
  double from_forward = 0, made_by_backward = 0;
};
HeldAfterBackward split_held_after_backward(const std::vector<std::pair<const void*, size_t>>& after_forward,
                                            StageCompute& s) {
  const auto after_backward = held_buffers(s);
  const double total = static_cast<double>(s.saved_bytes());
  HeldAfterBackward out{total, 0.0};
  size_t listed = 0, made = 0;
  for (const auto& [at, bytes] : after_backward) {
    listed += bytes;
    const auto it = std::lower_bound(after_forward.begin(), after_forward.end(), std::make_pair(at, size_t{0}));
    if (it == after_forward.end() || it->first != at) made += bytes;
  }
  if (after_backward.empty() || static_cast<double>(listed) != total) return out;
  out.made_by_backward = static_cast<double>(made);
  out.from_forward = total - out.made_by_backward;
  return out;
}

// The reference micro-batch: micro_batch rows of whole sequences of seq tokens, packed as sequences.
MicroBatchData whole_sequences(const NetConfig& cfg) {
  MicroBatchData d = exec::make_microbatch(cfg, {}, 0, 0);
  d.seq_lens.assign(size_t(cfg.micro_batch), cfg.seq);
  return d;
}

// Per row (one stage over our layers [bounds[i], bounds[i+1])), the bytes of keys and values a recomputed
// slice keeps for the reference micro-batch, measured by the stage's own accounting: F of the reference
// micro-batch's tokens (its rows as packed sequences) under full recompute keeps the stage's input and,
// when a later slice will read the micro-batch (next_slice_mb), its attention layers' keys and values as
// well; the difference of the two is those keys and values (0 for a row without attention). -1 for a row
// whose stage cannot recompute.
std::vector<double> measured_kv_bytes(const NetConfig& cfg, const std::vector<int>& bounds) {
  const MicroBatchData plain = whole_sequences(cfg);
  MicroBatchData read = plain;
  read.next_slice_mb = 1;  // a second micro-batch, the next slice, will read it
  std::vector<double> kv;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    auto kept = [&](const MicroBatchData& d) { return kept_after_forward(cfg, bounds[i], bounds[i + 1], 2, Recompute::Full, d); };
    try {
      kv.push_back(kept(read) - kept(plain));
    } catch (const std::logic_error&) {
      kv.push_back(-1);  // a stage that cannot recompute: unknown
    }
  }
  return kv;
}

// Per row, the attention scores F keeps for the reference micro-batch (its rows whole sequences of seq
// tokens), with no recompute and under selective recompute (-1 where the stage cannot recompute), measured by
// the stage's own accounting. Scores grow with the attention area (s^2 per sequence), the rest of what F
// keeps with tokens: F of the same tokens as one-token sequences (area = tokens) keeps the token part and
// tokens / area of the scores, so the difference of the two is (1 - tokens / area) of the scores.
struct ScoreBytes {
  std::vector<double> none, selective;
};
ScoreBytes measured_score_bytes(const NetConfig& cfg, const std::vector<int>& bounds) {
  ScoreBytes out;
  const double tokens = double(cfg.micro_batch) * double(cfg.seq), area = tokens * double(cfg.seq);
  if (!(area > tokens)) {  // one-token sequences: no scores to tell from tokens
    out.none.assign(bounds.size() - 1, 0.0);
    out.selective.assign(bounds.size() - 1, 0.0);
    return out;
  }
  const MicroBatchData whole = whole_sequences(cfg);
  MicroBatchData single = whole;
  single.seq_lens.assign(size_t(tokens), 1);
  auto scores = [&](int first, int last, Recompute policy) {
    const double kept_whole = kept_after_forward(cfg, first, last, 1, policy, whole);
    return std::max(0.0, (kept_whole - kept_after_forward(cfg, first, last, 1, policy, single)) / (1 - tokens / area));
  };
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    out.none.push_back(scores(bounds[i], bounds[i + 1], Recompute::None));
    try {
      out.selective.push_back(scores(bounds[i], bounds[i + 1], Recompute::Selective));
    } catch (const std::logic_error&) {
      out.selective.push_back(-1);  // a stage that cannot recompute: unknown
    }
  }
  return out;
}

}  // namespace

CostTable profile_layers(int L, const StageFactory& make, const DataSource& data, const CpuProfileOptions& opt,
                         const std::vector<std::string>& kinds, std::vector<LayerSamples>* samples_out) {
  if (L < 1) throw InputError("profile: the model has no layers");
  if (opt.repeats < 1) throw InputError("repeats", "must be >= 1, got " + std::to_string(opt.repeats));
  if (opt.warmup < 0) throw InputError("warmup", "must be >= 0, got " + std::to_string(opt.warmup));
  std::vector<std::unique_ptr<StageCompute>> layers;
  for (int l = 0; l < L; ++l) layers.push_back(make(l, l + 1, 1));
  const size_t n = layers[0]->activation_floats();
  // acts[l] = input of layer l (acts[0] unused: the first layer reads tokens); grads[l] = grad of that input.
  std::vector<std::vector<float>> acts(L + 1, std::vector<float>(n)), grads(L + 1, std::vector<float>(n));
  std::vector<LayerSamples> samples(L);
  std::vector<double> saved_f(L, 0), saved_b(L, 0), made_b(L, 0);
  std::vector<std::vector<std::pair<const void*, size_t>>> held_f(L);

  for (int rep = 0; rep < opt.warmup + opt.repeats; ++rep) {
    const bool timed = rep >= opt.warmup;
    // Vary the data with the repetition so no layer sees a cache-warm identical input every time.
    MicroBatchData d = data(rep, 0);
    for (auto& s : layers) s->zero_grad();
    for (int l = 0; l < L; ++l) {
      StageCompute& s = *layers[l];
      const float* in = l > 0 ? acts[l].data() : nullptr;
      float* out = l + 1 < L ? acts[l + 1].data() : nullptr;
      Timing t = time_ms([&] { s.forward(0, d, in, out); });
      if (timed) {
        samples[l].f_ms.push_back(t.wall_ms);
        samples[l].f_cpu_ms.push_back(t.cpu_ms);
      }
      saved_f[l] = static_cast<double>(s.saved_bytes());
      held_f[l] = held_buffers(s);
    }
    for (int l = L - 1; l >= 0; --l) {
      StageCompute& s = *layers[l];
      const float* gout = l + 1 < L ? grads[l + 1].data() : nullptr;
      float* gin = l > 0 ? grads[l].data() : nullptr;
      Timing t = time_ms([&] { s.backward_input(0, d, gout, gin); });
      if (timed) {
        samples[l].b_ms.push_back(t.wall_ms);
        samples[l].b_cpu_ms.push_back(t.cpu_ms);
      }
      const HeldAfterBackward held = split_held_after_backward(held_f[l], s);
      saved_b[l] = held.from_forward;
      made_b[l] = held.made_by_backward;
    }
    for (int l = 0; l < L; ++l) {
      Timing t = time_ms([&] { layers[l]->backward_weight(0); });
      if (timed) {
        samples[l].w_ms.push_back(t.wall_ms);
        samples[l].w_cpu_ms.push_back(t.cpu_ms);
      }
    }
    for (auto& s : layers) s->finish_backward();
  }

  // Recompute: per layer, what F keeps under selective and full recompute (the stage's own accounting) and
  // how long selective's R takes, on the same inputs and output gradients as above.
  std::vector<double> kept_sel(L, -1), kept_full(L, -1), sel_ms(L, -1);
  for (int l = 0; l < L; ++l) {
    std::unique_ptr<StageCompute> sel = make(l, l + 1, 1), full = make(l, l + 1, 1);
    try {
      sel->set_recompute(Recompute::Selective, -1);
      full->set_recompute(Recompute::Full, -1);
    } catch (const std::logic_error&) {
      continue;  // a stage that cannot recompute: the fields stay unknown
    }
    std::vector<double> r_ms;
    const float* in = l > 0 ? acts[l].data() : nullptr;
    std::vector<float> out(n), gin(n);
    const float* gout = l + 1 < L ? grads[l + 1].data() : nullptr;
    for (int rep = 0; rep < opt.warmup + opt.repeats; ++rep) {
      MicroBatchData d = data(rep, 0);
      for (StageCompute* s : {sel.get(), full.get()}) {
        s->zero_grad();
        s->forward(0, d, in, l + 1 < L ? out.data() : nullptr);
      }
      kept_sel[l] = static_cast<double>(sel->saved_bytes(0));
      kept_full[l] = static_cast<double>(full->saved_bytes(0));
      Timing t = time_ms([&] { sel->recompute(0, d); });
      if (rep >= opt.warmup) r_ms.push_back(opt.wall_clock ? t.wall_ms : t.cpu_ms);
      full->recompute(0, d);
      for (StageCompute* s : {sel.get(), full.get()}) {
        s->backward_input(0, d, gout, l > 0 ? gin.data() : nullptr);
        s->backward_weight(0);
        s->finish_backward();
      }
    }
    sel_ms[l] = median(r_ms);
  }

  CostTable table;
  table.source = "cpu-profile";
  for (int l = 0; l < L; ++l) {
    const StageCompute& s = *layers[l];
    LayerCost c;
    c.name = "layers." + std::to_string(l);
    c.kind = l < static_cast<int>(kinds.size()) ? kinds[l] : "layer";
    const LayerSamples& x = samples[l];
    c.f_ms = median(opt.wall_clock ? x.f_ms : x.f_cpu_ms);
    c.b_ms = median(opt.wall_clock ? x.b_ms : x.b_cpu_ms);
    c.w_ms = median(opt.wall_clock ? x.w_ms : x.w_cpu_ms);
    c.param_bytes = static_cast<double>(s.params().size()) * sizeof(float);
    c.state_bytes = 4 * c.param_bytes;  // weights, gradients, AdamW m and v (fp32)
    // What F made and B leaves is held until W; what B made for W is held from B until W.
    c.act_w_bytes = saved_b[l];
    c.act_b_bytes = std::max(0.0, saved_f[l] - saved_b[l]);
    c.w_grad_bytes = made_b[l];
    c.out_bytes = l + 1 < L ? static_cast<double>(n * sizeof(float)) : 0.0;
    if (kept_sel[l] >= 0) {
      c.kept_selective_bytes = kept_sel[l];
      c.recompute_selective_ms = sel_ms[l];
      c.kept_full_bytes = kept_full[l];
    }
    table.layers.push_back(c);
  }
  if (samples_out) *samples_out = std::move(samples);
  return table;
}

CostTable profile_cpu(const NetConfig& cfg, const CpuProfileOptions& opt, std::vector<LayerSamples>* samples) {
  validate_net_config(cfg, "profile: model " + cfg.name);
  const LayerUnits units = plan_layer_units(cfg, opt.split_blocks);
  // Unit i is one stage over our layers [bounds[i], bounds[i+1]), timed like the run will execute it.
  StageFactory make_unit = [cfg, bounds = units.bounds](int first, int last, int m) {
    return StageCompute::create(cfg, bounds[first], bounds[last], m);
  };
  CostTable table = profile_layers(units.count(), make_unit, model_data(cfg), opt, units.kinds, samples);
  const std::vector<double> kv = measured_kv_bytes(cfg, units.bounds);
  const ScoreBytes scores = measured_score_bytes(cfg, units.bounds);
  for (int i = 0; i < units.count(); ++i) {
    LayerCost& c = table.layers[size_t(i)];
    c.name = units.names[i];
    c.kv_bytes = kv[size_t(i)];
    c.act_score_bytes = std::min(scores.none[size_t(i)], c.act_b_bytes);
    if (c.act_score_bytes > 0 && scores.selective[size_t(i)] >= 0 && c.kept_selective_bytes >= 0)
      c.kept_selective_score_bytes = std::min({scores.selective[size_t(i)], c.act_score_bytes, c.kept_selective_bytes});
    c.recurrent = exec::unit_is_recurrent(cfg, units, i);
  }
  // The micro-batch everything above was measured on: rows of whole sequences (per-unit costs scale from it).
  table.tokens_per_microbatch = double(cfg.micro_batch) * double(cfg.seq);
  table.pairs_per_microbatch = table.tokens_per_microbatch * double(cfg.seq) / 2;
  table.model = cfg.name;
  table.source = "cpu-profile:" + exec::host_name() + (opt.wall_clock ? ":wall" : "");
  return table;
}

int split_attention_pairs(CostTable& table, const NetConfig& cfg, const CpuProfileOptions& opt) {
  validate_net_config(cfg, "profile: model " + cfg.name);
  const LayerUnits units = plan_layer_units(cfg, opt.split_blocks);
  if (table.num_layers() != units.count())
    throw InputError("profile: the cost table has " + std::to_string(table.num_layers()) + " rows but model " + cfg.name +
                     " has " + std::to_string(units.count()) + " plan layers");
  const double tokens = double(cfg.micro_batch) * double(cfg.seq);
  const double ref_pairs = double(cfg.micro_batch) * double(cfg.seq) * double(cfg.seq) / 2;
  table.tokens_per_microbatch = tokens;
  table.pairs_per_microbatch = ref_pairs;
  StageFactory make_unit = [cfg, bounds = units.bounds](int first, int last, int m) {
    return StageCompute::create(cfg, bounds[first], bounds[last], m);
  };
  const std::vector<BatchShape> shapes = split_shapes(cfg);
  if (shapes.size() < 2) return 0;  // a one-token micro-batch: nothing to tell apart
  const auto ms = time_shapes(cfg, units.count(), make_unit, shapes, opt);
  // seq 1: every shape has as many pairs per token as the reference, so pairs cannot be told from tokens.
  const bool pairs_vary = ref_pairs > tokens / 2;
  int split = 0;
  for (int i = 0; i < units.count(); ++i) {
    bool attention = false;
    for (int l = units.bounds[i]; l < units.bounds[i + 1]; ++l) attention |= cfg.layers[l] == exec::LayerType::Attention;
    LayerCost& c = table.layers[size_t(i)];
    // W is the weight GEMMs over tokens: no work of it grows with pairs, nor of a row without attention.
    const std::array<std::tuple<double*, double*, double*, bool>, 3> passes = {{
        {&c.f_ms, &c.f_fixed_ms, &c.f_pair_ms, attention},
        {&c.b_ms, &c.b_fixed_ms, &c.b_pair_ms, attention},
        {&c.w_ms, &c.w_fixed_ms, &c.w_pair_ms, false},
    }};
    for (size_t p = 0; p < passes.size(); ++p) {
      const auto& [total, fixed, pair, with_pairs] = passes[p];
      std::vector<ShapeTime> timed;
      for (size_t s = 0; s < shapes.size(); ++s) timed.push_back({shapes[s].tokens(), shapes[s].pairs(), ms[s][size_t(i)][p]});
      const CostSplit fit = fit_cost_split(timed, tokens, ref_pairs, ms[0][size_t(i)][p], with_pairs && pairs_vary);
      // The fit's proportions, applied to the table's own reference time (a separate, equally valid sample).
      const double k = fit.total() > 0 ? *total / fit.total() : 0.0;
      *fixed = fit.fixed_ms * k;
      *pair = fit.pair_ms * k;
    }
    if (attention && pairs_vary) ++split;
  }
  return split;
}

}  // namespace adaptis::prof
