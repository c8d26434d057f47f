// Green contexts through driver entry points looked up at run time (see green_context.h).
#include "cuda/green_context.h"

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "adaptis/model/error.h"
#include "cuda/cuda_check.h"

namespace adaptis::exec::gpu {

namespace {

// The driver functions green contexts need, or why they are missing.
struct Driver {
  PFN_cuDeviceGet_v2000 device_get = nullptr;
  PFN_cuGetErrorString_v6000 error_string = nullptr;
  PFN_cuDeviceGetDevResource_v12040 get_resource = nullptr;
  PFN_cuDevSmResourceSplitByCount_v12040 split = nullptr;
  PFN_cuDevResourceGenerateDesc_v12040 make_desc = nullptr;
  PFN_cuGreenCtxCreate_v12040 create = nullptr;
  PFN_cuGreenCtxDestroy_v12040 destroy = nullptr;
  PFN_cuCtxFromGreenCtx_v12040 to_ctx = nullptr;
  PFN_cuCtxSetCurrent_v4000 set_current = nullptr;
  std::string missing;

  template <typename F>
  void load(F& fn, const char* name, unsigned version) {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult q{};
    cudaError_t e = cudaGetDriverEntryPointByVersion(name, &p, version, cudaEnableDefault, &q);
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !p) {
      cudaGetLastError();
      if (missing.empty()) missing = std::string("the driver has no ") + name;
      return;
    }
    fn = reinterpret_cast<F>(p);
  }

  Driver() {
    load(device_get, "cuDeviceGet", 2000);
    load(error_string, "cuGetErrorString", 6000);
    load(get_resource, "cuDeviceGetDevResource", 12040);
    load(split, "cuDevSmResourceSplitByCount", 12040);
    load(make_desc, "cuDevResourceGenerateDesc", 12040);
    load(create, "cuGreenCtxCreate", 12040);
    load(destroy, "cuGreenCtxDestroy", 12040);
    load(to_ctx, "cuCtxFromGreenCtx", 12040);
    load(set_current, "cuCtxSetCurrent", 4000);
  }

  std::string message(CUresult r) const {
    const char* s = nullptr;
    if (error_string && error_string(r, &s) == CUDA_SUCCESS && s) return s;
    return "CUresult " + std::to_string(static_cast<int>(r));
  }
  void check(CUresult r, const char* call) const {
    if (r != CUDA_SUCCESS) throw CudaError(std::string(call) + " failed: " + message(r));
  }
};

const Driver& driver() {
  static const Driver d;  // immutable after construction; looked up once per process
  return d;
}

// `activate`: make the device's primary context current and initialised first, which creating green contexts
// needs; a mere query does not (and must not start contexts on every GPU of the machine).
CUdevice device_handle(const Driver& drv, int device, bool activate) {
  if (activate) {
    ADAPTIS_CUDA_CHECK(cudaSetDevice(device));
    ADAPTIS_CUDA_CHECK(cudaFree(nullptr));
  } else {
    int count = 0;
    ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&count));  // initialises the driver (cuInit) without a context
  }
  CUdevice dev{};
  drv.check(drv.device_get(&dev, device), "cuDeviceGet");
  return dev;
}

}  // namespace

SmResourceInfo query_sm_resource(int device) {
  SmResourceInfo info;
  const Driver& drv = driver();
  if (!drv.missing.empty()) {
    info.why = "green contexts unavailable: " + drv.missing + " (needs a CUDA 12.4+ driver)";
    return info;
  }
  try {
    CUdevice dev = device_handle(drv, device, false);
    CUdevResource res{};
    CUresult r = drv.get_resource(dev, &res, CU_DEV_RESOURCE_TYPE_SM);
    if (r != CUDA_SUCCESS) {
      info.why = "green contexts unavailable: cuDeviceGetDevResource: " + drv.message(r);
      return info;
    }
    info.available = true;
    info.sm_count = static_cast<int>(res.sm.smCount);
    info.min_partition = static_cast<int>(res.sm.minSmPartitionSize);
    info.alignment = static_cast<int>(res.sm.smCoscheduledAlignment);
  } catch (const CudaError& e) {
    info.why = std::string("green contexts unavailable: ") + e.what();
  }
  return info;
}

GreenPartitions::GreenPartitions(int device, int count, int sms_each) : device_(device) {
  const Driver& drv = driver();
  SmResourceInfo info = query_sm_resource(device);
  if (!info.available) throw InputError("green_contexts", info.why);
  if (count < 1) throw InputError("green_contexts", "need at least one partition");
  const int align = std::max(1, info.alignment);
  int want = sms_each > 0 ? sms_each : info.sm_count / count;
  want = want / align * align;
  if (want < info.min_partition || want < 1)
    throw InputError("green_contexts", "the GPU's " + std::to_string(info.sm_count) + " SMs cannot give " +
                     std::to_string(count) + " partitions of at least " + std::to_string(info.min_partition) +
                     " SMs (multiples of " + std::to_string(align) + ")");
  if (long(want) * count > info.sm_count)
    throw InputError("sms_per_device", std::to_string(count) + " x " + std::to_string(want) + " SMs exceed the GPU's " +
                     std::to_string(info.sm_count));

  CUdevice dev = device_handle(drv, device, true);
  CUdevResource input{};
  drv.check(drv.get_resource(dev, &input, CU_DEV_RESOURCE_TYPE_SM), "cuDeviceGetDevResource");
  std::vector<CUdevResource> groups(static_cast<size_t>(count));
  unsigned int made = static_cast<unsigned int>(count);
  CUdevResource remaining{};
  drv.check(drv.split(groups.data(), &made, &input, &remaining, 0, static_cast<unsigned int>(want)),
            "cuDevSmResourceSplitByCount");
  if (static_cast<int>(made) < count)
    throw InputError("green_contexts", "the driver split the GPU into only " + std::to_string(made) +
                     " partitions of " + std::to_string(want) + " SMs, " + std::to_string(count) + " needed");
  try {
    for (int i = 0; i < count; ++i) {
      CUdevResourceDesc desc{};
      drv.check(drv.make_desc(&desc, &groups[i], 1), "cuDevResourceGenerateDesc");
      CUgreenCtx g{};
      drv.check(drv.create(&g, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM), "cuGreenCtxCreate");
      contexts_.push_back(g);
      CUcontext c{};
      drv.check(drv.to_ctx(&c, g), "cuCtxFromGreenCtx");
      plain_.push_back(c);
      sms_.push_back(static_cast<int>(groups[i].sm.smCount));
    }
  } catch (...) {
    for (void* g : contexts_) drv.destroy(static_cast<CUgreenCtx>(g));
    throw;
  }
}

GreenPartitions::~GreenPartitions() {
  const Driver& drv = driver();
  for (void* g : contexts_) drv.destroy(static_cast<CUgreenCtx>(g));
}

void GreenPartitions::make_current(int i) const {
  const Driver& drv = driver();
  drv.check(drv.set_current(static_cast<CUcontext>(plain_.at(static_cast<size_t>(i)))), "cuCtxSetCurrent");
}

}  // namespace adaptis::exec::gpu
