// Tensor-parallel CPU stages (tensor_parallel.h): sharded attention / MLP blocks on rank threads with
// a fixed-order all-reduce; the canonical parameters, gradients and AdamW of the single-device stage.
#include "adaptis/executor/tensor_parallel.h"

#include <stdexcept>
#include <string>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {

TensorParallelGroup::TensorParallelGroup(int ranks) : ranks_(ranks), errors_(size_t(std::max(ranks, 1))) {
  if (ranks < 1 || ranks > 256) throw InputError("tensor parallel: ranks must be in [1, 256], got " + std::to_string(ranks));
  for (int k = 1; k < ranks_; ++k) threads_.emplace_back([this, k] { worker(k); });
}

TensorParallelGroup::~TensorParallelGroup() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TensorParallelGroup::worker(int rank) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int)>* job;
    {
      std::unique_lock<std::mutex> lk(mu_);
      work_cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
    }
    try {
      (*job)(rank);
    } catch (...) {
      errors_[rank] = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(mu_);
    if (--pending_ == 0) done_cv_.notify_all();
  }
}

void TensorParallelGroup::run(const std::function<void(int)>& fn) {
  for (auto& e : errors_) e = nullptr;
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_ = &fn;
    pending_ = ranks_ - 1;
    ++generation_;
  }
  work_cv_.notify_all();
  try {
    fn(0);
  } catch (...) {
    errors_[0] = std::current_exception();
  }
  {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    job_ = nullptr;
  }
  for (auto& e : errors_)
    if (e) std::rethrow_exception(e);
}

void check_tensor_parallel(const NetConfig& cfg, int tp) {
  if (tp < 1 || tp > 256) throw InputError("tensor_parallel", "must be in [1, 256], got " + std::to_string(tp));
  bool attention = false, mlp = false;
  for (LayerType t : cfg.layers) {
    attention = attention || t == LayerType::Attention;
    mlp = mlp || t == LayerType::Mlp;
  }
  auto need = [&](bool used, int value, const char* what) {
    if (used && value % tp != 0)
      throw InputError("tensor_parallel", std::to_string(tp) + " does not divide model '" + cfg.name + "' " + what +
                                              " (" + std::to_string(value) + ")");
  };
  need(attention, cfg.heads, "attention heads");
  need(attention, cfg.kv_heads, "key/value heads");
  need(mlp, cfg.ffn, "MLP width ffn");
}

namespace {

// Where one tensor of a rank's shard comes from in the whole layer's tensor.
struct ShardSlice {
  enum Mode { Whole, Rows, Cols } mode = Whole;
  size_t full_offset = 0;  // the whole tensor's start in the stage arena
  int full_rows = 0, full_cols = 0;
  size_t shard_offset = 0;  // start in the rank's arena
  int rows = 0, cols = 0;   // shard shape
};

struct Block {
  LayerType type;
  size_t offset = 0;  // in the stage arena
  std::unique_ptr<Layer<float>> whole;                  // unsplit blocks
  std::vector<std::unique_ptr<Layer<float>>> ranks;     // split blocks: one per rank
  std::vector<std::vector<ShardSlice>> slices;          // per rank, per tensor
  std::vector<std::vector<float>> rank_params, rank_grads, rank_out;
  bool split() const { return !ranks.empty(); }
};

class TensorParallelStage final : public StageCompute {
 public:
  TensorParallelStage(const NetConfig& cfg, int first, int last, int m, int tp)
      : cfg_(cfg), m_(m), tp_(tp), canonical_(StageCompute::create(cfg, first, last, m)), group_(tp) {
    check_tensor_parallel(cfg, tp);
    NetConfig shard = cfg;
    shard.heads = cfg.heads / tp;
    shard.kv_heads = cfg.kv_heads / tp;
    shard.attn_head_dim = cfg.head_dim();
    shard.ffn = cfg.ffn / tp;
    size_t offset = 0;
    const size_t act = cfg.activation_floats();
    for (int li = first; li < last; ++li) {
      Block b;
      b.type = cfg.layers[li];
      b.offset = offset;
      auto whole = make_layer<float>(b.type, cfg, m);
      const bool split = tp > 1 && (b.type == LayerType::Attention || b.type == LayerType::Mlp);
      if (split) {
        for (int k = 0; k < tp; ++k) {
          auto layer = make_layer<float>(b.type, shard, m);
          std::vector<ShardSlice> slices;
          size_t full_off = offset, shard_off = 0;
          for (size_t i = 0; i < layer->param_specs().size(); ++i) {
            const ParamSpec& fs = whole->param_specs()[i];
            const ParamSpec& ss = layer->param_specs()[i];
            ShardSlice s;
            s.full_offset = full_off;
            s.full_rows = fs.rows;
            s.full_cols = fs.cols;
            s.shard_offset = shard_off;
            s.rows = ss.rows;
            s.cols = ss.cols;
            if (ss.rows == fs.rows && ss.cols == fs.cols) s.mode = ShardSlice::Whole;
            else if (ss.cols == fs.cols && ss.rows * tp == fs.rows) s.mode = ShardSlice::Rows;
            else if (ss.rows == fs.rows && ss.cols * tp == fs.cols) s.mode = ShardSlice::Cols;
            else throw std::logic_error("tensor parallel: cannot map shard tensor " + ss.name);
            slices.push_back(s);
            full_off += fs.size();
            shard_off += ss.size();
          }
          b.rank_params.emplace_back(layer->num_params(), 0.0f);
          b.rank_grads.emplace_back(layer->num_params(), 0.0f);
          b.rank_out.emplace_back(act, 0.0f);
          b.slices.push_back(std::move(slices));
          b.ranks.push_back(std::move(layer));
        }
      } else {
        b.whole = std::move(whole);
      }
      offset += make_layer<float>(b.type, cfg, 1)->num_params();
      blocks_.push_back(std::move(b));
    }
    if (offset != canonical_->params().size()) throw std::logic_error("tensor parallel: parameter layout mismatch");
    mb_grads_.resize(size_t(m));
    w_done_.assign(size_t(m), 0);
    buf_[0].resize(act);
    buf_[1].resize(act);
    refresh_shards();
  }

