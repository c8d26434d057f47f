#include "gui/model/optimizer_job.h"

#include "adaptis/model/error.h"

namespace adaptis::gui {

OptimizerJob::~OptimizerJob() {
  cancel();
  join();
}

void OptimizerJob::join() {
  if (thread_.joinable()) thread_.join();
}

bool OptimizerJob::start(CostTable costs, Cluster cluster, OptimizeOptions opt) {
  if (running_.load()) return false;
  join();
  cancel_ = false;
  running_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = Status{};
    status_.running = true;
    status_.progress.phase = "starting";
    best_.reset();
    result_.reset();
  }
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
    OptimizeResult r;
    std::string error;
    try {
      r = optimize(costs, cluster, opt, on_progress, &cancel_);
    } catch (const std::exception& e) {  // InputError for impossible options; anything else is a bug to show
      error = e.what();
    }
    std::lock_guard<std::mutex> lock(mu_);
    status_.running = false;
    status_.finished = true;
    if (!error.empty()) {
      status_.failed = true;
      status_.message = error;
    } else {
      status_.cancelled = r.cancelled;
      status_.message = r.message;
      status_.progress = r.final_progress;
      if (!r.best.schedule.empty() && r.sim.ok) {
        best_ = r.best;
        ++status_.best_version;
      }
      result_ = std::move(r);
    }
    running_ = false;
  });
  return true;
}

void OptimizerJob::cancel() { cancel_ = true; }

void OptimizerJob::wait() { join(); }

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

std::optional<OptimizeResult> OptimizerJob::take_result() {
  std::lock_guard<std::mutex> lock(mu_);
  if (running_.load()) return std::nullopt;
  std::optional<OptimizeResult> out = std::move(result_);
  result_.reset();
  return out;
}

}  // namespace adaptis::gui
