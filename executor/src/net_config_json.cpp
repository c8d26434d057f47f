// Model spec (adaptis-model/1 JSON, parsed and validated by the model library) -> NetConfig.
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "adaptis/executor/layers/layer.h"
#include "adaptis/executor/net_config.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/model_spec.h"

namespace adaptis::exec {
namespace {

// Collects one value per dimension across layers and insists they agree: the executor's layers share a
// single set of dims, so a spec that varies them (per-layer ffn, ...) cannot run as written.
class SharedDims {
 public:
  explicit SharedDims(std::string origin) : origin_(std::move(origin)) {}

  int agree(const char* field, long long value, const std::string& where) {
    if (value < 0 || value > (1LL << 30))
      throw InputError(origin_ + ": " + where + ": " + field + " = " + std::to_string(value) + " is out of range");
    auto [it, inserted] = seen_.emplace(field, Seen{value, where});
    if (!inserted && it->second.value != value)
      throw InputError(origin_ + ": " + where + ": " + field + " = " + std::to_string(value) + " differs from " +
                       it->second.where + " (" + std::to_string(it->second.value) +
                       "); the executor's layers share one value per dimension");
    return static_cast<int>(value);
  }

 private:
  struct Seen {
    long long value;
    std::string where;
  };
  std::string origin_;
  std::map<std::string, Seen> seen_;
};

void add_note(std::vector<std::string>& notes, const std::string& note) {
  for (const auto& n : notes)
    if (n == note) return;
  notes.push_back(note);
}

}  // namespace

long long net_config_param_count(const NetConfig& cfg) {
  validate_net_config(cfg);
  long long total = 0;
  for (LayerType t : cfg.layers) total += static_cast<long long>(make_layer<float>(t, cfg, 1)->num_params());
  return total;
}

NetConfig net_config_from_model_spec(const ModelSpec& spec, ModelSpecLimits limits) {
  const std::string origin = spec.origin.empty() ? "model '" + spec.name + "'" : spec.origin;
  NetConfig c;
  c.name = spec.name;
  SharedDims dims(origin);
  c.seq = dims.agree("seq_len", spec.seq_len, "seq_len");
  c.micro_batch = dims.agree("micro_batch_size", spec.micro_batch_size, "micro_batch_size");
  std::vector<std::string> notes;

  for (const LayerSpec& layer : spec.layers) {
    c.spec_layers.bounds.push_back(static_cast<int>(c.layers.size()));
    c.spec_layers.names.push_back(layer.name);
    c.spec_layers.kinds.push_back(layer.kind);
    for (const Component& p : layer.parts) {
      const std::string where = layer.name + " (" + component_kind_name(p.kind) + ")";
      c.hidden = dims.agree("hidden", p.hidden, where);
      if (p.kind != ComponentKind::Embedding && p.norm == NormKind::LayerNorm)
        add_note(notes, "LayerNorm run as RMSNorm");
      switch (p.kind) {
        case ComponentKind::Embedding:
          c.vocab = dims.agree("vocab", p.vocab, where);
          c.layers.push_back(LayerType::Embedding);
          break;
        case ComponentKind::LmHead:
          c.vocab = dims.agree("vocab", p.vocab, where);
          if (p.tied) add_note(notes, "tied embedding / LM head weights run untied");
          c.layers.push_back(LayerType::LmHead);
          break;
        case ComponentKind::Attention:
          if (!p.causal)
            throw InputError(origin + ": " + where + ": non-causal attention cannot train a next-token model");
          c.heads = dims.agree("heads", p.heads, where);
          if (p.is_mla()) {
            // MLA's low-rank q / kv paths become full projections of the same head count and q/k width.
            c.kv_heads = dims.agree("kv_heads", p.heads, where);
            c.attn_head_dim = dims.agree("head_dim", p.qk_head_dim(), where);
            add_note(notes, "multi-head latent attention (MLA) run as multi-head attention with head dim " +
                                std::to_string(p.qk_head_dim()));
          } else {
            c.kv_heads = dims.agree("kv_heads", p.kv_heads, where);
            c.attn_head_dim = dims.agree("head_dim", p.head_dim, where);
          }
          if (p.window > 0) add_note(notes, "sliding-window attention run as full causal attention");
          if (p.qkv_bias) add_note(notes, "QKV biases dropped");
          c.layers.push_back(LayerType::Attention);
          break;
        case ComponentKind::Mlp:
          c.ffn = dims.agree("ffn_hidden", p.ffn_hidden, where);
          if (p.activation != Activation::SwiGLU)
            add_note(notes, std::string(activation_name(p.activation)) + " MLP run as SwiGLU");
          c.layers.push_back(LayerType::Mlp);
          break;
        case ComponentKind::Moe:
          c.experts = dims.agree("experts", p.experts, where);
          c.top_k = dims.agree("top_k", p.top_k, where);
          c.expert_ffn = dims.agree("expert_ffn_hidden", p.expert_ffn_hidden, where);
          c.shared_experts = dims.agree("shared_experts", p.shared_experts, where);
          if (p.shared_experts > 0) c.shared_expert_ffn = dims.agree("shared_ffn_hidden", p.shared_ffn_hidden, where);
          if (p.activation != Activation::SwiGLU)
            add_note(notes, std::string(activation_name(p.activation)) + " experts run as SwiGLU");
          c.layers.push_back(LayerType::Moe);
          break;
        case ComponentKind::Mamba:
          c.mamba_d_inner = dims.agree("mamba d_inner", p.d_inner, where);
          c.mamba_state = dims.agree("state", p.state, where);
          c.mamba_conv = dims.agree("conv_kernel", p.conv_kernel, where);
          if (p.mamba_version == 1) {
            c.mamba_dt_rank = dims.agree("dt_rank", p.dt_rank, where);
          } else {
            add_note(notes, "Mamba-2 (SSD) run as the Mamba-1 selective scan with the same inner width (" +
                                std::to_string(p.d_inner) + ") and state (" + std::to_string(p.state) + ")");
          }
          c.layers.push_back(LayerType::Mamba);
          break;
      }
    }
  }
  c.spec_layers.bounds.push_back(static_cast<int>(c.layers.size()));
  if (c.layers.empty() || c.layers.front() != LayerType::Embedding) {
    // The added embedding joins the first spec layer: every later bound moves by one.
    c.layers.insert(c.layers.begin(), LayerType::Embedding);
    for (size_t i = 1; i < c.spec_layers.bounds.size(); ++i) ++c.spec_layers.bounds[i];
    add_note(notes, "embedding added in front (the spec has none)");
  }
  if (c.layers.back() != LayerType::LmHead) {
    c.layers.push_back(LayerType::LmHead);
    c.spec_layers.bounds.back() = static_cast<int>(c.layers.size());
    add_note(notes, "lm_head added at the end (the spec has none)");
  }
  for (int i = 0; i < c.spec_layers.count(); ++i)
    if (c.spec_layers.bounds[i] >= c.spec_layers.bounds[i + 1])
      throw InputError(origin + ": layer " + c.spec_layers.names[i] + " has no part the executor can run");
  c.notes = std::move(notes);
  validate_net_config(c, origin);
  const long long params = net_config_param_count(c);
  if (params > limits.max_params)
    throw InputError(origin + ": " + std::to_string(params) + " parameters is too large for the CPU executor (limit " +
                     std::to_string(limits.max_params) + "); use a tiny model such as samples/models/tiny-llama.json");
  return c;
}

NetConfig net_config_from_json(const nlohmann::json& spec, const std::string& origin, ModelSpecLimits limits) {
  return net_config_from_model_spec(parse_model_spec(spec, origin), limits);
}

NetConfig load_net_config(const std::string& path, ModelSpecLimits limits) {
  return net_config_from_model_spec(load_model_spec(path), limits);
}

}  // namespace adaptis::exec
