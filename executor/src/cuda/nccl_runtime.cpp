// The NCCL backend (gpu.h): one rank per pipeline device and per GPU, messages as ncclSend / ncclRecv on one
// communicator and one communication stream per rank.
//
// Deadlock freedom: NCCL point-to-point operations of a communicator run one after another on the stream
// and a send completes only together with its receive. Every rank therefore issues its operations in the
// global message order of nccl_comm_sequence (the order a non-blocking simulation of the program sends them).
// A send is issued at its SEND instruction, together with every receive ordered before it (receives need only
// their buffer); a WAIT issues everything up to its receive, which by construction contains only sends
// already reached. By induction over the global order every operation finds its partner: the operations a
// message waits behind on either rank are earlier messages, and the compute its send waits for depends only
// on earlier messages (tests/executor/test_gpu_comm_order.cpp models exactly this).
//
// Without NCCL at build time every entry point refuses with InputError.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "cuda/gpu_pipeline_device.h"
#include "cuda/gpu_runtime_common.h"
#include "cuda/green_context.h"
#include "interpreter.h"

#if ADAPTIS_HAVE_NCCL
#include <nccl.h>
#endif
#if ADAPTIS_HAVE_MPI
#include <mpi.h>
#endif

namespace adaptis::exec {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

int env_int(const char* name, int fallback) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  try {
    size_t used = 0;
    const int x = std::stoi(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return x;
  } catch (const std::exception&) {
    throw InputError(std::string(name) + ": '" + v + "' is not an integer");
  }
}

#if ADAPTIS_HAVE_MPI
bool g_mpi_started = false;  // MPI_Init is once per process by definition; remembered for finalize
#endif

}  // namespace

#if ADAPTIS_HAVE_NCCL

