// StageCompute on the CPU: a contiguous run of layers over one parameter arena and one gradient arena,
// per-micro-batch gradient buffers summed in micro-batch order, AdamW.
#include "adaptis/executor/stage_compute.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/model/error.h"

namespace adaptis::exec {
namespace {

class CpuStage final : public StageCompute {
 public:
  CpuStage(const NetConfig& cfg, int first, int last, int num_microbatches)
      : cfg_(cfg), first_(first), last_(last), m_(num_microbatches) {
    size_t total = 0;
    for (int li = first; li < last; ++li) {
      auto layer = make_layer<float>(cfg.layers[li], cfg, num_microbatches);
      layer_offset_.push_back(total);
      for (const ParamSpec& spec : layer->param_specs()) {
        tensors_.push_back(Tensor{"layers." + std::to_string(li) + "." + layer_param_prefix(cfg.layers[li]) + "." +
                                      spec.name,
                                  total, spec.size()});
        decay_.push_back(spec.decay);
        total += spec.size();
      }
      layers_.push_back(std::move(layer));
    }
    params_.assign(total, 0.0f);
    grads_.assign(total, 0.0f);  // AdamW moments: allocated by the first step() (ZeRO-1 replicas never do)
    for (size_t j = 0; j < layers_.size(); ++j) {
      Rng rng(layer_seed(cfg.seed, first + int(j)));
      layers_[j]->init_params(params_.data() + layer_offset_[j], rng);
    }
    mb_grads_.resize(size_t(m_));
    w_done_.assign(size_t(m_), 0);
    buf_[0].resize(cfg.activation_floats());
    buf_[1].resize(cfg.activation_floats());
  }

  bool is_first() const override { return cfg_.layers[first_] == LayerType::Embedding; }
  bool is_last() const override { return cfg_.layers[last_ - 1] == LayerType::LmHead; }
  size_t activation_floats() const override { return cfg_.activation_floats(); }

  void forward(int mb, const MicroBatchData& data, const float* input, float* output) override {
    check_mb(mb, "F");
    if (!is_first() && input == nullptr) throw std::logic_error(where() + ": F needs an input buffer");
    if (!is_last() && output == nullptr) throw std::logic_error(where() + ": F needs an output buffer");
    sequence_spans(cfg_, data, mb);  // a malformed packed micro-batch fails before any layer runs
    if (data.first_pos > 0)
      for (int li = first_; li < last_; ++li)
        if (cfg_.layers[li] == LayerType::Mamba)
          throw InputError("micro-batch " + std::to_string(mb) + " continues a document from an earlier slice, but layer " +
                           std::to_string(li) + " (mamba) cannot run slices: its scan state would have to cross them");
    if (is_last()) check_targets(mb, data);
    const float* in = input;
    const int count = static_cast<int>(layers_.size());
    const bool drops_mb = recomputes_mb(mb);  // drop_ says which layers
    // The micro-batch's own activation: a packed unit may fill only part of the micro-batch buffer.
    const size_t input_floats = size_t(microbatch_tokens(cfg_, data)) * size_t(cfg_.hidden);
    size_t run = 0;
    for (int j = 0; j < count; ++j) {
      float* out = j + 1 == count ? output : buf_[j % 2].data();
      const bool dropped = drops_mb && drop_[j];
      // The first layer of a recomputed run keeps a copy of its input (the tokens need none): the
      // micro-batch's tokens, not the whole buffer, which is what the cost model counts per unit.
      if (dropped && run < runs_.size() && runs_[run].first == j && in != nullptr)
        kept_in_[mb][run].assign(in, in + input_floats);
      layers_[j]->forward(mb, data, params_.data() + layer_offset_[j], in, out);
      if (dropped) layers_[j]->discard(mb);  // R re-creates it
      if (dropped && run < runs_.size() && runs_[run].second == j + 1) ++run;
      in = out;
    }
  }

  void backward_input(int mb, const MicroBatchData&, const float* grad_output, float* grad_input) override {
    check_mb(mb, "B");
    if (!is_last() && grad_output == nullptr) throw std::logic_error(where() + ": B needs an output gradient");
    if (!is_first() && grad_input == nullptr) throw std::logic_error(where() + ": B needs an input-gradient buffer");
    const float* dy = grad_output;
    for (int j = static_cast<int>(layers_.size()) - 1; j >= 0; --j) {
      float* dx = j == 0 ? grad_input : buf_[j % 2].data();
      layers_[j]->backward_input(mb, params_.data() + layer_offset_[j], dy, dx);
      dy = dx;
    }
  }

  void backward_weight(int mb) override {
    check_mb(mb, "W");
    std::vector<float>& g = mb_grads_[mb];
    if (g.empty()) g.assign(params_.size(), 0.0f);
    for (size_t j = 0; j < layers_.size(); ++j) layers_[j]->backward_weight(mb, g.data() + layer_offset_[j]);
    w_done_[mb] = 1;
  }

