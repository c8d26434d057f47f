// Per-layer FLOPs, bytes, parameters and activation memory (conventions in layer_work.h).
// Each component is written out kernel by kernel, in the order a real implementation runs them,
// next to the tensors it keeps for the backward passes.
#include "adaptis/model/layer_work.h"

#include <algorithm>

namespace adaptis {

const char* kernel_class_name(KernelClass c) {
  switch (c) {
    case KernelClass::Gemm: return "gemm";
    case KernelClass::GroupedGemm: return "grouped_gemm";
    case KernelClass::AttentionFwd: return "attention_fwd";
    case KernelClass::AttentionBwd: return "attention_bwd";
    case KernelClass::ScanFwd: return "scan_fwd";
    case KernelClass::ScanBwd: return "scan_bwd";
    case KernelClass::Memory: return "memory";
  }
  return "?";
}

double PassWork::flops() const {
  double s = 0;
  for (const auto& k : kernels) s += k.flops;
  return s;
}

double PassWork::bytes() const {
  double s = 0;
  for (const auto& k : kernels) s += k.bytes;
  return s;
}

namespace {

constexpr double kFp32 = 4.0;

// Accumulates one layer's kernels and the activation tensors it keeps.
struct Builder {
  double T = 0;  // tokens per micro-batch
  double s = 0;  // sequence length
  double b = 0;  // sequences per micro-batch
  double e = 2;  // bytes per element (activations and weights)
  bool flash = true;
  double attention_dropout = 0;  // probabilities (model spec): what adds dropout passes and masks
  double hidden_dropout = 0;
  LayerWork work;

  // Activation bookkeeping, in bytes per micro-batch.
  double kept_until_b = 0;  // read by B only
  double kept_until_w = 0;  // linear inputs, read by B and W
  double grads_for_w = 0;   // output gradients created by B, read by W

  void add(PassWork& p, std::string name, KernelClass cls, double flops, double bytes) {
    p.kernels.push_back(Kernel{std::move(name), cls, flops, bytes});
  }
  void memory(PassWork& p, const std::string& name, double bytes) { add(p, name, KernelClass::Memory, 0, bytes); }

  // Y[rows, out] = X[rows, in] W[in, out]. `weight_elems` is what the kernel streams from HBM
  // (all experts' weights for a grouped GEMM). The input X is kept until W, dY created by B.
  void linear(const std::string& name, double rows, double in, double out, KernelClass cls = KernelClass::Gemm,
              double weight_elems = -1, double flop_rows = -1) {
    if (weight_elems < 0) weight_elems = in * out;
    if (flop_rows < 0) flop_rows = rows;
    double flops = 2.0 * flop_rows * in * out;
    double io = (rows * in + rows * out) * e;
    add(work.f, name, cls, flops, io + weight_elems * e);
    add(work.b, name + ".dgrad", cls, flops, io + weight_elems * e);
    // Weight gradients accumulate into fp32 main grads (read + write).
    add(work.w, name + ".wgrad", cls, flops, io + weight_elems * kFp32 * 2);
    for (PassWork* p : {&work.f, &work.b, &work.w}) {
      Kernel& k = p->kernels.back();
      k.m = flop_rows;
      k.k = in;
      k.n = out;
    }
    grads_for_w += rows * out * e;
  }

  // Pre-norm over `width` columns: keeps its input and fp32 statistics for B; its output is the
  // next linear's input and is recorded by the caller with keep_x.
  void norm(const std::string& name, NormKind kind, double width, double rows) {
    double stats = (kind == NormKind::LayerNorm ? 2 : 1) * rows * kFp32;
    memory(work.f, name, 2 * rows * width * e + stats);
    memory(work.b, name + ".bwd", 3 * rows * width * e + stats);
    kept_until_b += rows * width * e + stats;
  }

