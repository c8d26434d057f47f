// GpuPipelineDevice: a GPU pipeline device for the interpreter (gpu_pipeline_device.h).
#include "cuda/gpu_pipeline_device.h"

#include <algorithm>
#include <stdexcept>

#include "adaptis/model/error.h"

namespace adaptis::exec::gpu {

GpuPipelineDevice::GpuPipelineDevice(const Program& program, int device, const NetConfig& cfg, GpuPrecision precision,
                                     int gpu)
    : device_(device) {
  ctx_ = std::make_unique<GpuContext>(gpu, precision);
  ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&comm_, cudaStreamNonBlocking));
  for (int s : program.device_stages[device]) {
    stages_.push_back(std::make_unique<GpuStage>(cfg, program.stage_bounds[s], program.stage_bounds[s + 1],
                                                 program.num_microbatches, *ctx_));
    by_stage_[s] = stages_.back().get();
    if (!program.memory.empty()) {
      const StageMemory& sm = program.memory[static_cast<size_t>(s)];
      stages_.back()->set_recompute(sm.recompute, sm.full_end);
      if (sm.offload_fraction > 0 && !offload_) offload_ = std::make_unique<GpuHostOffload>(ctx_->stream());
    }
  }
  for (const StageMemory& sm : program.memory) offload_fraction_.push_back(sm.offload_fraction);
  base_ = std::make_unique<Event>();
  opt_start_ = std::make_unique<Event>();
  opt_end_ = std::make_unique<Event>();
}

GpuPipelineDevice::~GpuPipelineDevice() {
  // Held tensors and stages free on their streams; finish everything before the streams go.
  offload_.reset();
  cudaStreamSynchronize(comm_);
  cudaStreamSynchronize(ctx_->stream());
  store_.clear();
  stages_.clear();
  cudaStreamSynchronize(ctx_->stream());
  cudaStreamDestroy(comm_);
}

void GpuPipelineDevice::recompute(int s, int mb, const MicroBatchData&) { at(s).recompute(mb); }

void GpuPipelineDevice::offload(int s, int mb) {
  GpuStage& st = at(s);
  if (!offload_ || static_cast<size_t>(s) >= offload_fraction_.size())
    throw std::logic_error("offloads a stage that does not offload on this device");
  // Whole buffers until the policy's share of what F kept is covered (as on the CPU).
  const double target = offload_fraction_[static_cast<size_t>(s)] * static_cast<double>(st.saved_bytes(mb));
  std::vector<DeviceBuffer<float>*> bufs;
  double taken = 0;
  st.for_each_saved(mb, [&](DeviceBuffer<float>& b) {
    if (taken < target && b.size() > 0) bufs.push_back(&b), taken += static_cast<double>(b.bytes());
  });
  offload_->offload(s, mb, std::move(bufs));
}

void GpuPipelineDevice::reload(int s, int mb) {
  if (!offload_) throw std::logic_error("reloads but no stage of this device offloads");
  offload_->reload(s, mb);
}

void GpuPipelineDevice::wait_reload(int s, int mb) {
  if (!offload_) throw std::logic_error("waits for a reload but no stage of this device offloads");
  offload_->wait_reload(s, mb);
}

GpuStage* GpuPipelineDevice::stage(int s) const {
  auto it = by_stage_.find(s);
  return it == by_stage_.end() ? nullptr : it->second;
}

GpuStage& GpuPipelineDevice::at(int s) const {
  GpuStage* st = stage(s);
  if (!st) throw std::logic_error("stage " + std::to_string(s) + " lives elsewhere");
  return *st;
}

std::span<float> GpuPipelineDevice::create(const TensorTag& t, size_t floats) {
  auto [it, fresh] = store_.try_emplace(t);
  if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
  it->second.allocate(floats, compute());
  store_bytes_ += it->second.bytes();
  return {it->second.get(), floats};
}

std::span<float> GpuPipelineDevice::get(const TensorTag& t, const char* what) {
  auto it = store_.find(t);
  if (it == store_.end()) throw std::logic_error(std::string(what) + " '" + to_string(t) + "' is not on this device");
  return {it->second.get(), it->second.size()};
}

void GpuPipelineDevice::release(const TensorTag& t) {
  auto it = store_.find(t);
  if (it == store_.end()) return;
  store_bytes_ -= it->second.bytes();
  store_.erase(it);  // freed in stream order on the stream that allocated it
}

