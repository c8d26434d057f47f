#pragma once
// The optimizer on a background thread, the one both explorers use (background_job.h): the worker
// publishes its progress and every improved plan into a mutex-protected mailbox that the UI thread
// polls, so a view can show the best plan while the search goes on. Cancelling sets the atomic flag
// optimize() checks; the search then returns its best so far.
#include <cstdint>
#include <memory>
#include <optional>

#include "adaptis/planner/optimizer.h"
#include "explorer/background_job.h"

namespace adaptis::explorer {

class OptimizerJob : public BackgroundJob<std::optional<OptimizeResult>> {
 public:
  struct Status {
    JobState state = JobState::Idle;
    OptimizeProgress progress;
    uint64_t best_version = 0;  // bumped each time a better plan is published
  };

  OptimizerJob() = default;
  ~OptimizerJob() {  // the worker writes status_ and best_: join it before they go
    cancel();
    wait();
  }
  OptimizerJob(const OptimizerJob&) = delete;
  OptimizerJob& operator=(const OptimizerJob&) = delete;

  // Starts a search; false (and nothing started) while one is still running.
  bool start(std::shared_ptr<const CostTable> costs, Cluster cluster, OptimizeOptions opt);
  Status status() const;
  // The best plan published since the last call, if any.
  std::optional<Plan> take_best();

 private:
  Status status_;
  std::optional<Plan> best_;
};

}  // namespace adaptis::explorer
