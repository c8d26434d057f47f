// The virtual-device backend of GpuPipelineRuntime (gpu.h): one GPU, N pipeline devices, each with its own
// host thread, compute stream and copy stream (and optionally its own green context = SM partition). The
// devices run their lists through the executor's one interpreter on the threaded driver the CPU runtime uses
// (device_threads.h: start barrier, watchdog, errors); what differs is the device (GpuPipelineDevice) and the
// transport below.
//
// A message between virtual devices: the sender records a `ready` event on its compute stream and posts
// {buffer, ready} to a host mailbox; the receiver's thread, at its POST_RECV if the message is already there or
// else at the latest at its WAIT, allocates the destination on its compute stream, makes its copy stream wait
// for `ready`, copies device-to-device and records `copied`; its compute stream waits for `copied` at the
// WAIT. The sender's buffer goes back to the sender, which frees it on its compute stream after `copied`.
// Host threads only ever wait for each other's *enqueueing*, never for the GPU, and the program was proved
// deadlock-free by check_program (sends never block), so enqueueing always finishes; a host wait that does not
// is the driver's watchdog's to end.
//
// Every CUDA object is created and used on its device's own thread, so with green contexts each thread's
// current context is its partition's. The iteration starts at a gate: the first thing on every compute stream
// is a wait for one start event, which a host function holds back until every device has enqueued its base
// event, so all devices' timelines start at the same instant.
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "cuda/gpu_pipeline_device.h"
#include "cuda/gpu_runtime_common.h"
#include "cuda/green_context.h"
#include "device_threads.h"

namespace adaptis::exec {

namespace gpu {

namespace {

struct Message {
  DeviceBuffer<float> buffer;
  std::unique_ptr<Event> ready;  // the sender's, recorded on its compute stream
  int src = -1;
};

struct Returned {
  Message message;
  cudaEvent_t copied = nullptr;  // the receiver's; alive until the receiver's next step
};

// Device-to-device copies between the virtual devices of one GPU (see the file comment).
class CopyTransport final : public Transport {
 public:
  explicit CopyTransport(int n) : devs_(static_cast<size_t>(n), nullptr), ends_(static_cast<size_t>(n)) {}

  const char* name() const override { return "cuda-copy"; }
  int num_devices() const override { return static_cast<int>(devs_.size()); }

  void attach(int d, TensorStore& store) override {
    auto* dev = dynamic_cast<GpuPipelineDevice*>(&store);
    if (!dev) throw std::logic_error("copy transport: device " + std::to_string(d) + "'s tensors are not on a GPU");
    devs_.at(size_t(d)) = dev;
  }

  void detach(int d) override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      for (auto it = sent_.begin(); it != sent_.end();)
        it = it->second.src == d ? sent_.erase(it) : std::next(it);
      returned_.erase(d);
    }
    ends_.at(size_t(d)) = End{};
    devs_.at(size_t(d)) = nullptr;
  }

  void send(int src, int dst, const TensorTag& tag) override {
    GpuPipelineDevice& dev = device(src);
    Message m;
    m.buffer = dev.take(tag);
    m.ready = std::make_unique<Event>(false);
    m.ready->record(dev.compute());
    m.src = src;
    ++ends_[size_t(src)].outstanding;
    std::lock_guard<std::mutex> lk(mu_);
    auto [it, fresh] = sent_.try_emplace({dst, tag}, std::move(m));
    if (!fresh) throw std::logic_error("copy transport: " + describe_message(src, dst, tag) + " sent twice");
    cv_.notify_all();
  }

  void post_recv(int dst, int src, const TensorTag& tag, size_t) override {
    Recv& r = ends_.at(size_t(dst)).recvs[tag];
    if (r.index >= 0) throw std::logic_error("copy transport: receive " + describe_message(src, dst, tag) + " posted twice");
    r.src = src;
    r.index = device(dst).current_instruction();
    try_copy(dst, tag, r);
  }

