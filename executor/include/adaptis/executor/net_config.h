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

namespace adaptis::exec {

enum class LayerType : uint8_t { Embedding, Attention, Mlp, Moe, Mamba, LmHead };
const char* layer_type_name(LayerType t);  // "embedding", "attention", "mlp", "moe", "mamba", "lm_head"

struct NetConfig {
  std::string name = "tiny";
  int vocab = 256;
  int hidden = 64;
  int heads = 4;
  int kv_heads = 2;        // GQA: heads % kv_heads == 0; head_dim = hidden / heads (even: rotary pairs)
  int ffn = 128;           // SwiGLU hidden
  int experts = 4;         // MoE routed experts
  int top_k = 2;
  int expert_ffn = 64;
  int shared_experts = 0;  // MoE always-on experts (DeepSeek style), each expert_ffn wide
  double aux_loss_coef = 0.01;  // MoE load-balancing loss weight
  int mamba_state = 8;     // selective scan state size N
  int mamba_expand = 2;    // inner = expand * hidden
  int mamba_conv = 4;      // causal depthwise conv width
  int mamba_dt_rank = 0;   // 0 = ceil(hidden / 16), as in Mamba-1
  double rope_theta = 10000.0;  // rotary position embedding base
  double norm_eps = 1e-5;       // RMSNorm epsilon
  int seq = 16;
  int micro_batch = 2;
  uint64_t seed = 1234;
  std::vector<LayerType> layers;

  int num_layers() const { return static_cast<int>(layers.size()); }
  size_t activation_floats() const { return size_t(micro_batch) * seq * hidden; }
  int head_dim() const { return hidden / heads; }
  int mamba_inner() const { return mamba_expand * hidden; }
  int dt_rank() const { return mamba_dt_rank > 0 ? mamba_dt_rank : (hidden + 15) / 16; }
};

// Throws adaptis::InputError naming the field and the problem (non-positive dims, heads not dividing
// hidden, top_k > experts, layer sequence not Embedding ... LmHead, ...). `origin` prefixes the message.
void validate_net_config(const NetConfig& cfg, const std::string& origin = "net config");

// A config with the given block layers between an Embedding and an LmHead, other fields default
// (handy for tests and examples): make_net_config({LayerType::Attention, LayerType::Mlp}).
NetConfig make_net_config(const std::vector<LayerType>& blocks);

// Model spec JSON -> NetConfig. Accepted fields (all optional except "layers" or "blocks", unknown fields
// ignored so that the richer planner-side spec parses too):
//   "name"; "vocab"|"vocab_size"; "hidden"|"hidden_size"; "heads"|"num_heads"|"num_attention_heads";
//   "kv_heads"|"num_kv_heads"|"num_key_value_heads"; "ffn"|"ffn_hidden"|"intermediate_size";
//   "experts"|"num_experts"; "top_k"; "expert_ffn"|"moe_ffn_hidden"|"moe_intermediate_size";
//   "shared_experts"; "aux_loss_coef"; "mamba_state"|"ssm_state"; "mamba_expand"|"expand";
//   "mamba_conv"|"conv_kernel"|"d_conv"; "mamba_dt_rank"; "rope_theta"; "norm_eps";
//   "seq"|"seq_len"|"seq_length"|"sequence_length"; "micro_batch"|"micro_batch_size"; "seed".
//   Dimension fields may also sit in a nested object "dims" / "defaults", and a layer entry may override them
//   (they must then agree across layers: the executor's layers share one set of dims).
//   "layers": an array of entries, each a kind string ("attention") or an object {"kind": K, ...} with an
//   optional "repeat": N (or {"repeat": N, "layer": {...}} / {"repeat": N, "layers": [...]});
//   or "pattern": a string such as "M-M*-M-E" with a "legend" object mapping each letter to a kind.
//   Kinds: embedding, attention, mlp, moe, mamba, lm_head (alias: head, output, loss), and composites
//   transformer|dense|dense_block (attention + mlp), moe_block|moe_transformer (attention + moe),
//   mamba_block (mamba). Embedding / lm_head are added at the ends when the spec leaves them out.
// Throws adaptis::InputError naming the file / JSON path on unknown kinds or bad values.
NetConfig net_config_from_json(const nlohmann::json& spec, const std::string& origin);
NetConfig load_net_config(const std::string& path);

}  // namespace adaptis::exec
