// Data parallelism on the CPU executor (data_parallel.h): replicas of one pipeline, a chained
// gradient all-reduce in the single-device summation order, a replicated or ZeRO-1 optimizer step.
#include "adaptis/executor/data_parallel.h"

#include <chrono>
#include <exception>
#include <stdexcept>
#include <thread>

#include "adaptis/executor/run_session.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

namespace {

using Clock = std::chrono::steady_clock;

int64_t since_ns(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

// A stage built for the whole global batch, seen by one replica: its micro-batch k is global
// micro-batch k + offset. The gradient reduction and the optimizer step belong to the data-parallel
// runtime, so the pipeline runtime's calls to them do nothing here.
class ReplicaStage final : public StageCompute {
 public:
  ReplicaStage(std::unique_ptr<StageCompute> inner, int offset) : inner_(std::move(inner)), off_(offset) {}
  StageCompute& inner() { return *inner_; }
  const StageCompute& inner() const { return *inner_; }

  bool is_first() const override { return inner_->is_first(); }
  bool is_last() const override { return inner_->is_last(); }
  size_t activation_floats() const override { return inner_->activation_floats(); }
  void forward(int mb, const MicroBatchData& data, const float* in, float* out) override {
    inner_->forward(mb + off_, data, in, out);
  }
  void backward_input(int mb, const MicroBatchData& data, const float* dy, float* dx) override {
    inner_->backward_input(mb + off_, data, dy, dx);
  }
  void backward_weight(int mb) override { inner_->backward_weight(mb + off_); }
  double loss(int mb) const override { return inner_->loss(mb + off_); }
  std::vector<double> loss_terms(int mb) const override { return inner_->loss_terms(mb + off_); }
  void zero_grad() override { inner_->zero_grad(); }
  void finish_backward() override {}       // the data-parallel all-reduce does it
  void step(const AdamW&, int) override {}  // and the data-parallel optimizer step
  std::span<const float> params() const override { return inner_->params(); }
  std::span<const float> grads() const override { return inner_->grads(); }
  const std::vector<Tensor>& tensors() const override { return inner_->tensors(); }
  size_t saved_bytes() const override { return inner_->saved_bytes(); }

 private:
  std::unique_ptr<StageCompute> inner_;
  int off_;
};

}  // namespace

struct DataParallelRuntime::Replica {
  std::unique_ptr<PipelineRuntime> runtime;
  std::mutex mu;                      // guards `stages` while the device threads build them
  std::vector<ReplicaStage*> stages;  // by stage index
  // ZeRO-1: this replica's shard [begin, end) of each stage's parameters and its AdamW moments.
  std::vector<size_t> shard_begin, shard_end;
  std::vector<std::vector<float>> m, v;
};

DataParallelRuntime::DataParallelRuntime(const Program& program, const NetConfig& cfg, DataParallelOptions options)
    : program_(program), cfg_(cfg), opt_(options), m_(program.num_microbatches) {
  if (opt_.replicas < 1 || opt_.replicas > 1024)
    throw InputError("replicas", "must be in [1, 1024], got " + std::to_string(opt_.replicas));
  if (m_ < 1) throw InputError("data parallel: the program has no micro-batches");
  validate_net_config(cfg_, "model '" + cfg_.name + "'");
  const int d = opt_.replicas;
  const int global_m = d * m_;
  const int S = program_.num_stages();
  for (int r = 0; r < d; ++r) {
    auto rep = std::make_unique<Replica>();
    rep->stages.assign(S, nullptr);
    Replica* raw = rep.get();
    const std::vector<int>& bounds = program_.stage_bounds;
    StageFactory factory = [this, raw, r, global_m, bounds](int first, int last, int) -> std::unique_ptr<StageCompute> {
      auto stage = std::make_unique<ReplicaStage>(StageCompute::create(cfg_, first, last, global_m), r * m_);
      std::lock_guard<std::mutex> lk(raw->mu);
      for (size_t s = 0; s + 1 < bounds.size(); ++s)
        if (bounds[s] == first && bounds[s + 1] == last) raw->stages[s] = stage.get();
      return stage;
    };
    RuntimeOptions ro;
    ro.optimizer = opt_.optimizer;
    ro.optimizer_step = false;
    ro.watchdog_ms = opt_.watchdog_ms;
    rep->runtime = std::make_unique<PipelineRuntime>(program_, factory, make_mailbox_transport(program_.num_devices()), ro);
    for (int s = 0; s < S; ++s)
      if (!rep->stages[s]) throw std::logic_error("data parallel: stage " + std::to_string(s) + " was not built");
    if (opt_.zero1) {
      for (int s = 0; s < S; ++s) {
        const size_t n = rep->stages[s]->params().size();
        const size_t b = n * size_t(r) / size_t(d), e = n * size_t(r + 1) / size_t(d);
        rep->shard_begin.push_back(b);
        rep->shard_end.push_back(e);
        rep->m.emplace_back(e - b, 0.0f);
        rep->v.emplace_back(e - b, 0.0f);
      }
    }
    replicas_.push_back(std::move(rep));
  }
}

DataParallelRuntime::~DataParallelRuntime() = default;

DataParallelStep DataParallelRuntime::run_step(int step, const DataSource& data) {
  const int d = replicas();
  DataParallelStep out;
  out.step = step;
  out.replicas.resize(d);
  std::vector<std::exception_ptr> errors(d);
  {
    std::vector<std::thread> threads;
    for (int r = 0; r < d; ++r)
      threads.emplace_back([&, r] {
        try {
          const int off = r * m_;
          out.replicas[r] = replicas_[r]->runtime->run_step(step, [&data, off](int s, int mb) { return data(s, mb + off); });
        } catch (...) {
          errors[r] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);

  // The global batch's loss, summed in global micro-batch order as a single device sums it.
  for (int r = 0; r < d; ++r) {
    std::vector<const StageCompute*> in_order;
    for (const ReplicaStage* s : replicas_[r]->stages) in_order.push_back(s);
    for (int k = 0; k < m_; ++k) out.mb_losses.push_back(microbatch_loss(in_order, k));
  }
  double sum = 0;
  for (double l : out.mb_losses) sum += l;
  out.loss = sum / double(out.mb_losses.size());

  auto t0 = Clock::now();
  reduce_gradients();
  out.reduce_ns = since_ns(t0);
  if (opt_.optimizer_step) {
    t0 = Clock::now();
    optimizer_step(step);
    out.optimizer_ns = since_ns(t0);
  }
  return out;
}

void DataParallelRuntime::reduce_gradients() {
  const int d = replicas();
  const int S = program_.num_stages();
  // Stages are independent: one thread each. Within a stage the order is fixed: replica 0's
  // micro-batches onto zero, then replica 1's onto that, ...; then the total is broadcast.
  std::vector<std::exception_ptr> errors(S);
  std::vector<std::thread> threads;
  for (int s = 0; s < S; ++s)
    threads.emplace_back([&, s] {
      try {
        std::vector<float> partial(replicas_[0]->stages[s]->params().size(), 0.0f);
        for (int r = 0; r < d; ++r) {
          StageCompute& stage = replicas_[r]->stages[s]->inner();
          stage.finish_backward_onto(partial, r * m_, m_);
          std::span<const float> g = stage.grads();
          partial.assign(g.begin(), g.end());
        }
        for (int r = 0; r + 1 < d; ++r) replicas_[r]->stages[s]->inner().load_grads(partial);
      } catch (...) {
        errors[s] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

void DataParallelRuntime::optimizer_step(int step) {
  const int d = replicas();
  const int S = program_.num_stages();
  std::vector<std::exception_ptr> errors(d);
  {
    std::vector<std::thread> threads;
    for (int r = 0; r < d; ++r)
      threads.emplace_back([&, r] {
        try {
          Replica& rep = *replicas_[r];
          for (int s = 0; s < S; ++s) {
            StageCompute& stage = rep.stages[s]->inner();
            if (opt_.zero1) stage.step_shard(opt_.optimizer, step, rep.shard_begin[s], rep.shard_end[s], rep.m[s], rep.v[s]);
            else stage.step(opt_.optimizer, step);
          }
        } catch (...) {
          errors[r] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  if (!opt_.zero1) return;
  // All-gather: every replica takes each other replica's updated shard.
  for (int s = 0; s < S; ++s)
    for (int r = 0; r < d; ++r) {
      const Replica& owner = *replicas_[r];
      std::span<const float> p = owner.stages[s]->inner().params();
      std::span<const float> shard = p.subspan(owner.shard_begin[s], owner.shard_end[s] - owner.shard_begin[s]);
      for (int q = 0; q < d; ++q)
        if (q != r) replicas_[q]->stages[s]->inner().load_params(owner.shard_begin[s], shard);
    }
}

std::vector<NamedTensor> DataParallelRuntime::grads(int r) const { return replicas_.at(r)->runtime->grads(); }
std::vector<NamedTensor> DataParallelRuntime::params(int r) const { return replicas_.at(r)->runtime->params(); }

namespace {
class DataParallelBackend final : public RunBackend {
 public:
  DataParallelBackend(const Program& program, const NetConfig& cfg, const DataParallelOptions& o)
      : rt_(program, cfg, o), zero1_(o.zero1) {}
  std::string name() const override { return zero1_ ? "cpu-data-parallel-zero1" : "cpu-data-parallel"; }
  std::string device_name(int d) const override {
    return "cpu-thread-" + std::to_string(d) + " (replica 0 of " + std::to_string(rt_.replicas()) + ")";
  }
  StepResult run_step(int step, const DataSource& data) override {
    DataParallelStep s = rt_.run_step(step, data);
    StepResult r = std::move(s.replicas.front());
    r.loss = s.loss;
    r.mb_losses = std::move(s.mb_losses);
    r.end_ns += s.reduce_ns + s.optimizer_ns;  // the iteration ends after the all-reduce and the step
    return r;
  }
  std::vector<NamedTensor> grads() const override { return rt_.grads(0); }
  std::vector<NamedTensor> params() const override { return rt_.params(0); }

 private:
  DataParallelRuntime rt_;
  bool zero1_;
};
}  // namespace

std::unique_ptr<RunBackend> make_data_parallel_run_backend(const Program& program, const NetConfig& cfg,
                                                           const DataParallelOptions& options) {
  if (!program.mb_loss_weight.empty())
    throw InputError("the CPU data-parallel run does not run variable-length units (packed documents or slices); run them "
                     "on the pipeline alone");
  // Its replicas / ranks run F, B and W only: no stage drops, recomputes or offloads activations there.
  for (size_t s = 0; s < program.memory.size(); ++s)
    if (program.memory[s].recomputes() || program.memory[s].offload_fraction > 0)
      throw InputError("the CPU data-parallel run does not recompute or offload activations (stage " + std::to_string(s) +
                       " has a memory policy); run the plan on the pipeline alone or drop its memory policies");
  return std::make_unique<DataParallelBackend>(program, cfg, options);
}

size_t DataParallelRuntime::optimizer_state_bytes(int r) const {
  const Replica& rep = *replicas_.at(r);
  size_t bytes = 0;
  if (opt_.zero1) {
    for (size_t s = 0; s < rep.m.size(); ++s) bytes += (rep.m[s].size() + rep.v[s].size()) * sizeof(float);
  } else {
    for (const ReplicaStage* s : rep.stages) bytes += 2 * s->params().size() * sizeof(float);
  }
  return bytes;
}

}  // namespace adaptis::exec
