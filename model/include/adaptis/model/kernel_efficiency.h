#pragma once
// What fraction of a device's datasheet peak each class of kernel reaches in practice. The
// analytical cost model (cost_model.h) times every kernel as
//   max(flops / (peak_tflops * efficiency), bytes / (hbm_bandwidth * hbm)) + launch_overhead
// and these constants are its only tuning knobs. A cluster file may set them for its machine and a
// model spec may override any of them under "efficiency" (same names), e.g. after calibrating
// against a profile.
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace adaptis {

struct KernelEfficiency {
  // Large bf16 GEMMs (cuBLAS/cuBLASLt on H100 reach ~650-750 of 989 TFLOP/s). 0.70 reproduces the
  // weight-gradient (pure GEMM) times of the AdaPtis authors' nemotron-nano-v2-9B profile within ~5%.
  double gemm = 0.70;
  // MoE expert GEMMs: grouped GEMMs over small per-expert token slices lose tile efficiency.
  double grouped_gemm = 0.50;
  // Flash attention, causal, head dim 128 (FlashAttention-2 on H100 reaches ~350 TFLOP/s forward,
  // ~300 backward; FlashAttention-3 more). Backward also does 2.5x the forward's FLOPs.
  double attention_fwd = 0.40;
  double attention_bwd = 0.30;
  // Selective-scan / SSD kernels are latency- and memory-bound far from the tensor-core roofline:
  // calibrated so the non-GEMM part of a Mamba-2 layer in the authors' nemotron-nano-v2-9B
  // profile (~0.9 ms forward, ~2.5 ms backward at seq 4096) is reproduced.
  double scan_fwd = 0.05;
  double scan_bwd = 0.04;
  // Streaming elementwise kernels (norms, activations, rotary, softmax, permutes) reach ~80% of
  // the HBM bandwidth.
  double hbm = 0.80;
  // Fixed cost per kernel launch (microseconds): what keeps tiny layers from costing nothing.
  double launch_overhead_us = 4.0;
  // GEMMs lose efficiency as their smallest dimension shrinks (tile and wave quantisation): a GEMM
  // whose smallest dimension is x runs at x / (x + gemm_shape_knee) of the large-GEMM rate. Used
  // relative to the unsharded GEMM when tensor/context parallelism splits it (parallel_costs.h),
  // so a run without them keeps the times above.
  double gemm_shape_knee = 128;
};

// Reads an "efficiency" object over `base`: only the fields given change. InputError names
// `where` and the field for unknown names or values out of range.
KernelEfficiency parse_kernel_efficiency(const nlohmann::json& j, const std::string& where, KernelEfficiency base = {});

}  // namespace adaptis