  bool is_first() const override { return canonical_->is_first(); }
  bool is_last() const override { return canonical_->is_last(); }
  size_t activation_floats() const override { return cfg_.activation_floats(); }

  void forward(int mb, const MicroBatchData& data, const float* input, float* output) override {
    check_mb(mb);
    const float* in = input;
    const int count = static_cast<int>(blocks_.size());
    for (int j = 0; j < count; ++j) {
      float* out = j + 1 == count ? output : buf_[j % 2].data();
      Block& b = blocks_[j];
      if (!b.split()) {
        b.whole->forward(mb, data, params() .data() + b.offset, in, out);
      } else {
        group_.run([&](int k) { b.ranks[k]->forward(mb, data, b.rank_params[k].data(), in, b.rank_out[k].data()); });
        all_reduce(b, in, out);
      }
      in = out;
    }
  }

  void backward_input(int mb, const MicroBatchData&, const float* dy_in, float* grad_input) override {
    check_mb(mb);
    const float* dy = dy_in;
    for (int j = static_cast<int>(blocks_.size()) - 1; j >= 0; --j) {
      float* dx = j == 0 ? grad_input : buf_[j % 2].data();
      Block& b = blocks_[j];
      if (!b.split()) {
        b.whole->backward_input(mb, params().data() + b.offset, dy, dx);
      } else {
        group_.run([&](int k) { b.ranks[k]->backward_input(mb, b.rank_params[k].data(), dy, b.rank_out[k].data()); });
        all_reduce(b, dy, dx);
      }
      dy = dx;
    }
  }

  void backward_weight(int mb) override {
    check_mb(mb);
    std::vector<float>& g = mb_grads_[mb];
    if (g.empty()) g.assign(canonical_->params().size(), 0.0f);
    for (Block& b : blocks_) {
      if (!b.split()) {
        b.whole->backward_weight(mb, g.data() + b.offset);
        continue;
      }
      group_.run([&](int k) {
        std::fill(b.rank_grads[k].begin(), b.rank_grads[k].end(), 0.0f);
        b.ranks[k]->backward_weight(mb, b.rank_grads[k].data());
      });
      // Shards land in their rows / columns; replicated tensors (norm gains) sum in rank order.
      for (int k = 0; k < tp_; ++k)
        for (const ShardSlice& s : b.slices[k]) {
          const float* src = b.rank_grads[k].data() + s.shard_offset;
          float* dst = g.data() + s.full_offset;
          for (int r = 0; r < s.rows; ++r)
            for (int c = 0; c < s.cols; ++c) dst[full_index(s, k, r, c)] += src[size_t(r) * s.cols + c];
        }
    }
    w_done_[mb] = 1;
  }

  double loss(int mb) const override {
    double total = 0;
    for (double t : loss_terms(mb)) total += t;
    return total;
  }
  std::vector<double> loss_terms(int mb) const override {
    std::vector<double> terms;
    for (const Block& b : blocks_)
      if (b.whole && b.whole->has_loss()) terms.push_back(b.whole->loss(mb));
    return terms;
  }

  void zero_grad() override {
    canonical_->zero_grad();
    for (auto& g : mb_grads_) std::vector<float>().swap(g);
    std::fill(w_done_.begin(), w_done_.end(), 0);
  }

  void finish_backward() override {
    std::vector<float> total(canonical_->params().size(), 0.0f);
    for (int mb = 0; mb < m_; ++mb) {
      if (!w_done_[mb])
        throw std::logic_error("tensor-parallel stage: finish_backward before W of micro-batch " + std::to_string(mb));
      for (size_t i = 0; i < total.size(); ++i) total[i] += mb_grads_[mb][i];
      std::vector<float>().swap(mb_grads_[mb]);
      w_done_[mb] = 0;
    }
    canonical_->load_grads(total);
  }

  void step(const AdamW& opt, int step_index) override {
    canonical_->step(opt, step_index);
    refresh_shards();
  }

