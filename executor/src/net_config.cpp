// NetConfig: layer names, validation, a convenience builder.
#include "adaptis/executor/net_config.h"

#include <string>

#include <nlohmann/json.hpp>

#include "adaptis/model/error.h"

namespace adaptis::exec {

const char* layer_type_name(LayerType t) {
  switch (t) {
    case LayerType::Embedding: return "embedding";
    case LayerType::Attention: return "attention";
    case LayerType::Mlp: return "mlp";
    case LayerType::Moe: return "moe";
    case LayerType::Mamba: return "mamba";
    case LayerType::LmHead: return "lm_head";
  }
  return "unknown";
}

namespace {

void require_positive(long long v, const char* field, const std::string& origin) {
  if (v < 1) throw InputError(origin + ": " + field + " must be >= 1, got " + std::to_string(v));
}

}  // namespace

void validate_net_config(const NetConfig& c, const std::string& origin) {
  require_positive(c.vocab, "vocab", origin);
  require_positive(c.hidden, "hidden", origin);
  require_positive(c.seq, "seq", origin);
  require_positive(c.micro_batch, "micro_batch", origin);
  if (c.layers.size() < 2)
    throw InputError(origin + ": layers must hold at least an embedding and an lm_head, got " +
                     std::to_string(c.layers.size()) + " layer(s)");
  if (c.layers.front() != LayerType::Embedding)
    throw InputError(origin + ": layers[0] must be embedding, got " + layer_type_name(c.layers.front()));
  if (c.layers.back() != LayerType::LmHead)
    throw InputError(origin + ": the last layer must be lm_head, got " + layer_type_name(c.layers.back()));
  bool attention = false, mlp = false, moe = false, mamba = false;
  for (size_t i = 1; i + 1 < c.layers.size(); ++i) {
    const LayerType t = c.layers[i];
    if (t == LayerType::Embedding || t == LayerType::LmHead)
      throw InputError(origin + ": layers[" + std::to_string(i) + "] is " + layer_type_name(t) +
                       ", which may only be the first / last layer");
    attention |= t == LayerType::Attention;
    mlp |= t == LayerType::Mlp;
    moe |= t == LayerType::Moe;
    mamba |= t == LayerType::Mamba;
  }
  if (attention) {
    require_positive(c.heads, "heads", origin);
    require_positive(c.kv_heads, "kv_heads", origin);
    if (c.attn_head_dim < 0) throw InputError(origin + ": attn_head_dim must be >= 0 (0 = hidden / heads)");
    if (c.attn_head_dim == 0 && c.hidden % c.heads != 0)
      throw InputError(origin + ": heads (" + std::to_string(c.heads) + ") must divide hidden (" +
                       std::to_string(c.hidden) + ") unless attn_head_dim is given");
    if (c.heads % c.kv_heads != 0)
      throw InputError(origin + ": kv_heads (" + std::to_string(c.kv_heads) + ") must divide heads (" +
                       std::to_string(c.heads) + ")");
    if (c.head_dim() % 2 != 0)
      throw InputError(origin + ": attention head dim " + std::to_string(c.head_dim()) +
                       " must be even (rotary positions rotate pairs)");
    if (!(c.rope_theta > 1.0)) throw InputError(origin + ": rope_theta must be > 1");
  }
  if (mlp) require_positive(c.ffn, "ffn", origin);
  if (moe) {
    require_positive(c.experts, "experts", origin);
    require_positive(c.top_k, "top_k", origin);
    require_positive(c.expert_ffn, "expert_ffn", origin);
    if (c.top_k > c.experts)
      throw InputError(origin + ": top_k (" + std::to_string(c.top_k) + ") must be <= experts (" +
                       std::to_string(c.experts) + ")");
    if (c.shared_experts < 0) throw InputError(origin + ": shared_experts must be >= 0");
    if (c.shared_expert_ffn < 0) throw InputError(origin + ": shared_expert_ffn must be >= 0 (0 = expert_ffn)");
    if (!(c.aux_loss_coef >= 0.0)) throw InputError(origin + ": aux_loss_coef must be >= 0");
  }
  if (mamba) {
    require_positive(c.mamba_state, "mamba_state", origin);
    if (c.mamba_d_inner < 0) throw InputError(origin + ": mamba_d_inner must be >= 0 (0 = expand * hidden)");
    if (c.mamba_d_inner == 0) require_positive(c.mamba_expand, "mamba_expand", origin);
    require_positive(c.mamba_conv, "mamba_conv", origin);
    if (c.mamba_dt_rank < 0) throw InputError(origin + ": mamba_dt_rank must be >= 0 (0 = auto)");
  }
  if (!(c.norm_eps > 0.0)) throw InputError(origin + ": norm_eps must be > 0");
}

LayerUnits plan_layer_units(const NetConfig& cfg, bool split_blocks) {
  if (!split_blocks && cfg.spec_layers.count() > 0) return cfg.spec_layers;
  LayerUnits u;
  for (int l = 0; l < cfg.num_layers(); ++l) {
    u.bounds.push_back(l);
    u.names.push_back("layers." + std::to_string(l));
    u.kinds.push_back(layer_type_name(cfg.layers[l]));
  }
  u.bounds.push_back(cfg.num_layers());
  return u;
}

bool unit_is_recurrent(const NetConfig& cfg, const LayerUnits& units, int i) {
  for (int l = units.bounds[size_t(i)]; l < units.bounds[size_t(i) + 1]; ++l)
    if (cfg.layers[size_t(l)] == LayerType::Mamba) return true;
  return false;
}

nlohmann::json net_config_to_json(const NetConfig& c) {
  nlohmann::json layers = nlohmann::json::array();
  for (LayerType t : c.layers) layers.push_back(layer_type_name(t));
  nlohmann::json j = {{"name", c.name},
                      {"vocab", c.vocab},
                      {"hidden", c.hidden},
                      {"heads", c.heads},
                      {"kv_heads", c.kv_heads},
                      {"head_dim", c.head_dim()},
                      {"ffn", c.ffn},
                      {"experts", c.experts},
                      {"top_k", c.top_k},
                      {"expert_ffn", c.expert_ffn},
                      {"shared_experts", c.shared_experts},
                      {"shared_ffn", c.shared_ffn()},
                      {"aux_loss_coef", c.aux_loss_coef},
                      {"mamba_state", c.mamba_state},
                      {"mamba_inner", c.mamba_inner()},
                      {"mamba_conv", c.mamba_conv},
                      {"mamba_dt_rank", c.dt_rank()},
                      {"seq", c.seq},
                      {"micro_batch", c.micro_batch},
                      {"seed", c.seed},
                      {"layers", layers},
                      {"notes", c.notes}};
  if (c.spec_layers.count() > 0)
    j["spec_layers"] = {{"bounds", c.spec_layers.bounds}, {"names", c.spec_layers.names}, {"kinds", c.spec_layers.kinds}};
  return j;
}

NetConfig make_net_config(const std::vector<LayerType>& blocks) {
  NetConfig c;
  c.layers.reserve(blocks.size() + 2);
  c.layers.push_back(LayerType::Embedding);
  for (LayerType t : blocks) c.layers.push_back(t);
  c.layers.push_back(LayerType::LmHead);
  return c;
}

}  // namespace adaptis::exec
