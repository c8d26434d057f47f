// DeviceThreads: the threaded driver (device_threads.h).
#include "device_threads.h"

#include <algorithm>
#include <sstream>

#include "adaptis/model/error.h"

namespace adaptis::exec {

using Clock = std::chrono::steady_clock;

struct DeviceThreads::Slot {
  std::thread thread;
  std::unique_ptr<ExecDevice> device;
  DeviceStatus status;
  DeviceStepOutput output;
  std::string error;  // set when this device failed (not when it was merely aborted)
  bool begun = false;
};

DeviceThreads::DeviceThreads(const Program& program, DeviceFactory make_device, Transport& transport,
                             double watchdog_ms, std::string name, const HostClock& clock, StepGate* gate)
    : program_(program),
      make_device_(std::move(make_device)),
      transport_(transport),
      watchdog_ms_(watchdog_ms),
      name_(std::move(name)),
      clock_(clock),
      gate_(gate) {
  const int D = program_.num_devices();
  if (transport_.num_devices() != D)
    throw InputError(name_ + ": the transport connects " + std::to_string(transport_.num_devices()) +
                     " devices but the program has " + std::to_string(D));
  if (!(watchdog_ms_ > 0)) throw InputError(name_ + ": the watchdog timeout must be > 0 ms");
  for (int d = 0; d < D; ++d) slots_.push_back(std::make_unique<Slot>());
  for (int d = 0; d < D; ++d) slots_[d]->thread = std::thread([this, d] { worker(d); });

  std::unique_lock<std::mutex> lk(mu_);
  to_main_.wait(lk, [&] { return built_ == D; });
  std::string errors;
  for (int d = 0; d < D; ++d)
    if (!slots_[d]->error.empty()) errors += "\n  device " + std::to_string(d) + ": " + slots_[d]->error;
  lk.unlock();
  if (!errors.empty()) {
    stop();
    throw ExecutionError(name_ + ": could not build the stages:" + errors);
  }
}

DeviceThreads::~DeviceThreads() { stop(); }

ExecDevice& DeviceThreads::device(int d) const { return *slots_.at(static_cast<size_t>(d))->device; }

void DeviceThreads::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    shutdown_ = true;
  }
  to_workers_.notify_all();
  transport_.abort(name_ + " shutting down");
  for (auto& s : slots_)
    if (s->thread.joinable()) s->thread.join();
}

void DeviceThreads::worker(int d) {
  Slot& slot = *slots_[d];
  try {
    slot.device = make_device_(d);
    if (!slot.device) throw std::logic_error("the device factory returned nothing");
    transport_.attach(d, slot.device->store());
  } catch (const std::exception& e) {
    slot.error = e.what();
    if (slot.error.empty()) slot.error = "unknown error";
  }
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++built_;
  }
  to_main_.notify_all();
  if (slot.error.empty()) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        to_workers_.wait(lk, [&] { return shutdown_ || generation_ != seen; });
        if (shutdown_) break;
        seen = generation_;
      }
      // Prepare outside the timed region: gradients zeroed.
      slot.error.clear();
      slot.begun = false;
      slot.output = {};
      slot.status.current.store(-1);
      slot.status.set(DeviceState::Idle);
      try {
        slot.device->zero_grad();
      } catch (const std::exception& e) {
        slot.error = std::string("zero_grad: ") + e.what();
      }
      {
        std::unique_lock<std::mutex> lk(mu_);
        ++ready_;
        to_main_.notify_all();
        to_workers_.wait(lk, [&] { return shutdown_ || go_generation_ == seen; });
        if (shutdown_) break;
      }
      if (slot.error.empty()) {
        try {
          slot.output = run_device_list(program_, d, *slot.device, transport_, settings_, slot.status, &progress_);
        } catch (const TransportAborted&) {
          // Another device failed or the watchdog fired: that is the error to report.
          slot.device->abort_copies();
        } catch (const std::exception& e) {
          slot.device->abort_copies();
          slot.error = failure_site(program_, d, slot.status.current.load()) + ": " + e.what();
          transport_.abort("device " + std::to_string(d) + " failed " + slot.error);
        }
      } else {
        transport_.abort("device " + std::to_string(d) + " failed: " + slot.error);
      }
      slot.status.set(DeviceState::Done);
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (!slot.begun) {  // failed or aborted before its step began: the gate must not wait for it
          slot.begun = true;
          ++begun_;
        }
        ++finished_;
      }
      to_main_.notify_all();
    }
  }
  // The device goes on the thread that built it (a GPU device's streams and events belong to its context).
  try {
    if (slot.device) transport_.detach(d);
    slot.device.reset();
  } catch (...) {
  }
}

