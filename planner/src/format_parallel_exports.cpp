// Megatron-LM command lines and torchtitan config keys for whole-cluster plans (parallel_exports.h).
#include "adaptis/planner/parallel_exports.h"

#include <algorithm>
#include <sstream>

#include "adaptis/model/error.h"
#include "adaptis/planner/megatron_layout.h"

namespace adaptis {

namespace {

const Component* first_component(const ModelSpec& m, ComponentKind k) {
  for (const auto& l : m.layers)
    for (const auto& c : l.parts)
      if (c.kind == k) return &c;
  return nullptr;
}

std::string quote(const std::string& s) { return "\"" + s + "\""; }

// A probability as Megatron-LM's argument parser reads it: shortest decimal form ("0", "0.1").
std::string number_text(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

MegatronCommand megatron_command(const Plan& plan, const CostTable& costs, const ModelSpec* model,
                                 const ClusterTopology* topo) {
  MegatronCommand c;
  const MegatronExport pipe = export_megatron(plan, costs);
  ParallelConfig p;
  if (plan.parallel) {
    p = *plan.parallel;
  } else {
    p.pp = plan.num_devices();
    p.microbatches = plan.num_microbatches;
    p.global_batch_size = plan.num_microbatches;
  }
  auto flag = [&](const std::string& k, const std::string& v = "") { c.flags.push_back({k, v}); };
  const int gpus = p.gpus();
  const int gpn = topo ? std::max(1, topo->gpus_per_node) : gpus;
  const int per_node = std::min(gpus, gpn);
  c.launcher = {"torchrun", "--nnodes", std::to_string((gpus + per_node - 1) / per_node), "--nproc-per-node",
                std::to_string(per_node), "pretrain_gpt.py"};

  // Parallel degrees.
  flag("--tensor-model-parallel-size", std::to_string(p.tp));
  for (const auto& [k, v] : pipe.flags) flag(k, v);  // pipeline size, layers, virtual stages / layout
  if (p.cp > 1) flag("--context-parallel-size", std::to_string(p.cp));
  if (p.ep > 1) flag("--expert-model-parallel-size", std::to_string(p.ep));
  if (p.sequence_parallel) flag("--sequence-parallel");
  // Micro-batching: each of the dp replicas runs `microbatches` micro-batches.
  flag("--micro-batch-size", std::to_string(p.micro_batch_size));
  flag("--global-batch-size", std::to_string(p.global_batch_size));
  // Optimizer-state / gradient / parameter sharding.
  if (p.zero == 1) {
    flag("--use-distributed-optimizer");
  } else if (p.zero >= 2) {
    flag("--use-megatron-fsdp");
    flag("--data-parallel-sharding-strategy", p.zero == 2 ? "optim_grads" : "optim_grads_params");
  }
  if (p.dp * p.cp > 1) {
    if (p.overlap_grad_reduce) flag("--overlap-grad-reduce");
    if (p.zero == 1 && p.overlap_param_gather) flag("--overlap-param-gather");
    if (p.bucket_params > 0) flag("--ddp-bucket-size", std::to_string(static_cast<long long>(p.bucket_params)));
  }
  // Recomputation.
  if (p.recompute == Recompute::Selective) {
    flag("--recompute-granularity", "selective");
  } else if (p.recompute == Recompute::Full) {
    flag("--recompute-granularity", "full");
    flag("--recompute-method", "uniform");
    flag("--recompute-num-layers", "1");
  }
  if (!p.grad_reduce_fp32) c.notes.push_back("gradients reduced in bf16: leave out --accumulate-allreduce-grads-in-fp32");

  // Model shape.
  if (model) {
    const Component* att = first_component(*model, ComponentKind::Attention);
    const Component* mlp = first_component(*model, ComponentKind::Mlp);
    const Component* moe = first_component(*model, ComponentKind::Moe);
    const Component* head = first_component(*model, ComponentKind::LmHead);
    if (att) {
      flag("--hidden-size", std::to_string(att->hidden));
      flag("--num-attention-heads", std::to_string(att->heads));
      if (!att->is_mla() && att->kv_heads < att->heads) {
        flag("--group-query-attention");
        flag("--num-query-groups", std::to_string(att->kv_heads));
      }
      if (!att->is_mla() && att->head_dim * att->heads != att->hidden) flag("--kv-channels", std::to_string(att->head_dim));
      if (att->is_mla()) {
        flag("--multi-latent-attention");
        flag("--kv-lora-rank", std::to_string(att->kv_lora_rank));
        if (att->q_lora_rank > 0) flag("--q-lora-rank", std::to_string(att->q_lora_rank));
        flag("--qk-head-dim", std::to_string(att->qk_nope_head_dim));
        flag("--qk-pos-emb-head-dim", std::to_string(att->qk_rope_head_dim));
        flag("--v-head-dim", std::to_string(att->v_head_dim));
      }
      flag("--normalization", att->norm == NormKind::RMSNorm ? "RMSNorm" : "LayerNorm");
      flag("--disable-bias-linear");
      if (att->qkv_bias) flag("--add-qkv-bias");
    }
    if (mlp) {
      flag("--ffn-hidden-size", std::to_string(mlp->ffn_hidden));
      if (mlp->activation == Activation::SwiGLU) flag("--swiglu");
      else if (mlp->activation == Activation::ReLU2) flag("--squared-relu");
      else if (mlp->activation != Activation::GeLU)
        c.notes.push_back(std::string("activation ") + activation_name(mlp->activation) +
                          " has no Megatron-LM flag; GeLU is its default");
    }
    if (moe) {
      flag("--num-experts", std::to_string(moe->experts));
      flag("--moe-router-topk", std::to_string(moe->top_k));
      flag("--moe-ffn-hidden-size", std::to_string(moe->expert_ffn_hidden));
      if (moe->shared_experts > 0)
        flag("--moe-shared-expert-intermediate-size", std::to_string(moe->shared_experts * moe->shared_ffn_hidden));
    }
    if (first_component(*model, ComponentKind::Mamba))
      c.notes.push_back("a hybrid Mamba model: launch pretrain_mamba.py with --hybrid-override-pattern instead");
    if (head && !head->tied) flag("--untie-embeddings-and-output-weights");
    flag("--seq-length", std::to_string(model->seq_len));
    flag("--max-position-embeddings", std::to_string(model->seq_len));
    if (head) c.notes.push_back("vocabulary " + std::to_string(head->vocab) + ": comes from the tokenizer");
    flag(model->dtype == DType::FP16 ? "--fp16" : model->dtype == DType::BF16 ? "--bf16" : "--fp32");
    // Always written: Megatron-LM's defaults are 0.1 each, and the costs assumed the model's values.
    flag("--attention-dropout", number_text(model->attention_dropout));
    flag("--hidden-dropout", number_text(model->hidden_dropout));
  }
  for (const auto& n : pipe.notes)
    if (n.rfind("set --global-batch-size", 0) != 0) c.notes.push_back(n);  // we set it
  return c;
}

std::string format_megatron_command(const MegatronCommand& c) {
  std::ostringstream os;
  for (size_t i = 0; i < c.launcher.size(); ++i) os << (i ? " " : "") << c.launcher[i];
  for (const auto& [k, v] : c.flags) {
    os << " \\\n    " << k;
    if (!v.empty()) os << ' ' << (v.find_first_of("|()*, ") != std::string::npos ? "'" + v + "'" : v);
  }
  os << "\n";
  for (const auto& n : c.notes) os << "# " << n << "\n";
  return os.str();
}

TorchtitanKeys torchtitan_parallelism(const Plan& plan, long long seq_len) {
  TorchtitanKeys k;
  ParallelConfig p;
  if (plan.parallel) {
    p = *plan.parallel;
  } else {
    p.pp = plan.num_devices();
    p.microbatches = plan.num_microbatches;
    p.global_batch_size = plan.num_microbatches;
  }
  auto par = [&](const std::string& key, const std::string& v) { k.parallelism.push_back({key, v}); };
  const std::string dp = std::to_string(p.dp);
  if (p.zero == 0) {
    par("data_parallel_replicate_degree", dp);
    par("data_parallel_shard_degree", "1");
  } else {
    par("data_parallel_replicate_degree", "1");
    par("data_parallel_shard_degree", dp);
    if (p.zero < 3) {
      par("fsdp_reshard_after_forward", quote("never"));
      k.notes.push_back("torchtitan has no ZeRO-" + std::to_string(p.zero) +
                        "; FSDP without resharding after forward keeps the weights gathered like it (more weight "
                        "memory, no re-gather in backward)");
    } else {
      par("fsdp_reshard_after_forward", quote("always"));
    }
  }
  par("tensor_parallel_degree", std::to_string(p.tp));
  if (p.tp > 1 && !p.sequence_parallel)
    k.notes.push_back("torchtitan's tensor parallelism always shards the sequence (sequence parallel) in norms");
  par("pipeline_parallel_degree", std::to_string(p.pp));
  par("context_parallel_degree", std::to_string(p.cp));
  par("expert_parallel_degree", std::to_string(p.ep));
  par("pipeline_parallel_microbatch_size", std::to_string(p.micro_batch_size));
  // Schedule names torchtitan knows (torch.distributed.pipelining).
  std::string name;
  if (plan.name == "1f1b") name = "1F1B";
  else if (plan.name == "gpipe") name = "GPipe";
  else if (plan.name == "interleaved-1f1b-torch") name = "Interleaved1F1B";  // Megatron's order is not PyTorch's
  else if (plan.name == "looped-bfs") name = "LoopedBFS";
  else if (plan.name == "interleaved-zb") name = "InterleavedZeroBubble";
  else if (plan.name == "zb-v") name = "ZBVZeroBubble";
  else if (plan.name == "dualpipev") name = "DualPipeV";
  if (p.pp > 1) {
    if (!name.empty()) {
      par("pipeline_parallel_schedule", quote(name));
    } else {
      par("pipeline_parallel_schedule", quote("PipelineScheduleMulti"));
      par("pipeline_parallel_schedule_csv", quote(plan.name + ".csv"));
      k.notes.push_back("the plan's order ('" + plan.name + "') has no torchtitan name: write it with `adaptis export "
                        "--pytorch-csv " + plan.name + ".csv` and point pipeline_parallel_schedule_csv at it");
    }
    const int stages = plan.num_stages();
    const int layers = plan.partition.num_layers();
    bool even = true;
    for (int s = 1; s < stages; ++s) even = even && plan.partition.stage_size(s) == plan.partition.stage_size(0);
    if (even) par("pipeline_parallel_layers_per_stage", std::to_string(layers / std::max(1, stages)));
    else
      k.notes.push_back("uneven partition " + std::to_string(stages) +
                        " stages: give pipeline_parallel_split_points (the first layer of each stage after the first)");
  }
  // Batch: torchtitan's local batch is one data-parallel rank's sequences per iteration.
  k.training.push_back({"local_batch_size", std::to_string(1LL * p.micro_batch_size * p.microbatches)});
  k.training.push_back({"global_batch_size", std::to_string(p.global_batch_size)});
  if (seq_len > 0) k.training.push_back({"seq_len", std::to_string(seq_len)});
  const char* mode = p.recompute == Recompute::Full ? "full" : p.recompute == Recompute::Selective ? "selective" : "none";
  k.activation_checkpoint.push_back({"mode", quote(mode)});
  if (p.recompute == Recompute::Selective) k.activation_checkpoint.push_back({"selective_ac_option", quote("op")});
  return k;
}

std::string format_torchtitan_toml(const TorchtitanKeys& k) {
  std::ostringstream os;
  auto section = [&](const char* name, const std::vector<std::pair<std::string, std::string>>& kv) {
    os << "[" << name << "]\n";
    for (const auto& [key, v] : kv) os << key << " = " << v << "\n";
    os << "\n";
  };
  section("parallelism", k.parallelism);
  section("training", k.training);
  section("activation_checkpoint", k.activation_checkpoint);
  for (const auto& n : k.notes) os << "# " << n << "\n";
  return os.str();
}

}  // namespace adaptis
