#pragma once
// A model as an ordered list of layers with their dimensions, read from a model spec file
// (samples/models/*.json). The analytical cost model turns it into per-layer costs and the
// executor builds real layers from it.
//
// File format ("format": "adaptis-model/1"):
//   {
//     "name": "llama-2-7b", "source": "<config the numbers come from>",
//     "dtype": "bf16",                      // bf16 | fp16 | fp32
//     "seq_len": 4096, "micro_batch_size": 1,
//     "global_batch_size": 1024,            // optional; with data_parallel gives the micro-batch count
//     "data_parallel": 32,                  // optional, default 1
//     "distributed_optimizer": false,       // optional: optimizer state sharded over data_parallel
//     "flash_attention": true,              // optional: false stores the s x s attention matrix
//     "attention_dropout": 0.1,             // optional, default 0: dropout on the attention
//                                           // probabilities (costs a pass and a mask without flash)
//     "hidden_dropout": 0.1,                // optional, default 0: dropout before each residual add
//     "efficiency": {"gemm": 0.7, ...},     // optional KernelEfficiency overrides
//     "defaults": {"hidden": 4096, ...},    // dimensions shared by every layer that uses them
//     "legend": {"M": {"kind": "mamba"}},   // optional symbols shared by every pattern
//     "layers": [ ITEM, ... ]
//   }
// An ITEM is one of
//   {"kind": K, <dims>...}                          one layer (dims override "defaults")
//   {"repeat": N, "layer": {...}}                   N copies of a layer
//   {"repeat": N, "layers": [ITEM, ...]}            N copies of a group
//   {"pattern": "M-M*-", "legend": {"M": {...}}}    one layer per symbol (legend entries are layers)
// Layer kinds: embedding, attention, mlp, moe, mamba, lm_head (final norm + output projection +
// cross-entropy), and composites: transformer (attention + mlp), moe_transformer (attention + moe),
// block (explicit "parts": [{"kind": ...}, ...] of the primitive kinds).
// Every problem is an InputError naming the file, the JSON path and what is wrong.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "adaptis/model/kernel_efficiency.h"

namespace adaptis {

enum class ComponentKind { Embedding, Attention, Mlp, Moe, Mamba, LmHead };
enum class Activation { SwiGLU, GeGLU, GeLU, ReLU, ReLU2, SiLU };
enum class NormKind { RMSNorm, LayerNorm };
enum class DType { BF16, FP16, FP32 };

const char* component_kind_name(ComponentKind k);
const char* activation_name(Activation a);
const char* norm_name(NormKind n);
const char* dtype_name(DType d);
int dtype_bytes(DType d);
// Gated activations (SwiGLU, GeGLU) have two input projections (gate and up).
bool is_gated(Activation a);

// One building block of a layer with every dimension resolved (defaults applied, derived values
// filled in). Each kind reads only its own fields; the rest stay 0.
struct Component {
  ComponentKind kind = ComponentKind::Mlp;
  long long hidden = 0;               // model width h (residual stream)
  NormKind norm = NormKind::RMSNorm;  // pre-norm (the final norm for LmHead; Embedding has none)

  // Attention: query heads, key/value heads (GQA when fewer), per-head width.
  long long heads = 0, kv_heads = 0, head_dim = 0;
  long long window = 0;  // sliding window in keys per query; 0 = full
  bool causal = true;
  bool qkv_bias = false;
  // Multi-head latent attention (DeepSeek-V2), used when kv_lora_rank > 0: queries through an
  // optional low-rank q_lora_rank bottleneck (0 = full projection), keys/values through the
  // kv_lora_rank latent; query/key heads are qk_nope_head_dim + qk_rope_head_dim wide, values
  // v_head_dim.
  long long q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;

  // MLP (ffn_hidden) and MoE (experts of expert_ffn_hidden, top_k routed per token, plus
  // shared_experts always-on experts of shared_ffn_hidden each).
  long long ffn_hidden = 0;
  Activation activation = Activation::SwiGLU;
  long long experts = 0, top_k = 0, expert_ffn_hidden = 0, shared_experts = 0, shared_ffn_hidden = 0;
  double imbalance = 1.0;  // busiest expert's load / mean load (>= 1): scales expert GEMM time

  // Mamba: version 1 (selective scan, state per channel) or 2 (SSD, multi-head).
  int mamba_version = 2;
  long long d_inner = 0;         // expanded width: mamba_heads * mamba_head_dim, or expand * hidden
  long long state = 0;           // d_state (N)
  long long mamba_heads = 0;     // v2: heads (d_inner / mamba_head_dim)
  long long mamba_head_dim = 0;  // v2: head width (P)
  long long groups = 0;          // v2: B/C groups (n_groups)
  long long conv_kernel = 0;     // causal depthwise conv width
  long long dt_rank = 0;         // v1: low-rank dt projection width
  long long chunk = 0;           // v2: SSD chunk length

  // Embedding / LM head.
  long long vocab = 0;
  bool tied = false;  // LM head shares the embedding's weights (counted once as parameters)

  bool is_mla() const { return kind == ComponentKind::Attention && kv_lora_rank > 0; }
  // Query/key and value head widths (MLA or not).
  long long qk_head_dim() const { return is_mla() ? qk_nope_head_dim + qk_rope_head_dim : head_dim; }
  long long value_head_dim() const { return is_mla() ? v_head_dim : head_dim; }
};

struct LayerSpec {
  std::string name;    // "embedding", "layers.<i>" (body layers counted from 0), "lm_head", or as given
  std::string kind;    // as written: "transformer", "mamba", "block", ...
  std::string symbol;  // the pattern symbol it came from ("M", "-", "*"), or ""
  std::vector<Component> parts;

  bool has(ComponentKind k) const;
};

struct ModelSpec {
  std::string name;
  std::string source;  // the published config the dimensions come from
  std::string origin;  // file it was read from
  DType dtype = DType::BF16;
  long long seq_len = 0;
  long long micro_batch_size = 0;
  long long global_batch_size = 0;  // 0 = not given
  long long data_parallel = 1;
  bool distributed_optimizer = false;
  bool flash_attention = true;
  // Training-time dropout probabilities. Without flash attention the attention dropout is its own
  // pass over the s x s probabilities with a 1-byte mask kept for the backward; flash kernels
  // regenerate their mask, so it costs nothing extra there. Hidden dropout keeps a 1-byte mask per
  // residual add.
  double attention_dropout = 0;
  double hidden_dropout = 0;
  KernelEfficiency efficiency;
  nlohmann::json efficiency_overrides;  // the "efficiency" object as written (applied over a machine's)
  std::vector<LayerSpec> layers;

  int num_layers() const { return static_cast<int>(layers.size()); }
  long long tokens_per_microbatch() const { return seq_len * micro_batch_size; }
  // Micro-batches per iteration and pipeline: global / (micro * data_parallel); 0 when unknown.
  int microbatches() const;
};

// Reads and validates a model spec file.
ModelSpec load_model_spec(const std::string& path);
// Same from an already parsed document; `origin` names it in messages.
ModelSpec parse_model_spec(const nlohmann::json& doc, const std::string& origin);

}  // namespace adaptis
