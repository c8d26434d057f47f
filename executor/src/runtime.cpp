#include "adaptis/executor/runtime.h"

#include <time.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

using Clock = std::chrono::steady_clock;

enum class DeviceState : int { Idle, Computing, Communicating, Waiting, Epilogue, Done };

const char* state_name(DeviceState s) {
  switch (s) {
    case DeviceState::Idle: return "idle";
    case DeviceState::Computing: return "computing";
    case DeviceState::Communicating: return "communicating";
    case DeviceState::Waiting: return "waiting";
    case DeviceState::Epilogue: return "in the optimizer step";
    case DeviceState::Done: return "done";
  }
  return "?";
}

}  // namespace

// What the device threads and the driving thread share. `mu` guards every plain field; the atomics are
// read by the watchdog without the lock.
struct PipelineRuntime::Shared {
  std::mutex mu;
  std::condition_variable to_workers;
  std::condition_variable to_main;
  Clock::time_point origin = Clock::now();
  bool shutdown = false;
  int built = 0;
  uint64_t generation = 0;     // one per run_step command
  uint64_t go_generation = 0;  // set when every device is ready: the iteration starts
  int ready = 0;
  int finished = 0;
  int step = 0;
  const std::vector<MicroBatchData>* data = nullptr;
  std::atomic<uint64_t> progress{0};

  int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin).count();
  }
};

struct PipelineRuntime::Device {
  int id = 0;
  std::thread thread;
  std::vector<std::unique_ptr<StageCompute>> stages;  // in program.device_stages[id] order

  // Tensors this device holds between instructions: its own outputs waiting to be sent or consumed
  // locally, and received inputs. Buffers are recycled through `pool` so steady-state steps do not allocate.
  std::map<TensorTag, std::vector<float>> store;
  std::vector<std::vector<float>> pool;
  size_t store_bytes = 0;

  std::vector<Interval> intervals;
  Interval optimizer;
  size_t peak_bytes = 0;

  std::atomic<int> state{static_cast<int>(DeviceState::Idle)};
  std::atomic<int> current{-1};
  std::string error;   // set when this device failed (not when it was merely aborted)
  bool aborted = false;

  std::span<float> create(const TensorTag& t, size_t n) {
    auto [it, fresh] = store.try_emplace(t);
    if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
    if (!pool.empty()) {
      it->second = std::move(pool.back());
      pool.pop_back();
    }
    it->second.resize(n);
    store_bytes += n * sizeof(float);
    return {it->second.data(), n};
  }
  float* get(const TensorTag& t, const char* what) {
    auto it = store.find(t);
    if (it == store.end())
      throw std::logic_error(std::string(what) + " '" + to_string(t) + "' is not on this device");
    return it->second.data();
  }
  void release(const TensorTag& t) {
    auto it = store.find(t);
    if (it == store.end()) return;
    store_bytes -= it->second.size() * sizeof(float);
    pool.push_back(std::move(it->second));
    store.erase(it);
  }
  size_t held_bytes() const {
    size_t b = store_bytes;
    for (const auto& s : stages) b += s->saved_bytes();
    return b;
  }
};

PipelineRuntime::PipelineRuntime(Program program, StageFactory make_stage, std::unique_ptr<Transport> transport,
                                 RuntimeOptions options)
    : program_(std::move(program)),
      make_stage_(std::move(make_stage)),
      transport_(std::move(transport)),
      opt_(options),
      shared_(std::make_unique<Shared>()) {
  if (opt_.check_program) require_valid_program(program_, "executor");
  if (!transport_) throw std::logic_error("PipelineRuntime: no transport");
  const int D = program_.num_devices();
  if (transport_->num_devices() != D)
    throw InputError("executor: the transport connects " + std::to_string(transport_->num_devices()) +
                     " devices but the program has " + std::to_string(D));
  if (!(opt_.watchdog_ms > 0)) throw InputError("executor: the watchdog timeout must be > 0 ms");
  stages_.assign(program_.num_stages(), nullptr);
  for (int d = 0; d < D; ++d) {
    devices_.push_back(std::make_unique<Device>());
    devices_.back()->id = d;
  }
  for (int d = 0; d < D; ++d) devices_[d]->thread = std::thread([this, d] { worker(d); });

  std::unique_lock<std::mutex> lk(shared_->mu);
  shared_->to_main.wait(lk, [&] { return shared_->built == D; });
  std::string errors;
  for (int d = 0; d < D; ++d)
    if (!devices_[d]->error.empty()) errors += "\n  device " + std::to_string(d) + ": " + devices_[d]->error;
  lk.unlock();
  if (!errors.empty()) {
    stop();
    throw ExecutionError("executor: could not build the stages:" + errors);
  }
  for (int d = 0; d < D; ++d)
    for (size_t k = 0; k < program_.device_stages[d].size(); ++k)
      stages_[program_.device_stages[d][k]] = devices_[d]->stages[k].get();
}

