// The whole-cluster search: it ranks fitting configurations by speed, is never slower than any single
// configuration evaluated the same way (so its lower-bound pruning is safe), repeats itself for a seed
// and budget, stops on cancel with its best so far, rejects bad inputs by flag; and the Megatron-LM /
// torchtitan exports carry every degree of the chosen configuration.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/planner/parallel_exports.h"
#include "adaptis/planner/memory_policy.h"


namespace adaptis {
namespace {

const std::string kSamples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";

void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (const auto& frag : fragments) EXPECT_NE(msg.find(frag), std::string::npos) << "missing '" << frag << "' in: " << msg;
  }
}

ClusterSearchOptions small_search() {
  ClusterSearchOptions o;
  o.global_batch_tokens = 64LL * 4096;  // 64 sequences
  o.evaluations = 150;
  o.optimize_top = 1;
  o.threads = 1;
  return o;
}

TEST(ClusterSearch, RanksFittingConfigurationsFastestFirst) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchResult r = search_cluster_plans(m, c, small_search());
  ASSERT_TRUE(r.feasible) << r.message;
  ASSERT_FALSE(r.ranked.empty());
  EXPECT_EQ(r.gpus, 8);
  EXPECT_EQ(r.global_batch, 64);
  EXPECT_GT(r.enumerated, 20);
  EXPECT_GT(r.invalid + r.over_memory + r.pruned, 0) << "the search prunes";
  for (size_t i = 0; i < r.ranked.size(); ++i) {
    const ClusterCandidate& x = r.ranked[i];
    EXPECT_TRUE(x.fits);
    EXPECT_EQ(x.config.gpus(), 8);
    EXPECT_EQ(x.config.global_batch_size, 64);
    EXPECT_LE(x.peak_memory_bytes, x.memory_limit_bytes);
    EXPECT_GE(x.iteration_ms, x.lower_bound_ms * (1 - 1e-9)) << describe(x.config);
    EXPECT_NEAR(x.tokens_per_s, 64.0 * 4096 / (x.iteration_ms * 1e-3), 1e-6 * x.tokens_per_s);
    ASSERT_TRUE(x.plan.parallel.has_value());
    EXPECT_EQ(*x.plan.parallel, x.config);
    if (i) {
      EXPECT_LE(r.ranked[i - 1].iteration_ms, x.iteration_ms);
    }
  }
  EXPECT_EQ(describe(r.best.config), describe(r.ranked.front().config));
  // The best plan's full simulation carries the collectives and the metrics of the table row.
  ASSERT_TRUE(r.best_sim.ok);
  EXPECT_TRUE(r.best_sim.has_parallel);
  EXPECT_NEAR(r.best_sim.iteration_ms, r.best.iteration_ms, 1e-9 * r.best.iteration_ms);
}

TEST(ClusterSearch, NeverSlowerThanAnyConfigurationEvaluatedAlike) {
  // Pruning by the lower bound must not lose a faster configuration: every configuration evaluated
  // on its own (built-in schedules, same cost model) is no faster than the search's best.
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchResult r = search_cluster_plans(m, c, small_search());
  ASSERT_TRUE(r.feasible);
  auto cfg = [](int pp, int tp, int dp, int mbs, int zero, Recompute rc) {
    ParallelConfig p;
    p.pp = pp, p.tp = tp, p.dp = dp, p.micro_batch_size = mbs, p.zero = zero;
    p.distributed_optimizer = zero == 1;
    p.sequence_parallel = tp > 1;
    p.microbatches = 64 / (dp * mbs);
    p.global_batch_size = 64;
    p.recompute = rc;
    return p;
  };
  for (const ParallelConfig& p : {cfg(1, 8, 1, 1, 0, Recompute::None), cfg(2, 4, 1, 2, 0, Recompute::Selective),
                                  cfg(4, 2, 1, 1, 0, Recompute::None), cfg(1, 2, 4, 1, 1, Recompute::Full),
                                  cfg(8, 1, 1, 1, 0, Recompute::None)}) {
    ClusterCandidate x = evaluate_cluster_config(m, c, p);
    if (!x.fits) continue;
    EXPECT_LE(r.best.iteration_ms, x.iteration_ms * (1 + 1e-9)) << describe(p);
  }
}

