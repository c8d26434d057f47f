#include "worker_pool.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "adaptis/model/error.h"
#include "adaptis/planner/optimizer.h"

namespace adaptis::opt {

int hardware_threads() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

void check_worker_threads(int threads) {
  if (threads < 0 || threads > max_optimizer_threads())
    throw InputError("threads", "must be in [0, " + std::to_string(max_optimizer_threads()) +
                                    "] (0 = all hardware threads; at most 4 per hardware thread and 256), got " +
                                    std::to_string(threads));
}

int worker_threads(int threads) { return threads > 0 ? threads : std::min(max_optimizer_threads(), hardware_threads()); }

WorkerPool::WorkerPool(int threads) {
  if (threads < 1) threads = 1;
  threads_.reserve(threads);
  for (int w = 0; w < threads; ++w) threads_.emplace_back([this, w] { loop(w); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::loop(int worker) {
  long long seen = 0;
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stop_ || (generation_ != seen && next_ < n_); });
    if (stop_) return;
    seen = generation_;
    // Take indices one at a time: jobs differ a lot in cost (a 4-stage plan vs a 56-stage one).
    while (next_ < n_) {
      int i = next_++;
      const auto* job = job_;
      lk.unlock();
      std::exception_ptr err;
      try {
        (*job)(i, worker);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      if (err && !error_) error_ = err;
      if (++finished_ == n_) done_cv_.notify_all();
    }
  }
}

void WorkerPool::run(int n, const std::function<void(int, int)>& job, const std::function<void()>& tick,
                     int tick_ms) {
  if (n <= 0) return;
  std::unique_lock<std::mutex> lk(mu_);
  job_ = &job;
  n_ = n;
  next_ = 0;
  finished_ = 0;
  error_ = nullptr;
  ++generation_;
  work_cv_.notify_all();
  while (finished_ < n_) {
    done_cv_.wait_for(lk, std::chrono::milliseconds(tick_ms), [&] { return finished_ >= n_; });
    if (finished_ < n_ && tick) {
      lk.unlock();
      tick();
      lk.lock();
    }
  }
  job_ = nullptr;
  n_ = 0;
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

}  // namespace adaptis::opt
