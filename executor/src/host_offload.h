#pragma once
// Internal to the executor: one device's activation offload to host memory on the CPU backend. Two copy
// threads, one per direction (a PCIe link is full duplex, as the simulator's host link model says), each
// serving its copies first in, first out, and pacing them to the configured link: a copy of b bytes takes at
// least latency + b / bandwidth (longer when memcpy itself is slower), so offload timing is real time the
// device thread can overlap or wait for. Offloaded tensors go to a host arena of their own (blobs owned
// here, never counted as device memory); the device's buffers are released when the copy out ends and
// re-created when the copy back starts (the simulator's rules: memory leaves when an offload ends and is
// reserved when a reload starts). The device thread never touches a (stage, mb)'s buffers between its
// OFFLOAD and the end of its WAIT_RELOAD, so the copy threads own them meanwhile.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace adaptis::exec {

class HostOffload {
 public:
  struct Buffers {
    std::vector<std::vector<float>*> f;
    std::vector<std::vector<int32_t>*> i;
  };
  // `on_device_bytes(delta)` is called from the copy threads when device memory is released (< 0) or reserved.
  HostOffload(double bandwidth_bytes_per_s, double latency_ms, std::function<void(int64_t)> on_device_bytes);
  ~HostOffload();
  HostOffload(const HostOffload&) = delete;
  HostOffload& operator=(const HostOffload&) = delete;

  // Queues the copy of `bufs` to the host arena; their device memory is released when it ends.
  void offload(int stage, int mb, Buffers bufs);
  // Queues the copy back of (stage, mb); it starts once its offload has ended.
  void reload(int stage, int mb);
  // Blocks until (stage, mb)'s reload has ended. Throws std::runtime_error when aborted or when (stage, mb)
  // was never offloaded.
  void wait_reload(int stage, int mb);
  // Wakes every waiter and stops the copies (they throw); the engine is unusable afterwards.
  void abort();
  // Between iterations: forgets finished copies. std::logic_error when some are still pending.
  void reset();

  int64_t bytes_to_host() const;    // moved this iteration
  int64_t bytes_to_device() const;

 private:
  enum class Kind { ToHost, ToDevice };
  struct Entry {
    Buffers bufs;
    std::vector<std::vector<float>> host_f;  // the host arena's blobs
    std::vector<std::vector<int32_t>> host_i;
    int64_t bytes = 0;
    bool offloaded = false, reloaded = false, reload_queued = false;
  };
  struct Channel {
    std::thread thread;
    std::deque<std::pair<int, int>> jobs;
  };
  void serve(Kind kind);
  void pace(std::chrono::steady_clock::time_point start, int64_t bytes) const;

  double bandwidth_, latency_ms_;
  std::function<void(int64_t)> on_device_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, aborted_ = false;
  std::map<std::pair<int, int>, Entry> entries_;
  Channel to_host_, to_device_;
  int64_t moved_to_host_ = 0, moved_to_device_ = 0;
};

}  // namespace adaptis::exec
