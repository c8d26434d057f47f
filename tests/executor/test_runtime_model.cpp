// The device-thread runtime on the real layer math (every layer kind): for every built-in schedule and
// an irregular placement, the loss of each step, every gradient and the trained parameters are bitwise
// equal to the single-device reference trainer (same model, corpus and AdamW settings).
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/reference_trainer.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"
#include "runtime_test_support.h"
#include "tensor_map_test_support.h"

namespace adaptis::exec {
namespace {

// Embedding, Attention, Mlp, Moe, Mamba, Attention, Mlp, Moe, LmHead: 9 layers, enough for 8 stages.
NetConfig model() { return test::every_layer_kind_model("runtime-model-test", 99); }

std::vector<int32_t> corpus() { return test::bundled_corpus(); }

bool try_plan(const std::string& schedule, int devices, int m, int num_layers, Plan& out,
              const std::string& placement = "", std::string* why = nullptr) {
  try {
    PlanRequest req;
    req.schedule = schedule;
    req.devices = devices;
    req.microbatches = m;
    req.placement = placement;
    out = build_plan(req, num_layers);
    return true;
  } catch (const InputError& e) {
    if (why) *why = e.what();  // a size the schedule's own rule refuses
    return false;
  }
}

using test::TensorMap;
using test::by_name;
using test::expect_bitwise;

struct Reference {
  std::vector<double> loss;
  std::vector<std::vector<double>> mb_loss;
  std::vector<TensorMap> grads;
  TensorMap params;
};

Reference reference(const NetConfig& cfg, int m, int steps, const AdamW& opt) {
  ReferenceOptions ro;
  ro.steps = steps;
  ro.microbatches = m;
  ro.opt = opt;
  ro.corpus = corpus();
  Reference r;
  ReferenceRun run = train_reference(cfg, ro, [&](int, const StageCompute& s) { r.grads.push_back(by_name(s, s.grads())); });
  for (const auto& s : run.steps) {
    r.loss.push_back(s.loss);
    r.mb_loss.push_back(s.microbatch_loss);
  }
  r.params = by_name(*run.model, run.model->params());
  return r;
}

void expect_plan_matches(const Plan& plan, const NetConfig& cfg, const Reference& ref, int steps, const AdamW& opt) {
  RuntimeOptions ro;
  ro.optimizer = opt;
  PipelineRuntime rt(lower_plan(plan), real_stage_factory(cfg), make_mailbox_transport(plan.num_devices()), ro);
  const DataSource data = model_data(cfg, corpus());
  for (int step = 0; step < steps; ++step) {
    StepResult r = rt.run_step(step, data);
    EXPECT_EQ(r.loss, ref.loss[step]) << plan.name << " step " << step;
    EXPECT_EQ(r.mb_losses, ref.mb_loss[step]) << plan.name << " step " << step;
    expect_bitwise(by_name(rt.grads()), ref.grads[step], plan.name + " grads step " + std::to_string(step));
  }
  expect_bitwise(by_name(rt.params()), ref.params, plan.name + " params");
}

TEST(RuntimeRealModel, EveryBuiltInScheduleMatchesReferenceTrainerBitwise) {
  const NetConfig cfg = model();
  AdamW opt;
  opt.lr = 0.01f;
  const int steps = 2;
  std::map<int, Reference> refs;  // by micro-batch count
  std::set<std::string> ran;
  std::map<std::string, std::string> refused;  // schedule -> why its last size was refused
  for (const auto& info : all_schedules())
    for (auto [devices, m] : {std::pair{2, 4}, std::pair{4, 8}}) {
      Plan plan;
      std::string why;
      if (!try_plan(info.name, devices, m, cfg.num_layers(), plan, "", &why)) {
        refused[info.name] = why;
        continue;
      }
      SCOPED_TRACE(std::string(info.name) + " p=" + std::to_string(devices) + " m=" + std::to_string(m));
      if (!refs.count(m)) refs[m] = reference(cfg, m, steps, opt);
      expect_plan_matches(plan, cfg, refs[m], steps, opt);
      ran.insert(info.name);
    }
  // Every built-in schedule ran on at least one size: none is skipped silently.
  for (const auto& info : all_schedules())
    EXPECT_TRUE(ran.count(info.name)) << info.name << " ran on no size; last refusal: " << refused[info.name];
}

TEST(RuntimeRealModel, IrregularPlacementAndUnevenPartitionMatchBitwise) {
  const NetConfig cfg = model();
  AdamW opt;
  Plan plan;
  ASSERT_TRUE(try_plan("1f1b", 4, 6, cfg.num_layers(), plan, "2|0|3|1"));
  plan.partition = Partition::from_sizes({1, 4, 1, 3});  // the embedding alone, a wide middle
  expect_plan_matches(plan, cfg, reference(cfg, 6, 2, opt), 2, opt);
}

TEST(RuntimeRealModel, TinyLlamaSampleRunsAndRecordsEveryInstruction) {
  const NetConfig cfg = load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  Plan plan;
  ASSERT_TRUE(try_plan("zb-h1", 2, 4, cfg.num_layers(), plan));
  AdamW opt;
  Reference ref = reference(cfg, 4, 1, opt);
  RuntimeOptions ro;
  Program prog = lower_plan(plan);
  PipelineRuntime rt(prog, real_stage_factory(cfg), make_mailbox_transport(2), ro);
  StepResult r = rt.run_step(0, model_data(cfg, corpus()));
  EXPECT_EQ(r.loss, ref.loss[0]);
  for (int d = 0; d < 2; ++d) {
    ASSERT_EQ(r.intervals[d].size(), prog.devices[d].size());
    for (size_t i = 0; i < prog.devices[d].size(); ++i) {
      const Interval& iv = r.intervals[d][i];
      EXPECT_LE(iv.start_ns, iv.end_ns);
      // The thread's CPU time: some for every compute, never (beyond clock-reading slack) more than wall time.
      if (prog.devices[d][i].kind == InstrKind::Compute) {
        EXPECT_GT(iv.cpu_ns, 0);
      }
      EXPECT_LE(iv.cpu_ns, iv.end_ns - iv.start_ns + 200000) << prog.devices[d][i].to_string();
    }
    EXPECT_GT(r.peak_activation_bytes[d], 0u);
  }
  EXPECT_EQ(checksum_hex(tensor_checksum(rt.grads())).size(), 16u);
}

}  // namespace
}  // namespace adaptis::exec
