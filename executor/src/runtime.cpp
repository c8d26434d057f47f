#include "adaptis/executor/runtime.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "device_threads.h"
#include "host_offload.h"
#include "interpreter.h"

namespace adaptis::exec {

namespace {

// A CPU device thread: its stages' StageComputes, host tensors, and the host clock (wall and thread CPU time).
// With memory policies it also keeps the exact count of saved activation bytes (changed by this thread around
// each compute and by the offload copy threads when they release or re-create buffers) and owns the offload
// engine of its stages.
class HostDevice final : public ExecDevice {
 public:
  HostDevice(const Program& program, int device, const StageFactory& make_stage, const HostClock& clock,
             const RuntimeOptions& options)
      : program_(program), clock_(clock) {
    for (int s : program.device_stages[device]) {
      auto sc = make_stage(program.stage_bounds[s], program.stage_bounds[s + 1], program.num_microbatches);
      if (!sc) throw std::logic_error("the stage factory returned nothing for stage " + std::to_string(s));
      by_stage_[s] = sc.get();
      stages_.push_back(std::move(sc));
    }
    // Memory policies: what F drops (R re-creates) and whether this device's stages offload.
    bool offloads = false;
    for (int s : program.device_stages[device]) {
      if (program.memory.empty()) break;
      const StageMemory& sm = program.memory[static_cast<size_t>(s)];
      at(s).set_recompute(sm.recompute, sm.full_end, sm.microbatches);
      offloads = offloads || sm.offload_fraction > 0;
    }
    if (offloads)
      offload_ = std::make_unique<HostOffload>(options.host_bandwidth_gbs * 1e9, options.host_latency_ms,
                                               [this](int64_t delta) { add_saved(delta); });
  }

  StageCompute* stage(int s) const {
    auto it = by_stage_.find(s);
    return it == by_stage_.end() ? nullptr : it->second;
  }

  TensorStore& store() override { return store_; }
  bool holds(int s) const override { return stage(s) != nullptr; }
  size_t activation_floats(int s) const override { return at(s).activation_floats(); }
  void forward(int s, int mb, const MicroBatchData& data, const float* in, float* out) override {
    counted(s, mb, [&](StageCompute& sc) { sc.forward(mb, data, in, out); });
  }
  void backward_input(int s, int mb, const MicroBatchData& data, const float* gout, float* gin) override {
    counted(s, mb, [&](StageCompute& sc) { sc.backward_input(mb, data, gout, gin); }, /*adds_carries=*/true);
  }
  void backward_weight(int s, int mb) override {
    counted(s, mb, [&](StageCompute& sc) { sc.backward_weight(mb); });
  }
  void recompute(int s, int mb, const MicroBatchData& data) override {
    counted(s, mb, [&](StageCompute& sc) { sc.recompute(mb, data); });
  }
  size_t saved_bytes() const override { return static_cast<size_t>(std::max<int64_t>(0, saved_.load())); }

  void offload(int s, int mb) override {
    if (!offload_) throw std::logic_error("offloads but no stage of this device has an offload policy");
    StageCompute& sc = at(s);
    // Whole saved tensors, in the stage's order, until the policy's share of what F kept is covered.
    const double target = program_.memory.at(static_cast<size_t>(s)).offload_fraction * static_cast<double>(sc.saved_bytes(mb));
    HostOffload::Buffers bufs;
    double taken = 0;
    sc.for_each_saved(
        mb,
        [&](std::vector<float>& v) {
          if (taken < target && !v.empty()) bufs.f.push_back(&v), taken += static_cast<double>(v.size() * sizeof(float));
        },
        [&](std::vector<int32_t>& v) {
          if (taken < target && !v.empty()) bufs.i.push_back(&v), taken += static_cast<double>(v.size() * sizeof(int32_t));
        });
    offload_->offload(s, mb, std::move(bufs));
  }
  void reload(int s, int mb) override {
    if (!offload_) throw std::logic_error("reloads but no stage of this device offloads");
    offload_->reload(s, mb);
  }
  void wait_reload(int s, int mb) override {
    if (!offload_) throw std::logic_error("waits for a reload but no stage of this device offloads");
    offload_->wait_reload(s, mb);
  }
  void abort_copies() override {
    if (offload_) offload_->abort();
  }
  size_t peak_saved_bytes() const override { return static_cast<size_t>(std::max<int64_t>(0, peak_saved_.load())); }
  int64_t offloaded_bytes() const override { return offload_ ? offload_->bytes_to_host() : 0; }
  void zero_grad() override {
    for (auto& s : stages_) s->zero_grad();
  }
  void finish_backward() override {
    for (auto& s : stages_) s->finish_backward();
  }
  void optimizer_step(const AdamW& opt, int step_index) override {
    for (auto& s : stages_) s->step(opt, step_index);
  }
  std::vector<double> loss_terms(int s, int mb) const override { return at(s).loss_terms(mb); }