PipelineRuntime::~PipelineRuntime() { stop(); }

void PipelineRuntime::stop() {
  if (!shared_) return;
  {
    std::lock_guard<std::mutex> lk(shared_->mu);
    shared_->shutdown = true;
  }
  shared_->to_workers.notify_all();
  if (transport_) transport_->abort("executor shutting down");
  for (auto& d : devices_)
    if (d->thread.joinable()) d->thread.join();
}

const StageCompute& PipelineRuntime::stage(int s) const {
  if (s < 0 || s >= num_stages()) throw std::out_of_range("PipelineRuntime::stage: no stage " + std::to_string(s));
  return *stages_[s];
}

void PipelineRuntime::worker(int d) {
  Device& dev = *devices_[d];
  Shared& sh = *shared_;
  try {
    for (int s : program_.device_stages[d]) {
      int a = program_.stage_bounds[s], b = program_.stage_bounds[s + 1];
      auto sc = make_stage_(a, b, program_.num_microbatches);
      if (!sc) throw std::logic_error("the stage factory returned nothing for stage " + std::to_string(s));
      dev.stages.push_back(std::move(sc));
    }
  } catch (const std::exception& e) {
    dev.error = e.what();
  }
  {
    std::lock_guard<std::mutex> lk(sh.mu);
    ++sh.built;
  }
  sh.to_main.notify_all();
  if (!dev.error.empty()) return;

  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(sh.mu);
      sh.to_workers.wait(lk, [&] { return sh.shutdown || sh.generation != seen; });
      if (sh.shutdown) return;
      seen = sh.generation;
    }
    // Prepare outside the timed region: gradients zeroed, interval slots reset.
    dev.error.clear();
    dev.aborted = false;
    dev.intervals.assign(program_.devices[d].size(), Interval{});
    dev.optimizer = {};
    dev.peak_bytes = 0;
    dev.current.store(-1);
    dev.state.store(static_cast<int>(DeviceState::Idle));
    try {
      for (auto& s : dev.stages) s->zero_grad();
    } catch (const std::exception& e) {
      dev.error = std::string("zero_grad: ") + e.what();
    }
    {
      std::unique_lock<std::mutex> lk(sh.mu);
      ++sh.ready;
      sh.to_main.notify_all();
      sh.to_workers.wait(lk, [&] { return sh.shutdown || sh.go_generation == seen; });
      if (sh.shutdown) return;
    }
    if (dev.error.empty()) {
      try {
        execute(d);
        dev.state.store(static_cast<int>(DeviceState::Epilogue));
        dev.optimizer.start_ns = sh.now_ns();
        const int64_t c0 = thread_cpu_ns();
        for (auto& s : dev.stages) s->finish_backward();
        if (opt_.optimizer_step)
          for (auto& s : dev.stages) s->step(opt_.optimizer, sh.step);
        dev.optimizer.end_ns = sh.now_ns();
        dev.optimizer.cpu_ns = thread_cpu_ns() - c0;
      } catch (const TransportAborted&) {
        dev.aborted = true;
      } catch (const std::exception& e) {
        int at = dev.current.load();
        std::string where = at >= 0 && at < static_cast<int>(program_.devices[d].size())
                                ? "#" + std::to_string(at) + " '" + program_.devices[d][at].to_string() + "'"
                                : std::string("the optimizer step");
        dev.error = "at " + where + ": " + e.what();
        transport_->abort("device " + std::to_string(d) + " failed " + dev.error);
      }
    } else {
      transport_->abort("device " + std::to_string(d) + " failed: " + dev.error);
    }
    dev.state.store(static_cast<int>(DeviceState::Done));
    {
      std::lock_guard<std::mutex> lk(sh.mu);
      ++sh.finished;
    }
    sh.to_main.notify_all();
  }
}

