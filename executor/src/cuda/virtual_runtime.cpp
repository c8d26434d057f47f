// The virtual-device backend of GpuPipelineRuntime (gpu.h): one GPU, N pipeline devices, each with its own
// host thread, compute stream and copy stream (and optionally its own green context = SM partition).
//
// A message between virtual devices: the sender records a `ready` event on its compute stream and posts
// {buffer, ready} to a host mailbox; the receiver's thread, at its POST_RECV if the message is already there or
// else at the latest at its WAIT, allocates the destination on its compute stream, makes its copy stream wait
// for `ready`, copies device-to-device and records `copied`; its compute stream waits for `copied` at the
// WAIT. The sender's buffer goes back to the sender, which frees it on its compute stream after `copied`.
// Host threads only ever wait for each other's *enqueueing*, never for the GPU, and the program was proved
// deadlock-free by check_program (sends never block), so enqueueing always finishes.
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
#include "cuda/device_executor.h"
#include "cuda/green_context.h"
#include "cuda/gpu_runtime_common.h"

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

// The host side of the mailbox, shared by all device threads of one step.
struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::tuple<int, TensorTag>, Message> sent;  // (destination, tag)
  std::map<int, std::vector<Returned>> returned;        // sender -> buffers to free
  std::atomic<bool> aborted{false};
  std::string reason;  // guarded by mu
  double watchdog_ms = 0;

  void throw_if_aborted() {
    if (!aborted) return;
    std::lock_guard<std::mutex> lk(mu);
    throw ExecutionError("aborted: " + reason);
  }
  void abort(const std::string& why) {
    std::lock_guard<std::mutex> lk(mu);
    if (!aborted) {
      aborted = true;
      reason = why;
    }
    cv.notify_all();
  }
};

// One device's side of the mailbox.
class CopyComm final : public Comm {
 public:
  explicit CopyComm(Mailbox& box) : box_(box) {}

  void begin_step() {
    recvs_.clear();
    outstanding_ = 0;
  }

  void send(DeviceExecutor& dev, const Instruction& ins, int) override {
    Message m;
    m.buffer = dev.take(ins.tensor);
    m.ready = std::make_unique<Event>(false);
    m.ready->record(dev.compute());
    m.src = dev.id();
    ++outstanding_;
    std::lock_guard<std::mutex> lk(box_.mu);
    auto [it, fresh] = box_.sent.try_emplace({ins.peer, ins.tensor}, std::move(m));
    if (!fresh) throw std::logic_error("'" + to_string(ins.tensor) + "' sent twice");
    box_.cv.notify_all();
  }

  void post_recv(DeviceExecutor& dev, const Instruction& ins, int index) override {
    Recv& r = recvs_[ins.tensor];
    r.src = ins.peer;
    r.index = index;
    try_copy(dev, ins.tensor, r);
  }

  void wait_recv(DeviceExecutor& dev, const Instruction& ins, int) override {
    auto it = recvs_.find(ins.tensor);
    if (it == recvs_.end()) throw std::logic_error("waits for '" + to_string(ins.tensor) + "' without posting it");
    Recv& r = it->second;
    if (!r.copied) {
      std::unique_lock<std::mutex> lk(box_.mu);
      const auto key = std::make_tuple(dev.id(), ins.tensor);
      const bool arrived = box_.cv.wait_for(lk, std::chrono::duration<double, std::milli>(box_.watchdog_ms), [&] {
        return box_.aborted || box_.sent.count(key);
      });
      if (box_.aborted) throw ExecutionError("aborted: " + box_.reason);
      if (!arrived) {
        lk.unlock();
        const std::string why = "device " + std::to_string(dev.id()) + " waited " + std::to_string(box_.watchdog_ms) +
                                " ms for '" + to_string(ins.tensor) + "' from device " + std::to_string(ins.peer);
        box_.abort(why);
        throw ExecutionError(why);
      }
      lk.unlock();
      try_copy(dev, ins.tensor, r);
    }
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.compute(), r.copy_end->get(), 0));
  }

  void progress(DeviceExecutor& dev) override {
    for (auto& [tag, r] : recvs_)
      if (!r.copied) try_copy(dev, tag, r);
    free_returned(dev);
  }

  // Every buffer this device sent must come back (its receiver has enqueued the copy) before the step ends.
  void end_step(DeviceExecutor& dev) override {
    free_returned(dev);
    while (outstanding_ > 0) {
      {
        std::unique_lock<std::mutex> lk(box_.mu);
        const bool back = box_.cv.wait_for(lk, std::chrono::duration<double, std::milli>(box_.watchdog_ms), [&] {
          return box_.aborted || !box_.returned[dev.id()].empty();
        });
        if (box_.aborted) throw ExecutionError("aborted: " + box_.reason);
        if (!back) {
          lk.unlock();
          const std::string why = "device " + std::to_string(dev.id()) + ": " + std::to_string(outstanding_) +
                                  " sent tensors were never received";
          box_.abort(why);
          throw ExecutionError(why);
        }
      }
      free_returned(dev);
    }
  }

 private:
  struct Recv {
    int src = -1, index = -1;
    bool copied = false;
    std::unique_ptr<Event> copy_start, copy_end;
  };

  void try_copy(DeviceExecutor& dev, const TensorTag& tag, Recv& r) {
    Message m;
    {
      std::lock_guard<std::mutex> lk(box_.mu);
      auto it = box_.sent.find({dev.id(), tag});
      if (it == box_.sent.end()) return;
      m = std::move(it->second);
      box_.sent.erase(it);
    }
    if (m.src != r.src)
      throw std::logic_error("'" + to_string(tag) + "' came from device " + std::to_string(m.src) + ", expected " +
                             std::to_string(r.src));
    // Allocated on the compute stream (which consumes and frees it); the copy stream waits for the allocation.
    float* dst = dev.create(tag, m.buffer.size(), dev.compute());
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
    std::lock_guard<std::mutex> lk(box_.mu);
    box_.returned[m.src].push_back(Returned{std::move(m), r.copy_end->get()});
    box_.cv.notify_all();
  }

  void free_returned(DeviceExecutor& dev) {
    std::vector<Returned> back;
    {
      std::lock_guard<std::mutex> lk(box_.mu);
      back.swap(box_.returned[dev.id()]);
    }
    for (Returned& b : back) {
      ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.compute(), b.copied, 0));
      b.message.buffer.reset();  // stream-ordered free after the copy
      b.message.ready.reset();
      --outstanding_;
    }
  }

  Mailbox& box_;
  std::map<TensorTag, Recv> recvs_;
  int outstanding_ = 0;
};

}  // namespace

}  // namespace gpu