  void wait_recv(int dst, int src, const TensorTag& tag) override {
    End& e = ends_.at(size_t(dst));
    auto it = e.recvs.find(tag);
    if (it == e.recvs.end())
      throw std::logic_error("copy transport: wait for " + describe_message(src, dst, tag) + " without a posted receive");
    Recv& r = it->second;
    if (!r.copied) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        const auto key = std::make_tuple(dst, tag);
        cv_.wait(lk, [&] { return aborted_.load() || sent_.count(key) > 0; });
        if (!sent_.count(key)) throw TransportAborted(reason_);
      }
      try_copy(dst, tag, r);
    }
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(device(dst).compute(), r.copy_end->get(), 0));
  }

  void progress(int d) override {
    for (auto& [tag, r] : ends_.at(size_t(d)).recvs)
      if (!r.copied) try_copy(d, tag, r);
    free_returned(d);
  }

  // Every buffer this device sent must come back (its receiver has enqueued the copy) before the step ends.
  void finish_sends(int d) override {
    free_returned(d);
    while (ends_.at(size_t(d)).outstanding > 0) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return aborted_.load() || !returned_[d].empty(); });
        if (returned_[d].empty()) throw TransportAborted(reason_);
      }
      free_returned(d);
    }
  }

  void abort(const std::string& why) override {
    std::lock_guard<std::mutex> lk(mu_);
    if (!aborted_) {
      aborted_ = true;
      reason_ = why;
    }
    cv_.notify_all();
  }
  bool aborted() const override { return aborted_.load(); }

  void reset() override {
    std::lock_guard<std::mutex> lk(mu_);
    sent_.clear();
    returned_.clear();
    aborted_ = false;
    reason_.clear();
    for (End& e : ends_) e = End{};
  }

  std::vector<std::string> pending() const override {
    std::vector<std::string> out;
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [key, m] : sent_) out.push_back(describe_message(m.src, std::get<0>(key), std::get<1>(key)) + " (sent, never received)");
    for (size_t d = 0; d < ends_.size(); ++d)
      for (const auto& [tag, r] : ends_[d].recvs)
        if (!r.copied && !sent_.count({static_cast<int>(d), tag}))
          out.push_back(describe_message(r.src, static_cast<int>(d), tag) + " (receive posted, never sent)");
    return out;
  }

 private:
  struct Recv {
    int src = -1, index = -1;
    bool copied = false;
    std::unique_ptr<Event> copy_start, copy_end;
  };
  // One device's side: touched only from its own thread (and by reset / detach between steps).
  struct End {
    std::map<TensorTag, Recv> recvs;
    int outstanding = 0;  // sent buffers not yet back
  };

  GpuPipelineDevice& device(int d) const {
    GpuPipelineDevice* dev = devs_.at(size_t(d));
    if (!dev) throw std::logic_error("copy transport: device " + std::to_string(d) + " is not attached");
    return *dev;
  }

  void try_copy(int d, const TensorTag& tag, Recv& r) {
    Message m;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto it = sent_.find({d, tag});
      if (it == sent_.end()) return;
      m = std::move(it->second);
      sent_.erase(it);
    }
    if (m.src != r.src)
      throw std::logic_error("'" + to_string(tag) + "' came from device " + std::to_string(m.src) + ", expected " +
                             std::to_string(r.src));
    GpuPipelineDevice& dev = device(d);
    // Allocated on the compute stream (which consumes and frees it); the copy stream waits for the allocation.
    float* dst = dev.create(tag, m.buffer.size()).data();
    Event allocated(false);
    allocated.record(dev.compute());
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.comm(), allocated.get(), 0));
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.comm(), m.ready->get(), 0));
    r.copy_start = std::make_unique<Event>();
    r.copy_end = std::make_unique<Event>();
    r.copy_start->record(dev.comm());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(dst, m.buffer.get(), m.buffer.bytes(), cudaMemcpyDeviceToDevice, dev.comm()));
    r.copy_end->record(dev.comm());
    dev.time_comm(r.index, r.copy_start.get(), r.copy_end.get());
    r.copied = true;
    std::lock_guard<std::mutex> lk(mu_);
    returned_[m.src].push_back(Returned{std::move(m), r.copy_end->get()});
    cv_.notify_all();
  }

  void free_returned(int d) {
    std::vector<Returned> back;
    {
      std::lock_guard<std::mutex> lk(mu_);
      back.swap(returned_[d]);
    }
    GpuPipelineDevice& dev = device(d);
    for (Returned& b : back) {
      ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.compute(), b.copied, 0));
      b.message.buffer.reset();  // stream-ordered free after the copy
      b.message.ready.reset();
      --ends_[size_t(d)].outstanding;
    }
  }

  std::vector<GpuPipelineDevice*> devs_;
  std::vector<End> ends_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::tuple<int, TensorTag>, Message> sent_;  // (destination, tag)
  std::map<int, std::vector<Returned>> returned_;       // sender -> buffers to free
  std::atomic<bool> aborted_{false};
  std::string reason_;  // guarded by mu_
};