#define ADAPTIS_NCCL_CHECK(call)                                                                             \
  do {                                                                                                       \
    ncclResult_t adaptis_nr_ = (call);                                                                       \
    if (adaptis_nr_ != ncclSuccess)                                                                          \
      throw gpu::CudaError(std::string(#call) + " failed at " + __FILE__ + ":" + std::to_string(__LINE__) + \
                           ": " + ncclGetErrorString(adaptis_nr_));                                          \
  } while (0)

namespace {

std::string to_hex(const ncclUniqueId& id) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < sizeof(id.internal); ++i) {
    const unsigned char b = static_cast<unsigned char>(id.internal[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

ncclUniqueId from_hex(const std::string& hex, const std::string& origin) {
  ncclUniqueId id{};
  if (hex.size() != 2 * sizeof(id.internal))
    throw InputError(origin + ": an NCCL unique id is " + std::to_string(2 * sizeof(id.internal)) +
                     " hex digits, got " + std::to_string(hex.size()));
  auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw InputError(origin + ": '" + std::string(1, c) + "' is not a hex digit");
  };
  for (size_t i = 0; i < sizeof(id.internal); ++i)
    id.internal[i] = static_cast<char>(nibble(hex[2 * i]) * 16 + nibble(hex[2 * i + 1]));
  return id;
}

// One rank's side of the communication (see the file comment): the executor's Transport for NCCL. Nothing
// here blocks the host (operations are only enqueued), so there is nothing for an abort to wake.
class NcclTransport final : public Transport {
 public:
  NcclTransport(ncclComm_t comm, int rank, int world, std::vector<CommStep> seq)
      : comm_(comm), rank_(rank), world_(world), seq_(std::move(seq)) {
    for (size_t k = 0; k < seq_.size(); ++k) index_[{seq_[k].send, seq_[k].tensor}] = k;
    ops_.resize(seq_.size());
  }

  const char* name() const override { return "nccl"; }
  int num_devices() const override { return world_; }

  void attach(int d, TensorStore& store) override {
    if (d != rank_)
      throw std::logic_error("nccl transport of rank " + std::to_string(rank_) + ": device " + std::to_string(d) +
                             " is another rank's");
    dev_ = dynamic_cast<gpu::GpuPipelineDevice*>(&store);
    if (!dev_) throw std::logic_error("nccl transport: the rank's tensors are not on a GPU");
  }
  void detach(int) override {
    ops_.clear();
    ops_.resize(seq_.size());
    dev_ = nullptr;
  }

  void send(int, int, const TensorTag& tag) override { issue_through(position(true, tag)); }
  void post_recv(int, int, const TensorTag&, size_t) override {}  // issued in global order instead
  void wait_recv(int, int, const TensorTag& tag) override {
    const size_t k = position(false, tag);
    issue_through(k);
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(device().compute(), ops_[k].end->get(), 0));
  }
  void finish_sends(int) override {
    if (!seq_.empty()) issue_through(seq_.size() - 1);
    for (Op& op : ops_)
      if (!op.sent.empty()) {
        ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(device().compute(), op.end->get(), 0));
        op.sent.reset();  // freed on the compute stream after the send completed
      }
  }

  void abort(const std::string&) override { aborted_ = true; }
  bool aborted() const override { return aborted_; }
  void reset() override {
    next_ = 0;
    ops_.clear();
    ops_.resize(seq_.size());
    aborted_ = false;
  }
  std::vector<std::string> pending() const override { return {}; }

 private:
  struct Op {
    std::unique_ptr<gpu::Event> start, end;
    gpu::DeviceBuffer<float> sent;
  };
  gpu::GpuPipelineDevice& device() const {
    if (!dev_) throw std::logic_error("nccl transport: no device attached");
    return *dev_;
  }
  size_t position(bool send, const TensorTag& t) const {
    auto it = index_.find({send, t});
    if (it == index_.end())
      throw std::logic_error(std::string(send ? "send" : "receive") + " of '" + to_string(t) +
                             "' is not in this rank's communication sequence");
    return it->second;
  }
  void issue_through(size_t last) {
    while (next_ <= last) issue(next_++);
  }
  void issue(size_t k) {
    gpu::GpuPipelineDevice& dev = device();
    const CommStep& c = seq_[k];
    Op& op = ops_[k];
    op.start = std::make_unique<gpu::Event>();
    op.end = std::make_unique<gpu::Event>();
    // The comm stream must not run ahead of what the compute stream has produced (send) or allocated (recv).
    gpu::Event ordered(false);
    float* buf = nullptr;
    size_t n = 0;
    if (c.send) {
      op.sent = dev.take(c.tensor);
      buf = op.sent.get();
      n = op.sent.size();
    } else {
      const int consumer = c.tensor.kind == TensorKind::Activation ? c.tensor.stage + 1 : c.tensor.stage - 1;
      n = dev.activation_floats(consumer);
      buf = dev.create(c.tensor, n).data();
    }
    ordered.record(dev.compute());
    ADAPTIS_CUDA_CHECK(cudaStreamWaitEvent(dev.comm(), ordered.get(), 0));
    op.start->record(dev.comm());
    if (c.send)
      ADAPTIS_NCCL_CHECK(ncclSend(buf, n, ncclFloat32, c.peer, comm_, dev.comm()));
    else
      ADAPTIS_NCCL_CHECK(ncclRecv(buf, n, ncclFloat32, c.peer, comm_, dev.comm()));
    op.end->record(dev.comm());
    dev.time_comm(c.instruction, op.start.get(), op.end.get());
  }

  ncclComm_t comm_;
  int rank_, world_;
  std::vector<CommStep> seq_;
  std::map<std::pair<bool, TensorTag>, size_t> index_;
  gpu::GpuPipelineDevice* dev_ = nullptr;
  std::vector<Op> ops_;
  size_t next_ = 0;
  bool aborted_ = false;
};

// Loss-producing layers per stage (LM head, MoE), in layer order: the layout of the gathered loss terms.
std::vector<int> loss_layers_per_stage(const Program& p, const NetConfig& cfg) {
  std::vector<int> out;
  for (int s = 0; s < p.num_stages(); ++s) {
    int n = 0;
    for (int l = p.stage_bounds[s]; l < p.stage_bounds[s + 1]; ++l)
      n += cfg.layers[l] == LayerType::LmHead || cfg.layers[l] == LayerType::Moe;
    out.push_back(n);
  }
  return out;
}

}  // namespace

std::string nccl_unique_id_hex() {
  require_gpu("NCCL");
  ncclUniqueId id{};
  ADAPTIS_NCCL_CHECK(ncclGetUniqueId(&id));
  return to_hex(id);
}

