#pragma once
// The whole-cluster plan search (planner/cluster_search.h) on a background thread, as the explorers
// run it: the worker publishes its progress into a mutex-protected mailbox the UI thread polls, and
// cancelling sets the atomic flag the search checks, after which it returns its best so far. What the
// search throws (bad options) comes back as a Failed outcome. The destructor cancels and joins.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adaptis/planner/cluster_search.h"
#include "explorer/optimizer_job.h"

namespace adaptis::explorer {

class ClusterSearchJob {
 public:
  struct Outcome {
    JobState how = JobState::Done;                          // Done, Cancelled or Failed
    std::shared_ptr<const ClusterSearchResult> result;      // when not Failed
    std::string error;                                      // when Failed: why
  };

  ClusterSearchJob() = default;
  ~ClusterSearchJob();
  ClusterSearchJob(const ClusterSearchJob&) = delete;
  ClusterSearchJob& operator=(const ClusterSearchJob&) = delete;

  // Starts a search; false (and nothing started) while one is still running.
  bool start(std::shared_ptr<const ModelSpec> model, Cluster cluster, ClusterSearchOptions opt);
  void cancel();
  void wait();
  bool running() const { return running_.load(); }
  ClusterSearchProgress progress() const;
  // The outcome, once, after the worker returned (the thread is joined).
  std::optional<Outcome> take_outcome();

 private:
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  ClusterSearchProgress progress_;
  std::optional<Outcome> outcome_;
};

}  // namespace adaptis::explorer
