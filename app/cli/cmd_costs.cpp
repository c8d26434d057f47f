// `adaptis costs`: per-layer costs of a model (analytical, from a model spec) or of a cost file,
// with totals and the model's heterogeneity at a glance.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>

#include "adaptis/model.h"
#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

// The whole model as one "layer": times and every memory figure summed (out_bytes is per layer
// and not summed).
LayerCost sum_of_layers(const CostTable& t) {
  LayerCost total;
  for (const LayerCost& l : t.layers) {
    total.f_ms += l.f_ms;
    total.b_ms += l.b_ms;
    total.w_ms += l.w_ms;
    total.param_bytes += l.param_bytes;
    total.state_bytes += l.state_bytes;
    total.act_b_bytes += l.act_b_bytes;
    total.act_w_bytes += l.act_w_bytes;
    total.w_grad_bytes += l.w_grad_bytes;
  }
  return total;
}

struct CostsArgs {
  std::string model;
  std::string costs;
  std::string cluster;
  int devices = 0;
  bool json = false;
  std::string save;
  std::string kernels;  // layer name or index whose kernels to list
};

double layer_ms(const LayerCost& l) { return l.f_ms + l.b_ms + l.w_ms; }

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// 6.74B, 131.1M, 4.10K.
std::string format_count(double n) {
  if (n >= 1e9) return fmt("%.2fB", n / 1e9);
  if (n >= 1e6) return fmt("%.1fM", n / 1e6);
  if (n >= 1e3) return fmt("%.1fK", n / 1e3);
  return fmt("%.0f", n);
}

std::string bytes_or_dash(double b) { return b > 0 ? format_bytes(b) : "-"; }

struct KindSummary {
  std::string kind;
  int count = 0;
  double f = 0, b = 0, w = 0;
};

std::vector<KindSummary> by_kind(const CostTable& t) {
  std::vector<KindSummary> out;
  for (const auto& l : t.layers) {
    auto it = std::find_if(out.begin(), out.end(), [&](const KindSummary& k) { return k.kind == l.kind; });
    if (it == out.end()) {
      out.push_back({l.kind});
      it = out.end() - 1;
    }
    ++it->count;
    it->f += l.f_ms;
    it->b += l.b_ms;
    it->w += l.w_ms;
  }
  return out;
}

struct Heterogeneity {
  int heaviest = 0, lightest = 0;
  double median_ms = 0;
  double total_ms = 0;
};

Heterogeneity heterogeneity(const CostTable& t) {
  Heterogeneity h;
  std::vector<double> ms;
  for (int i = 0; i < t.num_layers(); ++i) {
    double x = layer_ms(t.layers[i]);
    ms.push_back(x);
    h.total_ms += x;
    if (x > layer_ms(t.layers[h.heaviest])) h.heaviest = i;
    if (x < layer_ms(t.layers[h.lightest])) h.lightest = i;
  }
  std::sort(ms.begin(), ms.end());
  size_t n = ms.size();
  h.median_ms = n == 0 ? 0 : n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  return h;
}

