#pragma once
// A CUDA event created on the current thread's context and destroyed with its owner.
#include <cuda_runtime.h>

#include "cuda/cuda_check.h"

namespace adaptis::exec::gpu {

class Event {
 public:
  explicit Event(bool timing = true) {
    ADAPTIS_CUDA_CHECK(cudaEventCreateWithFlags(&ev_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  ~Event() {
    if (ev_) cudaEventDestroy(ev_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return ev_; }
  void record(cudaStream_t s) const { ADAPTIS_CUDA_CHECK(cudaEventRecord(ev_, s)); }

 private:
  cudaEvent_t ev_ = nullptr;
};

}  // namespace adaptis::exec::gpu
