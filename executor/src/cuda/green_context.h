#pragma once
// SM partitions of one GPU as CUDA green contexts (driver API, CUDA >= 12.4), for the virtual-device backend:
// each virtual device's host thread makes its partition's context current, so the streams, events and
// kernels it creates run on that partition's SMs only.
//
// The driver entry points are fetched at run time (cudaGetDriverEntryPointByVersion) instead of linking
// libcuda, so binaries still start on machines without a driver.
#include <string>
#include <vector>

namespace adaptis::exec::gpu {

struct SmResourceInfo {
  bool available = false;  // the driver offers green contexts on this device
  int sm_count = 0;
  int min_partition = 0;   // smallest partition the driver creates, in SMs
  int alignment = 0;       // partitions are multiples of this many SMs
  std::string why;         // when not available
};
SmResourceInfo query_sm_resource(int device);

class GreenPartitions {
 public:
  // `count` disjoint partitions of `sms_each` SMs (0 = as many as an even split allows). InputError naming
  // the reason when green contexts are unavailable or the GPU has too few SMs.
  GreenPartitions(int device, int count, int sms_each);
  ~GreenPartitions();
  GreenPartitions(const GreenPartitions&) = delete;
  GreenPartitions& operator=(const GreenPartitions&) = delete;

  int count() const { return static_cast<int>(contexts_.size()); }
  int sms(int i) const { return sms_[i]; }
  // Makes partition i's context current on the calling thread (runtime API calls then use it).
  void make_current(int i) const;

 private:
  int device_;
  std::vector<void*> contexts_;  // CUgreenCtx
  std::vector<void*> plain_;     // the CUcontext of each
  std::vector<int> sms_;
};

}  // namespace adaptis::exec::gpu
