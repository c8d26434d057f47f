#include "tui/optimizer_job.h"

#include <exception>

namespace adaptis::tui {

OptimizerJob::~OptimizerJob() {
  cancel();
  wait();
}

bool OptimizerJob::start(Work work) {
  if (running_.load()) return false;
  wait();  // a finished previous job
  cancel_.store(false);
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_ = OptimizerView{};
    progress_.state = JobState::Running;
    progress_.phase = "starting";
    outcome_.reset();
  }
  running_.store(true);
  thread_ = std::thread([this, work = std::move(work)] {
    Report report = [this](const OptimizerView& p) {
      std::lock_guard<std::mutex> lock(mu_);
      progress_ = p;
      progress_.state = JobState::Running;
    };
    Outcome out;
    // Anything thrown on this thread must come back as a Failed outcome: an escaping exception
    // would call std::terminate with the terminal still in curses mode.
    try {
      out = work(report, cancel_);
    } catch (const std::exception& e) {
      out = Outcome{JobState::Failed, std::nullopt, e.what()};
    } catch (...) {
      out = Outcome{JobState::Failed, std::nullopt, "unknown exception"};
    }
    if (out.how == JobState::Done && cancel_.load()) out.how = JobState::Cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      outcome_ = std::move(out);
    }
    running_.store(false);
  });
  return true;
}

void OptimizerJob::cancel() { cancel_.store(true); }

OptimizerView OptimizerJob::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

std::optional<OptimizerJob::Outcome> OptimizerJob::take_outcome() {
  if (running_.load()) return std::nullopt;
  wait();
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Outcome> out = std::move(outcome_);
  outcome_.reset();
  return out;
}

void OptimizerJob::wait() {
  if (thread_.joinable()) thread_.join();
}

OptimizerJob::Work optimizer_work(std::shared_ptr<const cli::Inputs> inputs, int devices, int microbatches,
                                  double time_limit_s, int threads) {
  return [inputs = std::move(inputs), devices, microbatches, time_limit_s, threads](
             const OptimizerJob::Report& report, const std::atomic<bool>& cancel) {
    OptimizeOptions opt;
    opt.devices = devices;
    opt.microbatches = microbatches;
    opt.time_limit_s = time_limit_s;
    opt.threads = threads;
    opt.sim = inputs->sim;
    OptimizeCallback on_progress = [&report](const OptimizeProgress& p, const Plan*) {
      OptimizerView v;
      v.fraction = p.fraction;
      v.elapsed_s = p.elapsed_s;
      v.best_ms = p.best_ms;
      v.evaluated = p.evaluated;
      v.phase = p.phase;
      report(v);
    };
    OptimizeResult r = optimize(inputs->costs, inputs->cluster, opt, on_progress, &cancel);
    OptimizerJob::Outcome out;
    out.how = r.cancelled ? JobState::Cancelled : JobState::Done;
    // The optimizer returns its closest plan even when nothing fits memory; show it (marked OOM).
    if (r.best.num_devices() > 0) out.best = std::move(r.best);
    out.error = r.message;
    return out;
  };
}

}  // namespace adaptis::tui
