// Stream-ordered activation offload to pinned host memory (gpu_offload.h).
#include "cuda/gpu_offload.h"

#include <stdexcept>
#include <string>

namespace adaptis::exec::gpu {

namespace {

cudaEvent_t point(cudaStream_t s) {
  cudaEvent_t e = nullptr;
  ADAPTIS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  ADAPTIS_CUDA_CHECK(cudaEventRecord(e, s));
  return e;
}

}  // namespace

GpuHostOffload::GpuHostOffload(cudaStream_t compute) : compute_(compute) {
  ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&to_host_, cudaStreamNonBlocking));
  ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&to_device_, cudaStreamNonBlocking));
}

GpuHostOffload::~GpuHostOffload() {
  try {
    end_step();
  } catch (...) {
    // A broken context already reported its error where it broke.
  }
  cudaStreamDestroy(to_host_);
  cudaStreamDestroy(to_device_);
}

GpuHostOffload::Entry& GpuHostOffload::entry(int stage, int mb, const char* what) {
  auto it = entries_.find({stage, mb});
  if (it == entries_.end())
    throw std::logic_error(std::string(what) + " of s" + std::to_string(stage) + " mb" + std::to_string(mb) +
                           " which was not offloaded");
  return it->second;
}

void GpuHostOffload::offload(int stage, int mb, std::vector<DeviceBuffer<float>*> bufs) {
  auto [it, fresh] = entries_.try_emplace({stage, mb});
  if (!fresh) throw std::logic_error("offload of s" + std::to_string(stage) + " mb" + std::to_string(mb) + " twice");
  Entry& e = it->second;
  e.bufs = std::move(bufs);
  cudaEvent_t after_f = point(compute_);
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(to_host_, after_f, 0));
  ADAPTIS_CUDA_CHECK(cudaEventDestroy(after_f));
  for (DeviceBuffer<float>* b : e.bufs) {
    float* host = nullptr;
    if (b->size() > 0) ADAPTIS_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&host), b->bytes()));
    e.host.push_back(host);
    e.counts.push_back(b->size());
    if (b->size() > 0)
      ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(host, b->get(), b->bytes(), cudaMemcpyDeviceToHost, to_host_));
    b->set_stream(to_host_);
    b->reset();  // freed on the copy stream, after the copy
  }
  e.offloaded = point(to_host_);
}

void GpuHostOffload::reload(int stage, int mb) {
  Entry& e = entry(stage, mb, "reload");
  cudaEvent_t here = point(compute_);  // the copy back starts when the device reaches this instruction
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(to_device_, here, 0));
  ADAPTIS_CUDA_CHECK(cudaEventDestroy(here));
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(to_device_, e.offloaded, 0));
  for (size_t k = 0; k < e.bufs.size(); ++k) {
    DeviceBuffer<float>* b = e.bufs[k];
    b->allocate(e.counts[k], to_device_);
    if (e.counts[k] > 0)
      ADAPTIS_CUDA_CHECK(
          cudaMemcpyAsync(b->get(), e.host[k], e.counts[k] * sizeof(float), cudaMemcpyHostToDevice, to_device_));
    b->set_stream(compute_);  // the layers free it on the compute stream, after WAIT_RELOAD
  }
  e.reloaded = point(to_device_);
}

void GpuHostOffload::wait_reload(int stage, int mb) {
  Entry& e = entry(stage, mb, "wait for the reload");
  if (!e.reloaded) throw std::logic_error("waits for a reload that was never issued");
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(compute_, e.reloaded, 0));
}

void GpuHostOffload::end_step() {
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(to_host_));
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(to_device_));
  for (auto& [k, e] : entries_) {
    for (float* h : e.host)
      if (h) cudaFreeHost(h);
    if (e.offloaded) cudaEventDestroy(e.offloaded);
    if (e.reloaded) cudaEventDestroy(e.reloaded);
  }
  entries_.clear();
}

}  // namespace adaptis::exec::gpu
