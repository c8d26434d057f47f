#pragma once
// The analytical cost model: per-layer F / B / W times from FLOPs and bytes over a device's
// roofline, and the static and activation memory of each layer.
//
// Time of one kernel on a device (KernelEfficiency documents the constants):
//   max(flops / (peak_tflops * efficiency[class]), bytes / (hbm_bandwidth * efficiency.hbm))
//   + efficiency.launch_overhead_us
// A pass (F, B or W) is its kernels run back to back. fp32 models run their GEMMs as TF32 at half
// the bf16 tensor-core peak.
//
// Static memory per parameter (state_bytes), mixed precision with Adam, as in Megatron with fp32
// gradient accumulation: bf16 weights 2 + fp32 grads 4 + fp32 master weights 4 + Adam m and v 8
// = 18 bytes; fp32 training: 4 + 4 + 8 = 16. With "distributed_optimizer" the master weights and
// moments (12 or 8 bytes) are divided by data_parallel.
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/layer_work.h"
#include "adaptis/model/model_spec.h"

namespace adaptis {

double kernel_time_ms(const Kernel& k, const Device& device, const KernelEfficiency& eff, DType dtype);
double pass_time_ms(const PassWork& pass, const Device& device, const KernelEfficiency& eff, DType dtype);

// The efficiencies `model` runs at on `cluster`: the cluster's own constants when its file gives
// them, with the model spec's "efficiency" fields over them; else the model's.
KernelEfficiency machine_efficiency(const ModelSpec& model, const Cluster& cluster);

// Static bytes per parameter for `model` (see above).
double state_bytes_per_param(const ModelSpec& model);

// One layer's costs on `device`.
LayerCost layer_cost(const LayerSpec& layer, const ModelSpec& model, const Device& device);

// Every layer's costs on `reference` (times on that device); model = spec name,
// source = "analytical:<device name>", microbatches = spec.microbatches().
CostTable analytical_costs(const ModelSpec& model, const Device& reference);

}  // namespace adaptis
