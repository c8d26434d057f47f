#pragma once
// The optimizer on a background thread for the GUI: the worker publishes progress and every
// improved plan into a mutex-protected mailbox that the UI thread polls once a frame, so the Gantt
// can show the best plan while the search goes on. Cancelling sets the atomic flag optimize()
// checks; the search then returns its best so far. The destructor cancels and joins.
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adaptis/planner/optimizer.h"

namespace adaptis::gui {

class OptimizerJob {
 public:
  struct Status {
    bool running = false;
    bool finished = false;   // the worker returned (done, cancelled or failed)
    bool cancelled = false;
    bool failed = false;
    std::string message;     // failure reason, or the optimizer's summary when finished
    OptimizeProgress progress;
    uint64_t best_version = 0;  // bumped each time a better plan is published
  };

  OptimizerJob() = default;
  ~OptimizerJob();
  OptimizerJob(const OptimizerJob&) = delete;
  OptimizerJob& operator=(const OptimizerJob&) = delete;

  // Starts a search; false (and nothing started) while one is still running.
  bool start(CostTable costs, Cluster cluster, OptimizeOptions opt);
  void cancel();
  // Blocks until the worker returned.
  void wait();
  bool running() const { return running_.load(); }
  Status status() const;
  // The best plan published since the last call, if any.
  std::optional<Plan> take_best();
  // The final result, once, after the worker returned.
  std::optional<OptimizeResult> take_result();

 private:
  void join();

  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  Status status_;
  std::optional<Plan> best_;
  std::optional<OptimizeResult> result_;
};

}  // namespace adaptis::gui
