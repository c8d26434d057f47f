// The CPU profile's memory figures per recompute policy, and the executor's measured peak of saved
// activations against the simulator's prediction on that profile (a profiler test: it profiles, then runs).
#include <gtest/gtest.h>

#include <string>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/executor/unit_data.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/profiler/cpu_profiler.h"

namespace adaptis::exec {
namespace {

StageMemoryPolicy policy(Recompute r, int full_layers = 0) {
  StageMemoryPolicy p;
  p.recompute = r;
  p.full_layers = full_layers;
  return p;
}

std::vector<int32_t> corpus() { return load_text_corpus(bundled_corpus_path(ADAPTIS_SOURCE_DIR)); }

// The simulator's peak of saved activations on CPU-profile costs is what the executor measures.
TEST(ProfiledMemory, MeasuredPeakMatchesThePredictionWithinFivePercent) {
  const NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  prof::CpuProfileOptions po;
  po.repeats = 1;
  po.warmup = 0;
  const CostTable costs = prof::profile_cpu(cfg, po);
  // The profile records what each policy keeps.
  for (const LayerCost& l : costs.layers) {
    ASSERT_GE(l.kept_selective_bytes, 0) << l.name;
    ASSERT_GE(l.kept_full_bytes, 0) << l.name;
    EXPECT_LE(l.kept_selective_bytes, l.act_b_bytes + l.act_w_bytes) << l.name;
    EXPECT_LE(l.kept_full_bytes, l.act_b_bytes + l.act_w_bytes) << l.name;
    if (l.kind == "transformer") {
      EXPECT_LT(l.kept_selective_bytes, l.act_b_bytes + l.act_w_bytes) << l.name;  // the MLP's internals dropped
      EXPECT_GT(l.recompute_selective_ms, 0) << l.name;
    }
  }
  const LayerUnits units = plan_layer_units(cfg, false);
  for (const std::string sched : {"1f1b", "zb-h1", "interleaved-1f1b"})
    for (const auto& p : {StageMemoryPolicy{}, policy(Recompute::Selective), policy(Recompute::Full), policy(Recompute::Full, 1)}) {
      PlanRequest req;
      req.schedule = sched;
      req.devices = 2;
      req.microbatches = 6;
      Plan plan = build_plan(req, units.count());
      set_uniform_memory_policy(plan, p);
      const SimResult sim = simulate(plan, costs, cpu_thread_cluster(2), cpu_sim_options());
      PipelineRuntime rt(map_program_layers(lower_plan(plan), units.bounds), real_stage_factory(cfg),
                         make_mailbox_transport(2));
      const StepResult r = rt.run_step(0, model_data(cfg, corpus()));
      for (int d = 0; d < 2; ++d) {
        const double predicted = sim.devices[d].peak_activation_bytes;
        const double measured = static_cast<double>(r.peak_saved_bytes[d]);
        EXPECT_NEAR(measured, predicted, 0.05 * predicted)
            << sched << " " << describe(p) << " device " << d << ": measured " << measured << " predicted " << predicted;
      }
    }
}

// Packed units of half a micro-batch buffer (64 tokens): the prediction scales each stage's bytes by the
// unit's tokens, so what a recomputed stage keeps from F to R must be the unit's own input, not the whole
// buffer. The last stage (blocks and the LM head) kept a whole buffer per unit under full recompute and
// measured 20-40% above the prediction; the first stage keeps no input (the tokens are its data).
TEST(ProfiledMemory, PackedUnitsMeasuredPeakMatchesThePredictionOnEveryStage) {
  const NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  ASSERT_EQ(cfg.micro_batch * cfg.seq, 64);
  prof::CpuProfileOptions po;
  po.repeats = 1;
  po.warmup = 0;
  CostTable costs = prof::profile_cpu(cfg, po);
  costs.tokens_per_microbatch = double(cfg.micro_batch) * cfg.seq;  // the reference the profile timed
  costs.pairs_per_microbatch = double(cfg.micro_batch) * cfg.seq * cfg.seq / 2;
  auto unit = [](std::vector<long long> docs) {
    WorkUnit u;
    u.docs = std::move(docs);
    return u;
  };
  // A document of 26 to 32 tokens each, half the buffer: about as many causal pairs per token as the reference
  // rows of 32 (the attention's probabilities grow with pairs, which the per-unit bytes do not model).
  const std::vector<WorkUnit> us = {unit({32}), unit({30}), unit({32}), unit({28}),
                                    unit({32}), unit({26}), unit({32}), unit({31})};
  const LayerUnits layers = plan_layer_units(cfg, false);
  for (const std::string sched : {"gpipe", "1f1b"})
    for (const auto& p : {StageMemoryPolicy{}, policy(Recompute::Selective), policy(Recompute::Full)}) {
      PlanRequest req;
      req.schedule = sched;
      req.devices = 2;
      req.units = us;
      Plan plan = build_plan(req, layers.count());
      ASSERT_EQ(plan.num_stages(), 2);
      set_uniform_memory_policy(plan, p);
      const SimResult sim = simulate(plan, costs, cpu_thread_cluster(2), cpu_sim_options());
      ASSERT_TRUE(sim.ok) << sim.error;
      PipelineRuntime rt(map_program_layers(lower_plan(plan), layers.bounds), real_stage_factory(cfg),
                         make_mailbox_transport(2));
      const StepResult r = rt.run_step(0, unit_data(cfg, corpus(), us));
      for (int d = 0; d < 2; ++d) {
        const double predicted = sim.devices[d].peak_activation_bytes;
        const double measured = static_cast<double>(r.peak_saved_bytes[d]);
        EXPECT_NEAR(measured, predicted, 0.05 * measured)
            << sched << " " << describe(p) << " device " << d << ": measured " << measured << " predicted " << predicted;
      }
    }
}

// kv_bytes, measured by the stage's own accounting, is what the model's dims say: per attention layer of a
// row, the reference micro-batch's tokens times kv_heads * head_dim, keys and values, fp32; 0 for rows
// without attention. Blocks whole and split, and with grouped-query attention (kv_heads < heads).
TEST(ProfiledMemory, KeysAndValuesARecomputedSliceKeepsAreMeasuredPerRow) {
  NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  prof::CpuProfileOptions po;
  po.repeats = 1;
  po.warmup = 0;
  NetConfig gqa = cfg;
  gqa.kv_heads = cfg.heads / 2;
  ASSERT_GE(gqa.kv_heads, 1);
  for (const NetConfig& c : {cfg, gqa})
    for (const bool split : {false, true}) {
      SCOPED_TRACE("kv_heads " + std::to_string(c.kv_heads) + (split ? ", blocks split" : ", blocks whole"));
      po.split_blocks = split;
      const CostTable costs = prof::profile_cpu(c, po);
      const LayerUnits units = plan_layer_units(c, split);
      ASSERT_EQ(costs.num_layers(), units.count());
      const double per_layer =
          double(c.micro_batch) * c.seq * c.kv_heads * c.head_dim() * 2 * double(sizeof(float));
      int with_attention = 0;
      for (int i = 0; i < units.count(); ++i) {
        int attention = 0;
        for (int l = units.bounds[size_t(i)]; l < units.bounds[size_t(i) + 1]; ++l)
          attention += c.layers[size_t(l)] == LayerType::Attention;
        with_attention += attention > 0;
        EXPECT_EQ(costs.layers[size_t(i)].kv_bytes, attention * per_layer) << costs.layers[size_t(i)].name;
      }
      EXPECT_EQ(with_attention, 4);  // tiny-llama's four transformer blocks
    }
}

}  // namespace
}  // namespace adaptis::exec