// Holds every device's stream behind one start event until every device has begun its step.
class StartEventGate final : public StepGate {
 public:
  StartEventGate(int gpu, cudaStream_t control, const Event& start) : gpu_(gpu), control_(control), start_(start) {}
  void before_release() override {
    gate_ = std::make_unique<StartGate>();
    ADAPTIS_CUDA_CHECK(cudaSetDevice(gpu_));
    gate_->enqueue(control_);
    start_.record(control_);
  }
  void all_begun() override { gate_->open(); }
  void after_step() override {
    if (gate_) gate_->finish();
    gate_.reset();
  }
  // Device intervals count from the start event.
  int64_t start_ns(int64_t) const override { return 0; }

 private:
  int gpu_;
  cudaStream_t control_;
  const Event& start_;
  std::unique_ptr<StartGate> gate_;
};

}  // namespace

}  // namespace gpu

struct GpuPipelineRuntime::Impl {
  Program program;
  NetConfig cfg;
  GpuRunOptions opt;
  GpuRunInfo info;
  std::unique_ptr<gpu::GreenPartitions> green;
  cudaStream_t control = nullptr;
  std::unique_ptr<gpu::Event> start;
  HostClock clock;
  std::unique_ptr<gpu::CopyTransport> transport;
  std::unique_ptr<gpu::StartEventGate> gate;
  std::vector<gpu::GpuPipelineDevice*> devices;  // owned by their threads
  std::unique_ptr<DeviceThreads> threads;        // declared after what its threads use: goes first
  bool broken = false;
  // NCCL ranks as threads of this process (backend nccl); devices stay empty then.
  std::vector<std::unique_ptr<NcclPipelineRank>> ranks;
  // Host copies behind grads() / params().
  mutable std::vector<std::vector<float>> host_grads, host_params;

  // Makes device d's context current on the calling thread.
  void enter(int d) const {
    ADAPTIS_CUDA_CHECK(cudaSetDevice(opt.gpu));
    if (green) green->make_current(d);
  }

  ~Impl() {
    threads.reset();  // each device goes on its own thread (its context)
    gate.reset();
    start.reset();
    if (control) cudaStreamDestroy(control);
  }
};

