#pragma once
// Ctrl-C asks a long search (optimize, plan) to stop and keep its best result so far.
#include <atomic>

namespace adaptis::cli {

// Installs a SIGINT handler for its lifetime (restoring the previous one after) that sets flag().
class SigintCancels {
 public:
  SigintCancels();
  ~SigintCancels();
  SigintCancels(const SigintCancels&) = delete;
  SigintCancels& operator=(const SigintCancels&) = delete;
  // Set once Ctrl-C was pressed while this object lived.
  static const std::atomic<bool>* flag();

 private:
  void (*previous_)(int);
};

}  // namespace adaptis::cli
