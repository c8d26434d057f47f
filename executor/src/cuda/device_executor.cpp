// DeviceExecutor: the compute side of both GPU backends (device_executor.h).
#include "cuda/device_executor.h"

#include <algorithm>
#include <stdexcept>

#include "adaptis/model/error.h"

namespace adaptis::exec::gpu {

Event::Event(bool timing) {
  ADAPTIS_CUDA_CHECK(cudaEventCreateWithFlags(&ev_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
Event::~Event() {
  if (ev_) cudaEventDestroy(ev_);
}
void Event::record(cudaStream_t s) const { ADAPTIS_CUDA_CHECK(cudaEventRecord(ev_, s)); }

DeviceExecutor::DeviceExecutor(const Program& program, int device, const NetConfig& cfg, GpuPrecision precision,
                               int gpu)
    : program_(program), device_(device), cfg_(cfg) {
  ctx_ = std::make_unique<GpuContext>(gpu, precision);
  ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_, cudaStreamNonBlocking));
  for (int s : program.device_stages[device]) {
    stages_.push_back(std::make_unique<GpuStage>(cfg, program.stage_bounds[s], program.stage_bounds[s + 1],
                                                 program.num_microbatches, *ctx_));
    by_stage_[s] = stages_.back().get();
    if (!program.memory.empty()) {
      const StageMemory& sm = program.memory[s];
      stages_.back()->set_recompute(sm.recompute, sm.full_end);
      if (sm.offload_fraction > 0 && !offload_) offload_ = std::make_unique<GpuHostOffload>(ctx_->stream());
    }
  }
  const size_t n = program.devices[device].size();
  for (size_t i = 0; i < n; ++i) {
    start_.push_back(std::make_unique<Event>());
    end_.push_back(std::make_unique<Event>());
  }
  comm_start_.assign(n, nullptr);
  comm_end_.assign(n, nullptr);
  base_ = std::make_unique<Event>();
  opt_start_ = std::make_unique<Event>();
  opt_end_ = std::make_unique<Event>();
}

DeviceExecutor::~DeviceExecutor() {
  // Held tensors and stages free on their streams; finish everything before the streams go.
  offload_.reset();
  cudaStreamSynchronize(comm_);
  cudaStreamSynchronize(ctx_->stream());
  store_.clear();
  stages_.clear();
  cudaStreamSynchronize(ctx_->stream());
  cudaStreamDestroy(comm_);
}

GpuStage* DeviceExecutor::stage(int s) const {
  auto it = by_stage_.find(s);
  return it == by_stage_.end() ? nullptr : it->second;
}

void DeviceExecutor::zero_grad() {
  for (auto& s : stages_) s->zero_grad();
}

float* DeviceExecutor::create(const TensorTag& t, size_t floats, cudaStream_t alloc_stream) {
  auto [it, fresh] = store_.try_emplace(t);
  if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
  it->second.allocate(floats, alloc_stream);
  store_bytes_ += it->second.bytes();
  return it->second.get();
}

float* DeviceExecutor::get(const TensorTag& t, const char* what) const {
  auto it = store_.find(t);
  if (it == store_.end()) throw std::logic_error(std::string(what) + " '" + to_string(t) + "' is not on this device");
  return it->second.get();
}

DeviceBuffer<float> DeviceExecutor::take(const TensorTag& t) {
  auto it = store_.find(t);
  if (it == store_.end()) throw std::logic_error("sends '" + to_string(t) + "' which this device does not hold");
  DeviceBuffer<float> b = std::move(it->second);
  store_bytes_ -= b.bytes();
  store_.erase(it);
  return b;
}

void DeviceExecutor::release(const TensorTag& t) {
  auto it = store_.find(t);
  if (it == store_.end()) return;
  store_bytes_ -= it->second.bytes();
  store_.erase(it);  // freed in stream order on the stream that allocated it
}

void DeviceExecutor::put(const TensorTag& t, DeviceBuffer<float> buf) {
  auto [it, fresh] = store_.try_emplace(t);
  if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
  store_bytes_ += buf.bytes();
  it->second = std::move(buf);
}

void DeviceExecutor::time_comm(int index, const Event* start, const Event* end) {
  comm_start_.at(size_t(index)) = start;
  comm_end_.at(size_t(index)) = end;
}

void DeviceExecutor::account() {
  size_t held = store_bytes_;
  for (const auto& s : stages_) held += s->saved_bytes();
  peak_bytes_ = std::max(peak_bytes_, held);
}

void DeviceExecutor::run(const std::vector<MicroBatchData>& data, cudaEvent_t start, Comm& comm, const AdamW& opt,
                         bool opt_step, int step_index, const std::function<void()>& abort_check,
                         const std::function<void()>& on_started) {
  const auto& list = program_.devices[device_];
  const int S = program_.num_stages();
  const cudaStream_t cs = compute();
  std::fill(comm_start_.begin(), comm_start_.end(), nullptr);
  std::fill(comm_end_.begin(), comm_end_.end(), nullptr);
  peak_bytes_ = 0;
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(cs, start, 0));
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(comm_, start, 0));
  base_->record(cs);
  // The comm stream starts no earlier than the base, so its events are never before it.
  Event comm_go(false);
  comm_go.record(cs);
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(comm_, comm_go.get(), 0));
  on_started();

  for (size_t i = 0; i < list.size(); ++i) {
    abort_check();
    current_ = static_cast<int>(i);
    const Instruction& ins = list[i];
    start_[i]->record(cs);
    switch (ins.kind) {
      case InstrKind::Compute: {
        GpuStage* st = stage(ins.stage);
        if (!st) throw std::logic_error("computes stage " + std::to_string(ins.stage) + " which lives elsewhere");
        const int s = ins.stage, mb = ins.mb;
        const size_t n = st->activation_floats();
        if (ins.op == Op::R) {
          st->recompute(mb);
        } else if (ins.op == Op::F) {
          const TensorTag in{TensorKind::Activation, s - 1, mb};
          const float* input = s > 0 ? get(in, "input activation") : nullptr;
          float* output = s + 1 < S ? create({TensorKind::Activation, s, mb}, n, cs) : nullptr;
          st->set_batch(mb, data[size_t(mb)]);
          st->forward(mb, input, output);
          if (s > 0) release(in);
        } else if (ins.op == Op::B || ins.op == Op::BW) {
          const TensorTag gout{TensorKind::Gradient, s + 1, mb};
          const float* grad_output = s + 1 < S ? get(gout, "output gradient") : nullptr;
          float* grad_input = s > 0 ? create({TensorKind::Gradient, s, mb}, n, cs) : nullptr;
          st->backward_input(mb, grad_output, grad_input);
          if (ins.op == Op::BW) st->backward_weight(mb);
          if (s + 1 < S) release(gout);
        } else {
          st->backward_weight(mb);
        }
        break;
      }
      case InstrKind::Send: comm.send(*this, ins, static_cast<int>(i)); break;
      case InstrKind::PostRecv: comm.post_recv(*this, ins, static_cast<int>(i)); break;
      case InstrKind::WaitRecv: comm.wait_recv(*this, ins, static_cast<int>(i)); break;
      case InstrKind::Offload: {
        GpuStage* st = stage(ins.stage);
        if (!st || !offload_) throw std::logic_error("offloads a stage that does not offload on this device");
        // Whole buffers until the policy's share of what F kept is covered (as on the CPU).
        const double target = program_.memory[ins.stage].offload_fraction * static_cast<double>(st->saved_bytes(ins.mb));
        std::vector<DeviceBuffer<float>*> bufs;
        double taken = 0;
        st->for_each_saved(ins.mb, [&](DeviceBuffer<float>& b) {
          if (taken < target && b.size() > 0) bufs.push_back(&b), taken += static_cast<double>(b.bytes());
        });
        offload_->offload(ins.stage, ins.mb, std::move(bufs));
        break;
      }
      case InstrKind::Reload:
        if (!offload_) throw std::logic_error("reloads but no stage of this device offloads");
        offload_->reload(ins.stage, ins.mb);
        break;
      case InstrKind::WaitReload:
        if (!offload_) throw std::logic_error("waits for a reload but no stage of this device offloads");
        offload_->wait_reload(ins.stage, ins.mb);
        break;
    }
    end_[i]->record(cs);
    if (ins.kind != InstrKind::WaitRecv) account();
    comm.progress(*this);
  }
  current_ = -1;
  comm.end_step(*this);
  if (offload_) offload_->end_step();
  opt_start_->record(cs);
  for (auto& s : stages_) s->finish_backward();
  if (opt_step)
    for (auto& s : stages_) s->step(opt, step_index);
  opt_end_->record(cs);
}

void DeviceExecutor::synchronize() {
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(comm_));
  ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(ctx_->stream()));
}

namespace {
int64_t elapsed_ns(const Event& base, const Event& ev) {
  float ms = 0;
  ADAPTIS_CUDA_CHECK(cudaEventElapsedTime(&ms, base.get(), ev.get()));
  return static_cast<int64_t>(double(ms) * 1e6);
}
}  // namespace

std::vector<Interval> DeviceExecutor::intervals() const {
  std::vector<Interval> out(start_.size());
  for (size_t i = 0; i < start_.size(); ++i) {
    const Event& a = comm_start_[i] ? *comm_start_[i] : *start_[i];
    const Event& b = comm_end_[i] ? *comm_end_[i] : *end_[i];
    out[i] = {elapsed_ns(*base_, a), elapsed_ns(*base_, b)};
    if (out[i].end_ns < out[i].start_ns) out[i].end_ns = out[i].start_ns;
  }
  return out;
}

Interval DeviceExecutor::optimizer_interval() const {
  return {elapsed_ns(*base_, *opt_start_), elapsed_ns(*base_, *opt_end_)};
}

}  // namespace adaptis::exec::gpu
