#pragma once
// The GPU side of `adaptis run` and `adaptis profile`: the --backend cuda / nccl options, the options the GPU
// runtimes and profiler take, and `adaptis profile --backend cuda` itself (GPU profile -> cost file + profile
// database, or the analytical model with a clear note when no GPU is usable).
#include <CLI/CLI.hpp>
#include <ostream>
#include <string>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/cost_table.h"

namespace adaptis::cli {

struct GpuCliOptions {
  std::string precision = "fp32";
  int gpu = 0;
  bool green_contexts = false;
  int sms_per_device = 0;
  std::string gpus;            // nccl: "0,1,2,3"
  std::string timing = "auto";  // profile: auto, cupti, events
  std::string profile_db;       // profile: the SQLite profile store
  bool no_store = false;
  std::string fallback = "analytical";  // profile without a usable GPU: analytical (say so) or none (error)
};

bool is_gpu_backend(const std::string& backend);  // "cuda" or "nccl"

// --precision for --backend: InputError for an unknown precision or one the backend does not compute in
// (cpu: fp32 only; cuda and nccl: fp32 or bf16).
void check_backend_precision(const std::string& backend, const std::string& precision);

// Registers --precision, --gpu and (run) --virtual-devices (an alias of --devices for the cuda backend),
// --green-contexts, --sms-per-device, --gpus, or (profile) --timing, --profile-db, --no-store, --fallback.
void add_gpu_options(CLI::App* cmd, GpuCliOptions& o, bool for_run, int* devices = nullptr);

exec::GpuRunOptions gpu_run_options(const GpuCliOptions& o, const std::string& backend, float lr, double watchdog_ms);

// Costs for `adaptis run`'s prediction on a GPU backend: a quick GPU profile (CUDA events), or the CPU profile
// with a note on `note` when no GPU is usable (the run itself will then refuse).
CostTable gpu_prediction_costs(const exec::NetConfig& cfg, const GpuCliOptions& o, bool split_blocks, int repeats,
                               std::ostream& note);

// `adaptis profile --backend cuda`: returns the exit code. Without a usable GPU it fails with the reason, or with
// --fallback analytical writes the analytical model's costs for an H100 instead and says so.
int gpu_profile_command(const std::string& model_path, const exec::NetConfig& cfg, const GpuCliOptions& o,
                        int repeats, int warmup, bool split_blocks, const std::string& out, bool json);

}  // namespace adaptis::cli