struct NcclPipelineRank::Impl {
  Program program;
  NetConfig cfg;
  GpuRunOptions opt;
  NcclBootstrap boot;
  GpuRunInfo info;
  int gpu = 0;
  ncclComm_t comm = nullptr;
  std::unique_ptr<gpu::GpuPipelineDevice> dev;
  std::unique_ptr<NcclTransport> transport;
  std::vector<int> loss_layers;
  gpu::DeviceBuffer<float> barrier;
  bool broken = false;
  mutable std::vector<std::vector<float>> host_grads, host_params;

  ~Impl() {
    if (dev) {
      cudaSetDevice(gpu);
      // What frees on the device's streams goes before the device (and its streams).
      if (transport) transport->detach(boot.rank);
      transport.reset();
      barrier.reset();
      dev.reset();
    }
    if (comm) ncclCommDestroy(comm);
  }
};

NcclPipelineRank::NcclPipelineRank(Program program, const NetConfig& cfg, const GpuRunOptions& opt,
                                   const NcclBootstrap& boot)
    : impl_(std::make_unique<Impl>()) {
  require_gpu_backend(GpuBackend::Nccl);
  validate_gpu_run_options(opt, program.num_devices());
  validate_net_config(cfg, "model '" + cfg.name + "'");
  Impl& im = *impl_;
  const int D = program.num_devices();
  if (boot.world != D)
    throw InputError("nccl backend: " + std::to_string(boot.world) + " ranks were started but the plan has " +
                     std::to_string(D) + " devices (one rank per device)");
  if (boot.rank < 0 || boot.rank >= boot.world)
    throw InputError("nccl backend: rank " + std::to_string(boot.rank) + " outside [0, " + std::to_string(boot.world) + ")");
  std::vector<CommStep> seq = nccl_comm_sequence(program)[size_t(boot.rank)];
  im.program = std::move(program);
  im.cfg = cfg;
  im.opt = opt;
  im.boot = boot;
  im.loss_layers = loss_layers_per_stage(im.program, cfg);
  int count = 0;
  ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&count));
  im.gpu = !opt.gpus.empty() ? opt.gpus[size_t(boot.rank)] : boot.local_rank % count;
  const GpuInfo g = describe_gpu(im.gpu, "nccl backend");
  ADAPTIS_CUDA_CHECK(cudaSetDevice(im.gpu));
  gpu::keep_pool_memory(im.gpu);
  const ncclUniqueId id = from_hex(boot.unique_id, "NCCL unique id");
  ADAPTIS_NCCL_CHECK(ncclCommInitRank(&im.comm, boot.world, id, boot.rank));
  im.dev = std::make_unique<gpu::GpuPipelineDevice>(im.program, boot.rank, cfg, opt.precision, im.gpu);
  im.transport = std::make_unique<NcclTransport>(im.comm, boot.rank, boot.world, std::move(seq));
  im.transport->attach(boot.rank, *im.dev);
  im.barrier.zeros(1, im.dev->comm());
  im.info.backend = "nccl";
  im.info.description = std::to_string(boot.world) + " NCCL ranks (rank " + std::to_string(boot.rank) + " on " +
                        g.name + " #" + std::to_string(im.gpu) + "), bootstrap " +
                        (boot.method.empty() ? "in-process" : boot.method) + ", " + gpu_precision_name(opt.precision);
  for (int d = 0; d < D; ++d) {
    im.info.device_names.push_back("rank" + std::to_string(d) + (d == boot.rank ? "/" + g.name : ""));
    im.info.device_sms.push_back(d == boot.rank ? g.sm_count : 0);
  }
}

NcclPipelineRank::~NcclPipelineRank() = default;
int NcclPipelineRank::rank() const { return impl_->boot.rank; }
const GpuRunInfo& NcclPipelineRank::info() const { return impl_->info; }

