#pragma once
// How tensors move between pipeline devices: the one communication interface of every backend the executor's
// interpreter drives: the in-process mailbox (device threads on one CPU, below), device-to-device copies
// between virtual devices of one GPU, and NCCL between GPUs (executor/src/cuda/). The interpreter only ever
// calls these operations, on the device's own thread, in the order its lowered instruction list gives:
//   send       - non-blocking: when it returns the tensor has left the sender's store and the transport owns
//                it (copied into the receiver's posted buffer, staged, or handed over with its device buffer);
//   post_recv  - announces a receive early; the tensor will land in the receiver's store;
//   wait_recv  - returns once the tensor is in the receiver's store and usable by its next compute; returns
//                early only when the transport is aborted (throws TransportAborted), so a stuck run can always
//                be stopped;
//   progress   - between instructions, a chance to move transfers along (GPU copies start as soon as both
//                sides are known);
//   finish_sends - after the device's list: whatever the transport still holds of the device's sends is
//                settled (a GPU sender frees its buffers once the receivers' copies are enqueued);
//   abort      - wakes every waiter; used by the runtime's watchdog and when one device fails.
// Each device's tensors live in its TensorStore (host vectors on a CPU, device buffers on a GPU), which the
// runtime attaches before the first step; how a backend reaches its devices' streams stays behind it.
// Messages are matched by (source, destination, tag); the tag (kind, stage, mb) is unique per iteration.
#include <cstddef>
#include <map>
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

// The tensors one device holds between instructions: its outputs waiting to be sent or consumed locally, and
// received inputs. Used only from the device's own thread (and by the transport inside its calls).
class TensorStore {
 public:
  virtual ~TensorStore() = default;
  // A new tensor of `floats` floats under `t`; std::logic_error when `t` is already held.
  virtual std::span<float> create(const TensorTag& t, size_t floats) = 0;
  // The tensor held under `t`; std::logic_error naming `what` and the tag when it is not held.
  virtual std::span<float> get(const TensorTag& t, const char* what) = 0;
  // Drops the tensor (no-op when it is not held).
  virtual void release(const TensorTag& t) = 0;
  // Bytes held right now.
  virtual size_t bytes() const = 0;
};

// Host memory: buffers recycled through a pool, so steady-state steps do not allocate.
class HostTensorStore final : public TensorStore {
 public:
  std::span<float> create(const TensorTag& t, size_t floats) override;
  std::span<float> get(const TensorTag& t, const char* what) override;
  void release(const TensorTag& t) override;
  size_t bytes() const override { return bytes_; }

 private:
  std::map<TensorTag, std::vector<float>> held_;
  std::vector<std::vector<float>> pool_;
  size_t bytes_ = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  virtual int num_devices() const = 0;

  // Binds device `device`'s store: what it sends leaves it, what it receives lands in it. Called once per
  // device before its first step, on that device's thread; a backend may refuse a store it cannot reach
  // (std::logic_error), e.g. a GPU transport a host store.
  virtual void attach(int device, TensorStore& store) = 0;
  // Forgets the device's store and drops whatever the transport holds for it (called on the device's thread
  // before the device and its store go).
  virtual void detach(int device) = 0;

  virtual void send(int src, int dst, const TensorTag& tag) = 0;
  virtual void post_recv(int dst, int src, const TensorTag& tag, size_t floats) = 0;
  virtual void wait_recv(int dst, int src, const TensorTag& tag) = 0;
  virtual void progress(int device) {}
  virtual void finish_sends(int device) {}

  virtual void abort(const std::string& why) = 0;
  virtual bool aborted() const = 0;
  // Forgets every message and clears the aborted state (between iterations or after a failure).
  virtual void reset() = 0;
  // Messages sent but never received, and receives posted but never completed, e.g. "d0 -> d1 act s0 mb3
  // (sent, never received)". Empty after a clean iteration.
  virtual std::vector<std::string> pending() const = 0;
};

// Threads in one process: per destination device, a mutex-protected table of slots keyed by (src, tag). A
// send that finds the receive posted copies straight into the receiver's buffer; otherwise it stages a copy
// that the post adopts. Throws std::logic_error on protocol misuse (the same tag sent or posted twice, sizes
// that differ between sender and receiver, a wait without a post, a device without an attached store).
std::unique_ptr<Transport> make_mailbox_transport(int num_devices);

}  // namespace adaptis::exec
