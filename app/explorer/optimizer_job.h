#pragma once
// The optimizer on a background thread, the one both explorers use: the worker publishes its
// progress and every improved plan into a mutex-protected mailbox that the UI thread polls, so a
// view can show the best plan while the search goes on. Cancelling sets the atomic flag optimize()
// checks; the search then returns its best so far. Anything the search throws comes back as a
// Failed outcome (an exception escaping the thread would end the process with the terminal still
// in curses mode). The destructor cancels and joins, so no thread outlives the explorer.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adaptis/planner/optimizer.h"

namespace adaptis::explorer {

enum class JobState { Idle, Running, Done, Cancelled, Failed };
const char* job_state_name(JobState s);

class OptimizerJob {
 public:
  struct Status {
    JobState state = JobState::Idle;
    OptimizeProgress progress;
    uint64_t best_version = 0;  // bumped each time a better plan is published
  };
  struct Outcome {
    JobState how = JobState::Done;         // Done, Cancelled or Failed
    std::optional<OptimizeResult> result;  // when not Failed
    std::string error;                     // when Failed: why
  };

  OptimizerJob() = default;
  ~OptimizerJob();
  OptimizerJob(const OptimizerJob&) = delete;
  OptimizerJob& operator=(const OptimizerJob&) = delete;

  // Starts a search; false (and nothing started) while one is still running.
  bool start(std::shared_ptr<const CostTable> costs, Cluster cluster, OptimizeOptions opt);
  void cancel();
  // Blocks until the worker returned (cancel() first to make that quick).
  void wait();
  bool running() const { return running_.load(); }
  Status status() const;
  // The best plan published since the last call, if any.
  std::optional<Plan> take_best();
  // The outcome, once, after the worker returned (the thread is joined).
  std::optional<Outcome> take_outcome();

 private:
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  Status status_;
  std::optional<Plan> best_;
  std::optional<Outcome> outcome_;
};

}  // namespace adaptis::explorer