struct GpuPipelineRuntime::Impl {
  Program program;
  NetConfig cfg;
  GpuRunOptions opt;
  GpuRunInfo info;
  std::unique_ptr<gpu::GreenPartitions> green;
  std::vector<std::unique_ptr<gpu::DeviceExecutor>> devices;
  std::vector<std::unique_ptr<gpu::CopyComm>> comms;
  gpu::Mailbox box;
  cudaStream_t control = nullptr;
  std::unique_ptr<gpu::Event> start;
  bool broken = false;
  // NCCL ranks as threads of this process (backend nccl); devices/comms stay empty then.
  std::vector<std::unique_ptr<NcclPipelineRank>> ranks;
  // Host copies behind grads() / params().
  mutable std::vector<std::vector<float>> host_grads, host_params;

  // Makes device d's context current on the calling thread.
  void enter(int d) const {
    ADAPTIS_CUDA_CHECK(cudaSetDevice(opt.gpu));
    if (green) green->make_current(d);
  }

  ~Impl() {
    // Tear down on the owning threads (their contexts).
    if (!devices.empty()) {
      gpu::on_each_device(static_cast<int>(devices.size()), [&](int d) {
        enter(d);
        devices[d].reset();
        if (d < static_cast<int>(comms.size())) comms[d].reset();  // its events belong to this context
      });
    }
    if (control) cudaStreamDestroy(control);
  }
};

