#pragma once
// What the explorers' background jobs share (optimizer_job.h, cluster_search_job.h, lengths_read_job.h):
// one worker thread, the atomic cancel flag the work polls, and a one-shot outcome the UI thread takes after
// the worker returned. Anything the work throws comes back as a Failed outcome: an exception
// escaping the thread would end the process with the terminal still in curses mode. The destructor
// cancels and joins, so no thread outlives the explorer; a derived job whose worker writes members of
// its own must do the same in its destructor (they are gone before this one runs).
#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

namespace adaptis::explorer {

enum class JobState { Idle, Running, Done, Cancelled, Failed };
const char* job_state_name(JobState s);

// `Result` is empty by default and tests false when empty (std::optional, std::shared_ptr).
template <class Result>
class BackgroundJob {
 public:
  struct Outcome {
    JobState how = JobState::Done;  // Done, Cancelled or Failed
    Result result{};                // when not Failed
    std::string error;              // when Failed: why
  };

  BackgroundJob() = default;
  ~BackgroundJob() {
    cancel();
    wait();
  }
  BackgroundJob(const BackgroundJob&) = delete;
  BackgroundJob& operator=(const BackgroundJob&) = delete;

  void cancel() { cancel_ = true; }
  // Blocks until the worker returned (cancel() first to make that quick).
  void wait() {
    if (thread_.joinable()) thread_.join();
  }
  bool running() const { return running_.load(); }
  // The outcome, once, after the worker returned (the thread is joined).
  std::optional<Outcome> take_outcome() {
    if (running_.load()) return std::nullopt;
    wait();
    std::lock_guard<std::mutex> lock(mu_);
    std::optional<Outcome> out = std::move(outcome_);
    outcome_.reset();
    return out;
  }

 protected:
  // Starts `work()` on a new thread; false (and nothing started) while one is still running. `reset()`
  // runs first under the lock, with the previous outcome cleared; `work()` returns the Result (it sees
  // the cancel flag through cancel_flag()); `cancelled(result)` says whether the search stopped early;
  // `finish(outcome)` runs under the lock before the outcome is published.
  template <class Reset, class Work, class Cancelled, class Finish>
  bool launch(Reset reset, Work work, Cancelled cancelled, Finish finish) {
    if (running_.load()) return false;
    wait();  // a finished previous job
    cancel_ = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      outcome_.reset();
      reset();
    }
    running_ = true;
    thread_ = std::thread([this, work = std::move(work), cancelled = std::move(cancelled),
                           finish = std::move(finish)]() mutable {
      Outcome out;
      try {
        out.result = work();
        out.how = cancelled(out.result) || cancel_.load() ? JobState::Cancelled : JobState::Done;
      } catch (const std::exception& e) {  // InputError for options the inputs refuse; anything else is a bug to show
        out.how = JobState::Failed;
        out.result = Result{};
        out.error = e.what();
      } catch (...) {
        out.how = JobState::Failed;
        out.result = Result{};
        out.error = "unknown exception";
      }
      std::lock_guard<std::mutex> lock(mu_);
      finish(out);
      outcome_ = std::move(out);
      running_ = false;
    });
    return true;
  }

  const std::atomic<bool>* cancel_flag() const { return &cancel_; }
  std::mutex& mutex() const { return mu_; }

 private:
  std::thread thread_;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  std::optional<Outcome> outcome_;
};

}  // namespace adaptis::explorer
