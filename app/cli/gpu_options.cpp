// GPU options of `adaptis run` / `adaptis profile` and the GPU profile command (gpu_options.h).
#include "cli/gpu_options.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "adaptis/executor/run_limits.h"
#include "adaptis/profiler/cpu_profiler.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/profiler/gpu_profiler.h"
#include "adaptis/profiler/profile_store.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {

std::vector<int> parse_gpu_list(const std::string& text) {
  std::vector<int> out;
  if (text.empty()) return out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stoi(item, &used));
      if (used != item.size() || out.back() < 0 || out.back() > kMaxGpuIndex) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InputError("--gpus: '" + item + "' is not a GPU index in [0, " + std::to_string(kMaxGpuIndex) +
                       "] (expected e.g. 0,1,2,3)");
    }
    if (out.size() > static_cast<size_t>(exec::CpuRunLimits::kMaxDevices))
      throw InputError("--gpus: more than " + std::to_string(exec::CpuRunLimits::kMaxDevices) + " GPUs");
  }
  return out;
}

std::string command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), out;
  for (char c : raw) out += c == '\0' ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "adaptis profile" : out;
}

}  // namespace

bool is_gpu_backend(const std::string& backend) { return backend == "cuda" || backend == "nccl"; }

void check_backend_precision(const std::string& backend, const std::string& precision) {
  const exec::GpuPrecision p = exec::parse_gpu_precision(precision, "--precision");
  if (!is_gpu_backend(backend) && p != exec::GpuPrecision::Fp32)
    throw InputError("--precision " + precision + ": the " + backend +
                     " backend computes in fp32 only (--backend cuda and nccl: fp32 or bf16)");
}

void add_gpu_options(CLI::App* cmd, GpuCliOptions& o, bool for_run, int* devices) {
  cmd->add_option("--precision", o.precision,
                  "fp32, or on the GPU backends bf16 (bf16 GEMM operands, fp32 accumulation); the cpu backend is "
                  "fp32 only")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              exec::parse_gpu_precision(text, "precision");
              return {};
            } catch (const InputError&) {
              return "unknown precision '" + text + "' (cpu: fp32; cuda and nccl: fp32 or bf16)";
            }
          },
          "fp32|bf16"));
  cmd->add_option("--gpu", o.gpu, "GPU backends: the CUDA device (cuda: the GPU all virtual devices share)")
      ->capture_default_str()
      ->check(int_range(0, kMaxGpuIndex));
  if (for_run) {
    if (devices)
      cmd->add_option_function<int>(
             "--virtual-devices", [devices](const int& n) { *devices = n; },
             "--backend cuda: pipeline devices on the one GPU (same as --devices)")
          ->check(int_range(1, exec::CpuRunLimits::kMaxDevices));
    cmd->add_flag("--green-contexts", o.green_contexts,
                  "--backend cuda: give each virtual device its own SM partition (CUDA green contexts)");
    cmd->add_option("--sms-per-device", o.sms_per_device,
                    "--backend cuda --green-contexts: SMs per virtual device (0 = an even split)")
        ->check(int_range(0, kMaxSmsPerDevice));
    cmd->add_option("--gpus", o.gpus, "--backend nccl: GPU of each rank, e.g. 0,1,2,3 (default: rank d on GPU d)");
  } else {
    cmd->add_option("--timing", o.timing, "--backend cuda: auto (CUPTI, else CUDA events), cupti, or events")
        ->capture_default_str()
        ->check(CLI::IsMember({"auto", "cupti", "events"}));
    cmd->add_option("--profile-db", o.profile_db,
                    "--backend cuda: profile database (default $XDG_DATA_HOME/adaptis/profiles.db)");
    cmd->add_flag("--no-store", o.no_store, "--backend cuda: do not record the profile in the database");
    cmd->add_option("--fallback", o.fallback,
                    "--backend cuda without a usable GPU: analytical (the analytical model's costs for an H100, "
                    "labelled as such, with a warning) or none (fail with the reason)")
        ->check(CLI::IsMember({"none", "analytical"}))
        ->capture_default_str();
  }
}

exec::GpuRunOptions gpu_run_options(const GpuCliOptions& o, const std::string& backend, float lr, double watchdog_ms) {
  exec::GpuRunOptions g;
  g.backend = backend == "nccl" ? exec::GpuBackend::Nccl : exec::GpuBackend::VirtualDevices;
  g.precision = exec::parse_gpu_precision(o.precision);
  g.gpu = o.gpu;
  g.green_contexts = o.green_contexts;
  g.sms_per_device = o.sms_per_device;
  g.gpus = parse_gpu_list(o.gpus);
  g.optimizer.lr = lr;
  // The CPU default watchdog is tuned for CPU threads; a GPU step can include module loading on its first run.
  g.watchdog_ms = std::max(watchdog_ms, 60000.0);
  return g;
}

CostTable gpu_prediction_costs(const exec::NetConfig& cfg, const GpuCliOptions& o, bool split_blocks, int repeats,
                               std::ostream& note) {
  std::string why;
  if (!exec::gpu_available(&why)) {
    note << "note: " << why << "; predicting from a CPU profile\n";
    prof::CpuProfileOptions po;
    po.repeats = repeats;
    po.split_blocks = split_blocks;
    return prof::profile_cpu(cfg, po);
  }
  prof::GpuProfileOptions po;
  po.precision = exec::parse_gpu_precision(o.precision);
  po.gpu = o.gpu;
  po.repeats = repeats;
  po.timing = prof::GpuTiming::CudaEvents;  // the run's own timeline comes from events too
  po.split_blocks = split_blocks;
  po.keep_records = false;
  return prof::profile_gpu(cfg, po).costs;
}