  std::span<const float> params() const override { return canonical_->params(); }
  std::span<const float> grads() const override { return canonical_->grads(); }
  const std::vector<Tensor>& tensors() const override { return canonical_->tensors(); }
  size_t saved_bytes() const override {
    size_t n = 0;
    for (const Block& b : blocks_) {
      if (b.whole) n += b.whole->saved_bytes();
      for (const auto& r : b.ranks) n += r->saved_bytes();
    }
    return n;
  }

 private:
  // Element (r, c) of rank k's shard in the whole tensor.
  static size_t full_index(const ShardSlice& s, int k, int r, int c) {
    switch (s.mode) {
      case ShardSlice::Rows: return size_t(k * s.rows + r) * s.full_cols + c;
      case ShardSlice::Cols: return size_t(r) * s.full_cols + size_t(k) * s.cols + c;
      case ShardSlice::Whole: break;
    }
    return size_t(r) * s.full_cols + c;
  }

  // Copies every rank's shard out of the canonical parameters (after construction and each step).
  void refresh_shards() {
    const float* p = canonical_->params().data();
    for (Block& b : blocks_)
      for (int k = 0; k < static_cast<int>(b.ranks.size()); ++k)
        for (const ShardSlice& s : b.slices[k]) {
          float* dst = b.rank_params[k].data() + s.shard_offset;
          const float* src = p + s.full_offset;
          for (int r = 0; r < s.rows; ++r)
            for (int c = 0; c < s.cols; ++c) dst[size_t(r) * s.cols + c] = src[full_index(s, k, r, c)];
        }
  }

  // out = sum over ranks (rank order) of the ranks' outputs, minus the tp - 1 extra residual copies.
  void all_reduce(const Block& b, const float* residual, float* out) const {
    const size_t n = cfg_.activation_floats();
    const float extra = float(tp_ - 1);
    for (size_t i = 0; i < n; ++i) {
      float s = b.rank_out[0][i];
      for (int k = 1; k < tp_; ++k) s += b.rank_out[k][i];
      out[i] = s - extra * residual[i];
    }
  }

  void check_mb(int mb) const {
    if (mb < 0 || mb >= m_)
      throw std::logic_error("tensor-parallel stage: micro-batch " + std::to_string(mb) + " out of range [0, " +
                             std::to_string(m_) + ")");
  }

  NetConfig cfg_;
  int m_, tp_;
  std::unique_ptr<StageCompute> canonical_;  // parameters, gradients, names, AdamW
  TensorParallelGroup group_;
  std::vector<Block> blocks_;
  std::vector<std::vector<float>> mb_grads_;
  std::vector<char> w_done_;
  std::vector<float> buf_[2];
};

}  // namespace

std::unique_ptr<StageCompute> make_tensor_parallel_stage(const NetConfig& cfg, int first_layer, int last_layer,
                                                         int num_microbatches, int tp) {
  check_tensor_parallel(cfg, tp);
  validate_net_config(cfg, "model '" + cfg.name + "'");
  return std::make_unique<TensorParallelStage>(cfg, first_layer, last_layer, num_microbatches, tp);
}

namespace {
class TensorParallelBackend final : public RunBackend {
 public:
  TensorParallelBackend(const Program& program, const NetConfig& cfg, int tp, const RuntimeOptions& o)
      : tp_(tp), rt_(program, tensor_parallel_stage_factory(cfg, tp), make_mailbox_transport(program.num_devices()), o) {}
  std::string name() const override { return "cpu-tensor-parallel"; }
  std::string device_name(int d) const override {
    return "cpu-thread-" + std::to_string(d) + " (x" + std::to_string(tp_) + " tensor-parallel ranks)";
  }
  StepResult run_step(int step, const DataSource& data) override { return rt_.run_step(step, data); }
  std::vector<NamedTensor> grads() const override { return rt_.grads(); }
  std::vector<NamedTensor> params() const override { return rt_.params(); }

 private:
  int tp_;
  PipelineRuntime rt_;
};
}  // namespace

std::unique_ptr<RunBackend> make_tensor_parallel_run_backend(const Program& program, const NetConfig& cfg, int tp,
                                                             const RuntimeOptions& options) {
  if (!program.mb_loss_weight.empty())
    throw InputError("the CPU tensor-parallel run does not run variable-length units (packed documents or slices); run them "
                     "on the pipeline alone");
  // Its replicas / ranks run F, B and W only: no stage drops, recomputes or offloads activations there.
  for (size_t s = 0; s < program.memory.size(); ++s)
    if (program.memory[s].recomputes() || program.memory[s].offload_fraction > 0)
      throw InputError("the CPU tensor-parallel run does not recompute or offload activations (stage " + std::to_string(s) +
                       " has a memory policy); run the plan on the pipeline alone or drop its memory policies");
  return std::make_unique<TensorParallelBackend>(program, cfg, tp, options);
}

StageFactory tensor_parallel_stage_factory(const NetConfig& cfg, int tp) {
  check_tensor_parallel(cfg, tp);
  return [cfg, tp](int first, int last, int m) { return make_tensor_parallel_stage(cfg, first, last, m, tp); };
}

}  // namespace adaptis::exec
