#include "adaptis/executor/cpu_profiler.h"

#include <algorithm>
#include <chrono>

#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

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

double packed_pairs_of(const WorkUnit& u) { return u.pairs(); }

}  // namespace

CostTable profile_layers(int L, const StageFactory& make, const DataSource& data, const CpuProfileOptions& opt,
                         const std::vector<std::string>& kinds, std::vector<LayerSamples>* samples_out) {
  if (L < 1) throw InputError("profile: the model has no layers");
  if (opt.repeats < 1) throw InputError("--repeats: must be >= 1, got " + std::to_string(opt.repeats));
  if (opt.warmup < 0) throw InputError("--warmup: must be >= 0, got " + std::to_string(opt.warmup));
  std::vector<std::unique_ptr<StageCompute>> layers;
  for (int l = 0; l < L; ++l) layers.push_back(make(l, l + 1, 1));
  const size_t n = layers[0]->activation_floats();
  // acts[l] = input of layer l (acts[0] unused: the first layer reads tokens); grads[l] = grad of that input.
  std::vector<std::vector<float>> acts(L + 1, std::vector<float>(n)), grads(L + 1, std::vector<float>(n));
  std::vector<LayerSamples> samples(L);
  std::vector<double> saved_f(L, 0), saved_b(L, 0);

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
      saved_b[l] = static_cast<double>(s.saved_bytes());
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
    c.act_w_bytes = saved_b[l];         // what survives B is held until W
    c.act_b_bytes = std::max(0.0, saved_f[l] - saved_b[l]);
    c.out_bytes = l + 1 < L ? static_cast<double>(n * sizeof(float)) : 0.0;
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
  for (int i = 0; i < units.count(); ++i) table.layers[i].name = units.names[i];
  table.model = cfg.name;
  table.source = "cpu-profile:" + host_name() + (opt.wall_clock ? ":wall" : "");
  return table;
}

CostTable profile_cpu_units(const NetConfig& cfg, const CpuProfileOptions& opt) {
  validate_net_config(cfg, "profile: model " + cfg.name);
  const long long T = static_cast<long long>(cfg.micro_batch) * cfg.seq;
  if (T < 8) throw InputError("profile: model " + cfg.name + " has fewer than 8 tokens per micro-batch; too few to split");
  WorkUnit whole, packed;
  whole.docs = {T};
  for (int k = 0; k < 4; ++k) packed.docs.push_back(k < 3 ? T / 4 : T - 3 * (T / 4));
  const UnitLayout one = unit_layout({whole}), four = unit_layout({packed});
  const NetConfig ucfg = unit_net_config(cfg, one);
  const LayerUnits units = plan_layer_units(cfg, opt.split_blocks);
  StageFactory make_unit = [ucfg, bounds = units.bounds](int first, int last, int m) {
    return StageCompute::create(ucfg, bounds[first], bounds[last], m);
  };
  CostTable a = profile_layers(units.count(), make_unit, unit_data(ucfg, one), opt, units.kinds);
  CostTable b = profile_layers(units.count(), make_unit, unit_data(ucfg, four), opt, units.kinds);
  const double qa = packed_pairs_of(whole), qb = packed_pairs_of(packed);
  for (int i = 0; i < units.count(); ++i) {
    LayerCost& c = a.layers[i];
    const LayerCost& q = b.layers[i];
    auto pair_part = [&](double ta, double tb) { return std::clamp((ta - tb) / (qa - qb) * qa, 0.0, ta); };
    c.f_pair_ms = pair_part(c.f_ms, q.f_ms);
    c.b_pair_ms = pair_part(c.b_ms, q.b_ms);
    c.w_pair_ms = pair_part(c.w_ms, q.w_ms);
    c.name = units.names[i];
  }
  a.ref_tokens = double(T);
  a.ref_pairs = qa;
  a.model = cfg.name;
  a.source = "cpu-profile:" + host_name() + (opt.wall_clock ? ":wall" : "") + ":pairs";
  return a;
}

Cluster cpu_thread_cluster(int devices) {
  if (devices < 1) throw InputError("--devices: must be >= 1, got " + std::to_string(devices));
  Cluster c;
  c.name = "cpu-threads";
  const nlohmann::json m = machine_info();
  const double memory = m.contains("memory_bytes") ? m["memory_bytes"].get<double>() : 0.0;
  for (int d = 0; d < devices; ++d) {
    Device dev;
    dev.name = "cpu-thread";
    dev.peak_tflops = 0.05;  // unused: the profile's times are already this machine's
    dev.speed = 1.0;
    // Threads share the machine's memory; give each an equal share so OOM flags mean something.
    dev.hbm_bytes = memory > 0 ? memory / devices : 8.0 * (1ull << 30);
    dev.hbm_bandwidth = 10e9;
    dev.node = 0;
    c.devices.push_back(dev);
  }
  // A mailbox hand-over: a lock, a condition-variable wake-up and a memcpy.
  c.intra_node = Link{0.01, 5e9};
  c.inter_node = c.intra_node;
  return c;
}

SimOptions cpu_sim_options() {
  SimOptions o;
  o.overlap_comm = false;
  return o;
}

}  // namespace adaptis::exec
