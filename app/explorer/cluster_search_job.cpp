#include "explorer/cluster_search_job.h"

namespace adaptis::explorer {

bool ClusterSearchJob::start(std::shared_ptr<const ModelSpec> model, Cluster cluster, ClusterSearchOptions opt) {
  if (!model) return false;
  using Result = std::shared_ptr<const ClusterSearchResult>;
  return launch(
      [this] {
        progress_ = ClusterSearchProgress{};
        progress_.phase = "starting";
      },
      [this, model = std::move(model), cluster = std::move(cluster), opt = std::move(opt)]() -> Result {
        auto on_progress = [this](const ClusterSearchProgress& p) {
          std::lock_guard<std::mutex> lock(mutex());
          progress_ = p;
        };
        return std::make_shared<ClusterSearchResult>(
            search_cluster_plans(*model, cluster, opt, on_progress, cancel_flag()));
      },
      [](const Result& r) { return r->cancelled; }, [](Outcome&) {});
}

ClusterSearchProgress ClusterSearchJob::progress() const {
  std::lock_guard<std::mutex> lock(mutex());
  return progress_;
}

}  // namespace adaptis::explorer