StepResult NcclPipelineRank::run_step(int step, const DataSource& data_source) {
  Impl& im = *impl_;
  if (im.broken) throw ExecutionError("nccl rank: an earlier iteration failed; the rank cannot continue");
  const int D = im.program.num_devices(), S = im.program.num_stages(), m = im.program.num_microbatches;
  const int me = im.boot.rank;
  DeviceStatus status;
  try {
    ADAPTIS_CUDA_CHECK(cudaSetDevice(im.gpu));
    std::vector<MicroBatchData> data;
    for (int mb = 0; mb < m; ++mb) data.push_back(data_source(step, mb));
    gpu::GpuPipelineDevice& dev = *im.dev;
    dev.zero_grad();
    im.transport->reset();
    // Barrier, then every rank's clock starts where it left the barrier.
    ADAPTIS_NCCL_CHECK(ncclAllReduce(im.barrier.get(), im.barrier.get(), 1, ncclFloat32, ncclSum, im.comm, dev.comm()));
    gpu::Event start;
    start.record(dev.comm());
    dev.set_step_start(start.get());
    StepSettings settings;
    settings.step = step;
    settings.data = &data;
    settings.optimizer = im.opt.optimizer;
    settings.optimizer_step = im.opt.optimizer_step;
    const DeviceStepOutput out = run_device_list(im.program, me, dev, *im.transport, settings, status);

    // Gather every rank's intervals, optimizer spans, peaks and loss terms: each slot is written by one rank
    // and zero elsewhere, so a sum all-reduce reproduces it exactly.
    std::vector<size_t> instr_base(size_t(D) + 1, 0);
    for (int d = 0; d < D; ++d) instr_base[d + 1] = instr_base[d] + im.program.devices[d].size();
    const size_t n_int = 2 * instr_base[D] + 3 * size_t(D);
    std::vector<int64_t> ints(n_int, 0);
    for (size_t i = 0; i < out.intervals.size(); ++i) {
      ints[2 * (instr_base[me] + i)] = out.intervals[i].start_ns;
      ints[2 * (instr_base[me] + i) + 1] = out.intervals[i].end_ns;
    }
    ints[2 * instr_base[D] + 3 * size_t(me)] = out.optimizer.start_ns;
    ints[2 * instr_base[D] + 3 * size_t(me) + 1] = out.optimizer.end_ns;
    ints[2 * instr_base[D] + 3 * size_t(me) + 2] = static_cast<int64_t>(out.peak_bytes);
    std::vector<size_t> loss_base(size_t(S) + 1, 0);
    for (int s = 0; s < S; ++s) loss_base[s + 1] = loss_base[s] + size_t(im.loss_layers[s]) * m;
    std::vector<double> losses(std::max<size_t>(loss_base[S], 1), 0.0);
    for (int s : im.program.device_stages[me])
      for (int mb = 0; mb < m; ++mb) {
        const auto& terms = out.loss_terms.at(s).at(size_t(mb));
        for (size_t t = 0; t < terms.size(); ++t) losses[loss_base[s] + size_t(mb) * im.loss_layers[s] + t] = terms[t];
      }
    gpu::DeviceBuffer<int64_t> d_ints(ints.size(), dev.comm());
    gpu::DeviceBuffer<double> d_losses(losses.size(), dev.comm());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(d_ints.get(), ints.data(), d_ints.bytes(), cudaMemcpyHostToDevice, dev.comm()));
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(d_losses.get(), losses.data(), d_losses.bytes(), cudaMemcpyHostToDevice, dev.comm()));
    ADAPTIS_NCCL_CHECK(ncclGroupStart());
    ADAPTIS_NCCL_CHECK(ncclAllReduce(d_ints.get(), d_ints.get(), ints.size(), ncclInt64, ncclSum, im.comm, dev.comm()));
    ADAPTIS_NCCL_CHECK(ncclAllReduce(d_losses.get(), d_losses.get(), losses.size(), ncclFloat64, ncclSum, im.comm, dev.comm()));
    ADAPTIS_NCCL_CHECK(ncclGroupEnd());
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(ints.data(), d_ints.get(), d_ints.bytes(), cudaMemcpyDeviceToHost, dev.comm()));
    ADAPTIS_CUDA_CHECK(cudaMemcpyAsync(losses.data(), d_losses.get(), d_losses.bytes(), cudaMemcpyDeviceToHost, dev.comm()));
    ADAPTIS_CUDA_CHECK(cudaStreamSynchronize(dev.comm()));

    StepResult r;
    r.step = step;
    r.intervals.resize(size_t(D));
    r.optimizer.resize(size_t(D));
    r.peak_activation_bytes.resize(size_t(D));
    for (int d = 0; d < D; ++d) {
      for (size_t i = instr_base[d]; i < instr_base[d + 1]; ++i) {
        r.intervals[d].push_back({ints[2 * i], ints[2 * i + 1]});
        r.pipeline_end_ns = std::max(r.pipeline_end_ns, ints[2 * i + 1]);
      }
      r.optimizer[d] = {ints[2 * instr_base[D] + 3 * size_t(d)], ints[2 * instr_base[D] + 3 * size_t(d) + 1]};
      r.peak_activation_bytes[d] = static_cast<size_t>(ints[2 * instr_base[D] + 3 * size_t(d) + 2]);
      r.end_ns = std::max(r.end_ns, r.optimizer[d].end_ns);
    }
    r.end_ns = std::max(r.end_ns, r.pipeline_end_ns);
    r.mb_losses.assign(size_t(m), 0.0);
    for (int mb = 0; mb < m; ++mb)
      for (int s = 0; s < S; ++s)
        for (int t = 0; t < im.loss_layers[s]; ++t) r.mb_losses[mb] += losses[loss_base[s] + size_t(mb) * im.loss_layers[s] + t];
    double sum = 0;
    for (double l : r.mb_losses) sum += l;
    r.loss = sum / m;
    return r;
  } catch (const std::exception& e) {
    im.broken = true;
    const std::string where =
        status.get() == DeviceState::Idle ? "" : " " + failure_site(im.program, me, status.current.load());
    // A peer blocked in NCCL would wait forever for this rank: abort the communicator so it fails too.
    if (im.comm) {
      ncclCommAbort(im.comm);
      im.comm = nullptr;
    }
    throw ExecutionError("nccl rank " + std::to_string(me) + " failed" + where + ": " + e.what());
  }
}

