#pragma once
// The whole-cluster plan search (planner/cluster_search.h) on a background thread, as the explorers
// run it (background_job.h): the worker publishes its progress into a mutex-protected mailbox the UI
// thread polls; cancelling makes the search return its best so far.
#include <memory>

#include "adaptis/planner/cluster_search.h"
#include "explorer/background_job.h"

namespace adaptis::explorer {

class ClusterSearchJob : public BackgroundJob<std::shared_ptr<const ClusterSearchResult>> {
 public:
  ClusterSearchJob() = default;
  ~ClusterSearchJob() {  // the worker writes progress_: join it before it goes
    cancel();
    wait();
  }
  ClusterSearchJob(const ClusterSearchJob&) = delete;
  ClusterSearchJob& operator=(const ClusterSearchJob&) = delete;

  // Starts a search; false (and nothing started) while one is still running.
  bool start(std::shared_ptr<const ModelSpec> model, Cluster cluster, ClusterSearchOptions opt);
  ClusterSearchProgress progress() const;

 private:
  ClusterSearchProgress progress_;
};

}  // namespace adaptis::explorer
