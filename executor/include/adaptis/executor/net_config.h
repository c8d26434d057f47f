#pragma once
// The small real model the executor trains: shared dimensions plus the layer sequence, and how to get one
// from a model spec JSON (samples/models/tiny-*.json).
//
// Layer sequence conventions: Embedding first, LmHead (final RMSNorm + output projection + cross-entropy)
// last; every Attention / Mlp / Moe / Mamba layer in between is a pre-norm residual block
// y = x + f(rmsnorm(x)). Composite blocks of a model spec (a transformer block = attention + mlp, a MoE block =
// attention + moe) expand into two of our layers each.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace adaptis {
struct ModelSpec;
}

namespace adaptis::exec {

enum class LayerType : uint8_t { Embedding, Attention, Mlp, Moe, Mamba, LmHead };
const char* layer_type_name(LayerType t);  // "embedding", "attention", "mlp", "moe", "mamba", "lm_head"

// Groups of our layers that one plan layer stands for. A model spec's layer (a transformer block) is one
// layer to the planner (`simulate --model`, `optimize`, plan files) but two of ours (attention + mlp), so
// a plan made for the spec runs by mapping its partition through these bounds: plan layer i is our layers
// [bounds[i], bounds[i+1]).
struct LayerUnits {
  std::vector<int> bounds;          // size count() + 1, from 0 to num_layers()
  std::vector<std::string> names;   // per unit, e.g. "embedding", "layers.0", "lm_head"
  std::vector<std::string> kinds;   // per unit, e.g. "transformer", "mamba"
  int count() const { return bounds.empty() ? 0 : static_cast<int>(bounds.size()) - 1; }
};

struct NetConfig {
  std::string name = "tiny";
  int vocab = 256;
  int hidden = 64;
  int heads = 4;
  int kv_heads = 2;        // GQA: heads % kv_heads == 0
  int attn_head_dim = 0;   // per-head width; 0 = hidden / heads. Even (rotary positions rotate pairs)
  int ffn = 128;           // SwiGLU hidden
  int experts = 4;         // MoE routed experts
  int top_k = 2;
  int expert_ffn = 64;
  int shared_experts = 0;     // MoE always-on experts (DeepSeek style), run as one SwiGLU of
  int shared_expert_ffn = 0;  // width shared_experts * shared_expert_ffn (0 = expert_ffn)
  double aux_loss_coef = 0.01;  // MoE load-balancing loss weight
  int mamba_state = 8;     // selective scan state size N
  int mamba_expand = 2;    // inner = expand * hidden, unless mamba_d_inner is set
  int mamba_d_inner = 0;   // explicit inner width (0 = mamba_expand * hidden)
  int mamba_conv = 4;      // causal depthwise conv width
  int mamba_dt_rank = 0;   // 0 = ceil(hidden / 16), as in Mamba-1
  double rope_theta = 10000.0;  // rotary position embedding base
  double norm_eps = 1e-5;       // RMSNorm epsilon
  int seq = 16;
  int micro_batch = 2;
  uint64_t seed = 1234;
  std::vector<LayerType> layers;
  // What a conversion from a model spec changed to fit these layers (e.g. "MLA run as GQA attention"),
  // one line each, for the CLI to show; empty when the spec maps exactly.
  std::vector<std::string> notes;
  // The model spec's layers over ours (filled by net_config_from_model_spec; empty otherwise). An embedding
  // or lm_head the spec leaves out joins its first / last layer.
  LayerUnits spec_layers;

  int num_layers() const { return static_cast<int>(layers.size()); }
  size_t activation_floats() const { return size_t(micro_batch) * seq * hidden; }
  int head_dim() const { return attn_head_dim > 0 ? attn_head_dim : hidden / heads; }
  int attn_width() const { return heads * head_dim(); }  // width of q and of the attention output
  int mamba_inner() const { return mamba_d_inner > 0 ? mamba_d_inner : mamba_expand * hidden; }
  int shared_ffn() const { return shared_experts * (shared_expert_ffn > 0 ? shared_expert_ffn : expert_ffn); }
  int dt_rank() const { return mamba_dt_rank > 0 ? mamba_dt_rank : (hidden + 15) / 16; }
};

// Throws adaptis::InputError naming the field and the problem (non-positive dims, heads not dividing
// hidden, top_k > experts, layer sequence not Embedding ... LmHead, ...). `origin` prefixes the message.
void validate_net_config(const NetConfig& cfg, const std::string& origin = "net config");

// A config with the given block layers between an Embedding and an LmHead, other fields default
// (handy for tests and examples): make_net_config({LayerType::Attention, LayerType::Mlp}).
NetConfig make_net_config(const std::vector<LayerType>& blocks);

// Model spec (model/include/adaptis/model/model_spec.h, samples/models/*.json) -> NetConfig.
// Each spec layer's parts become our layers in order (a transformer = attention + mlp, a moe_transformer =
// attention + moe); an embedding / lm_head is added at the ends when the spec leaves it out. Dimensions
// come from the parts and must agree across layers of the same kind (the executor's layers share one set):
// heads / kv_heads / head_dim, ffn_hidden, experts / top_k / expert_ffn_hidden / shared experts, mamba
// d_inner / state / conv_kernel / dt_rank, vocab, hidden; seq = seq_len, micro_batch = micro_batch_size.
// Features these layers do not have are run as the nearest one and listed in NetConfig::notes: MLA as
// GQA attention (heads x qk head dim), sliding windows as full causal attention, non-SwiGLU activations as
// SwiGLU, LayerNorm as RMSNorm, Mamba-2 (SSD) as the Mamba-1 selective scan of the same inner width and
// state, tied embeddings untied, QKV biases dropped.
// InputError (naming the file / layer) on disagreeing dims, non-causal attention, or a model too large for
// the CPU executor (more than max_params parameters).
struct ModelSpecLimits {
  long long max_params = 64LL << 20;
};
NetConfig net_config_from_model_spec(const ModelSpec& spec, ModelSpecLimits limits = {});
NetConfig net_config_from_json(const nlohmann::json& spec, const std::string& origin, ModelSpecLimits limits = {});
NetConfig load_net_config(const std::string& path, ModelSpecLimits limits = {});

// The units a plan over `cfg` partitions: the spec's layers (cfg.spec_layers) unless `split_blocks` is set
// or the config was not built from a spec, then one unit per layer of ours (names "layers.<i>", kinds
// layer_type_name).
LayerUnits plan_layer_units(const NetConfig& cfg, bool split_blocks);
// Whether unit i of `units` holds a layer that carries state from token to token (a Mamba scan): what a cost
// table's LayerCost::recurrent says of that unit.
bool unit_is_recurrent(const NetConfig& cfg, const LayerUnits& units, int i);

// The config as JSON for records (the run store's model column): name, every dimension, the layer sequence,
// the spec layer units and the conversion notes.
nlohmann::json net_config_to_json(const NetConfig& cfg);

// Number of parameters of a model (all layers), without allocating them.
long long net_config_param_count(const NetConfig& cfg);

}  // namespace adaptis::exec