  void begin_step(size_t n) override {
    intervals_.assign(n, Interval{});
    epilogue_ = {};
    if (offload_) offload_->reset();
    int64_t held = 0;
    for (const auto& sc : stages_) held += static_cast<int64_t>(sc->saved_bytes());
    saved_.store(held);
    peak_saved_.store(held);
  }
  void instruction_started(size_t) override {
    t0_ = clock_.now_ns();
    c0_ = thread_cpu_ns();
  }
  void instruction_ended(size_t i) override {
    const int64_t t1 = clock_.now_ns();
    intervals_[i] = {t0_, t1, thread_cpu_ns() - c0_};
  }
  void epilogue_started() override {
    epilogue_.start_ns = clock_.now_ns();
    c0_ = thread_cpu_ns();
  }
  void epilogue_ended() override {
    epilogue_.end_ns = clock_.now_ns();
    epilogue_.cpu_ns = thread_cpu_ns() - c0_;
  }
  std::vector<Interval> intervals() const override { return intervals_; }
  Interval epilogue_interval() const override { return epilogue_; }

 private:
  StageCompute& at(int s) const {
    StageCompute* sc = stage(s);
    if (!sc) throw std::logic_error("stage " + std::to_string(s) + " lives elsewhere");
    return *sc;
  }

  // Runs `op` on stage s and adds what it changed in (s, mb)'s saved bytes to the device's count, and for a B
  // (adds_carries) what it changed in the gradient carries of the earlier slices it read. Not the whole
  // stage's saved_bytes(): the copy threads own offloaded buffers of other micro-batches meanwhile and count
  // their own changes.
  template <class Op>
  void counted(int s, int mb, Op&& op, bool adds_carries = false) {
    StageCompute& sc = at(s);
    auto held = [&] {
      return static_cast<int64_t>(sc.saved_bytes(mb) + (adds_carries ? sc.carried_bytes_besides(mb) : 0));
    };
    const int64_t before = held();
    op(sc);
    add_saved(held() - before);
  }
  void add_saved(int64_t delta) {
    const int64_t now = saved_.fetch_add(delta) + delta;
    int64_t p = peak_saved_.load();
    while (now > p && !peak_saved_.compare_exchange_weak(p, now)) {
    }
  }

  const Program& program_;
  const HostClock& clock_;
  std::vector<std::unique_ptr<StageCompute>> stages_;  // in program.device_stages order
  std::map<int, StageCompute*> by_stage_;
  HostTensorStore store_;
  std::vector<Interval> intervals_;
  Interval epilogue_;
  int64_t t0_ = 0, c0_ = 0;
  std::atomic<int64_t> saved_{0}, peak_saved_{0};
  std::unique_ptr<HostOffload> offload_;  // when a stage of this device offloads; declared last: its copy
                                          // threads stop before the stages they copy from go
};

}  // namespace

PipelineRuntime::PipelineRuntime(Program program, StageFactory make_stage, std::unique_ptr<Transport> transport,
                                 RuntimeOptions options)
    : program_(std::move(program)), transport_(std::move(transport)), opt_(options) {
  if (opt_.check_program) require_valid_program(program_, "executor");
  if (!transport_) throw std::logic_error("PipelineRuntime: no transport");
  clock_ = std::make_unique<HostClock>();
  std::vector<HostDevice*> devices(static_cast<size_t>(program_.num_devices()), nullptr);
  threads_ = std::make_unique<DeviceThreads>(
      program_,
      [&, make_stage](int d) {
        auto dev = std::make_unique<HostDevice>(program_, d, make_stage, *clock_, opt_);
        devices[d] = dev.get();
        return dev;
      },
      *transport_, opt_.watchdog_ms, "executor", *clock_);
  stages_.assign(program_.num_stages(), nullptr);
  for (int s = 0; s < program_.num_stages(); ++s) stages_[s] = devices[program_.stage_device[s]]->stage(s);
}

PipelineRuntime::~PipelineRuntime() = default;

const StageCompute& PipelineRuntime::stage(int s) const {
  if (s < 0 || s >= num_stages()) throw std::out_of_range("PipelineRuntime::stage: no stage " + std::to_string(s));
  return *stages_[s];
}

StepResult PipelineRuntime::run_step(int step, const DataSource& data) {
  return threads_->run_step(step, data, opt_.optimizer, opt_.optimizer_step);
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
