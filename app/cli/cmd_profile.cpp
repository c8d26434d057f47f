// `adaptis profile`: measure every layer's F / B / W on this machine and write a cost file, so that
// `adaptis simulate --costs FILE` predicts what `adaptis run` measures.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "adaptis/profiler/cpu_profiler.h"
#include "adaptis/executor/machine_info.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/run_limits.h"
#include "adaptis/model/error.h"
#include "cli/commands.h"
#include "cli/gpu_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

struct ProfileArgs {
  std::string backend = "cpu";
  std::string model;
  std::string out;
  int repeats = 7;
  int warmup = 1;
  bool split_blocks = false;
  bool wall_clock = false;
  bool json = false;
  GpuCliOptions gpu;  // --backend cuda
};

// The one place --backend picks what measures the layers. GPU backends add their branch here.
CostTable profile_backend(const std::string& backend, const exec::NetConfig& cfg, const prof::CpuProfileOptions& opt,
                          std::vector<prof::LayerSamples>* samples) {
  if (backend == "cpu") return prof::profile_cpu(cfg, opt, samples);
  throw InputError("--backend " + backend + ": unknown (available: cpu, cuda)");
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double spread(std::vector<double> v) {  // (max - min) / median of the timed samples
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double med = v[v.size() / 2];
  return med > 0 ? (v.back() - v.front()) / med : 0;
}

int profile_command(const ProfileArgs& a) {
  if (a.model.empty()) throw InputError("--model: required");
  if (a.repeats < 1) throw InputError("--repeats: must be >= 1, got " + std::to_string(a.repeats));
  if (a.warmup < 0) throw InputError("--warmup: must be >= 0, got " + std::to_string(a.warmup));
  check_backend_precision(a.backend, a.gpu.precision);
  const exec::NetConfig cfg = exec::load_net_config(a.model);
  if (a.backend == "cpu") {
    try {  // the profiler builds the layers and runs one micro-batch through each
      exec::check_cpu_run_size(cfg, 1, 1, exec::available_memory_bytes());
    } catch (const exec::RunTooLarge& e) {
      throw InputError("--model " + a.model + ": " + e.detail);
    }
  }
  prof::CpuProfileOptions opt;
  opt.repeats = a.repeats;
  opt.warmup = a.warmup;
  opt.split_blocks = a.split_blocks;
  opt.wall_clock = a.wall_clock;
  if (a.backend == "cuda") return gpu_profile_command(a.model, cfg, a.gpu, a.repeats, a.warmup, a.split_blocks, a.out, a.json);
  std::vector<prof::LayerSamples> samples;
  const CostTable table = profile_backend(a.backend, cfg, opt, &samples);
  if (!a.out.empty()) {
    save_cost_table(table, a.out);
    const std::string out = terminal_safe(a.out);
    std::cerr << "wrote " << table.num_layers() << " layer costs (" << terminal_safe(table.source) << ") to " << out
              << "; use with `adaptis simulate --costs " << out << "` or `adaptis run --costs " << out << "`\n";
  }
  if (a.json) {
    nlohmann::json j = cost_table_json(table);
    j["machine"] = exec::machine_info();
    j["repeats"] = a.repeats;
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model " << terminal_safe(cfg.name) << " on " << a.backend << " (" << exec::machine_info().value("cpu", "?") << "), "
            << table.num_layers() << (a.split_blocks ? " executor layers" : " spec layers") << ", seq " << cfg.seq
            << " x micro-batch " << cfg.micro_batch << ", median " << (a.wall_clock ? "wall" : "thread CPU")
            << " time of " << a.repeats << " repetitions\n";
  char line[256];
  std::snprintf(line, sizeof line, "%4s  %-14s %-14s %9s %9s %9s  %7s %8s  %11s %11s\n", "#", "layer", "kind",
                "F ms", "B ms", "W ms", "spread", "wall/cpu", "params", "act->W");
  std::cout << line;
  double f = 0, b = 0, w = 0;
  for (int i = 0; i < table.num_layers(); ++i) {
    const LayerCost& l = table.layers[i];
    const prof::LayerSamples& x = samples[i];
    std::vector<double> wall, cpu;
    for (size_t k = 0; k < x.f_ms.size(); ++k) {
      wall.push_back(x.f_ms[k] + x.b_ms[k] + x.w_ms[k]);
      cpu.push_back(x.f_cpu_ms[k] + x.b_cpu_ms[k] + x.w_cpu_ms[k]);
    }
    const double ratio = median(cpu) > 0 ? median(wall) / median(cpu) : 0;
    std::snprintf(line, sizeof line, "%4d  %-14s %-14s %9.4f %9.4f %9.4f  %6.0f%% %8.2f  %11s %11s\n", i,
                  l.name.substr(0, 14).c_str(), l.kind.substr(0, 14).c_str(), l.f_ms, l.b_ms, l.w_ms,
                  spread(a.wall_clock ? wall : cpu) * 100, ratio, format_bytes(l.param_bytes).c_str(),
                  format_bytes(l.act_w_bytes).c_str());
    std::cout << terminal_safe_text(line);
    f += l.f_ms;
    b += l.b_ms;
    w += l.w_ms;
  }
  std::snprintf(line, sizeof line, "      %-29s %9.4f %9.4f %9.4f\n", "total", f, b, w);
  std::cout << line;
  std::cout << "(spread: (max - min) / median of F+B+W over the repetitions; wall/cpu: median wall over median "
               "CPU time, above 1 when other work preempted the profiler)\n";
  return 0;
}

}  // namespace

void register_profile(CLI::App& app, Runner& run) {
  auto args = std::make_shared<ProfileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Measure each layer's F/B/W time on this machine (a cost file for `simulate --costs`)");
  cmd->add_option("--backend", args->backend,
                  "What to measure on: cpu, or cuda (CUPTI kernel records, else CUDA events; see --fallback)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda"}));
  add_gpu_options(cmd, args->gpu, false);
  cmd->add_option("--model", args->model, "Model spec JSON (a tiny one, e.g. samples/models/tiny-llama.json)")
      ->required();
  cmd->add_option("--out", args->out, "Write the costs to this file (adaptis-costs/1 JSON)");
  cmd->add_option("--repeats", args->repeats, "Timed repetitions per layer (the median is kept)")
      ->capture_default_str()
      ->check(int_range(1, kMaxRepeats));
  cmd->add_option("--warmup", args->warmup, "Untimed repetitions first")
      ->capture_default_str()
      ->check(int_range(0, kMaxRepeats));
  cmd->add_flag("--split-blocks", args->split_blocks,
                "One row per executor layer (attention and MLP of a block apart) instead of per spec layer");
  cmd->add_flag("--wall-clock", args->wall_clock,
                "Costs from wall time (default: thread CPU time, robust to other load on the machine)");
  cmd->add_flag("--json", args->json, "Print the cost file JSON (with the machine) instead of the table");
  cmd->callback([args, &run] { run = [args] { return profile_command(*args); }; });
}

}  // namespace adaptis::cli
