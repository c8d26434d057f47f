#pragma once
// Internal to the optimizer: a fixed set of worker threads that run one indexed batch at a time,
// while the calling (coordinating) thread stays free to report progress. Results are written by
// index, so what a batch computes does not depend on how many workers ran it.
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace adaptis::opt {

// At least 1.
int hardware_threads();
// The optimizers' `threads` option (OptimizeOptions::threads): InputError on field "threads" outside
// [0, max_optimizer_threads()]; and the workers it asks for (0 = one per hardware thread, within that cap).
void check_worker_threads(int threads);
int worker_threads(int threads);

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Runs job(i, worker) for every i in [0, n) and returns when all are done; `worker` is in
  // [0, size()) and names the thread, so callers can keep per-thread scratch state. While waiting,
  // calls tick() on this thread about every `tick_ms`. Rethrows the first exception a job threw.
  void run(int n, const std::function<void(int, int)>& job, const std::function<void()>& tick, int tick_ms = 50);

 private:
  void loop(int worker);

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(int, int)>* job_ = nullptr;
  int n_ = 0, next_ = 0, finished_ = 0;
  long long generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace adaptis::opt