DeviceBuffer<float> GpuPipelineDevice::take(const TensorTag& t) {
  auto it = store_.find(t);
  if (it == store_.end()) throw std::logic_error("sends '" + to_string(t) + "' which this device does not hold");
  DeviceBuffer<float> b = std::move(it->second);
  store_bytes_ -= b.bytes();
  store_.erase(it);
  return b;
}

void GpuPipelineDevice::put(const TensorTag& t, DeviceBuffer<float> buf) {
  auto [it, fresh] = store_.try_emplace(t);
  if (!fresh) throw std::logic_error("tensor '" + to_string(t) + "' is already held");
  store_bytes_ += buf.bytes();
  it->second = std::move(buf);
}

void GpuPipelineDevice::time_comm(int index, const Event* start, const Event* end) {
  comm_start_.at(size_t(index)) = start;
  comm_end_.at(size_t(index)) = end;
}

size_t GpuPipelineDevice::activation_floats(int s) const { return at(s).activation_floats(); }

void GpuPipelineDevice::forward(int s, int mb, const MicroBatchData& data, const float* input, float* output) {
  GpuStage& st = at(s);
  st.set_batch(mb, data);
  st.forward(mb, input, output);
}

void GpuPipelineDevice::backward_input(int s, int mb, const MicroBatchData&, const float* grad_output,
                                       float* grad_input) {
  at(s).backward_input(mb, grad_output, grad_input);
}

void GpuPipelineDevice::backward_weight(int s, int mb) { at(s).backward_weight(mb); }

size_t GpuPipelineDevice::saved_bytes() const {
  size_t held = 0;
  for (const auto& s : stages_) held += s->saved_bytes();
  return held;
}

void GpuPipelineDevice::zero_grad() {
  for (auto& s : stages_) s->zero_grad();
}

void GpuPipelineDevice::finish_backward() {
  for (auto& s : stages_) s->finish_backward();
}

void GpuPipelineDevice::optimizer_step(const AdamW& opt, int step_index) {
  for (auto& s : stages_) s->step(opt, step_index);
}

std::vector<double> GpuPipelineDevice::loss_terms(int s, int mb) const { return at(s).loss_terms(mb); }

void GpuPipelineDevice::begin_step(size_t n) {
  if (!step_start_) throw std::logic_error("GPU device " + std::to_string(device_) + ": no start event for the step");
  while (start_.size() < n) {
    start_.push_back(std::make_unique<Event>());
    end_.push_back(std::make_unique<Event>());
  }
  comm_start_.assign(n, nullptr);
  comm_end_.assign(n, nullptr);
  const cudaStream_t cs = compute();
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(cs, step_start_, 0));
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(comm_, step_start_, 0));
  base_->record(cs);
  // The comm stream starts no earlier than the base, so its events are never before it.
  Event comm_go(false);
  comm_go.record(cs);
  ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(comm_, comm_go.get(), 0));
}

void GpuPipelineDevice::instruction_started(size_t i) {
  current_ = static_cast<int>(i);
  start_[i]->record(compute());
}

void GpuPipelineDevice::instruction_ended(size_t i) {
  end_[i]->record(compute());
}

void GpuPipelineDevice::epilogue_started() {
  current_ = -1;
  if (offload_) offload_->end_step();  // every copy of the step done, the pinned blocks returned
  opt_start_->record(compute());
}

void GpuPipelineDevice::epilogue_ended() { opt_end_->record(compute()); }

void GpuPipelineDevice::synchronize() {
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

std::vector<Interval> GpuPipelineDevice::intervals() const {
  const size_t n = comm_start_.size();
  std::vector<Interval> out(n);
  for (size_t i = 0; i < n; ++i) {
    const Event& a = comm_start_[i] ? *comm_start_[i] : *start_[i];
    const Event& b = comm_end_[i] ? *comm_end_[i] : *end_[i];
    out[i] = {elapsed_ns(*base_, a), elapsed_ns(*base_, b)};
    if (out[i].end_ns < out[i].start_ns) out[i].end_ns = out[i].start_ns;
  }
  return out;
}

Interval GpuPipelineDevice::epilogue_interval() const {
  return {elapsed_ns(*base_, *opt_start_), elapsed_ns(*base_, *opt_end_)};
}

}  // namespace adaptis::exec::gpu
