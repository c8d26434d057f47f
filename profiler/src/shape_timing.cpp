#include "shape_timing.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <memory>
#include <thread>

#include "adaptis/executor/microbatch_data.h"
#include "adaptis/model/error.h"
#include "sample_stats.h"

namespace adaptis::prof {

using exec::MicroBatchData;
using exec::NetConfig;
using exec::StageCompute;

double BatchShape::tokens() const {
  double t = 0;
  for (int s : seq_lens) t += s;
  return t;
}

double BatchShape::pairs() const {
  double q = 0;
  for (int s : seq_lens) q += double(s) * double(s) / 2;
  return q;
}

namespace {

BatchShape rows_of(int tokens, int seq) {  // `tokens` as sequences of seq tokens, the last one shorter
  BatchShape b;
  for (int left = tokens; left > 0; left -= seq) b.seq_lens.push_back(std::min(left, seq));
  return b;
}

BatchShape one_token_sequences(int tokens) {
  BatchShape b;
  b.seq_lens.assign(size_t(tokens), 1);
  return b;
}

}  // namespace

std::vector<BatchShape> split_shapes(const NetConfig& cfg) {
  const int ref = cfg.micro_batch * cfg.seq;
  std::vector<BatchShape> shapes = {rows_of(ref, cfg.seq), one_token_sequences(ref)};
  for (int tokens : {ref / 2, ref / 4}) {
    if (tokens < 1) continue;
    shapes.push_back(rows_of(tokens, cfg.seq));
    shapes.push_back(one_token_sequences(tokens));
  }
  std::vector<BatchShape> distinct;  // seq 1 or tiny micro-batches make some of them the same
  for (BatchShape& s : shapes)
    if (std::none_of(distinct.begin(), distinct.end(), [&](const BatchShape& d) { return d.seq_lens == s.seq_lens; }))
      distinct.push_back(std::move(s));
  return distinct;
}

MicroBatchData shaped_microbatch(const NetConfig& cfg, const BatchShape& shape, int step) {
  MicroBatchData d = exec::make_microbatch(cfg, {}, step, 0);
  const size_t n = static_cast<size_t>(shape.tokens());
  if (n < 1 || n > d.tokens.size())
    throw InputError("profile: a micro-batch shape of " + std::to_string(n) + " tokens; model " + cfg.name + " holds 1 to " +
                     std::to_string(d.tokens.size()));
  d.tokens.resize(n);
  d.targets.resize(n);
  d.seq_lens = shape.seq_lens;
  return d;
}

namespace {

std::vector<std::vector<std::array<double, 3>>> time_shapes_here(const NetConfig& cfg, int L, const exec::StageFactory& make,
                                                                 const std::vector<BatchShape>& shapes,
                                                                 const CpuProfileOptions& opt) {
  if (L < 1) throw InputError("profile: the model has no layers");
  if (opt.repeats < 1) throw InputError("repeats", "must be >= 1, got " + std::to_string(opt.repeats));
  if (opt.warmup < 0) throw InputError("warmup", "must be >= 0, got " + std::to_string(opt.warmup));
  std::vector<std::unique_ptr<StageCompute>> layers;
  // One micro-batch per shape, all in flight until finish_backward as in a run: each W allocates, zeroes and
  // fills a per-micro-batch gradient buffer of the layer's parameters that lives until then (a cost per
  // micro-batch whatever its tokens), several at once as in a run rather than one buffer reused warm.
  const int S = static_cast<int>(shapes.size());
  for (int l = 0; l < L; ++l) layers.push_back(make(l, l + 1, S));
  const size_t n = layers[0]->activation_floats();
  std::vector<std::vector<float>> acts(size_t(L) + 1, std::vector<float>(n)), grads(size_t(L) + 1, std::vector<float>(n));
  // samples[shape][layer][pass] = the timed repetitions
  using Passes = std::array<std::vector<double>, 3>;
  std::vector<std::vector<Passes>> samples(static_cast<size_t>(S), std::vector<Passes>(static_cast<size_t>(L)));

  auto time_ms = [&](auto&& f) {
    const int64_t c0 = exec::thread_cpu_ns();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    if (opt.wall_clock) return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(exec::thread_cpu_ns() - c0) * 1e-6;
  };
  for (int rep = 0; rep < opt.warmup + opt.repeats; ++rep) {
    const bool timed = rep >= opt.warmup;
    for (auto& layer : layers) layer->zero_grad();
    for (int k = 0; k < S; ++k) {
      const int s = (k + rep) % S;
      const MicroBatchData d = shaped_microbatch(cfg, shapes[size_t(s)], rep);
      auto& at = samples[size_t(s)];
      for (int l = 0; l < L; ++l) {
        const float* in = l > 0 ? acts[size_t(l)].data() : nullptr;
        float* out = l + 1 < L ? acts[size_t(l) + 1].data() : nullptr;
        const double ms = time_ms([&] { layers[size_t(l)]->forward(s, d, in, out); });
        if (timed) at[size_t(l)][0].push_back(ms);
      }
      for (int l = L - 1; l >= 0; --l) {
        const float* gout = l + 1 < L ? grads[size_t(l) + 1].data() : nullptr;
        float* gin = l > 0 ? grads[size_t(l)].data() : nullptr;
        const double ms = time_ms([&] { layers[size_t(l)]->backward_input(s, d, gout, gin); });
        if (timed) at[size_t(l)][1].push_back(ms);
      }
      for (int l = 0; l < L; ++l) {
        const double ms = time_ms([&] { layers[size_t(l)]->backward_weight(s); });
        if (timed) at[size_t(l)][2].push_back(ms);
      }
    }
    for (auto& layer : layers) layer->finish_backward();
  }
  std::vector<std::vector<std::array<double, 3>>> out(static_cast<size_t>(S), std::vector<std::array<double, 3>>(static_cast<size_t>(L)));
  for (size_t s = 0; s < size_t(S); ++s)
    for (size_t l = 0; l < size_t(L); ++l)
      for (size_t p = 0; p < 3; ++p) out[s][l][p] = median(samples[s][l][p]);
  return out;
}

}  // namespace

std::vector<std::vector<std::array<double, 3>>> time_shapes(const NetConfig& cfg, int L, const exec::StageFactory& make,
                                                            const std::vector<BatchShape>& shapes,
                                                            const CpuProfileOptions& opt) {
  // On a thread of its own, as each device of a run computes on its own thread: the per-micro-batch
  // buffers above come from that thread's malloc arena, as a device's do, not from the calling thread's.
  // (On tiny-llama the fixed parts came out 0.2-0.7 ms per micro-batch timed on the calling thread and
  // 0.13-0.54 ms on its own, within the noise of a loaded 2-core machine; so did they with the heap never
  // trimmed, which takes the page faults of the zeroing, about 740 per repetition, down to about 150.)
  std::vector<std::vector<std::array<double, 3>>> out;
  std::exception_ptr error;
  std::thread worker([&] {
    try {
      out = time_shapes_here(cfg, L, make, shapes, opt);
    } catch (...) {
      error = std::current_exception();
    }
  });
  worker.join();
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace adaptis::prof
