#pragma once
// How tensors move between device threads. One interface, several backends: the in-process mailbox
// (threads on one CPU, below) now; CUDA peer copies and NCCL later. The runtime only ever calls these four
// operations, in the order the lowered instruction lists give:
//   send      - non-blocking for the caller: when it returns the transport owns the data (copied into the
//               receiver's posted buffer, or staged until the receiver posts);
//   post_recv - announces a receive early and names the buffer the data should land in;
//   wait_recv - blocks until the posted receive has completed; returns early only when the transport is
//               aborted (throws TransportAborted), so a stuck run can always be stopped;
//   abort     - wakes every waiter; used by the runtime's watchdog and when one device fails.
// Messages are matched by (source, destination, tag); the tag (kind, stage, mb) is unique per iteration.
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "adaptis/executor/instruction.h"

namespace adaptis::exec {

class TransportAborted : public std::runtime_error {
 public:
  explicit TransportAborted(const std::string& why) : std::runtime_error(why) {}
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual int num_devices() const = 0;

  virtual void send(int src, int dst, const TensorTag& tag, std::span<const float> data) = 0;
  // `buffer` must stay alive and untouched until wait_recv returns.
  virtual void post_recv(int dst, int src, const TensorTag& tag, std::span<float> buffer) = 0;
  virtual void wait_recv(int dst, int src, const TensorTag& tag) = 0;

  virtual void abort(const std::string& why) = 0;
  virtual bool aborted() const = 0;
  // Forgets every message and clears the aborted state (between iterations or after a failure).
  virtual void reset() = 0;
  // Messages sent but never received, and receives posted but never completed, e.g. "d0 -> d1 act s0 mb3
  // (sent, not received)". Empty after a clean iteration.
  virtual std::vector<std::string> pending() const = 0;
};

// Threads in one process: per destination device, a mutex-protected table of slots keyed by (src, tag).
// A send that finds the receive posted copies straight into the receiver's buffer; otherwise it stages a
// copy that the post adopts. Throws std::logic_error on protocol misuse (the same tag sent or posted twice,
// sizes that differ between sender and receiver, a wait without a post).
std::unique_ptr<Transport> make_mailbox_transport(int num_devices);

}  // namespace adaptis::exec
