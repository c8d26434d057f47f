#include "explorer/cluster_search_job.h"

#include <exception>

namespace adaptis::explorer {

ClusterSearchJob::~ClusterSearchJob() {
  cancel();
  wait();
}

void ClusterSearchJob::wait() {
  if (thread_.joinable()) thread_.join();
}

void ClusterSearchJob::cancel() { cancel_ = true; }

bool ClusterSearchJob::start(std::shared_ptr<const ModelSpec> model, Cluster cluster, ClusterSearchOptions opt) {
  if (running_.load() || !model) return false;
  wait();  // a finished previous search
  cancel_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_ = ClusterSearchProgress{};
    progress_.phase = "starting";
    outcome_.reset();
  }
  running_ = true;
  thread_ = std::thread([this, model = std::move(model), cluster = std::move(cluster), opt = std::move(opt)] {
    auto on_progress = [this](const ClusterSearchProgress& p) {
      std::lock_guard<std::mutex> lock(mu_);
      progress_ = p;
    };
    Outcome out;
    try {
      auto r = std::make_shared<ClusterSearchResult>(search_cluster_plans(*model, cluster, opt, on_progress, &cancel_));
      out.how = r->cancelled || cancel_.load() ? JobState::Cancelled : JobState::Done;
      out.result = std::move(r);
    } catch (const std::exception& e) {  // InputError for options the model or cluster refuse
      out.how = JobState::Failed;
      out.error = e.what();
    } catch (...) {
      out.how = JobState::Failed;
      out.error = "unknown exception";
    }
    std::lock_guard<std::mutex> lock(mu_);
    outcome_ = std::move(out);
    running_ = false;
  });
  return true;
}

ClusterSearchProgress ClusterSearchJob::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

std::optional<ClusterSearchJob::Outcome> ClusterSearchJob::take_outcome() {
  if (running_.load()) return std::nullopt;
  wait();
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Outcome> out = std::move(outcome_);
  outcome_.reset();
  return out;
}

}  // namespace adaptis::explorer