void PipelineRuntime::execute(int d) {
  Device& dev = *devices_[d];
  Shared& sh = *shared_;
  const auto& list = program_.devices[d];
  const int S = program_.num_stages();
  const auto& data = *sh.data;
  Transport& tr = *transport_;

  for (size_t i = 0; i < list.size(); ++i) {
    if (tr.aborted()) throw TransportAborted("aborted");
    const Instruction& ins = list[i];
    dev.current.store(static_cast<int>(i), std::memory_order_relaxed);
    DeviceState st = ins.kind == InstrKind::Compute    ? DeviceState::Computing
                     : ins.kind == InstrKind::WaitRecv ? DeviceState::Waiting
                                                       : DeviceState::Communicating;
    dev.state.store(static_cast<int>(st), std::memory_order_relaxed);
    const int64_t t0 = sh.now_ns();
    const int64_t c0 = thread_cpu_ns();
    switch (ins.kind) {
      case InstrKind::Compute: {
        StageCompute& sc = *stages_[ins.stage];
        const int s = ins.stage, mb = ins.mb;
        const size_t n = sc.activation_floats();
        if (ins.op == Op::F) {
          const TensorTag in{TensorKind::Activation, s - 1, mb};
          const float* input = s > 0 ? dev.get(in, "input activation") : nullptr;
          float* output = s + 1 < S ? dev.create({TensorKind::Activation, s, mb}, n).data() : nullptr;
          sc.forward(mb, data[mb], input, output);
          if (s > 0) dev.release(in);
        } else if (ins.op == Op::B || ins.op == Op::BW) {
          const TensorTag gout{TensorKind::Gradient, s + 1, mb};
          const float* grad_output = s + 1 < S ? dev.get(gout, "output gradient") : nullptr;
          float* grad_input = s > 0 ? dev.create({TensorKind::Gradient, s, mb}, n).data() : nullptr;
          sc.backward_input(mb, data[mb], grad_output, grad_input);
          if (ins.op == Op::BW) sc.backward_weight(mb);
          if (s + 1 < S) dev.release(gout);
        } else {
          sc.backward_weight(mb);
        }
        break;
      }
      case InstrKind::Send: {
        const TensorTag& t = ins.tensor;
        auto it = dev.store.find(t);
        if (it == dev.store.end()) throw std::logic_error("sends '" + to_string(t) + "' which this device does not hold");
        tr.send(d, ins.peer, t, it->second);
        dev.release(t);
        break;
      }
      case InstrKind::PostRecv: {
        const TensorTag& t = ins.tensor;
        const int consumer = t.kind == TensorKind::Activation ? t.stage + 1 : t.stage - 1;
        if (consumer < 0 || consumer >= S || !stages_[consumer])
          throw std::logic_error("receives '" + to_string(t) + "' which no stage consumes");
        tr.post_recv(d, ins.peer, t, dev.create(t, stages_[consumer]->activation_floats()));
        break;
      }
      case InstrKind::WaitRecv:
        tr.wait_recv(d, ins.peer, ins.tensor);
        break;
    }
    const int64_t t1 = sh.now_ns();
    dev.intervals[i] = {t0, t1, thread_cpu_ns() - c0};
    if (ins.kind != InstrKind::WaitRecv) dev.peak_bytes = std::max(dev.peak_bytes, dev.held_bytes());
    sh.progress.fetch_add(1, std::memory_order_relaxed);
  }
}

