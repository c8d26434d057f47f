#include "explorer/optimizer_job.h"

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

bool OptimizerJob::start(std::shared_ptr<const CostTable> costs, Cluster cluster, OptimizeOptions opt) {
  using Result = std::optional<OptimizeResult>;
  return launch(
      [this] {
        status_ = Status{};
        status_.state = JobState::Running;
        status_.progress.phase = "starting";
        best_.reset();
      },
      [this, costs = std::move(costs), cluster = std::move(cluster), opt]() -> Result {
        double last_best = -1;
        auto on_progress = [&](const OptimizeProgress& p, const Plan* best) {
          std::lock_guard<std::mutex> lock(mutex());
          status_.progress = p;
          // Copy a plan only when it is a new best: the callback also fires as a heartbeat.
          if (best && p.best_ms > 0 && p.best_ms != last_best) {
            last_best = p.best_ms;
            best_ = *best;
            ++status_.best_version;
          }
        };
        return optimize(*costs, cluster, opt, on_progress, cancel_flag());
      },
      [](const Result& r) { return r->cancelled; },
      [this](Outcome& out) {
        status_.state = out.how;
        if (out.result) {
          status_.progress = out.result->final_progress;
          // The optimizer returns its closest plan even when nothing fits memory: publish it too.
          if (!out.result->best.schedule.empty() && out.result->sim.ok) {
            best_ = out.result->best;
            ++status_.best_version;
          }
        }
      });
}

OptimizerJob::Status OptimizerJob::status() const {
  std::lock_guard<std::mutex> lock(mutex());
  return status_;
}

std::optional<Plan> OptimizerJob::take_best() {
  std::lock_guard<std::mutex> lock(mutex());
  std::optional<Plan> out = std::move(best_);
  best_.reset();
  return out;
}

}  // namespace adaptis::explorer
