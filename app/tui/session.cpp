#include "tui/session.h"

namespace adaptis::tui {

TuiSession::TuiSession(TuiState initial, explorer::DriverOptions options)
    : state_(std::move(initial)), driver_(std::move(options)) {
  driver_.carry_out(state_.core);
}

TuiSession::~TuiSession() { driver_.shutdown(); }

void TuiSession::key(int k) {
  state_ = apply_key(std::move(state_), k);
  driver_.carry_out(state_.core);
}

void TuiSession::resize(int width, int height) { state_ = set_viewport(std::move(state_), width, height); }

bool TuiSession::poll() { return driver_.poll(state_.core); }

}  // namespace adaptis::tui