  double loss(int mb) const override {
    double total = 0;
    for (double term : loss_terms(mb)) total += term;
    return total;
  }

  std::vector<double> loss_terms(int mb) const override {
    check_mb(mb, "loss");
    std::vector<double> terms;
    for (const auto& layer : layers_)
      if (layer->has_loss()) terms.push_back(layer->loss(mb));
    return terms;
  }

  void zero_grad() override {
    std::fill(grads_.begin(), grads_.end(), 0.0f);
    for (auto& g : mb_grads_) std::vector<float>().swap(g);
    std::fill(w_done_.begin(), w_done_.end(), 0);
  }

  void finish_backward() override {
    for (int mb = 0; mb < m_; ++mb)
      if (!w_done_[mb])
        throw std::logic_error(where() + ": finish_backward before W of micro-batch " + std::to_string(mb));
    for (int mb = 0; mb < m_; ++mb) {
      const std::vector<float>& g = mb_grads_[mb];
      for (size_t i = 0; i < grads_.size(); ++i) grads_[i] += g[i];
      std::vector<float>().swap(mb_grads_[mb]);
      w_done_[mb] = 0;
    }
  }

  void step(const AdamW& opt, int step_index) override {
    if (adam_m_.size() != params_.size()) {
      adam_m_.assign(params_.size(), 0.0f);
      adam_v_.assign(params_.size(), 0.0f);
    }
    step_shard(opt, step_index, 0, params_.size(), adam_m_, adam_v_);
  }

  void step_shard(const AdamW& opt, int step_index, size_t first, size_t last, std::span<float> m,
                  std::span<float> v) override {
    if (step_index < 0) throw std::logic_error(where() + ": step_index must be >= 0");
    if (first > last || last > params_.size() || m.size() != last - first || v.size() != last - first)
      throw std::logic_error(where() + ": step_shard range or moment buffers do not match the parameters");
    const double t = double(step_index) + 1.0;
    const float c1 = float(1.0 - std::pow(double(opt.beta1), t));
    const float c2 = float(1.0 - std::pow(double(opt.beta2), t));
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const float wd = decay_[k] ? opt.weight_decay : 0.0f;
      const size_t begin = std::max(first, tensors_[k].offset);
      const size_t end = std::min(last, tensors_[k].offset + tensors_[k].size);
      for (size_t i = begin; i < end; ++i) {
        const float g = grads_[i];
        float& mi = m[i - first];
        float& vi = v[i - first];
        mi = opt.beta1 * mi + (1.0f - opt.beta1) * g;
        vi = opt.beta2 * vi + (1.0f - opt.beta2) * g * g;
        const float mhat = mi / c1, vhat = vi / c2;
        params_[i] -= opt.lr * (mhat / (std::sqrt(vhat) + opt.eps) + wd * params_[i]);
      }
    }
  }

  void finish_backward_onto(std::span<const float> partial, int first_mb, int count) override {
    if (partial.size() != grads_.size())
      throw std::logic_error(where() + ": partial gradient of " + std::to_string(partial.size()) + " values, expected " +
                             std::to_string(grads_.size()));
    if (first_mb < 0 || count < 0 || first_mb + count > m_)
      throw std::logic_error(where() + ": micro-batches [" + std::to_string(first_mb) + ", " +
                             std::to_string(first_mb + count) + ") out of range [0, " + std::to_string(m_) + ")");
    for (int mb = first_mb; mb < first_mb + count; ++mb)
      if (!w_done_[mb])
        throw std::logic_error(where() + ": gradient reduction before W of micro-batch " + std::to_string(mb));
    std::copy(partial.begin(), partial.end(), grads_.begin());
    for (int mb = first_mb; mb < first_mb + count; ++mb) {
      const std::vector<float>& g = mb_grads_[mb];
      for (size_t i = 0; i < grads_.size(); ++i) grads_[i] += g[i];
      std::vector<float>().swap(mb_grads_[mb]);
      w_done_[mb] = 0;
    }
  }

  void load_grads(std::span<const float> g) override {
    if (g.size() != grads_.size()) throw std::logic_error(where() + ": load_grads of the wrong size");
    std::copy(g.begin(), g.end(), grads_.begin());
  }

  void load_params(size_t begin, std::span<const float> values) override {
    if (begin > params_.size() || values.size() > params_.size() - begin)
      throw std::logic_error(where() + ": load_params range out of bounds");
    std::copy(values.begin(), values.end(), params_.begin() + std::ptrdiff_t(begin));
  }

  std::span<const float> params() const override { return params_; }
  std::span<const float> grads() const override { return grads_; }
  const std::vector<Tensor>& tensors() const override { return tensors_; }