GpuPipelineRuntime::GpuPipelineRuntime(Program program, const NetConfig& cfg, const GpuRunOptions& opt)
    : impl_(std::make_unique<Impl>()) {
  const std::string what = std::string("--backend ") + gpu_backend_name(opt.backend);
  require_gpu_backend(opt.backend);
  validate_gpu_run_options(opt, program.num_devices());
  require_valid_program(program, what);
  validate_net_config(cfg, "model '" + cfg.name + "'");
  Impl& im = *impl_;
  im.program = std::move(program);
  im.cfg = cfg;
  im.opt = opt;
  im.box.watchdog_ms = opt.watchdog_ms;
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
  im.devices.resize(size_t(D));
  std::string errors = gpu::on_each_device(D, [&](int d) {
    im.enter(d);
    im.devices[d] = std::make_unique<gpu::DeviceExecutor>(im.program, d, cfg, opt.precision, opt.gpu);
  });
  if (!errors.empty()) throw ExecutionError("--backend cuda: could not build the stages:" + errors);
  for (int d = 0; d < D; ++d) im.comms.push_back(std::make_unique<gpu::CopyComm>(im.box));

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
  const int D = im.program.num_devices();
  const int m = im.program.num_microbatches;
  std::vector<MicroBatchData> data;
  data.reserve(size_t(m));
  for (int mb = 0; mb < m; ++mb) data.push_back(data_source(step, mb));

  {
    std::lock_guard<std::mutex> lk(im.box.mu);
    im.box.sent.clear();
    im.box.returned.clear();
    im.box.aborted = false;
    im.box.reason.clear();
  }
  for (auto& c : im.comms) c->begin_step();

  // The gate: a host function on the control stream holds the start event until every device is based.
  gpu::StartGate gate;
  ADAPTIS_CUDA_CHECK(cudaSetDevice(im.opt.gpu));
  gate.enqueue(im.control);
  im.start->record(im.control);

  struct Out {
    std::vector<Interval> intervals;
    Interval opt;
    size_t peak = 0;
    std::map<int, std::vector<std::vector<double>>> losses;  // stage -> mb -> terms
  };
  std::vector<Out> out(static_cast<size_t>(D));
  std::string errors = gpu::on_each_device(
      D,
      [&](int d) {
        bool based = false;
        try {
          im.enter(d);
          gpu::DeviceExecutor& dev = *im.devices[d];
          dev.zero_grad();
          dev.run(data, im.start->get(), *im.comms[d], im.opt.optimizer, im.opt.optimizer_step, step,
                  [&] { im.box.throw_if_aborted(); },
                  [&] {
                    based = true;
                    gate.arrive();
                  });
          dev.synchronize();
          out[d].intervals = dev.intervals();
          out[d].opt = dev.optimizer_interval();
          out[d].peak = dev.peak_bytes();
          for (int s : im.program.device_stages[d]) {
            auto& per_mb = out[d].losses[s];
            for (int mb = 0; mb < m; ++mb) per_mb.push_back(dev.stage(s)->loss_terms(mb));
          }
        } catch (const std::exception& e) {
          if (!based) gate.arrive();
          const int at = im.devices[d] ? im.devices[d]->current_instruction() : -1;
          const std::string where =
              at >= 0 ? " at #" + std::to_string(at) + " '" + im.program.devices[d][at].to_string() + "'" : "";
          im.box.abort("device " + std::to_string(d) + " failed" + where + ": " + e.what());
          throw std::runtime_error(std::string("failed") + where + ": " + e.what());
        }
      },
      [&] { gate.wait_all(D); });
  gate.finish();
  if (!errors.empty()) {
    im.broken = true;
    throw ExecutionError("gpu runtime: step " + std::to_string(step) + " failed:" + errors);
  }

  StepResult r;
  r.step = step;
  r.start_ns = 0;
  r.intervals.resize(size_t(D));
  r.optimizer.resize(size_t(D));
  r.peak_activation_bytes.resize(size_t(D));
  for (int d = 0; d < D; ++d) {
    r.intervals[d] = std::move(out[d].intervals);
    for (const Interval& iv : r.intervals[d]) r.pipeline_end_ns = std::max(r.pipeline_end_ns, iv.end_ns);
    r.optimizer[d] = out[d].opt;
    r.end_ns = std::max(r.end_ns, out[d].opt.end_ns);
    r.peak_activation_bytes[d] = out[d].peak;
  }
  r.end_ns = std::max(r.end_ns, r.pipeline_end_ns);
  // A micro-batch's loss: every stage's terms in stage (= global layer) order, as microbatch_loss adds them.
  r.mb_losses.assign(size_t(m), 0.0);
  for (int mb = 0; mb < m; ++mb)
    for (int s = 0; s < im.program.num_stages(); ++s)
      for (double t : out[size_t(im.program.stage_device[s])].losses.at(s)[size_t(mb)]) r.mb_losses[mb] += t;
  double sum = 0;
  for (double l : r.mb_losses) sum += l;
  r.loss = sum / m;
  return r;
}

namespace {

std::vector<NamedTensor> named(const Program& program, const std::vector<const gpu::GpuStage*>& stages,
                               std::vector<std::vector<float>>& host, bool grads,
                               const std::function<void(int, std::function<void()>)>& on_owner) {
  host.assign(stages.size(), {});
  for (size_t s = 0; s < stages.size(); ++s)
    on_owner(program.stage_device[s], [&, s] { host[s] = grads ? stages[s]->download_grads() : stages[s]->download_params(); });
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
  std::vector<const gpu::GpuStage*> stages(size_t(im.program.num_stages()));
  for (int s = 0; s < im.program.num_stages(); ++s) stages[s] = im.devices[im.program.stage_device[s]]->stage(s);
  return named(im.program, stages, im.host_grads, true, [&](int d, std::function<void()> fn) {
    gpu::on_thread([&] {
      im.enter(d);
      fn();
    });
  });
}

std::vector<NamedTensor> GpuPipelineRuntime::params() const {
  const Impl& im = *impl_;
  if (!im.ranks.empty()) return gpu::nccl_ranks_tensors(im.ranks, false, im.host_params);
  std::vector<const gpu::GpuStage*> stages(size_t(im.program.num_stages()));
  for (int s = 0; s < im.program.num_stages(); ++s) stages[s] = im.devices[im.program.stage_device[s]]->stage(s);
  return named(im.program, stages, im.host_params, false, [&](int d, std::function<void()> fn) {
    gpu::on_thread([&] {
      im.enter(d);
      fn();
    });
  });
}

}  // namespace adaptis::exec
