// profile_gpu (gpu_profiler.h): chain-profiles a model's layer units on one GPU stream, timing every pass with
// CUDA events and, when CUPTI can trace, with CUPTI activity records attributed to (unit, pass, repetition).
#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "adaptis/executor/gpu_layer_chain.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/error.h"
#include "adaptis/profiler/gpu_profiler.h"
#include "cupti_session.h"
#include "sample_stats.h"

namespace adaptis::prof {

namespace {

constexpr char kPasses[3] = {'F', 'B', 'W'};

// External correlation id of (repetition, unit, pass): never 0 (0 = untagged).
uint64_t tag_of(int rep, int unit, int pass) {
  return (uint64_t(rep + 1) << 40) | (uint64_t(unit) << 8) | uint64_t(pass + 1);
}
void untag(uint64_t id, int* rep, int* unit, int* pass) {
  *rep = int(id >> 40) - 1;
  *unit = int((id >> 8) & 0xffffffffu);
  *pass = int(id & 0xff) - 1;
}

// Tags every pass of repetition `rep` with its correlation id while `cupti` traces (no hooks without it).
exec::ChainPassHooks tagging(CuptiSession* cupti, int rep) {
  exec::ChainPassHooks h;
  if (!cupti) return h;
  h.begin = [cupti, rep](int u, exec::ChainPass p) { cupti->push(tag_of(rep, u, static_cast<int>(p))); };
  h.end = [cupti](int, exec::ChainPass) { cupti->pop(); };
  return h;
}

}  // namespace

bool cupti_available(std::string* why) {
  std::string reason;
  if (!exec::gpu_available(&reason)) {
    if (why) *why = reason;
    return false;
  }
  auto s = CuptiSession::start(&reason);
  if (!s) {
    if (why) *why = reason;
    return false;
  }
  uint64_t dropped = 0;
  s->finish(&dropped);
  if (why) why->clear();
  return true;
}

GpuProfileResult profile_gpu(const exec::NetConfig& cfg, const GpuProfileOptions& opt) {
  validate_gpu_profile_options(opt);
  exec::require_gpu("GPU profile");
  exec::validate_net_config(cfg, "profile: model " + cfg.name);
  const exec::GpuInfo g = exec::describe_gpu(opt.gpu, "GPU profile");
  const exec::LayerUnits units = exec::plan_layer_units(cfg, opt.split_blocks);
  const int U = units.count();
  if (U < 1) throw InputError("profile: the model has no layers");

  exec::GpuLayerChain chain(cfg, units, opt.precision, opt.gpu);
  const exec::DataSource data = exec::model_data(cfg);

  GpuProfileResult r;
  r.device = g.name;
  r.precision = exec::gpu_precision_name(opt.precision);
  r.repeats = opt.repeats;
  r.warmup = opt.warmup;

  // Phase 1: CUDA events only (the fallback timing, and the baseline of CUPTI's overhead).
  std::vector<std::array<std::vector<double>, 3>> ev(static_cast<size_t>(U));
  for (int rep = 0; rep < opt.warmup + opt.repeats; ++rep) {
    double total = 0;
    const auto ms = chain.iterate(data(rep, 0), {}, &total);
    if (rep < opt.warmup) continue;
    r.events_total_ms += total;
    for (int u = 0; u < U; ++u)
      for (int p = 0; p < 3; ++p) ev[u][p].push_back(ms[u][p]);
  }

  // Phase 2: the same repetitions under CUPTI.
  std::vector<RawRecord> raw;
  if (opt.timing != GpuTiming::CudaEvents) {
    std::string why;
    auto session = CuptiSession::start(&why);
    if (!session) {
      if (opt.timing == GpuTiming::Cupti) throw InputError("timing", "cupti: " + why);
      r.fallback_reason = why + "; timed with CUDA events instead";
    } else {
      for (int rep = 0; rep < opt.warmup + opt.repeats; ++rep) {
        double total = 0;
        const bool timed = rep >= opt.warmup;
        chain.iterate(data(rep, 0), tagging(timed ? session.get() : nullptr, rep - opt.warmup), &total);
        if (timed) r.cupti_total_ms += total;
      }
      raw = session->finish(&r.dropped_records);
      if (raw.empty() && r.fallback_reason.empty())
        r.fallback_reason = "CUPTI returned no activity records; timed with CUDA events instead";
    }
  }
  // Records with no pushed id cannot be attributed: taking them would give every unit 0 ms.
  const bool tagged = std::any_of(raw.begin(), raw.end(), [](const RawRecord& x) { return x.external != 0; });
  if (!raw.empty() && !tagged && r.fallback_reason.empty())
    r.fallback_reason = "CUPTI records carried no external correlation ids; timed with CUDA events instead";
  const bool use_cupti = tagged;
  r.timing = use_cupti ? "cupti" : "events";
  if (use_cupti && r.events_total_ms > 0) r.cupti_overhead = r.cupti_total_ms / r.events_total_ms - 1.0;

  // Attribute the records: per (rep, unit, pass) the span and the kernel time.
  r.units.assign(size_t(U), {});
  if (use_cupti) {
    struct Acc {
      uint64_t first = UINT64_MAX, last = 0;
      double kernel_ns = 0;
      int kernels = 0;
    };
    std::map<uint64_t, Acc> per;
    const uint64_t origin = raw.front().start;
    for (const RawRecord& rec : raw) {
      if (rec.external == 0) continue;
      int rep = 0, unit = 0, pass = 0;
      untag(rec.external, &rep, &unit, &pass);
      if (rep < 0 || unit < 0 || unit >= U || pass < 0 || pass > 2) continue;
      Acc& a = per[rec.external];
      a.first = std::min(a.first, rec.start);
      a.last = std::max(a.last, rec.end);
      if (rec.kind == RawRecord::Kernel) {
        a.kernel_ns += double(rec.end - rec.start);
        ++a.kernels;
      }
      if (opt.keep_records) {
        ActivityRecord out;
        out.kind = rec.kind == RawRecord::Kernel ? "kernel" : rec.kind == RawRecord::Memcpy ? "memcpy" : "memset";
        out.name = rec.name;
        out.unit = unit;
        out.pass = kPasses[pass];
        out.repeat = rep;
        out.start_ns = int64_t(rec.start - origin);
        out.end_ns = int64_t(rec.end - origin);
        out.bytes = rec.bytes;
        out.stream = rec.stream;
        out.correlation = rec.correlation;
        r.records.push_back(std::move(out));
      }
    }
    for (int u = 0; u < U; ++u) {
      std::array<std::vector<double>, 3> span, kern;
      std::array<int, 3> count{0, 0, 0};
      for (int rep = 0; rep < opt.repeats; ++rep)
        for (int p = 0; p < 3; ++p) {
          auto it = per.find(tag_of(rep, u, p));
          if (it == per.end()) {
            span[p].push_back(0);  // a pass with no GPU work (e.g. the embedding's B)
            kern[p].push_back(0);
            continue;
          }
          span[p].push_back(double(it->second.last - it->second.first) * 1e-6);
          kern[p].push_back(it->second.kernel_ns * 1e-6);
          count[p] = it->second.kernels;
        }
      GpuUnitStats& st = r.units[u];
      st.f_ms = median(span[0]);
      st.b_ms = median(span[1]);
      st.w_ms = median(span[2]);
      st.f_kernel_ms = median(kern[0]);
      st.b_kernel_ms = median(kern[1]);
      st.w_kernel_ms = median(kern[2]);
      st.f_kernels = count[0];
      st.b_kernels = count[1];
      st.w_kernels = count[2];
    }
  } else {
    for (int u = 0; u < U; ++u) {
      r.units[u].f_ms = median(ev[u][0]);
      r.units[u].b_ms = median(ev[u][1]);
      r.units[u].w_ms = median(ev[u][2]);
    }
  }

  r.peak_memory_bytes = chain.peak_memory_bytes();

  // The cost table, filled like the CPU profiler's.
  const double param_bytes_per = opt.precision == exec::GpuPrecision::Bf16 ? 4 + 2 : 4;  // fp32 master (+ bf16 copy)
  CostTable& t = r.costs;
  t.model = cfg.name;
  t.source = "gpu-profile:" + r.timing + ":" + g.name + ":" + r.precision;
  for (int u = 0; u < U; ++u) {
    LayerCost c;
    c.name = units.names[u];
    c.kind = units.kinds[u];
    c.recurrent = exec::unit_is_recurrent(cfg, units, u);
    c.f_ms = r.units[u].f_ms;
    c.b_ms = r.units[u].b_ms;
    c.w_ms = r.units[u].w_ms;
    c.param_bytes = double(chain.num_params(u)) * 4;
    // weights (+ bf16 shadow), gradients, AdamW m and v (fp32); per-micro-batch gradient buffers are a pipeline
    // cost of the run, not of the layer.
    c.state_bytes = double(chain.num_params(u)) * (param_bytes_per + 4 + 8);
    c.act_w_bytes = chain.saved_after_backward(u);
    c.act_b_bytes = std::max(0.0, chain.saved_after_forward(u) - chain.saved_after_backward(u));
    c.out_bytes = u + 1 < U ? double(cfg.activation_floats() * sizeof(float)) : 0.0;
    t.layers.push_back(c);
  }
  return r;
}

}  // namespace adaptis::prof
