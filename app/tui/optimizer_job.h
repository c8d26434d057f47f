#pragma once
// The optimizer on a background thread, polled by the TUI each frame: the worker publishes its
// progress into a mutex-protected copy; the UI thread reads that copy and never blocks on the
// search. Cancelling sets the atomic flag optimize() checks; the destructor cancels and joins, so
// quitting (or an exception unwinding the TUI) never leaves the thread running.
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adaptis/planner/optimizer.h"
#include "cli/inputs.h"
#include "tui/tui_state.h"

namespace adaptis::tui {

class OptimizerJob {
 public:
  struct Outcome {
    JobState how = JobState::Done;  // Done, Cancelled or Failed
    std::optional<Plan> best;
    std::string error;  // Failed: why; otherwise the optimizer's own summary (may be empty)
  };
  // Publishes progress; called from the worker thread.
  using Report = std::function<void(const OptimizerView&)>;
  // The search itself. Runs on the worker thread; must return soon after `cancel` becomes true.
  using Work = std::function<Outcome(const Report& report, const std::atomic<bool>& cancel)>;

  OptimizerJob() = default;
  ~OptimizerJob();
  OptimizerJob(const OptimizerJob&) = delete;
  OptimizerJob& operator=(const OptimizerJob&) = delete;

  // Starts `work` on a new thread. Returns false when a job is still running.
  bool start(Work work);
  void cancel();
  // Blocks until the work has returned (call cancel() first to make that quick).
  void wait();
  bool running() const { return running_.load(); }
  // The latest published progress.
  OptimizerView progress() const;
  // The outcome once the work has returned (the thread is joined); nullopt while running or
  // when it was already taken.
  std::optional<Outcome> take_outcome();

 private:
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  OptimizerView progress_;
  std::optional<Outcome> outcome_;
};

// The adaptis optimizer over `inputs` for the request's devices and micro-batches, within
// `time_limit_s`. Threads: `threads` (0 = all hardware threads).
OptimizerJob::Work optimizer_work(std::shared_ptr<const cli::Inputs> inputs, int devices, int microbatches,
                                  double time_limit_s, int threads = 0);

}  // namespace adaptis::tui
