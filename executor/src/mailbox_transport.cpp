// The in-process transport: device threads exchange tensors through per-destination mailboxes.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>

#include "adaptis/executor/transport.h"

namespace adaptis::exec {

namespace {

struct SlotKey {
  int src;
  TensorTag tag;
  bool operator<(const SlotKey& o) const { return src != o.src ? src < o.src : tag < o.tag; }
};

// One message between one (src, dst) pair. `posted` and `arrived` are independent: the send may come
// before or after the post; the wait completes once both have happened.
struct Slot {
  float* buffer = nullptr;
  size_t size = 0;
  bool posted = false;
  bool arrived = false;
  bool sent = false;
  std::vector<float> staged;  // the data, when it arrived before the receive was posted
};

struct Mailbox {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::map<SlotKey, Slot> slots;
};

class MailboxTransport final : public Transport {
 public:
  explicit MailboxTransport(int n) : boxes_(static_cast<size_t>(n)), stores_(static_cast<size_t>(n), nullptr) {
    if (n < 1) throw std::logic_error("mailbox transport: needs at least one device");
  }

  const char* name() const override { return "mailbox"; }
  int num_devices() const override { return static_cast<int>(boxes_.size()); }

  void attach(int device, TensorStore& store) override {
    box_of(device, device);
    stores_[static_cast<size_t>(device)] = &store;
  }

  void detach(int device) override {
    box_of(device, device);
    stores_[static_cast<size_t>(device)] = nullptr;
  }

  // Copies the tensor out of the sender's store (into the posted buffer or a staging copy), then drops it there.
  void send(int src, int dst, const TensorTag& tag) override {
    Mailbox& box = box_of(dst, src);
    TensorStore& from = store_of(src);
    const std::span<const float> data = from.get(tag, "sends");
    {
      std::lock_guard<std::mutex> lk(box.mu);
      Slot& s = box.slots[{src, tag}];
      if (s.sent) throw std::logic_error("mailbox: " + describe_message(src, dst, tag) + " sent twice");
      s.sent = true;
      if (s.posted) {
        if (s.size != data.size())
          throw std::logic_error("mailbox: " + describe_message(src, dst, tag) + " sends " + std::to_string(data.size()) +
                                 " floats but the receiver posted " + std::to_string(s.size));
        if (!data.empty()) std::memcpy(s.buffer, data.data(), data.size_bytes());
      } else {
        s.staged.assign(data.begin(), data.end());
      }
      s.arrived = true;
    }
    box.cv.notify_all();
    from.release(tag);
  }

  // The buffer is created in the receiver's store now, so the data can land while the receiver computes.
  void post_recv(int dst, int src, const TensorTag& tag, size_t floats) override {
    Mailbox& box = box_of(dst, src);
    TensorStore& into = store_of(dst);
    std::lock_guard<std::mutex> lk(box.mu);
    Slot& s = box.slots[{src, tag}];
    if (s.posted) throw std::logic_error("mailbox: receive " + describe_message(src, dst, tag) + " posted twice");
    if (s.arrived && s.staged.size() != floats)
      throw std::logic_error("mailbox: " + describe_message(src, dst, tag) + " sent " + std::to_string(s.staged.size()) +
                             " floats but the receiver posted " + std::to_string(floats));
    const std::span<float> buffer = into.create(tag, floats);
    s.posted = true;
    s.buffer = buffer.data();
    s.size = buffer.size();
    if (s.arrived) {
      if (!buffer.empty()) std::memcpy(buffer.data(), s.staged.data(), buffer.size_bytes());
      std::vector<float>().swap(s.staged);
    }
  }

  void wait_recv(int dst, int src, const TensorTag& tag) override {
    Mailbox& box = box_of(dst, src);
    std::unique_lock<std::mutex> lk(box.mu);
    auto it = box.slots.find({src, tag});
    if (it == box.slots.end() || !it->second.posted)
      throw std::logic_error("mailbox: wait for " + describe_message(src, dst, tag) + " without a posted receive");
    box.cv.wait(lk, [&] { return it->second.arrived || aborted_.load(std::memory_order_acquire); });
    if (!it->second.arrived) throw TransportAborted(abort_reason());
    box.slots.erase(it);
  }

  void abort(const std::string& why) override {
    {
      std::lock_guard<std::mutex> lk(reason_mu_);
      if (!aborted_.load()) reason_ = why;
    }
    aborted_.store(true, std::memory_order_release);
    // Lock each box so a waiter that has checked the flag but not yet slept cannot miss the wake-up.
    for (Mailbox& b : boxes_) {
      std::lock_guard<std::mutex> lk(b.mu);
      b.cv.notify_all();
    }
  }

  bool aborted() const override { return aborted_.load(std::memory_order_acquire); }

  void reset() override {
    for (Mailbox& b : boxes_) {
      std::lock_guard<std::mutex> lk(b.mu);
      b.slots.clear();
    }
    std::lock_guard<std::mutex> lk(reason_mu_);
    reason_.clear();
    aborted_.store(false);
  }

  std::vector<std::string> pending() const override {
    std::vector<std::string> out;
    for (size_t dst = 0; dst < boxes_.size(); ++dst) {
      std::lock_guard<std::mutex> lk(boxes_[dst].mu);
      for (const auto& [key, s] : boxes_[dst].slots) {
        std::string what = describe_message(key.src, static_cast<int>(dst), key.tag);
        if (s.arrived && !s.posted) what += " (sent, never received)";
        else if (s.posted && !s.arrived) what += " (receive posted, never sent)";
        else what += " (received, never waited for)";
        out.push_back(what);
      }
    }
    return out;
  }

 private:
  TensorStore& store_of(int device) {
    TensorStore* s = stores_[static_cast<size_t>(device)];
    if (!s) throw std::logic_error("mailbox: device " + std::to_string(device) + " has no attached tensor store");
    return *s;
  }
  Mailbox& box_of(int dst, int src) {
    const int n = num_devices();
    if (dst < 0 || dst >= n || src < 0 || src >= n)
      throw std::logic_error("mailbox: device out of range (src " + std::to_string(src) + ", dst " +
                             std::to_string(dst) + ", " + std::to_string(n) + " devices)");
    return boxes_[static_cast<size_t>(dst)];
  }
  std::string abort_reason() const {
    std::lock_guard<std::mutex> lk(reason_mu_);
    return reason_.empty() ? "transport aborted" : reason_;
  }

  std::vector<Mailbox> boxes_;
  std::vector<TensorStore*> stores_;  // per device (attach)
  std::atomic<bool> aborted_{false};
  mutable std::mutex reason_mu_;
  std::string reason_;
};

}  // namespace

std::unique_ptr<Transport> make_mailbox_transport(int num_devices) {
  return std::make_unique<MailboxTransport>(num_devices);
}

}  // namespace adaptis::exec