namespace {

// Host copies of this rank's stages' gradients or parameters (kept in `host`), named per tensor.
std::vector<NamedTensor> download(const gpu::GpuPipelineDevice& dev, int gpu, bool grads,
                                  std::vector<std::vector<float>>& host) {
  ADAPTIS_CUDA_CHECK(cudaSetDevice(gpu));
  host.clear();
  for (const auto& s : dev.stages()) host.push_back(grads ? s->download_grads() : s->download_params());
  std::vector<NamedTensor> out;
  for (size_t k = 0; k < dev.stages().size(); ++k)
    for (const auto& t : dev.stages()[k]->tensors())
      out.push_back({t.name, std::span<const float>(host[k]).subspan(t.offset, t.size)});
  return out;
}

}  // namespace

std::vector<NamedTensor> NcclPipelineRank::grads() const {
  return download(*impl_->dev, impl_->gpu, true, impl_->host_grads);
}

std::vector<NamedTensor> NcclPipelineRank::params() const {
  return download(*impl_->dev, impl_->gpu, false, impl_->host_params);
}

namespace gpu {

std::vector<std::unique_ptr<NcclPipelineRank>> start_nccl_ranks(const Program& program, const NetConfig& cfg,
                                                                 const GpuRunOptions& opt) {
  const int D = program.num_devices();
  int count = 0;
  ADAPTIS_CUDA_CHECK(cudaGetDeviceCount(&count));
  if (opt.gpus.empty() && count < D)
    throw InputError("nccl backend: the plan has " + std::to_string(D) + " devices but this machine has " +
                     std::to_string(count) + " GPUs (NCCL runs one rank per GPU; use the cuda backend for virtual "
                     "devices on one GPU)");
  const std::string id = nccl_unique_id_hex();
  std::vector<std::unique_ptr<NcclPipelineRank>> ranks(static_cast<size_t>(D));
  // ncclCommInitRank blocks until every rank has joined: the ranks are built concurrently.
  const std::string errors = on_each_device(D, [&](int d) {
    NcclBootstrap b;
    b.rank = d;
    b.world = D;
    b.local_rank = d;
    b.unique_id = id;
    b.method = "in-process";
    ranks[d] = std::make_unique<NcclPipelineRank>(program, cfg, opt, b);
  });
  if (!errors.empty()) throw ExecutionError("nccl backend: could not start the ranks:" + errors);
  return ranks;
}

StepResult run_nccl_ranks_step(std::vector<std::unique_ptr<NcclPipelineRank>>& ranks, int step,
                               const DataSource& data) {
  std::vector<StepResult> results(ranks.size());
  const std::string errors = on_each_device(static_cast<int>(ranks.size()), [&](int d) {
    results[d] = ranks[d]->run_step(step, data);
  });
  if (!errors.empty()) throw ExecutionError("nccl backend: step " + std::to_string(step) + " failed:" + errors);
  return results.front();
}

std::vector<NamedTensor> nccl_ranks_tensors(const std::vector<std::unique_ptr<NcclPipelineRank>>& ranks, bool grads,
                                            std::vector<std::vector<float>>&) {
  // Each rank keeps the host copies its NamedTensors point into. Put them in stage (= global layer) order
  // like the other runtimes: names start with "layers.<index>.", and a stable sort keeps a layer's tensors
  // in their own order.
  std::vector<NamedTensor> all;
  for (const auto& r : ranks) {
    auto part = grads ? r->grads() : r->params();
    all.insert(all.end(), part.begin(), part.end());
  }
  auto layer_of = [](const std::string& name) {
    const size_t dot = name.find('.');
    return dot == std::string::npos ? 0 : std::atoi(name.c_str() + dot + 1);
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](const NamedTensor& a, const NamedTensor& b) { return layer_of(a.name) < layer_of(b.name); });
  return all;
}

}  // namespace gpu