nlohmann::json costs_json(const CostTable& t, const std::vector<double>& params) {
  nlohmann::json layers = nlohmann::json::array();
  const LayerCost total = sum_of_layers(t);
  for (int i = 0; i < t.num_layers(); ++i) {
    const LayerCost& l = t.layers[i];
    nlohmann::json row = {{"index", i},
                          {"name", l.name},
                          {"kind", l.kind},
                          {"f_ms", l.f_ms},
                          {"b_ms", l.b_ms},
                          {"w_ms", l.w_ms},
                          {"param_bytes", l.param_bytes},
                          {"state_bytes", l.state_bytes},
                          {"act_b_bytes", l.act_b_bytes},
                          {"act_w_bytes", l.act_w_bytes},
                          {"w_grad_bytes", l.w_grad_bytes},
                          {"out_bytes", l.out_bytes},
                          {"act_score_bytes", l.act_score_bytes}};
    if (!params.empty()) row["params"] = params[i];
    // Recompute figures, resolved (defaults for what the file does not give: model/recompute.h).
    const LayerRecompute r = layer_recompute(t, i);
    row["recompute"] = {{"kept_none_bytes", r.kept_none},
                        {"kept_selective_bytes", r.kept_selective},
                        {"recompute_selective_ms", r.selective_ms},
                        {"kept_full_bytes", r.kept_full},
                        {"kept_selective_score_bytes", r.score_selective},
                        {"given", l.kept_selective_bytes >= 0 || l.kept_full_bytes >= 0}};
    layers.push_back(row);
  }
  Heterogeneity h = heterogeneity(t);
  nlohmann::json kinds = nlohmann::json::array();
  for (const auto& k : by_kind(t))
    kinds.push_back({{"kind", k.kind},
                     {"count", k.count},
                     {"f_ms", k.f / k.count},
                     {"b_ms", k.b / k.count},
                     {"w_ms", k.w / k.count},
                     {"share", h.total_ms > 0 ? (k.f + k.b + k.w) / h.total_ms : 0.0}});
  nlohmann::json totals = {{"f_ms", total.f_ms},
                           {"b_ms", total.b_ms},
                           {"w_ms", total.w_ms},
                           {"param_bytes", total.param_bytes},
                           {"state_bytes", total.state_bytes},
                           {"act_b_bytes", total.act_b_bytes},
                           {"act_w_bytes", total.act_w_bytes},
                           {"w_grad_bytes", total.w_grad_bytes}};
  if (!params.empty()) {
    double p = 0;
    for (double x : params) p += x;
    totals["params"] = p;
  }
  nlohmann::json het = nlohmann::json::object();
  if (t.num_layers() > 0) {
    const LayerCost& hv = t.layers[h.heaviest];
    const LayerCost& lt = t.layers[h.lightest];
    het = {{"heaviest", {{"index", h.heaviest}, {"name", hv.name}, {"kind", hv.kind}, {"ms", layer_ms(hv)}}},
           {"lightest", {{"index", h.lightest}, {"name", lt.name}, {"kind", lt.kind}, {"ms", layer_ms(lt)}}},
           {"median_ms", h.median_ms},
           {"heaviest_over_median", h.median_ms > 0 ? layer_ms(hv) / h.median_ms : 0.0}};
  }
  return {{"model", t.model},     {"source", t.source}, {"microbatches", t.microbatches},
          {"layers", layers},     {"totals", totals},   {"kinds", kinds},
          {"heterogeneity", het}};
}

