#include "explorer/optimizer_job.h"

#include <exception>

namespace adaptis::explorer {

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::Idle: return "idle";
    case JobState::Running: return "running";
    case JobState::Done: return "done";
    case JobState::Cancelled: return "cancelled";
    case JobState::Failed: return "failed";
  }
  return "?";
}

OptimizerJob::~OptimizerJob() {
  cancel();
  wait();
}

void OptimizerJob::wait() {
  if (thread_.joinable()) thread_.join();
}

bool OptimizerJob::start(std::shared_ptr<const CostTable> costs, Cluster cluster, OptimizeOptions opt) {
  if (running_.load()) return false;
  wait();  // a finished previous job
  cancel_ = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = Status{};
    status_.state = JobState::Running;
    status_.progress.phase = "starting";
    best_.reset();
    outcome_.reset();
  }
  running_ = true;
  thread_ = std::thread([this, costs = std::move(costs), cluster = std::move(cluster), opt] {
    double last_best = -1;
    auto on_progress = [&](const OptimizeProgress& p, const Plan* best) {
      std::lock_guard<std::mutex> lock(mu_);
      status_.progress = p;
      // Copy a plan only when it is a new best: the callback also fires as a heartbeat.
      if (best && p.best_ms > 0 && p.best_ms != last_best) {
        last_best = p.best_ms;
        best_ = *best;
        ++status_.best_version;
      }
    };
    Outcome out;
    try {
      OptimizeResult r = optimize(*costs, cluster, opt, on_progress, &cancel_);
      out.how = r.cancelled || cancel_.load() ? JobState::Cancelled : JobState::Done;
      out.result = std::move(r);
    } catch (const std::exception& e) {  // InputError for impossible options; anything else is a bug to show
      out.how = JobState::Failed;
      out.error = e.what();
    } catch (...) {
      out.how = JobState::Failed;
      out.error = "unknown exception";
    }
    std::lock_guard<std::mutex> lock(mu_);
    status_.state = out.how;
    if (out.result) {
      status_.progress = out.result->final_progress;
      // The optimizer returns its closest plan even when nothing fits memory: publish it too.
      if (!out.result->best.schedule.empty() && out.result->sim.ok) {
        best_ = out.result->best;
        ++status_.best_version;
      }
    }
    outcome_ = std::move(out);
    running_ = false;
  });
  return true;
}

void OptimizerJob::cancel() { cancel_ = true; }

OptimizerJob::Status OptimizerJob::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

std::optional<Plan> OptimizerJob::take_best() {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Plan> out = std::move(best_);
  best_.reset();
  return out;
}

std::optional<OptimizerJob::Outcome> OptimizerJob::take_outcome() {
  if (running_.load()) return std::nullopt;
  wait();
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Outcome> out = std::move(outcome_);
  outcome_.reset();
  return out;
}

}  // namespace adaptis::explorer