int gpu_profile_command(const std::string& model_path, const exec::NetConfig& cfg, const GpuCliOptions& o,
                        int repeats, int warmup, bool split_blocks, const std::string& out, bool json) {
  prof::GpuProfileOptions po;
  po.precision = exec::parse_gpu_precision(o.precision);
  po.gpu = o.gpu;
  po.repeats = repeats;
  po.warmup = warmup;
  po.timing = prof::parse_gpu_timing(o.timing);
  po.split_blocks = split_blocks;
  prof::validate_gpu_profile_options(po);

  std::string why;
  if (!exec::gpu_available(&why)) {
    if (o.fallback != "analytical")
      throw InputError("--backend cuda: " + why + " (without --fallback none, the analytical model's costs for an " +
                       Device{}.name + " are written instead)");
    // No GPU: the analytical model for an H100 stands in, and says so.
    const ModelSpec spec = load_model_spec(model_path);
    CostTable table = analytical_costs(spec, Device{});
    std::cerr << "warning: GPU profile unavailable (" << why << "); using the analytical model for "
              << Device{}.name << " instead (source " << table.source << ")\n";
    if (!out.empty()) {
      save_cost_table(table, out);
      std::cerr << "wrote " << table.num_layers() << " analytical layer costs to " << terminal_safe(out) << "\n";
    }
    if (json) {
      nlohmann::json j = cost_table_json(table);
      j["fallback"] = why;
      std::cout << j.dump(2) << "\n";
    } else {
      std::cout << "analytical costs of " << terminal_safe(spec.name) << " on " << Device{}.name << ": " << table.num_layers()
                << " layers (no GPU measurement)\n";
    }
    return 0;
  }

  const prof::GpuProfileResult r = prof::profile_gpu(cfg, po);
  int64_t id = 0;
  std::string db;
  if (!o.no_store) {
    db = o.profile_db.empty() ? prof::default_profile_db_path() : o.profile_db;
    prof::ProfileStore store(db);
    id = store.save(r, command_line());
  }
  if (!out.empty()) {
    save_cost_table(r.costs, out);
    std::cerr << "wrote " << r.costs.num_layers() << " layer costs (" << terminal_safe(r.costs.source) << ") to "
              << terminal_safe(out) << "\n";
  }
  if (!r.fallback_reason.empty()) std::cerr << "note: CUPTI not used: " << r.fallback_reason << "\n";
  if (json) {
    nlohmann::json j = cost_table_json(r.costs);
    j["device"] = r.device;
    j["timing"] = r.timing;
    j["fallback_reason"] = r.fallback_reason;
    j["precision"] = r.precision;
    j["repeats"] = r.repeats;
    j["peak_memory_bytes"] = r.peak_memory_bytes;
    j["events_total_ms"] = r.events_total_ms;
    j["cupti_total_ms"] = r.cupti_total_ms;
    j["cupti_overhead"] = r.cupti_overhead;
    j["records"] = r.records.size();
    j["dropped_records"] = r.dropped_records;
    j["profile_id"] = id > 0 ? nlohmann::json(id) : nlohmann::json(nullptr);
    j["profile_db"] = db.empty() ? nlohmann::json(nullptr) : nlohmann::json(db);
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "model " << terminal_safe(cfg.name) << " on " << r.device << " (" << r.precision << "), timing " << r.timing
            << ", median of " << r.repeats << " repetitions\n";
  char line[256];
  std::snprintf(line, sizeof line, "%4s  %-14s %-12s %9s %9s %9s  %9s %9s %9s  %11s\n", "#", "layer", "kind", "F ms",
                "B ms", "W ms", "F kern", "B kern", "W kern", "act->W");
  std::cout << line;
  for (int i = 0; i < r.costs.num_layers(); ++i) {
    const LayerCost& l = r.costs.layers[i];
    const prof::GpuUnitStats& s = r.units[i];
    std::snprintf(line, sizeof line, "%4d  %-14s %-12s %9.4f %9.4f %9.4f  %9.4f %9.4f %9.4f  %11s\n", i,
                  l.name.substr(0, 14).c_str(), l.kind.substr(0, 12).c_str(), l.f_ms, l.b_ms, l.w_ms, s.f_kernel_ms,
                  s.b_kernel_ms, s.w_kernel_ms, format_bytes(l.act_w_bytes).c_str());
    std::cout << terminal_safe_text(line);
  }
  std::cout << "(F/B/W: GPU span of the pass; kern: summed kernel time" << (r.timing == "cupti" ? "" : ", CUPTI only")
            << ")\n";
  std::cout << "peak GPU memory " << format_bytes(double(r.peak_memory_bytes));
  if (r.timing == "cupti")
    std::cout << ", " << r.records.size() << " CUPTI records (" << r.dropped_records << " dropped), CUPTI overhead "
              << std::showpos << std::fixed << std::setprecision(1) << r.cupti_overhead * 100 << std::noshowpos
              << "% on the timed repetitions";
  std::cout << "\n";
  if (id > 0) std::cout << "recorded as profile " << id << " in " << terminal_safe(db) << "\n";
  return 0;
}

}  // namespace adaptis::cli
