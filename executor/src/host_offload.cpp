// The CPU backend's activation offload (host_offload.h).
#include "host_offload.h"

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

namespace adaptis::exec {

namespace {

std::string key_text(int stage, int mb) { return "s" + std::to_string(stage) + " mb" + std::to_string(mb); }

template <typename T>
void release(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

}  // namespace

HostOffload::HostOffload(double bandwidth, double latency_ms, std::function<void(int64_t)> on_device_bytes)
    : bandwidth_(bandwidth), latency_ms_(latency_ms), on_device_bytes_(std::move(on_device_bytes)) {
  if (!(bandwidth_ > 0)) throw std::invalid_argument("host offload: the bandwidth must be > 0");
  to_host_.thread = std::thread([this] { serve(Kind::ToHost); });
  to_device_.thread = std::thread([this] { serve(Kind::ToDevice); });
}

HostOffload::~HostOffload() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  to_host_.thread.join();
  to_device_.thread.join();
}

void HostOffload::offload(int stage, int mb, Buffers bufs) {
  std::lock_guard<std::mutex> lk(mu_);
  auto [it, fresh] = entries_.try_emplace({stage, mb});
  if (!fresh) throw std::logic_error("offload of " + key_text(stage, mb) + " twice in one iteration");
  it->second.bufs = std::move(bufs);
  to_host_.jobs.emplace_back(stage, mb);
  cv_.notify_all();
}

void HostOffload::reload(int stage, int mb) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = entries_.find({stage, mb});
  if (it == entries_.end()) throw std::logic_error("reload of " + key_text(stage, mb) + " which was not offloaded");
  if (it->second.reload_queued) throw std::logic_error("reload of " + key_text(stage, mb) + " twice");
  it->second.reload_queued = true;
  to_device_.jobs.emplace_back(stage, mb);
  cv_.notify_all();
}

void HostOffload::wait_reload(int stage, int mb) {
  std::unique_lock<std::mutex> lk(mu_);
  auto it = entries_.find({stage, mb});
  if (it == entries_.end() || !it->second.reload_queued)
    throw std::logic_error("waits for the reload of " + key_text(stage, mb) + " which was never issued");
  cv_.wait(lk, [&] { return aborted_ || it->second.reloaded; });
  if (!it->second.reloaded) throw std::runtime_error("host offload aborted while waiting for " + key_text(stage, mb));
}

void HostOffload::abort() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    aborted_ = true;
  }
  cv_.notify_all();
}

void HostOffload::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  if (!to_host_.jobs.empty() || !to_device_.jobs.empty())
    throw std::logic_error("host offload: copies still queued at the end of an iteration");
  for (const auto& [k, e] : entries_)
    if (!e.reloaded)
      throw std::logic_error("host offload: " + key_text(k.first, k.second) + " was offloaded but never copied back");
  entries_.clear();
  moved_to_host_ = moved_to_device_ = 0;
}

int64_t HostOffload::bytes_to_host() const {
  std::lock_guard<std::mutex> lk(mu_);
  return moved_to_host_;
}

int64_t HostOffload::bytes_to_device() const {
  std::lock_guard<std::mutex> lk(mu_);
  return moved_to_device_;
}

void HostOffload::pace(std::chrono::steady_clock::time_point start, int64_t bytes) const {
  const double ms = latency_ms_ + static_cast<double>(bytes) / bandwidth_ * 1e3;
  std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                            std::chrono::duration<double, std::milli>(ms)));
}

void HostOffload::serve(Kind kind) {
  Channel& ch = kind == Kind::ToHost ? to_host_ : to_device_;
  for (;;) {
    std::unique_lock<std::mutex> lk(mu_);
    Entry* e = nullptr;
    cv_.wait(lk, [&] {
      if (stop_ || aborted_) return true;
      if (ch.jobs.empty()) return false;
      e = &entries_[ch.jobs.front()];
      // A copy back waits for its copy out.
      return kind == Kind::ToHost || e->offloaded;
    });
    if (stop_ || aborted_) return;
    ch.jobs.pop_front();
    lk.unlock();
    // The entry's buffers belong to this thread until the copy ends (see host_offload.h).
    const auto start = std::chrono::steady_clock::now();
    int64_t bytes = 0;
    if (kind == Kind::ToHost) {
      e->host_f.resize(e->bufs.f.size());
      e->host_i.resize(e->bufs.i.size());
      for (size_t k = 0; k < e->bufs.f.size(); ++k) {
        e->host_f[k] = *e->bufs.f[k];
        bytes += static_cast<int64_t>(e->host_f[k].size() * sizeof(float));
      }
      for (size_t k = 0; k < e->bufs.i.size(); ++k) {
        e->host_i[k] = *e->bufs.i[k];
        bytes += static_cast<int64_t>(e->host_i[k].size() * sizeof(int32_t));
      }
      pace(start, bytes);
      for (auto* v : e->bufs.f) release(*v);
      for (auto* v : e->bufs.i) release(*v);
      on_device_bytes_(-bytes);
    } else {
      bytes = e->bytes;
      on_device_bytes_(bytes);  // reserved when the copy back starts
      for (size_t k = 0; k < e->bufs.f.size(); ++k) {
        *e->bufs.f[k] = e->host_f[k];
        release(e->host_f[k]);
      }
      for (size_t k = 0; k < e->bufs.i.size(); ++k) {
        *e->bufs.i[k] = e->host_i[k];
        release(e->host_i[k]);
      }
      pace(start, bytes);
    }
    lk.lock();
    if (kind == Kind::ToHost) {
      e->bytes = bytes;
      e->offloaded = true;
      moved_to_host_ += bytes;
    } else {
      e->reloaded = true;
      moved_to_device_ += bytes;
    }
    cv_.notify_all();
  }
}

}  // namespace adaptis::exec