StepResult DeviceThreads::run_step(int step, const DataSource& data_source, const AdamW& optimizer,
                                   bool optimizer_step) {
  if (broken_) throw ExecutionError(name_ + ": an earlier iteration failed; the runtime cannot continue");
  const int D = program_.num_devices();
  const int m = program_.num_microbatches;
  std::vector<MicroBatchData> data;
  data.reserve(static_cast<size_t>(m));
  for (int mb = 0; mb < m; ++mb) data.push_back(data_source(step, mb));
  transport_.reset();

  std::unique_lock<std::mutex> lk(mu_);
  settings_.step = step;
  settings_.data = &data;
  settings_.optimizer = optimizer;
  settings_.optimizer_step = optimizer_step;
  settings_.begun = [this](int d) {
    {
      std::lock_guard<std::mutex> g(mu_);
      slots_[d]->begun = true;
      ++begun_;
    }
    to_main_.notify_all();
  };
  ready_ = begun_ = finished_ = 0;
  ++generation_;
  to_workers_.notify_all();
  to_main_.wait(lk, [&] { return ready_ == D; });
  if (gate_) gate_->before_release();
  StepResult r;
  r.step = step;
  const int64_t released = clock_.now_ns();
  go_generation_ = generation_;
  to_workers_.notify_all();
  if (gate_) {
    // Devices only enqueue their start (no device waits for another here), so this wait is short.
    to_main_.wait(lk, [&] { return begun_ == D; });
    lk.unlock();
    gate_->all_begun();
    lk.lock();
  }
  r.start_ns = gate_ ? gate_->start_ns(released) : released;

  // Watchdog: stuck = no instruction completed for watchdog_ms while every unfinished device waits.
  const auto limit = std::chrono::duration<double, std::milli>(watchdog_ms_);
  const auto poll = std::chrono::milliseconds(std::max(1, std::min(50, static_cast<int>(watchdog_ms_ / 10))));
  uint64_t last_progress = progress_.load();
  auto last_change = Clock::now();
  std::string stuck;
  while (finished_ < D) {
    to_main_.wait_for(lk, poll);
    if (finished_ >= D) break;
    const uint64_t p = progress_.load();
    const auto now = Clock::now();
    if (p != last_progress) {
      last_progress = p;
      last_change = now;
      continue;
    }
    if (!stuck.empty() || now - last_change < limit) continue;
    bool busy = false;
    for (const auto& s : slots_) {
      const DeviceState st = s->status.get();
      if (st == DeviceState::Computing || st == DeviceState::Communicating || st == DeviceState::Epilogue) busy = true;
    }
    if (busy) continue;
    std::ostringstream os;
    os << "run stuck in step " << step << ": no device made progress for " << watchdog_ms_ << " ms";
    for (int d = 0; d < D; ++d) {
      const DeviceStatus& st = slots_[d]->status;
      const DeviceState s = st.get();
      const int at = st.current.load();
      os << "\n  device " << d << ' ';
      if (s == DeviceState::Done) os << "finished its list";
      else if (at >= 0) os << device_state_name(s) << " at #" << at << " '" << program_.devices[d][at].to_string() << "'";
      else os << device_state_name(s);
    }
    for (const auto& pnd : transport_.pending()) os << "\n  message " << pnd;
    stuck = os.str();
    lk.unlock();
    transport_.abort(stuck);
    lk.lock();
  }
  lk.unlock();
  if (gate_) gate_->after_step();

  std::string errors;
  for (int d = 0; d < D; ++d)
    if (!slots_[d]->error.empty()) errors += "\n  device " + std::to_string(d) + " failed " + slots_[d]->error;
  if (!stuck.empty() || !errors.empty()) {
    broken_ = true;
    throw ExecutionError(!stuck.empty() ? stuck : name_ + ": step " + std::to_string(step) + " failed:" + errors);
  }
  if (auto left = transport_.pending(); !left.empty()) {
    broken_ = true;
    std::string msg = name_ + ": step " + std::to_string(step) + " left messages behind:";
    for (const auto& l : left) msg += "\n  " + l;
    throw ExecutionError(msg);
  }

  std::vector<DeviceStepOutput> outputs;
  outputs.reserve(slots_.size());
  for (auto& s : slots_) outputs.push_back(std::move(s->output));
  gather_losses(program_, outputs, r);
  r.intervals.resize(static_cast<size_t>(D));
  r.optimizer.resize(static_cast<size_t>(D));
  r.peak_activation_bytes.resize(static_cast<size_t>(D));
  r.peak_saved_bytes.resize(static_cast<size_t>(D));
  r.offloaded_bytes.resize(static_cast<size_t>(D));
  r.pipeline_end_ns = r.start_ns;
  r.end_ns = r.start_ns;
  for (int d = 0; d < D; ++d) {
    DeviceStepOutput& o = outputs[d];
    r.intervals[d] = std::move(o.intervals);
    for (const Interval& iv : r.intervals[d]) r.pipeline_end_ns = std::max(r.pipeline_end_ns, iv.end_ns);
    r.optimizer[d] = o.optimizer;
    r.end_ns = std::max(r.end_ns, o.optimizer.end_ns);
    r.peak_activation_bytes[d] = o.peak_bytes;
    r.peak_saved_bytes[d] = o.peak_saved_bytes;
    r.offloaded_bytes[d] = o.offloaded_bytes;
  }
  r.end_ns = std::max(r.end_ns, r.pipeline_end_ns);
  return r;
}

}  // namespace adaptis::exec
