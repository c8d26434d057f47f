// Shared pieces of the GPU runtimes (gpu_runtime_common.h).
#include "cuda/gpu_runtime_common.h"

#include <cstdint>
#include <exception>
#include <thread>

#include "adaptis/model/error.h"
#include "cuda/cuda_check.h"

namespace adaptis::exec::gpu {

std::string on_each_device(int D, const std::function<void(int)>& fn, const std::function<void()>& while_running) {
  std::vector<std::string> errors(static_cast<size_t>(D));
  std::vector<std::thread> threads;
  threads.reserve(size_t(D));
  for (int d = 0; d < D; ++d)
    threads.emplace_back([&, d] {
      try {
        fn(d);
      } catch (const std::exception& e) {
        errors[d] = e.what();
        if (errors[d].empty()) errors[d] = "unknown error";
      }
    });
  if (while_running) {
    try {
      while_running();
    } catch (...) {
      for (auto& t : threads) t.join();
      throw;
    }
  }
  for (auto& t : threads) t.join();
  std::string out;
  for (int d = 0; d < D; ++d)
    if (!errors[d].empty()) out += "\n  device " + std::to_string(d) + ": " + errors[d];
  return out;
}

void on_thread(const std::function<void()>& fn) {
  std::exception_ptr err;
  std::thread t([&] {
    try {
      fn();
    } catch (...) {
      err = std::current_exception();
    }
  });
  t.join();
  if (err) std::rethrow_exception(err);
}

StartGate::~StartGate() {
  try {
    finish();
  } catch (...) {
  }
}

void CUDART_CB StartGate::hold(void* self) {
  // Runs on a CUDA driver thread: no CUDA calls here, only the wait.
  auto* g = static_cast<StartGate*>(self);
  std::unique_lock<std::mutex> lk(g->mu_);
  g->cv_.wait(lk, [&] { return g->open_; });
}

void StartGate::enqueue(cudaStream_t s) {
  stream_ = s;
  ADAPTIS_CUDA_CHECK(cudaLaunchHostFunc(s, &StartGate::hold, this));
}

void StartGate::open() {
  std::lock_guard<std::mutex> lk(mu_);
  open_ = true;
  cv_.notify_all();
}

void StartGate::finish() {
  open();
  if (stream_) {
    cudaStream_t s = stream_;
    stream_ = nullptr;
    ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(s));
  }
}

void keep_pool_memory(int gpu) {
  cudaMemPool_t pool{};
  ADAPTIS_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, gpu));
  uint64_t threshold = UINT64_MAX;
  ADAPTIS_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
}

}  // namespace adaptis::exec::gpu