GpuPipelineRuntime::GpuPipelineRuntime(Program program, const NetConfig& cfg, const GpuRunOptions& opt)
    : impl_(std::make_unique<Impl>()) {
  const std::string what = std::string(gpu_backend_name(opt.backend)) + " backend";
  require_gpu_backend(opt.backend);
  validate_gpu_run_options(opt, program.num_devices());
  require_valid_program(program, what);
  validate_net_config(cfg, "model '" + cfg.name + "'");
  Impl& im = *impl_;
  im.program = std::move(program);
  im.cfg = cfg;
  im.opt = opt;
  const int D = im.program.num_devices();

  if (opt.backend == GpuBackend::Nccl) {
    im.ranks = gpu::start_nccl_ranks(im.program, cfg, opt);
    im.info = im.ranks.front()->info();
    return;
  }

  const GpuInfo g = describe_gpu(opt.gpu, what);
  gpu::keep_pool_memory(opt.gpu);
  if (opt.green_contexts) im.green = std::make_unique<gpu::GreenPartitions>(opt.gpu, D, opt.sms_per_device);
  ADAPTIS_CUDA_CHECK(cudaSetDevice(opt.gpu));
  ADAPTIS_CUDA_CHECK(cudaStreamCreateWithFlags(&im.control, cudaStreamNonBlocking));
  im.start = std::make_unique<gpu::Event>();
  im.transport = std::make_unique<gpu::CopyTransport>(D);
  im.gate = std::make_unique<gpu::StartEventGate>(opt.gpu, im.control, *im.start);
  im.devices.assign(size_t(D), nullptr);
  im.threads = std::make_unique<DeviceThreads>(
      im.program,
      [&im](int d) {
        im.enter(d);
        auto dev = std::make_unique<gpu::GpuPipelineDevice>(im.program, d, im.cfg, im.opt.precision, im.opt.gpu);
        dev->set_step_start(im.start->get());
        im.devices[d] = dev.get();
        return dev;
      },
      *im.transport, opt.watchdog_ms, "cuda backend", im.clock, im.gate.get());

  im.info.backend = "cuda";
  im.info.green_contexts = im.green != nullptr;
  for (int d = 0; d < D; ++d) {
    const int sms = im.green ? im.green->sms(d) : g.sm_count;
    im.info.device_sms.push_back(sms);
    im.info.device_names.push_back(g.name + "#" + std::to_string(opt.gpu) + "/vd" + std::to_string(d) + " (" +
                                   std::to_string(sms) + " SMs" + (im.green ? "" : ", shared") + ")");
  }
  im.info.description = g.name + ": " + std::to_string(D) + " virtual devices, " +
                        (im.green ? "green contexts of " + std::to_string(im.green->sms(0)) + " SMs each"
                                  : "streams sharing all " + std::to_string(g.sm_count) + " SMs") +
                        ", " + gpu_precision_name(opt.precision);
}

GpuPipelineRuntime::~GpuPipelineRuntime() = default;

const Program& GpuPipelineRuntime::program() const { return impl_->program; }
const GpuRunInfo& GpuPipelineRuntime::info() const { return impl_->info; }

StepResult GpuPipelineRuntime::run_step(int step, const DataSource& data_source) {
  Impl& im = *impl_;
  if (im.broken) throw ExecutionError("gpu runtime: an earlier iteration failed; the runtime cannot continue");
  if (!im.ranks.empty()) {
    try {
      return gpu::run_nccl_ranks_step(im.ranks, step, data_source);
    } catch (...) {
      im.broken = true;
      throw;
    }
  }
  return im.threads->run_step(step, data_source, im.opt.optimizer, im.opt.optimizer_step);
}

namespace {

// Host copies of every stage's gradients or parameters (kept in `host`), in stage order, each downloaded on a
// thread that has its device's context current.
std::vector<NamedTensor> download(const GpuPipelineRuntime::Impl& im, bool grads, std::vector<std::vector<float>>& host) {
  const int S = im.program.num_stages();
  std::vector<const gpu::GpuStage*> stages(static_cast<size_t>(S));
  for (int s = 0; s < S; ++s) stages[s] = im.devices[size_t(im.program.stage_device[s])]->stage(s);
  host.assign(stages.size(), {});
  for (size_t s = 0; s < stages.size(); ++s)
    gpu::on_thread([&] {
      im.enter(im.program.stage_device[s]);
      host[s] = grads ? stages[s]->download_grads() : stages[s]->download_params();
    });
  std::vector<NamedTensor> out;
  for (size_t s = 0; s < stages.size(); ++s)
    for (const auto& t : stages[s]->tensors())
      out.push_back({t.name, std::span<const float>(host[s]).subspan(t.offset, t.size)});
  return out;
}

}  // namespace

std::vector<NamedTensor> GpuPipelineRuntime::grads() const {
  const Impl& im = *impl_;
  if (!im.ranks.empty()) return gpu::nccl_ranks_tensors(im.ranks, true, im.host_grads);
  return download(im, true, im.host_grads);
}

std::vector<NamedTensor> GpuPipelineRuntime::params() const {
  const Impl& im = *impl_;
  if (!im.ranks.empty()) return gpu::nccl_ranks_tensors(im.ranks, false, im.host_params);
  return download(im, false, im.host_params);
}

}  // namespace adaptis::exec
