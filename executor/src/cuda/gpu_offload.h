#pragma once
// Activation offload on a GPU (the CUDA twin of host_offload.h): one copy stream per direction (PCIe is full
// duplex) and pinned host memory, all stream-ordered so nothing blocks the host thread. OFFLOAD makes the
// device-to-host stream wait for the compute stream's point after F, copies the (stage, mb)'s chosen buffers
// into pinned host blocks and frees the device buffers on that stream once copied; RELOAD makes the
// host-to-device stream wait for both that offload and the compute stream's current point, re-allocates the
// buffers and copies them back; WAIT_RELOAD makes the compute stream wait for the reload. Pinned blocks are
// returned at the end of the step.
#include <cuda_runtime.h>

#include <map>
#include <utility>
#include <vector>

#include "cuda/cuda_check.h"

namespace adaptis::exec::gpu {

class GpuHostOffload {
 public:
  explicit GpuHostOffload(cudaStream_t compute);
  ~GpuHostOffload();
  GpuHostOffload(const GpuHostOffload&) = delete;
  GpuHostOffload& operator=(const GpuHostOffload&) = delete;

  void offload(int stage, int mb, std::vector<DeviceBuffer<float>*> bufs);
  void reload(int stage, int mb);
  void wait_reload(int stage, int mb);
  // Waits for both copy streams and returns the pinned blocks.
  void end_step();

 private:
  struct Entry {
    std::vector<DeviceBuffer<float>*> bufs;
    std::vector<float*> host;     // pinned, one per buffer
    std::vector<size_t> counts;   // floats per buffer
    cudaEvent_t offloaded = nullptr, reloaded = nullptr;
  };
  Entry& entry(int stage, int mb, const char* what);
  cudaStream_t compute_, to_host_ = nullptr, to_device_ = nullptr;
  std::map<std::pair<int, int>, Entry> entries_;
};

}  // namespace adaptis::exec::gpu