  // Residual add of a block's output. With hidden dropout it is Megatron's fused
  // bias-dropout-add: it also writes a 1-byte mask, kept for and read by the backward.
  void residual(const std::string& name, double width, bool dropout = true) {
    const double mask = dropout && hidden_dropout > 0 ? T * width : 0.0;
    memory(work.f, name, 3 * T * width * e + mask);
    memory(work.b, name + ".bwd", 3 * T * width * e + mask);
    kept_until_b += mask;
  }

  void keep_b(double bytes) { kept_until_b += bytes; }
  void keep_x(double bytes) { kept_until_w += bytes; }
};

double norm_params(NormKind n, double width) { return n == NormKind::LayerNorm ? 2 * width : width; }

// Average keys each query attends to.
double keys_per_query(const Component& c, double s) {
  double w = c.window > 0 ? std::min<double>(double(c.window), s) : s;
  if (!c.causal) return w;
  // Query i (0-based) sees min(i + 1, w) keys.
  return (w * (w + 1) / 2 + (s - w) * w) / s;
}

// Attention without flash, as Megatron-LM's unfused core runs it: two batched GEMMs over the whole
// s x s score matrix (the causal mask is applied by the softmax, so the masked half is computed
// too), a fused scale-mask-softmax pass and, when training with attention dropout, a dropout pass,
// each reading and writing the S = b a s^2 scores in HBM. The backward runs the four gradient GEMMs
// and the dropout and softmax backward passes. Kept for B: the softmax output and, with dropout,
// its 1-byte mask and the dropped probabilities (Korthikanti et al.'s 5as^2b bytes). All of it is
// what selective recompute drops and re-creates by re-running these forward kernels.
void unfused_attention(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, a = double(c.heads);
  const double dqk = double(c.qk_head_dim()), dv = double(c.value_head_dim());
  const double kv = c.is_mla() ? a : double(c.kv_heads);
  const double S = bl.b * a * bl.s * bl.s;  // score elements
  const bool dropout = bl.attention_dropout > 0;
  const double q = T * a * dqk * e, k = T * kv * dqk * e, v = T * kv * dv * e, o = T * a * dv * e;
  const size_t first = bl.work.f.kernels.size();
  bl.add(bl.work.f, "attention.core.scores", KernelClass::AttentionFwd, 2 * S * dqk, q + k + S * e);
  bl.memory(bl.work.f, "attention.core.softmax", 2 * S * e);
  if (dropout) bl.memory(bl.work.f, "attention.core.dropout", 2 * S * e + S);  // + the 1-byte mask
  bl.add(bl.work.f, "attention.core.context", KernelClass::AttentionFwd, 2 * S * dv, S * e + v + o);
  // dV = P^T dO and dP = dO V^T; dropout and softmax backward; dQ = dS K and dK = dS^T Q.
  bl.add(bl.work.b, "attention.core.context.dgrad_v", KernelClass::AttentionBwd, 2 * S * dv, S * e + o + v);
  bl.add(bl.work.b, "attention.core.context.dgrad_p", KernelClass::AttentionBwd, 2 * S * dv, o + v + S * e);
  if (dropout) bl.memory(bl.work.b, "attention.core.dropout.bwd", 2 * S * e + S);
  bl.memory(bl.work.b, "attention.core.softmax.bwd", 3 * S * e);
  bl.add(bl.work.b, "attention.core.scores.dgrad_q", KernelClass::AttentionBwd, 2 * S * dqk, S * e + k + q);
  bl.add(bl.work.b, "attention.core.scores.dgrad_k", KernelClass::AttentionBwd, 2 * S * dqk, S * e + q + k);
  const double kept = S * e + (dropout ? S + S * e : 0.0);
  bl.keep_b(kept);
  bl.work.score_bytes += kept;
  bl.work.selective_dropped_bytes += kept;
  bl.work.selective.kernels.insert(bl.work.selective.kernels.end(), bl.work.f.kernels.begin() + long(first),
                                   bl.work.f.kernels.end());
}

void attention(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, h = double(c.hidden), a = double(c.heads);
  const double dqk = double(c.qk_head_dim()), dv = double(c.value_head_dim());
  bl.norm("attention.norm", c.norm, h, T);
  bl.keep_x(T * h * e);  // normed input: the q/k/v projections' X

  double kv = double(c.kv_heads);  // key/value heads as the attention kernel reads them
  if (!c.is_mla()) {
    bl.linear("attention.qkv", T, h, (a + 2 * kv) * dqk);
    bl.memory(bl.work.f, "attention.rope", 2 * T * (a + kv) * dqk * e);
    bl.memory(bl.work.b, "attention.rope.bwd", 2 * T * (a + kv) * dqk * e);
  } else {
    const double ql = double(c.q_lora_rank), kvl = double(c.kv_lora_rank);
    const double dn = double(c.qk_nope_head_dim), dr = double(c.qk_rope_head_dim);
    if (ql > 0) {
      bl.linear("attention.q_down", T, h, ql);
      bl.norm("attention.q_norm", c.norm, ql, T);
      bl.keep_x(T * ql * e);
      bl.linear("attention.q_up", T, ql, a * dqk);
    } else {
      bl.linear("attention.q", T, h, a * dqk);
    }
    bl.linear("attention.kv_down", T, h, kvl + dr);
    bl.norm("attention.kv_norm", c.norm, kvl, T);
    bl.keep_x(T * kvl * e);
    bl.linear("attention.kv_up", T, kvl, a * (dn + dv));
    // Rotary on the query's and the shared key's rope parts, then keys assembled per head.
    bl.memory(bl.work.f, "attention.rope", 2 * T * (a + 1) * dr * e + 2 * T * a * dqk * e);
    bl.memory(bl.work.b, "attention.rope.bwd", 2 * T * (a + 1) * dr * e + 2 * T * a * dqk * e);
    kv = a;
  }
  // q, k, v as the attention kernel reads them.
  bl.keep_b(T * (a * dqk + kv * dqk + kv * dv) * e);
  bl.work.kv_bytes += T * kv * (dqk + dv) * e;

  if (bl.flash) {
    const double keys = keys_per_query(c, bl.s);
    const double core_flops = 2.0 * T * keys * a * (dqk + dv);
    const double qkvo_bytes = T * (a * dqk + kv * dqk + kv * dv + a * dv) * e;
    bl.add(bl.work.f, "attention.core", KernelClass::AttentionFwd, core_flops, qkvo_bytes + T * a * kFp32);
    bl.add(bl.work.b, "attention.core.bwd", KernelClass::AttentionBwd, 2.5 * core_flops,
           2 * qkvo_bytes + T * a * kFp32);
    bl.keep_b(T * a * kFp32);  // log-sum-exp per query and head
  } else {
    unfused_attention(bl, c);
  }
  bl.keep_x(T * a * dv * e);  // attention output: the output projection's X
  bl.linear("attention.out", T, a * dv, h);
  bl.residual("attention.residual", h);
}

// Shared by the dense MLP and the experts: up (and gate) projection, activation, down projection.
void feed_forward(Builder& bl, const std::string& name, double rows, double flop_rows, double h, double f,
                  Activation act, KernelClass cls, double copies) {
  const double e = bl.e;
  const double up = is_gated(act) ? 2 * f : f;
  bl.linear(name + ".up", rows, h, up, cls, copies * h * up, flop_rows);
  bl.memory(bl.work.f, name + ".act", rows * (up + f) * e);
  bl.memory(bl.work.b, name + ".act.bwd", rows * (2 * up + f) * e);
  bl.keep_b(rows * up * e);  // activation input(s)
  bl.keep_x(rows * f * e);   // activation output: the down projection's X
  bl.linear(name + ".down", rows, f, h, cls, copies * f * h, flop_rows);
}

void mlp(Builder& bl, const Component& c) {
  const double T = bl.T, h = double(c.hidden);
  bl.norm("mlp.norm", c.norm, h, T);
  bl.keep_x(T * h * bl.e);
  feed_forward(bl, "mlp", T, T, h, double(c.ffn_hidden), c.activation, KernelClass::Gemm, 1);
  bl.residual("mlp.residual", h);
}

void moe(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, h = double(c.hidden), E = double(c.experts), k = double(c.top_k);
  bl.norm("moe.norm", c.norm, h, T);
  bl.keep_x(T * h * e);  // router, shared experts and dispatch read the normed input
  bl.linear("moe.router", T, h, E);
  // Softmax and top-k in fp32; probabilities and routing indices kept for the backward.
  bl.memory(bl.work.f, "moe.topk", 3 * T * E * kFp32 + T * k * kFp32);
  bl.memory(bl.work.b, "moe.topk.bwd", 3 * T * E * kFp32);
  bl.keep_b(T * E * kFp32 + T * k * kFp32);
  // Dispatch: every token copied to its k experts, grouped by expert.
  bl.memory(bl.work.f, "moe.permute", T * h * e + T * k * h * e);
  bl.memory(bl.work.b, "moe.permute.bwd", T * k * h * e + T * h * e);
  bl.keep_x(T * k * h * e);
  // The busiest expert sets the grouped GEMM's length.
  feed_forward(bl, "moe.experts", T * k, T * k * c.imbalance, h, double(c.expert_ffn_hidden), c.activation,
               KernelClass::GroupedGemm, E);
  bl.keep_b(T * k * h * e);  // expert outputs, for the routing-weight gradient
  bl.memory(bl.work.f, "moe.unpermute", T * k * h * e + T * h * e);
  bl.memory(bl.work.b, "moe.unpermute.bwd", T * h * e + 2 * T * k * h * e);
  if (c.shared_experts > 0) {
    feed_forward(bl, "moe.shared", T, T, h, double(c.shared_experts * c.shared_ffn_hidden), c.activation,
                 KernelClass::Gemm, 1);
    bl.residual("moe.shared.add", h, false);  // no dropout: the routed output is added next
  }
  bl.residual("moe.residual", h);
}

void mamba(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, h = double(c.hidden), di = double(c.d_inner), N = double(c.state);
  bl.norm("mamba.norm", c.norm, h, T);
  bl.keep_x(T * h * e);
  if (c.mamba_version == 2) {
    const double G = double(c.groups), H = double(c.mamba_heads);
    const double Q = std::min<double>(double(c.chunk), bl.s);
    const double in_width = 2 * di + 2 * G * N + H;  // z, x, B, C, dt
    const double conv_width = di + 2 * G * N;        // x, B, C go through the causal conv
    bl.linear("mamba.in_proj", T, h, in_width);
    bl.keep_b(T * in_width * e);
    bl.memory(bl.work.f, "mamba.conv", 2 * T * conv_width * e);
    bl.memory(bl.work.b, "mamba.conv.bwd", 3 * T * conv_width * e);
    bl.keep_b(T * conv_width * e + 2 * T * H * kFp32);  // conv output; dt and its cumulative sum (fp32)
    // SSD: per chunk of Q tokens, C B^T per group, its masked product with X per head, chunk
    // states B^T X and their contribution C h to the outputs. States are recomputed in backward.
    double flops = 2 * T * Q * N * G + 2 * T * Q * di + 4 * T * N * di;
    double io = T * (2 * di + 2 * G * N + H) * e + 2 * T * di * N * kFp32 / Q;
    bl.add(bl.work.f, "mamba.ssd", KernelClass::ScanFwd, flops, io);
    bl.add(bl.work.b, "mamba.ssd.bwd", KernelClass::ScanBwd, 2 * flops, 2 * io);
    bl.keep_b(T * di * e);  // scan output y
    // Gated RMSNorm over groups: y * silu(z), normalised.
    bl.memory(bl.work.f, "mamba.gated_norm", 3 * T * di * e + T * G * kFp32);
    bl.memory(bl.work.b, "mamba.gated_norm.bwd", 5 * T * di * e + T * G * kFp32);
    bl.keep_b(T * G * kFp32);
  } else {
    const double R = double(c.dt_rank);
    bl.linear("mamba.in_proj", T, h, 2 * di);  // x, z
    bl.keep_b(T * 2 * di * e);
    bl.memory(bl.work.f, "mamba.conv", 2 * T * di * e);
    bl.memory(bl.work.b, "mamba.conv.bwd", 3 * T * di * e);
    bl.keep_x(T * di * e);  // conv output u': x_proj's X
    bl.linear("mamba.x_proj", T, di, R + 2 * N);
    bl.keep_b(T * 2 * N * e);  // B, C
    bl.keep_x(T * R * e);      // dt_proj's X
    bl.linear("mamba.dt_proj", T, R, di);
    bl.keep_b(T * di * e);  // delta
    // Selective scan: ~9 FLOPs per (token, channel, state) (discretise, update, read out).
    double flops = 9 * T * di * N;
    double io = T * (4 * di + 2 * N) * e;
    bl.add(bl.work.f, "mamba.scan", KernelClass::ScanFwd, flops, io);
    bl.add(bl.work.b, "mamba.scan.bwd", KernelClass::ScanBwd, 2 * flops, 2 * io);
  }
  bl.keep_x(T * di * e);  // gated output: out_proj's X
  bl.linear("mamba.out_proj", T, di, h);
  bl.residual("mamba.residual", h);
}

void embedding(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, h = double(c.hidden);
  // Gather rows of the table; B has nothing to propagate (no input gradient); W scatter-adds dY
  // into the fp32 gradient rows.
  bl.memory(bl.work.f, "embedding.gather", T * kFp32 + 2 * T * h * e);
  bl.memory(bl.work.w, "embedding.scatter_add", T * kFp32 + T * h * e + 2 * T * h * kFp32);
  bl.keep_x(T * kFp32);  // token ids
  bl.grads_for_w += T * h * e;
}

void lm_head(Builder& bl, const Component& c) {
  const double T = bl.T, e = bl.e, h = double(c.hidden), V = double(c.vocab);
  bl.norm("lm_head.final_norm", c.norm, h, T);
  bl.keep_x(T * h * e);
  bl.linear("lm_head.logits", T, h, V);
  // Cross-entropy in fp32: upcast, max/exp/sum into the softmax (kept for B), loss.
  bl.memory(bl.work.f, "lm_head.cross_entropy", T * V * (e + 3 * kFp32));
  bl.memory(bl.work.b, "lm_head.cross_entropy.bwd", T * V * (kFp32 + e));
  bl.keep_b(T * V * kFp32);
}

}  // namespace

double component_params(const Component& c) {
  const double h = double(c.hidden);
  double n = c.kind == ComponentKind::Embedding ? 0 : norm_params(c.norm, h);
  switch (c.kind) {
    case ComponentKind::Embedding:
      return double(c.vocab) * h;
    case ComponentKind::LmHead:
      return n + double(c.vocab) * h;
    case ComponentKind::Attention: {
      const double a = double(c.heads), dqk = double(c.qk_head_dim()), dv = double(c.value_head_dim());
      if (!c.is_mla()) {
        const double qkv = (a + 2 * double(c.kv_heads)) * dqk;
        return n + h * qkv + (c.qkv_bias ? qkv : 0) + a * dv * h;
      }
      const double ql = double(c.q_lora_rank), kvl = double(c.kv_lora_rank), dr = double(c.qk_rope_head_dim);
      double q = ql > 0 ? h * ql + norm_params(c.norm, ql) + ql * a * dqk : h * a * dqk;
      return n + q + h * (kvl + dr) + norm_params(c.norm, kvl) + kvl * a * (double(c.qk_nope_head_dim) + dv) +
             a * dv * h;
    }
    case ComponentKind::Mlp:
      return n + (is_gated(c.activation) ? 3 : 2) * h * double(c.ffn_hidden);
    case ComponentKind::Moe: {
      const double mats = is_gated(c.activation) ? 3 : 2;
      return n + h * double(c.experts) + double(c.experts) * mats * h * double(c.expert_ffn_hidden) +
             double(c.shared_experts) * mats * h * double(c.shared_ffn_hidden);
    }
    case ComponentKind::Mamba: {
      const double di = double(c.d_inner), N = double(c.state), K = double(c.conv_kernel);
      if (c.mamba_version == 2) {
        const double G = double(c.groups), H = double(c.mamba_heads);
        const double conv = di + 2 * G * N;
        // in_proj, conv weights + bias, A_log / D / dt_bias per head, gated norm, out_proj.
        return n + h * (2 * di + 2 * G * N + H) + conv * (K + 1) + 3 * H + di + di * h;
      }
      const double R = double(c.dt_rank);
      // in_proj, conv weights + bias, x_proj, dt_proj + bias, A_log, D, out_proj.
      return n + h * 2 * di + di * (K + 1) + di * (R + 2 * N) + R * di + di + di * N + di + di * h;
    }
  }
  return 0;
}

LayerWork layer_work(const LayerSpec& layer, const ModelSpec& model) {
  Builder bl;
  bl.b = double(model.micro_batch_size);
  bl.s = double(model.seq_len);
  bl.T = bl.b * bl.s;
  bl.e = dtype_bytes(model.dtype);
  bl.flash = model.flash_attention;
  bl.attention_dropout = model.attention_dropout;
  bl.hidden_dropout = model.hidden_dropout;
  bool last = false;
  if (!layer.parts.empty())
    bl.work.input_bytes = layer.parts.front().kind == ComponentKind::Embedding
                              ? bl.T * kFp32  // token ids
                              : bl.T * double(layer.parts.front().hidden) * bl.e;
  for (const Component& c : layer.parts) {
    // Selective recompute checkpoints MLP and MoE blocks at their input (layer_work.h): everything
    // else the block keeps is dropped after F and re-created by re-running its forward kernels.
    const bool checkpointed = c.kind == ComponentKind::Mlp || c.kind == ComponentKind::Moe;
    const double kept_before = bl.kept_until_b + bl.kept_until_w;
    const size_t f_before = bl.work.f.kernels.size();
    switch (c.kind) {
      case ComponentKind::Embedding: embedding(bl, c); break;
      case ComponentKind::Attention: attention(bl, c); break;
      case ComponentKind::Mlp: mlp(bl, c); break;
      case ComponentKind::Moe: moe(bl, c); break;
      case ComponentKind::Mamba: mamba(bl, c); break;
      case ComponentKind::LmHead: lm_head(bl, c); last = true; break;
    }
    if (checkpointed) {
      const double block_input = bl.T * double(c.hidden) * bl.e;
      const double kept = bl.kept_until_b + bl.kept_until_w - kept_before;
      bl.work.selective_dropped_bytes += std::max(0.0, kept - block_input);
      bl.work.selective.kernels.insert(bl.work.selective.kernels.end(), bl.work.f.kernels.begin() + long(f_before),
                                       bl.work.f.kernels.end());
    }
    double p = component_params(c);
    bl.work.resident_params += p;
    // A tied head's matrix is the embedding's: a copy on its stage, not a parameter of its own.
    bl.work.params += (c.kind == ComponentKind::LmHead && c.tied) ? p - double(c.vocab) * double(c.hidden) : p;
  }
  bl.work.act_b_bytes = bl.kept_until_b;
  bl.work.act_w_bytes = bl.kept_until_w;
  bl.work.w_grad_bytes = bl.grads_for_w;
  double h = layer.parts.empty() ? 0 : double(layer.parts.back().hidden);
  bl.work.out_bytes = last ? 0 : bl.T * h * bl.e;
  return bl.work;
}

}  // namespace adaptis