std::string costs_table(const CostTable& t, const std::vector<double>& params) {
  std::ostringstream os;
  char buf[320];
  std::snprintf(buf, sizeof buf, "%4s  %-14s %-16s %9s %9s %9s %9s %10s %10s %10s %10s %10s\n", "#", "layer", "kind",
                "F ms", "B ms", "W ms", params.empty() ? "weights" : "params", "state", "act->B", "act->W", "dY->W",
                "out");
  os << buf;
  const LayerCost total = sum_of_layers(t);
  double total_params = 0;
  for (int i = 0; i < t.num_layers(); ++i) {
    const LayerCost& l = t.layers[i];
    std::string p = params.empty() ? bytes_or_dash(l.param_bytes) : format_count(params[i]);
    std::snprintf(buf, sizeof buf, "%4d  %-14s %-16s %9.3f %9.3f %9.3f %9s %10s %10s %10s %10s %10s\n", i,
                  l.name.substr(0, 14).c_str(), l.kind.substr(0, 16).c_str(), l.f_ms, l.b_ms, l.w_ms, p.c_str(),
                  bytes_or_dash(l.state_bytes).c_str(), bytes_or_dash(l.act_b_bytes).c_str(),
                  bytes_or_dash(l.act_w_bytes).c_str(), bytes_or_dash(l.w_grad_bytes).c_str(),
                  bytes_or_dash(l.out_bytes).c_str());
    os << buf;
    if (!params.empty()) total_params += params[i];
  }
  std::string p = params.empty() ? bytes_or_dash(total.param_bytes) : format_count(total_params);
  std::snprintf(buf, sizeof buf, "%4s  %-14s %-16s %9.3f %9.3f %9.3f %9s %10s %10s %10s %10s\n", "", "total", "",
                total.f_ms, total.b_ms, total.w_ms, p.c_str(), bytes_or_dash(total.state_bytes).c_str(),
                bytes_or_dash(total.act_b_bytes).c_str(), bytes_or_dash(total.act_w_bytes).c_str(),
                bytes_or_dash(total.w_grad_bytes).c_str());
  os << buf;

  // What recomputation keeps, summed over the model (a stage keeps its first layer's input under full).
  double kept_none = 0, kept_sel = 0, sel_ms = 0, max_input = 0;
  for (int i = 0; i < t.num_layers(); ++i) {
    const LayerRecompute r = layer_recompute(t, i);
    kept_none += r.kept_none, kept_sel += r.kept_selective, sel_ms += r.selective_ms;
    max_input = std::max(max_input, r.kept_full);
  }
  if (kept_none > 0)
    os << "recompute, per micro-batch over the model: none keeps " << format_bytes(kept_none) << "; selective keeps "
       << format_bytes(kept_sel) << " (" << fmt("%.1f", 100.0 * (1 - kept_sel / kept_none)) << "% less) for "
       << fmt("%.3f", sel_ms) << " ms of recomputed F; full keeps a stage's input (at most "
       << format_bytes(max_input) << ") for the stage's F\n";
  Heterogeneity h = heterogeneity(t);
  if (t.num_layers() > 0) {
    const LayerCost& hv = t.layers[h.heaviest];
    const LayerCost& lt = t.layers[h.lightest];
    os << "\nheterogeneity: heaviest layer " << h.heaviest << " " << hv.name << " (" << hv.kind
       << ") F+B+W = " << fmt("%.3f", layer_ms(hv)) << " ms = "
       << fmt("%.2f", h.median_ms > 0 ? layer_ms(hv) / h.median_ms : 0.0) << "x the median layer ("
       << fmt("%.3f", h.median_ms) << " ms); lightest layer " << h.lightest << " " << lt.name << " "
       << fmt("%.3f", layer_ms(lt)) << " ms\n";
    os << "by kind (mean per layer):\n";
    for (const auto& k : by_kind(t)) {
      std::snprintf(buf, sizeof buf, "  %-16s x%-4d F %8.3f  B %8.3f  W %8.3f ms   %5.1f%% of the model's time\n",
                    k.kind.substr(0, 16).c_str(), k.count, k.f / k.count, k.b / k.count, k.w / k.count,
                    h.total_ms > 0 ? 100.0 * (k.f + k.b + k.w) / h.total_ms : 0.0);
      os << buf;
    }
  }
  return terminal_safe_text(os.str());
}

// Where each kernel of one layer's F, B and W passes spends its time, and whether it is bound by
// compute or by memory.
std::string kernels_table(const LayerSpec& layer, const ModelSpec& spec, const Device& device) {
  LayerWork work = layer_work(layer, spec);
  std::ostringstream os;
  char buf[256];
  os << "kernels of " << layer.name << " (" << layer.kind << ") on " << device.name << ":\n";
  std::snprintf(buf, sizeof buf, "  %-4s %-30s %-14s %12s %12s %9s  %s\n", "pass", "kernel", "class", "GFLOP", "MB",
                "ms", "bound");
  os << buf;
  const std::pair<const char*, const PassWork*> passes[] = {{"F", &work.f}, {"B", &work.b}, {"W", &work.w}};
  for (auto [name, pass] : passes) {
    for (const Kernel& k : pass->kernels) {
      double ms = kernel_time_ms(k, device, spec.efficiency, spec.dtype);
      Kernel no_flops = k;
      no_flops.flops = 0;
      Kernel no_bytes = k;
      no_bytes.bytes = 0;
      bool memory_bound = kernel_time_ms(no_flops, device, spec.efficiency, spec.dtype) >=
                          kernel_time_ms(no_bytes, device, spec.efficiency, spec.dtype);
      std::snprintf(buf, sizeof buf, "  %-4s %-30s %-14s %12.3f %12.3f %9.4f  %s\n", name, k.name.substr(0, 30).c_str(),
                    kernel_class_name(k.cls), k.flops / 1e9, k.bytes / 1e6, ms, memory_bound ? "memory" : "compute");
      os << buf;
    }
    std::snprintf(buf, sizeof buf, "  %-4s %-30s %-14s %12.3f %12.3f %9.4f\n", name, "total", "", pass->flops() / 1e9,
                  pass->bytes() / 1e6, pass_time_ms(*pass, device, spec.efficiency, spec.dtype));
    os << buf;
  }
  return terminal_safe_text(os.str());
}