TEST(ClusterSearch, SameSeedAndBudgetSameRanking) {
  const ModelSpec m = load_model_spec(kSamples + "/models/nemotron-h-8b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchOptions o = small_search();
  o.global_batch_tokens = 32LL * 8192;
  ClusterSearchResult a = search_cluster_plans(m, c, o);
  o.threads = 2;  // the optimizer's thread count does not change its result
  ClusterSearchResult b = search_cluster_plans(m, c, o);
  ASSERT_EQ(a.ranked.size(), b.ranked.size());
  for (size_t i = 0; i < a.ranked.size(); ++i) {
    EXPECT_EQ(a.ranked[i].config, b.ranked[i].config) << i;
    EXPECT_EQ(a.ranked[i].iteration_ms, b.ranked[i].iteration_ms) << i;
    EXPECT_EQ(a.ranked[i].schedule, b.ranked[i].schedule) << i;
  }
}

TEST(ClusterSearch, CancelKeepsTheBestSoFar) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  std::atomic<bool> cancel{false};
  int calls = 0;
  ClusterSearchResult r = search_cluster_plans(m, c, small_search(), [&](const ClusterSearchProgress& p) {
    ++calls;
    EXPECT_GE(p.fraction, 0.0);
    EXPECT_LE(p.fraction, 1.0);
    if (p.phase == "simulate" && p.done >= 3) cancel = true;
  }, &cancel);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.stopped_by, "cancelled");
  EXPECT_GT(calls, 0);
  EXPECT_NE(r.message.find("cancelled"), std::string::npos);
  if (r.feasible) {
    EXPECT_TRUE(r.best.fits);
  }
}

TEST(ClusterSearch, BadInputsNameTheirField) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchOptions o = small_search();
  o.global_batch_tokens = 1000;
  expect_input_error([&] { search_cluster_plans(m, c, o); }, {"global_batch_tokens: ", "1000", "4096"});
  o = small_search();
  o.global_batch_tokens = 0;
  expect_input_error([&] { search_cluster_plans(m, c, o); }, {"global_batch_tokens: "});
  o = small_search();
  o.gpus = 16;
  expect_input_error([&] { search_cluster_plans(m, c, o); }, {"gpus: ", "16", "8"});
  o = small_search();
  o.tp = {16};
  expect_input_error([&] { search_cluster_plans(m, c, o); }, {"tp: ", "16"});
  o = small_search();
  o.global_batch_tokens = 3LL * 4096;  // 3 sequences over dp 8, 4 or 2 (tp 1, pp 1): none divides the batch
  o.tp = {1};
  o.pp = {1};
  expect_input_error([&] { search_cluster_plans(m, c, o); }, {"no parallel configuration", "8 GPUs", "3 sequences"});
}

TEST(ClusterSearch, NothingFitsIsReportedWithTheClosest) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchOptions o = small_search();
  o.gpus = 1;  // 7B parameters x 18 bytes on one 80 GB GPU
  o.zero_levels = {0};
  ClusterSearchResult r = search_cluster_plans(m, c, o);
  EXPECT_FALSE(r.feasible);
  EXPECT_TRUE(r.ranked.empty());
  EXPECT_NE(r.message.find("no configuration fits"), std::string::npos) << r.message;
}

TEST(ParallelExports, MegatronCommandAndTorchtitanKeysCarryEveryDegree) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/h100-64nodes.json");
  ParallelConfig p;
  p.pp = 4, p.tp = 8, p.dp = 8, p.cp = 2;
  p.zero = 1;
  p.distributed_optimizer = true;
  p.sequence_parallel = true;
  p.micro_batch_size = 2;
  p.microbatches = 16;
  p.global_batch_size = 2 * 16 * 8;
  p.recompute = Recompute::Full;
  CostTable costs = parallel_costs(m, c, p);
  PlanRequest req;
  req.schedule = "interleaved-1f1b";
  req.devices = 4;
  req.microbatches = 16;
  Plan plan = build_plan(req, costs.num_layers());
  plan.parallel = p;
  MegatronCommand cmd = megatron_command(plan, costs, &m, &c.topology);
  const std::string text = format_megatron_command(cmd);
  for (const char* want : {"torchrun --nnodes 64 --nproc-per-node 8 pretrain_gpt.py", "--tensor-model-parallel-size 8",
                           "--pipeline-model-parallel-size 4", "--context-parallel-size 2", "--sequence-parallel",
                           "--use-distributed-optimizer", "--micro-batch-size 2", "--global-batch-size 256",
                           "--recompute-granularity full", "--recompute-method uniform", "--overlap-grad-reduce",
                           "--overlap-param-gather", "--hidden-size 4096", "--num-attention-heads 32", "--swiglu",
                           "--seq-length 4096", "--untie-embeddings-and-output-weights", "--bf16",
                           "--attention-dropout 0 ", "--hidden-dropout 0"})
    EXPECT_NE(text.find(want), std::string::npos) << "missing '" << want << "' in:\n" << text;
  ModelSpec with_dropout = m;  // Megatron-LM's own defaults
  with_dropout.attention_dropout = 0.1;
  with_dropout.hidden_dropout = 0.1;
  const std::string dropout_text = format_megatron_command(megatron_command(plan, costs, &with_dropout, &c.topology));
  EXPECT_NE(dropout_text.find("--attention-dropout 0.1 "), std::string::npos) << dropout_text;
  EXPECT_NE(dropout_text.find("--hidden-dropout 0.1"), std::string::npos) << dropout_text;
  EXPECT_TRUE(text.find("--num-virtual-stages-per-pipeline-rank 2") != std::string::npos ||
              text.find("--pipeline-model-parallel-layout") != std::string::npos)
      << text;

  TorchtitanKeys k = torchtitan_parallelism(plan, m.seq_len);
  const std::string toml = format_torchtitan_toml(k);
  for (const char* want : {"[parallelism]", "tensor_parallel_degree = 8", "pipeline_parallel_degree = 4",
                           "context_parallel_degree = 2", "data_parallel_shard_degree = 8",
                           "data_parallel_replicate_degree = 1", "pipeline_parallel_microbatch_size = 2",
                           "local_batch_size = 32", "global_batch_size = 256", "seq_len = 4096", "mode = \"full\"",
                           "pipeline_parallel_schedule_csv"})
    EXPECT_NE(toml.find(want), std::string::npos) << "missing '" << want << "' in:\n" << toml;
  // ZeRO 0 is plain DDP in torchtitan.
  plan.parallel->zero = 0;
  plan.parallel->distributed_optimizer = false;
  const std::string ddp = format_torchtitan_toml(torchtitan_parallelism(plan));
  EXPECT_NE(ddp.find("data_parallel_replicate_degree = 8"), std::string::npos) << ddp;
  EXPECT_NE(ddp.find("data_parallel_shard_degree = 1"), std::string::npos) << ddp;
}

}  // namespace
}  // namespace adaptis

