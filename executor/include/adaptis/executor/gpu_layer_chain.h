#pragma once
// What a GPU profiler needs from the executor, in plain C++ (this header compiles without CUDA; every entry
// point then throws InputError "this adaptis was built without CUDA", like gpu.h's): a model's layer units as
// a chain of one-micro-batch GPU stages on one stream, one training iteration per call, each pass timed with
// CUDA events.
//
// iterate() runs F of every unit in order (each fed the previous unit's real output), then B in reverse order
// (each fed the next unit's real input gradient), then W, then finish_backward. `hooks.begin(unit, pass)` and
// `hooks.end(unit, pass)` run on the calling thread just before and just after a pass is enqueued: a profiler
// pushes and pops CUPTI external correlation ids there, so the kernels a pass launches are attributed to it.
// A unit's token upload happens outside its hooks.
#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/microbatch_data.h"
#include "adaptis/executor/net_config.h"

namespace adaptis::exec {

// The passes of one layer unit, in the order of ChainPassTimes.
enum class ChainPass : int { F = 0, B = 1, W = 2 };
using ChainPassTimes = std::array<double, 3>;  // F, B, W in ms

struct ChainPassHooks {
  std::function<void(int unit, ChainPass pass)> begin, end;
};

class GpuLayerChain {
 public:
  // One stage per unit of `units` over `cfg`'s layers on CUDA device `gpu`, on a stream of its own. Keeps the
  // device's stream-ordered memory pool between iterations and resets its high-water mark, so
  // peak_memory_bytes() covers this chain only. InputError: no GPU, bad config, built without CUDA.
  GpuLayerChain(const NetConfig& cfg, const LayerUnits& units, GpuPrecision precision, int gpu);
  ~GpuLayerChain();
  GpuLayerChain(const GpuLayerChain&) = delete;
  GpuLayerChain& operator=(const GpuLayerChain&) = delete;

  int num_units() const;
  // One training iteration on micro-batch `data` (synchronises the stream at the end): per unit its F, B and W
  // times by CUDA events, and the whole iteration's in *total_ms.
  std::vector<ChainPassTimes> iterate(const MicroBatchData& data, const ChainPassHooks& hooks, double* total_ms);

  // Per unit: parameter count, and the bytes it kept saved after its F and after its B in the last iteration.
  size_t num_params(int unit) const;
  double saved_after_forward(int unit) const;
  double saved_after_backward(int unit) const;
  // The device memory the chain held at most: the memory pool's high-water mark plus the cuBLAS workspace.
  size_t peak_memory_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace adaptis::exec
