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
    grads_.assign(total, 0.0f);
    adam_m_.assign(total, 0.0f);
    adam_v_.assign(total, 0.0f);
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
    if (is_last()) check_targets(mb, data);
    const float* in = input;
    const int count = static_cast<int>(layers_.size());
    for (int j = 0; j < count; ++j) {
      float* out = j + 1 == count ? output : buf_[j % 2].data();
      layers_[j]->forward(mb, data, params_.data() + layer_offset_[j], in, out);
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
    if (step_index < 0) throw std::logic_error(where() + ": step_index must be >= 0");
    const double t = double(step_index) + 1.0;
    const float c1 = float(1.0 - std::pow(double(opt.beta1), t));
    const float c2 = float(1.0 - std::pow(double(opt.beta2), t));
    for (size_t k = 0; k < tensors_.size(); ++k) {
      const float wd = decay_[k] ? opt.weight_decay : 0.0f;
      const size_t begin = tensors_[k].offset, end = begin + tensors_[k].size;
      for (size_t i = begin; i < end; ++i) {
        const float g = grads_[i];
        adam_m_[i] = opt.beta1 * adam_m_[i] + (1.0f - opt.beta1) * g;
        adam_v_[i] = opt.beta2 * adam_v_[i] + (1.0f - opt.beta2) * g * g;
        const float mhat = adam_m_[i] / c1, vhat = adam_v_[i] / c2;
        params_[i] -= opt.lr * (mhat / (std::sqrt(vhat) + opt.eps) + wd * params_[i]);
      }
    }
  }

  std::span<const float> params() const override { return params_; }
  std::span<const float> grads() const override { return grads_; }
  const std::vector<Tensor>& tensors() const override { return tensors_; }

  size_t saved_bytes() const override {
    size_t n = 0;
    for (const auto& layer : layers_) n += layer->saved_bytes();
    return n;
  }

 private:
  std::string where() const {
    return "stage [" + std::to_string(first_) + ", " + std::to_string(last_) + ")";
  }
  void check_mb(int mb, const char* pass) const {
    if (mb < 0 || mb >= m_)
      throw std::logic_error(where() + ": " + pass + " of micro-batch " + std::to_string(mb) + " out of range [0, " +
                             std::to_string(m_) + ")");
  }
  // Checked before any layer runs, so a bad target cannot leave the stage's earlier layers half-way.
  void check_targets(int mb, const MicroBatchData& data) const {
    size_t n = size_t(cfg_.micro_batch) * cfg_.seq;
    if (!data.docs.empty()) {  // a variable-length unit: its documents' tokens
      n = 0;
      for (int d : data.docs) n += size_t(d);
    }
    if (data.targets.size() != n)
      throw InputError("micro-batch " + std::to_string(mb) + ": " + std::to_string(data.targets.size()) +
                       " targets, expected " + std::to_string(n) + " (the micro-batch's tokens)");
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
};

}  // namespace

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

double microbatch_loss(const std::vector<const StageCompute*>& stages_in_order, int mb) {
  double total = 0;
  for (const StageCompute* s : stages_in_order)
    for (double term : s->loss_terms(mb)) total += term;
  return total;
}

}  // namespace adaptis::exec