  size_t saved_bytes() const override {
    size_t n = 0;
    for (const auto& layer : layers_) n += layer->saved_bytes();
    for (const auto& per_mb : kept_in_)
      for (const auto& v : per_mb) n += vector_bytes(v);
    return n;
  }

  void set_recompute(Recompute policy, int full_end, const std::vector<int>& microbatches) override {
    for (int mb : microbatches) check_mb(mb, "recompute selection");
    DroppedLayers d = dropped_layers(cfg_, first_, last_, policy, full_end);
    drop_ = std::move(d.drop);
    runs_ = std::move(d.runs);
    kept_in_.assign(size_t(m_), std::vector<std::vector<float>>(runs_.size()));
    const bool any = policy != Recompute::None;
    recompute_mb_.assign(size_t(m_), any && microbatches.empty() ? 1 : 0);
    if (any)
      for (int mb : microbatches) recompute_mb_[size_t(mb)] = 1;
  }

  void recompute(int mb, const MicroBatchData& data) override {
    check_mb(mb, "R");
    if (!recomputes_mb(mb))
      throw std::logic_error(where() + ": R of micro-batch " + std::to_string(mb) +
                             ", which this stage does not recompute (its F kept everything)");
    for (size_t r = 0; r < runs_.size(); ++r) {
      const auto [j0, j1] = runs_[r];
      const float* in = j0 == 0 && is_first() ? nullptr : kept_in_[mb][r].data();
      if (in == nullptr && !(j0 == 0 && is_first()))
        throw std::logic_error(where() + ": R of micro-batch " + std::to_string(mb) + " without its kept input");
      for (int j = j0; j < j1; ++j) {
        float* out = buf_[j % 2].data();
        layers_[j]->forward(mb, data, params_.data() + layer_offset_[j], in, out);
        in = out;
      }
      std::vector<float>().swap(kept_in_[mb][r]);  // the layers hold their inputs again
    }
  }

  size_t saved_bytes(int mb) const override {
    size_t n = 0;
    for (const auto& layer : layers_) n += layer->saved_bytes(mb);
    if (!kept_in_.empty())
      for (const auto& v : kept_in_[mb]) n += vector_bytes(v);
    return n;
  }

  size_t carried_bytes_besides(int mb) const override {
    size_t n = 0;
    for (const auto& layer : layers_) n += layer->carried_bytes_besides(mb);
    return n;
  }

  void for_each_saved(int mb, const FloatVisitor& f, const IntVisitor& g) override {
    if (!kept_in_.empty())
      for (auto& v : kept_in_[mb]) f(v);
    for (auto& layer : layers_) layer->for_each_offloadable(mb, f, g);
  }

 private:
  std::string where() const {
    return "stage [" + std::to_string(first_) + ", " + std::to_string(last_) + ")";
  }
  // Whether micro-batch mb recomputes: the stage has a policy and mb is among its selected micro-batches
  // (F drops the state of the policy's layers, none for a selective stage without MLP or MoE layers).
  bool recomputes_mb(int mb) const { return !recompute_mb_.empty() && recompute_mb_[size_t(mb)] != 0; }
  void check_mb(int mb, const char* pass) const {
    if (mb < 0 || mb >= m_)
      throw std::logic_error(where() + ": " + pass + " of micro-batch " + std::to_string(mb) + " out of range [0, " +
                             std::to_string(m_) + ")");
  }
  // Checked before any layer runs, so a bad target cannot leave the stage's earlier layers half-way.
  void check_targets(int mb, const MicroBatchData& data) const {
    const bool packed = !data.seq_lens.empty();
    const size_t n = packed ? data.tokens.size() : size_t(cfg_.micro_batch) * cfg_.seq;
    if (data.targets.size() != n)
      throw InputError("micro-batch " + std::to_string(mb) + ": " + std::to_string(data.targets.size()) +
                       " targets, expected " + (packed ? "one per token = " : "micro_batch * seq = ") +
                       std::to_string(n));
    for (size_t t = 0; t < n; ++t)
      if (data.targets[t] < 0 || data.targets[t] >= cfg_.vocab)
        throw InputError("micro-batch " + std::to_string(mb) + ": target id " + std::to_string(data.targets[t]) +
                         " at position " + std::to_string(t) + " outside the vocabulary [0, " +
                         std::to_string(cfg_.vocab) + ")");
  }

