#include "cli/sigint_cancel.h"

#include <csignal>

namespace adaptis::cli {

namespace {
// A signal handler can only reach static storage, hence this one file-local flag; it is armed only
// while a SigintCancels lives.
std::atomic<bool> g_cancel_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the SIGINT handler needs a lock-free flag");
extern "C" void on_sigint(int) { g_cancel_requested.store(true); }
}  // namespace

SigintCancels::SigintCancels() {
  g_cancel_requested.store(false);
  previous_ = std::signal(SIGINT, on_sigint);
}

SigintCancels::~SigintCancels() { std::signal(SIGINT, previous_ == SIG_ERR ? SIG_DFL : previous_); }

const std::atomic<bool>* SigintCancels::flag() { return &g_cancel_requested; }

}  // namespace adaptis::cli