namespace adaptis {
namespace {

// A configuration that only fits by recomputing: with per-stage memory the search also plans it without
// the uniform recompute, the pipeline optimizer recomputing only the stages that need it, and keeps that
// plan when it fits and is faster (never slower than the uniform one).
TEST(ClusterSearch, PerStageRecomputeBeatsUniformRecomputeWhenOnlySomeStagesNeedIt) {
  const ModelSpec m = load_model_spec(kSamples + "/models/llama-2-7b.json");
  const Cluster c = load_cluster(kSamples + "/clusters/dgx-h100.json");
  ClusterSearchOptions o = small_search();
  o.global_batch_tokens = 1048576;
  o.pp = {8};
  o.tp = {1};
  o.cp = {1};
  o.zero_levels = {0};
  o.micro_batch_sizes = {8};
  o.evaluations = 400;
  o.per_stage_memory = false;
  const ClusterSearchResult uniform = search_cluster_plans(m, c, o);
  o.per_stage_memory = true;
  const ClusterSearchResult per_stage = search_cluster_plans(m, c, o);
  ASSERT_TRUE(uniform.feasible) << uniform.message;
  ASSERT_TRUE(per_stage.feasible) << per_stage.message;
  // Micro-batches of 8 sequences only fit by recomputing...
  EXPECT_NE(uniform.best.config.recompute, Recompute::None) << describe(uniform.best.config);
  // ...but not on every stage: the last stages hold few micro-batches in flight.
  const ClusterCandidate& b = per_stage.best;
  EXPECT_TRUE(b.fits);
  EXPECT_EQ(b.config.recompute, Recompute::None) << describe(b.config);
  ASSERT_EQ(b.plan.memory.size(), static_cast<size_t>(b.plan.num_stages())) << b.schedule;
  int recomputing = 0;
  for (const StageMemoryPolicy& p : b.plan.memory) recomputing += recomputes(p) ? 1 : 0;
  EXPECT_GT(recomputing, 0) << b.schedule;
  EXPECT_LT(recomputing, b.plan.num_stages()) << b.schedule;
  EXPECT_NE(b.schedule.find("recompute stages"), std::string::npos) << b.schedule;
  EXPECT_LT(b.iteration_ms, uniform.best.iteration_ms) << b.schedule << " vs " << uniform.best.schedule;
  EXPECT_GT(b.recompute_ms, 0);
  EXPECT_TRUE(validate_plan(b.plan, b.plan.partition.num_layers()).ok()) << validate_plan(b.plan, b.plan.partition.num_layers()).message();
  // The full simulation of the chosen plan agrees with its row.
  ASSERT_TRUE(per_stage.best_sim.ok);
  EXPECT_FALSE(per_stage.best_sim.oom);
  EXPECT_NEAR(per_stage.best_sim.iteration_ms, b.iteration_ms, 1e-9 * b.iteration_ms);
}

}  // namespace
}  // namespace adaptis