#else  // !ADAPTIS_HAVE_NCCL

namespace {
[[noreturn]] void no_nccl(const std::string& what) {
  throw InputError(what + ": this adaptis was built without NCCL (libnccl and nccl.h were not found at configure time)");
}
}  // namespace

std::string nccl_unique_id_hex() { no_nccl("NCCL"); }
struct NcclPipelineRank::Impl {};
NcclPipelineRank::NcclPipelineRank(Program, const NetConfig&, const GpuRunOptions&, const NcclBootstrap&) {
  no_nccl("nccl backend");
}
NcclPipelineRank::~NcclPipelineRank() = default;
StepResult NcclPipelineRank::run_step(int, const DataSource&) { no_nccl("nccl backend"); }
int NcclPipelineRank::rank() const { no_nccl("nccl backend"); }
const GpuRunInfo& NcclPipelineRank::info() const { no_nccl("nccl backend"); }
std::vector<NamedTensor> NcclPipelineRank::grads() const { no_nccl("nccl backend"); }
std::vector<NamedTensor> NcclPipelineRank::params() const { no_nccl("nccl backend"); }
namespace gpu {
std::vector<std::unique_ptr<NcclPipelineRank>> start_nccl_ranks(const Program&, const NetConfig&, const GpuRunOptions&) {
  no_nccl("nccl backend");
}
StepResult run_nccl_ranks_step(std::vector<std::unique_ptr<NcclPipelineRank>>&, int, const DataSource&) {
  no_nccl("nccl backend");
}
std::vector<NamedTensor> nccl_ranks_tensors(const std::vector<std::unique_ptr<NcclPipelineRank>>&, bool,
                                            std::vector<std::vector<float>>&) {
  no_nccl("nccl backend");
}
}  // namespace gpu

#endif  // ADAPTIS_HAVE_NCCL

// ---- bootstrap (works without NCCL too: it only resolves rank / world / id) ----------------------------

NcclBootstrap nccl_bootstrap_from_environment(double timeout_ms) {
  NcclBootstrap b;
  const bool under_mpirun = !env("OMPI_COMM_WORLD_RANK").empty() || !env("PMI_RANK").empty();
#if ADAPTIS_HAVE_MPI
  if (under_mpirun && env("ADAPTIS_NCCL_ID").empty() && env("ADAPTIS_NCCL_ID_FILE").empty()) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
      g_mpi_started = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &b.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &b.world);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, b.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &b.local_rank);
    MPI_Comm_free(&local);
    // Rank 0 makes the id; it travels as its 256 hex digits. When rank 0 cannot make one (no GPU, no NCCL) it
    // still takes part in the broadcast, with an empty buffer, so every rank stops with an error instead of
    // waiting in MPI_Bcast for an id that never comes. MPI is not finalized on these errors: finalizing may
    // wait for ranks that are still running, while an exiting rank lets mpirun end the whole job.
    std::vector<char> buf(257, 0);
    std::exception_ptr rank0_error;
    if (b.rank == 0) {
      try {
        const std::string hex = nccl_unique_id_hex();
        std::copy(hex.begin(), hex.end(), buf.begin());
      } catch (...) {
        rank0_error = std::current_exception();
      }
    }
    MPI_Bcast(buf.data(), 256, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank0_error) std::rethrow_exception(rank0_error);
    if (buf[0] == 0)
      throw InputError("NCCL bootstrap (MPI): rank 0 could not make NCCL's unique id (its error says why)");
    b.unique_id.assign(buf.data(), 256);
    b.method = "mpi";
    return b;
  }
