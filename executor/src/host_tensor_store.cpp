// HostTensorStore (transport.h): a CPU device's tensors, recycled through a pool.
#include "adaptis/executor/transport.h"

namespace adaptis::exec {

std::span<float> HostTensorStore::create(const TensorTag& t, size_t n) {
  auto [it, fresh] = held_.try_emplace(t);
  if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
  if (!pool_.empty()) {
    it->second = std::move(pool_.back());
    pool_.pop_back();
  }
  it->second.resize(n);
  bytes_ += n * sizeof(float);
  return {it->second.data(), n};
}

std::span<float> HostTensorStore::get(const TensorTag& t, const char* what) {
  auto it = held_.find(t);
  if (it == held_.end()) throw std::logic_error(std::string(what) + " '" + to_string(t) + "' is not on this device");
  return it->second;
}

void HostTensorStore::release(const TensorTag& t) {
  auto it = held_.find(t);
  if (it == held_.end()) return;
  bytes_ -= it->second.size() * sizeof(float);
  pool_.push_back(std::move(it->second));
  held_.erase(it);
}

}  // namespace adaptis::exec