StepResult PipelineRuntime::run_step(int step, const DataSource& data_source) {
  if (broken_) throw ExecutionError("executor: an earlier iteration failed; the runtime cannot continue");
  Shared& sh = *shared_;
  const int D = program_.num_devices();
  const int m = program_.num_microbatches;
  std::vector<MicroBatchData> data;
  data.reserve(m);
  for (int mb = 0; mb < m; ++mb) data.push_back(data_source(step, mb));
  transport_->reset();

  std::unique_lock<std::mutex> lk(sh.mu);
  sh.data = &data;
  sh.step = step;
  sh.ready = 0;
  sh.finished = 0;
  ++sh.generation;
  sh.to_workers.notify_all();
  sh.to_main.wait(lk, [&] { return sh.ready == D; });
  StepResult r;
  r.step = step;
  r.start_ns = sh.now_ns();
  sh.go_generation = sh.generation;
  sh.to_workers.notify_all();

  // Watchdog: stuck = no instruction completed for watchdog_ms while every unfinished device waits.
  const auto limit = std::chrono::duration<double, std::milli>(opt_.watchdog_ms);
  const auto poll = std::chrono::milliseconds(std::max(1, std::min(50, static_cast<int>(opt_.watchdog_ms / 10))));
  uint64_t last_progress = sh.progress.load();
  auto last_change = Clock::now();
  std::string stuck;
  while (sh.finished < D) {
    sh.to_main.wait_for(lk, poll);
    if (sh.finished >= D) break;
    uint64_t p = sh.progress.load();
    auto now = Clock::now();
    if (p != last_progress) {
      last_progress = p;
      last_change = now;
      continue;
    }
    if (!stuck.empty() || now - last_change < limit) continue;
    bool busy = false;
    for (const auto& dev : devices_) {
      auto s = static_cast<DeviceState>(dev->state.load());
      if (s == DeviceState::Computing || s == DeviceState::Communicating || s == DeviceState::Epilogue) busy = true;
    }
    if (busy) continue;
    std::ostringstream os;
    os << "run stuck in step " << step << ": no device made progress for " << opt_.watchdog_ms << " ms";
    for (int d = 0; d < D; ++d) {
      const Device& dev = *devices_[d];
      auto s = static_cast<DeviceState>(dev.state.load());
      int at = dev.current.load();
      os << "\n  device " << d << ' ';
      if (s == DeviceState::Done) os << "finished its list";
      else if (at >= 0)
        os << state_name(s) << " at #" << at << " '" << program_.devices[d][at].to_string() << "'";
      else os << state_name(s);
    }
    for (const auto& pnd : transport_->pending()) os << "\n  message " << pnd;
    stuck = os.str();
    lk.unlock();
    transport_->abort(stuck);
    lk.lock();
  }
  lk.unlock();

  std::string errors;
  for (int d = 0; d < D; ++d)
    if (!devices_[d]->error.empty()) errors += "\n  device " + std::to_string(d) + " failed " + devices_[d]->error;
  if (!stuck.empty() || !errors.empty()) {
    broken_ = true;
    throw ExecutionError(!stuck.empty() ? stuck : "executor: step " + std::to_string(step) + " failed:" + errors);
  }
  if (auto left = transport_->pending(); !left.empty()) {
    broken_ = true;
    std::string msg = "executor: step " + std::to_string(step) + " left messages behind:";
    for (const auto& l : left) msg += "\n  " + l;
    throw ExecutionError(msg);
  }

  // A micro-batch's loss is the sum of every stage's terms in global layer order (the CE on the last stage,
  // MoE aux losses wherever those layers live), which is how a single-stage model adds them up.
  const std::vector<const StageCompute*> in_order(stages_.begin(), stages_.end());
  r.mb_losses.assign(m, 0.0);
  for (int mb = 0; mb < m; ++mb) r.mb_losses[mb] = microbatch_loss(in_order, mb);
  // Variable-length units weigh their mean token loss by their share of the tokens (loss_weight; 1 for
  // identical micro-batches), so the loss is the iteration's mean token loss.
  double sum = 0;
  for (int mb = 0; mb < m; ++mb) sum += r.mb_losses[mb] * data[mb].loss_weight;
  r.loss = sum / m;
  r.intervals.resize(D);
  r.optimizer.resize(D);
  r.peak_activation_bytes.resize(D);
  r.pipeline_end_ns = r.start_ns;
  r.end_ns = r.start_ns;
  for (int d = 0; d < D; ++d) {
    Device& dev = *devices_[d];
    r.intervals[d] = dev.intervals;
    for (const Interval& iv : dev.intervals) r.pipeline_end_ns = std::max(r.pipeline_end_ns, iv.end_ns);
    r.optimizer[d] = dev.optimizer;
    r.end_ns = std::max({r.end_ns, dev.optimizer.end_ns});
    r.peak_activation_bytes[d] = dev.peak_bytes;
  }
  r.end_ns = std::max(r.end_ns, r.pipeline_end_ns);
  return r;
}

std::vector<NamedTensor> PipelineRuntime::grads() const {
  std::vector<NamedTensor> out;
  for (const StageCompute* s : stages_) {
    auto g = s->grads();
    for (const auto& t : s->tensors()) out.push_back({t.name, g.subspan(t.offset, t.size)});
  }
  return out;
}

std::vector<NamedTensor> PipelineRuntime::params() const {
  std::vector<NamedTensor> out;
  for (const StageCompute* s : stages_) {
    auto p = s->params();
    for (const auto& t : s->tensors()) out.push_back({t.name, p.subspan(t.offset, t.size)});
  }
  return out;
}

int64_t thread_cpu_ns() {
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

uint64_t tensor_checksum(const std::vector<NamedTensor>& tensors) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      h ^= p[i];
      h *= 1099511628211ull;
    }
  };
  for (const auto& t : tensors) {
    mix(reinterpret_cast<const unsigned char*>(t.name.data()), t.name.size());
    const unsigned char zero = 0;
    mix(&zero, 1);
    mix(reinterpret_cast<const unsigned char*>(t.data.data()), t.data.size_bytes());
  }
  return h;
}

std::string checksum_hex(uint64_t checksum) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(checksum));
  return buf;
}

}  // namespace adaptis::exec