  NetConfig cfg_;
  int first_, last_, m_;
  std::vector<std::unique_ptr<Layer<float>>> layers_;
  std::vector<size_t> layer_offset_;
  std::vector<Tensor> tensors_;
  std::vector<bool> decay_;
  std::vector<float> params_, grads_, adam_m_, adam_v_;
  std::vector<std::vector<float>> mb_grads_;  // W's output per micro-batch until finish_backward
  std::vector<char> w_done_;
  std::vector<float> buf_[2];  // ping-pong activations / gradients between this stage's layers
  // Recompute (set_recompute): per layer whether F drops its state, the runs [first, end) of dropped
  // layers, and per micro-batch the kept input of each run.
  std::vector<char> drop_;
  std::vector<std::pair<int, int>> runs_;
  std::vector<std::vector<std::vector<float>>> kept_in_;
  std::vector<char> recompute_mb_;  // per micro-batch: whether it drops and recomputes (per-unit checkpointing)
};

}  // namespace

// Data-parallel hooks: only stages that keep per-micro-batch gradients and a float parameter arena on
// the host (the CPU stage) can take part.
void StageCompute::finish_backward_onto(std::span<const float>, int, int) {
  throw std::logic_error("this stage implementation does not support data-parallel gradient reduction");
}
void StageCompute::load_grads(std::span<const float>) {
  throw std::logic_error("this stage implementation does not support data-parallel gradient reduction");
}
void StageCompute::step_shard(const AdamW&, int, size_t, size_t, std::span<float>, std::span<float>) {
  throw std::logic_error("this stage implementation does not support sharded optimizer steps");
}
void StageCompute::load_params(size_t, std::span<const float>) {
  throw std::logic_error("this stage implementation does not support loading parameters");
}

DroppedLayers dropped_layers(const NetConfig& cfg, int first, int last, Recompute policy, int full_end) {
  DroppedLayers d;
  const int L = last - first;
  d.drop.assign(static_cast<size_t>(std::max(0, L)), 0);
  if (policy == Recompute::Full) {
    const int end = full_end < 0 ? last : std::clamp(full_end, first, last);
    for (int j = 0; j < end - first; ++j) d.drop[static_cast<size_t>(j)] = 1;
  } else if (policy == Recompute::Selective) {
    for (int j = 0; j < L; ++j) {
      const LayerType t = cfg.layers[static_cast<size_t>(first + j)];
      d.drop[static_cast<size_t>(j)] = t == LayerType::Mlp || t == LayerType::Moe;
    }
  }
  for (int j = 0; j < L;) {
    if (!d.drop[static_cast<size_t>(j)]) {
      ++j;
      continue;
    }
    int e = j;
    while (e < L && d.drop[static_cast<size_t>(e)]) ++e;
    d.runs.emplace_back(j, e);
    j = e;
  }
  return d;
}

std::unique_ptr<StageCompute> StageCompute::create(const NetConfig& cfg, int first_layer, int last_layer,
                                                   int num_microbatches) {
  validate_net_config(cfg, "model '" + cfg.name + "'");
  if (first_layer < 0 || last_layer > cfg.num_layers() || first_layer >= last_layer)
    throw InputError("model '" + cfg.name + "': stage layer range [" + std::to_string(first_layer) + ", " +
                     std::to_string(last_layer) + ") is not a non-empty range within [0, " +
                     std::to_string(cfg.num_layers()) + ")");
  if (num_microbatches < 1)
    throw InputError("model '" + cfg.name + "': num_microbatches must be >= 1, got " +
                     std::to_string(num_microbatches));
  return std::make_unique<CpuStage>(cfg, first_layer, last_layer, num_microbatches);
}

void StageCompute::set_recompute(Recompute policy, int, const std::vector<int>&) {
  if (policy != Recompute::None) throw std::logic_error("this stage cannot drop and recompute its activations");
}

void StageCompute::recompute(int mb, const MicroBatchData&) {
  throw std::logic_error("recompute (R) of micro-batch " + std::to_string(mb) + " on a stage without a recompute policy");
}

size_t StageCompute::saved_bytes(int) const { return 0; }
size_t StageCompute::carried_bytes_besides(int) const { return 0; }

void StageCompute::for_each_saved(int, const FloatVisitor&, const IntVisitor&) {}

double microbatch_loss(const std::vector<const StageCompute*>& stages_in_order, int mb) {
  double total = 0;
  for (const StageCompute* s : stages_in_order)
    for (double term : s->loss_terms(mb)) total += term;
  return total;
}

double step_loss(const std::vector<double>& mb_losses, const std::vector<double>& weights) {
  double sum = 0;
  if (!weights.empty()) {
    if (weights.size() != mb_losses.size())
      throw std::logic_error("step_loss: " + std::to_string(weights.size()) + " loss weights for " +
                             std::to_string(mb_losses.size()) + " micro-batches");
    for (size_t i = 0; i < mb_losses.size(); ++i) sum += weights[i] * mb_losses[i];
    return sum;
  }
  for (double l : mb_losses) sum += l;
  return mb_losses.empty() ? 0.0 : sum / double(mb_losses.size());
}

}  // namespace adaptis::exec
