#pragma once
// Pieces both GPU runtimes share: running a function on one fresh host thread per device, the start gate
// that lines up all devices' timelines, and the entry points of the NCCL backend that GpuPipelineRuntime uses
// when its ranks are threads of this process.
#include <cuda_runtime.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "adaptis/executor/gpu.h"

namespace adaptis::exec::gpu {

// Runs fn(d) for every d in [0, D) on its own new thread and joins them; `while_running` (optional) runs on
// the calling thread meanwhile. Returns "" or one "\n  device d: <what>" line per failed device.
std::string on_each_device(int D, const std::function<void(int)>& fn, const std::function<void()>& while_running = {});
// Runs fn on a new thread (so it can make another context current) and rethrows what it threw.
void on_thread(const std::function<void()>& fn);

// Holds a stream at a host function until it is opened.
class StartGate {
 public:
  StartGate() = default;
  ~StartGate();
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;
  void enqueue(cudaStream_t s);  // the held host function, on s
  void open();                   // lets the stream go on
  void finish();                 // opens and waits until the held stream is past the gate

 private:
  static void CUDART_CB hold(void* self);
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  cudaStream_t stream_ = nullptr;
};

// Stream-ordered frees keep their memory in the device's pool instead of returning it at every sync.
void keep_pool_memory(int gpu);

// NCCL backend, ranks as threads of this process (nccl_runtime.cpp).
std::vector<std::unique_ptr<NcclPipelineRank>> start_nccl_ranks(const Program& program, const NetConfig& cfg,
                                                                 const GpuRunOptions& opt);
StepResult run_nccl_ranks_step(std::vector<std::unique_ptr<NcclPipelineRank>>& ranks, int step,
                               const DataSource& data);
std::vector<NamedTensor> nccl_ranks_tensors(const std::vector<std::unique_ptr<NcclPipelineRank>>& ranks, bool grads,
                                            std::vector<std::vector<float>>& host);

}  // namespace adaptis::exec::gpu