#endif
  if (!env("ADAPTIS_NCCL_RANK").empty() || !env("ADAPTIS_NCCL_WORLD").empty()) {
    b.rank = env_int("ADAPTIS_NCCL_RANK", -1);
    b.world = env_int("ADAPTIS_NCCL_WORLD", -1);
    b.local_rank = env_int("ADAPTIS_NCCL_LOCAL_RANK", b.rank);
  } else if (!env("OMPI_COMM_WORLD_RANK").empty()) {
    b.rank = env_int("OMPI_COMM_WORLD_RANK", -1);
    b.world = env_int("OMPI_COMM_WORLD_SIZE", -1);
    b.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", b.rank);
  } else if (!env("PMI_RANK").empty()) {
    b.rank = env_int("PMI_RANK", -1);
    b.world = env_int("PMI_SIZE", -1);
    b.local_rank = env_int("MPI_LOCALRANKID", b.rank);
  } else {
    throw InputError(
        "nccl backend across processes: no rank found; start with mpirun, or set ADAPTIS_NCCL_RANK and "
        "ADAPTIS_NCCL_WORLD (and ADAPTIS_NCCL_ID or ADAPTIS_NCCL_ID_FILE)");
  }
  if (b.world < 1) throw InputError("NCCL bootstrap: the world size must be >= 1, got " + std::to_string(b.world));
  if (b.rank < 0 || b.rank >= b.world)
    throw InputError("NCCL bootstrap: rank " + std::to_string(b.rank) + " outside [0, " + std::to_string(b.world) + ")");
  if (b.local_rank < 0) throw InputError("NCCL bootstrap: the local rank must be >= 0");
  (void)under_mpirun;

  if (!env("ADAPTIS_NCCL_ID").empty()) {
    b.unique_id = env("ADAPTIS_NCCL_ID");
    b.method = "env";
    return b;
  }
  const std::string file = env("ADAPTIS_NCCL_ID_FILE");
  if (file.empty())
    throw InputError("NCCL bootstrap: set ADAPTIS_NCCL_ID (256 hex digits from rank 0) or ADAPTIS_NCCL_ID_FILE (a path "
                     "every rank can read; rank 0 writes the id there)" );
  b.method = "file";
  // A stale file from an earlier launch must not be taken for this one's: the line carries the launch's job id
  // when the launcher provides one (OpenMPI does), and readers insist on it.
  std::string job = env("ADAPTIS_NCCL_JOB");
  if (job.empty()) job = env("OMPI_MCA_ess_base_jobid");
  if (job.empty()) job = "-";
  if (b.rank == 0) {
    const std::string id = nccl_unique_id_hex();
    const std::string tmp = file + ".tmp." + std::to_string(::getpid());
    {
      std::ofstream out(tmp);
      if (!out) throw InputError("ADAPTIS_NCCL_ID_FILE: cannot write '" + tmp + "'");
      out << job << ' ' << id << '\n';
    }
    if (std::rename(tmp.c_str(), file.c_str()) != 0)
      throw InputError("ADAPTIS_NCCL_ID_FILE: cannot rename '" + tmp + "' to '" + file + "'");
    b.unique_id = id;
    return b;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(timeout_ms);
  for (;;) {
    std::ifstream in(file);
    std::string key, id;
    if (in && (in >> key >> id) && key == job && id.size() == 256) {
      b.unique_id = id;
      return b;
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw InputError("ADAPTIS_NCCL_ID_FILE: rank 0 did not write '" + file + "' within " +
                       std::to_string(timeout_ms) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool built_with_mpi() {
#if ADAPTIS_HAVE_MPI
  return true;
#else
  return false;
#endif
}

void nccl_bootstrap_finalize() {
#if ADAPTIS_HAVE_MPI
  if (g_mpi_started) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    g_mpi_started = false;
  }
#endif
}

}  // namespace adaptis::exec