const LayerSpec& find_layer(const ModelSpec& spec, const std::string& key) {
  for (const auto& l : spec.layers)
    if (l.name == key) return l;
  if (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos) {
    long long i = std::stoll(key.substr(0, 9));
    if (i < spec.num_layers()) return spec.layers[i];
  }
  throw InputError("--kernels: no layer named or numbered '" + key + "' (the model has " +
                   std::to_string(spec.num_layers()) + " layers, e.g. '" + spec.layers.front().name + "')");
}

}  // namespace

void register_costs(CLI::App& app, Runner& run) {
  auto args = std::make_shared<CostsArgs>();
  CLI::App* cmd = app.add_subcommand("costs", "Per-layer F/B/W times and memory of a model or a cost file");
  auto* model = cmd->add_option("--model", args->model, "Model spec JSON (analytical roofline costs)");
  auto* costs = cmd->add_option("--costs", args->costs, "Cost file to inspect (adaptis or AdaPtis-profile format)");
  model->excludes(costs);
  auto* cluster = cmd->add_option("--cluster", args->cluster, "Cluster JSON: costs are for its first device");
  auto* devices = cmd->add_option("--devices", args->devices, "N x H100-SXM when no --cluster (costs are per device)")
                      ->check(int_range(1, ProblemLimits::kDevices));
  cluster->excludes(devices);
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_option("--save", args->save, "Write the cost table (adaptis-costs/1) to FILE");
  cmd->add_option("--kernels", args->kernels, "Also list one layer's kernels (name or index; --model only)");
  cmd->callback([args, &run] {
    run = [args] {
      if (args->model.empty() && args->costs.empty()) throw InputError("costs: give --model FILE or --costs FILE");
      if (!args->costs.empty() && (!args->cluster.empty() || args->devices > 0))
        throw InputError("--cluster/--devices apply to --model only: a cost file's times are already measured");
      if (!args->costs.empty() && !args->kernels.empty())
        throw InputError("--kernels needs --model: a cost file has no kernel breakdown");
      if (args->devices < 0) throw InputError("--devices: must be at least 1");

      CostTable table;
      std::vector<double> params;
      ModelSpec spec;
      Cluster cl;
      if (!args->model.empty()) {
        cl = !args->cluster.empty() ? load_cluster(args->cluster) : make_uniform_cluster(std::max(1, args->devices));
        spec = load_model_spec(args->model);
        table = analytical_costs(spec, cl.devices.front());
        for (const auto& l : spec.layers) params.push_back(layer_work(l, spec).params);
      } else {
        table = load_cost_table(args->costs);
      }
      if (!args->save.empty()) {
        // Saved times are per speed-1.0 device, the convention every cost table follows.
        CostTable saved = table;
        if (!args->model.empty())
          for (auto& l : saved.layers) {
            l.f_ms *= cl.devices.front().speed;
            l.b_ms *= cl.devices.front().speed;
            l.w_ms *= cl.devices.front().speed;
          }
        save_cost_table(saved, args->save);
      }
      if (args->json) {
        nlohmann::json j = costs_json(table, params);
        if (!args->model.empty()) {
          j["device"] = cl.devices.front().name;
          j["seq_len"] = spec.seq_len;
          j["micro_batch_size"] = spec.micro_batch_size;
          j["dtype"] = dtype_name(spec.dtype);
        }
        std::cout << j.dump(2) << "\n";
        return 0;
      }
      std::cout << "model " << terminal_safe(table.model.empty() ? "(unnamed)" : table.model) << " ("
                << terminal_safe(table.source) << "), "
                << table.num_layers() << " layers";
      if (!args->model.empty())
        std::cout << ", seq " << spec.seq_len << " x micro-batch " << spec.micro_batch_size << ", "
                  << dtype_name(spec.dtype);
      if (table.microbatches > 0) std::cout << ", " << table.microbatches << " micro-batches per iteration";
      std::cout << "\n" << costs_table(table, params);
      if (!args->kernels.empty())
        std::cout << "\n" << kernels_table(find_layer(spec, args->kernels), spec, cl.devices.front());
      if (!args->save.empty()) std::cout << "\nsaved " << terminal_safe(args->save) << "\n";
      return 0;
    };
  });
}

}  // namespace adaptis::cli
