// The CPU executor's size limits (run_limits.h) and the divergence check of execute_run: the estimate
// grows with what the executor allocates and bounds what a real run holds, a run over the cap or over
// the machine's available memory is refused before anything is allocated, and a step whose loss,
// gradients or parameters become inf/nan stops the run naming the step and the device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/run_limits.h"
#include "adaptis/executor/run_session.h"
#include "adaptis/planner/plan_builder.h"

namespace adaptis::exec {
namespace {

NetConfig blocks(int n) {
  std::vector<LayerType> layers;
  for (int i = 0; i < n; ++i) {
    layers.push_back(LayerType::Attention);
    layers.push_back(LayerType::Mlp);
  }
  return make_net_config(layers);
}

TEST(RunLimits, EstimateGrowsWithLayersAndMicrobatches) {
  const RunMemoryEstimate small = estimate_cpu_run_memory(blocks(2), 4);
  const RunMemoryEstimate deep = estimate_cpu_run_memory(blocks(20), 4);
  const RunMemoryEstimate more_mb = estimate_cpu_run_memory(blocks(2), 16);
  EXPECT_EQ(small.params, net_config_param_count(blocks(2)));
  EXPECT_EQ(small.state_bytes, 16 * small.params);  // fp32 parameter, gradient and two AdamW moments
  EXPECT_GT(deep.total_bytes(), 5 * small.total_bytes());
  EXPECT_EQ(more_mb.state_bytes, small.state_bytes);
  EXPECT_EQ(more_mb.activation_bytes, 4 * small.activation_bytes);
}

TEST(RunLimits, EstimateBoundsTheActivationsARealRunHolds) {
  const NetConfig cfg = blocks(3);
  PlanRequest req;
  req.schedule = "gpipe";  // every micro-batch's activations live at once: the most a schedule holds
  req.devices = 2;
  req.microbatches = 4;
  const Plan plan = build_plan(req, cfg.num_layers());
  const Program program = lower_plan(plan);
  auto backend = make_cpu_run_backend(program, cfg);
  const StepResult r = backend->run_step(0, model_data(cfg));
  size_t measured = 0;
  for (size_t b : r.peak_activation_bytes) measured += b;
  const RunMemoryEstimate e = estimate_cpu_run_memory(cfg, 4);
  EXPECT_GT(measured, 0u);
  EXPECT_GE(static_cast<double>(e.activation_bytes), static_cast<double>(measured));
  EXPECT_LE(static_cast<double>(e.activation_bytes), 4.0 * static_cast<double>(measured));  // and is not absurd
}

TEST(RunLimits, OversizedRunsAreRefusedByField) {
  const NetConfig cfg = blocks(2);
  EXPECT_NO_THROW(check_cpu_run_size(cfg, 8, 4, 0));
  try {
    check_cpu_run_size(cfg, 8, CpuRunLimits::kMaxDevices + 1, 0);
    FAIL();
  } catch (const RunTooLarge& e) {
    EXPECT_EQ(e.field, RunSizeField::Devices);
    EXPECT_NE(e.detail.find("device threads"), std::string::npos) << e.detail;
  }
  // Available memory below the estimate: refused, saying so.
  const int64_t need = estimate_cpu_run_memory(cfg, 8).total_bytes();
  try {
    check_cpu_run_size(cfg, 8, 4, need / 2);
    FAIL();
  } catch (const RunTooLarge& e) {
    EXPECT_EQ(e.field, RunSizeField::Memory);
    EXPECT_NE(e.detail.find("available memory"), std::string::npos) << e.detail;
  }
  // Above the cap whatever the machine has.
  NetConfig wide = blocks(2);
  wide.seq = 4096;
  wide.micro_batch = 64;
  try {
    check_cpu_run_size(wide, 64, 4, int64_t{1} << 50);
    FAIL();
  } catch (const RunTooLarge& e) {
    EXPECT_EQ(e.field, RunSizeField::Memory);
    EXPECT_NE(e.detail.find("limit of 8.00 GiB"), std::string::npos) << e.detail;
  }
}

// A backend whose step `bad_step` produces a non-finite loss on micro-batch 1, gradient or parameter.
class FakeBackend final : public RunBackend {
 public:
  enum class What { Loss, Grad, Param };
  FakeBackend(int bad_step, What what) : bad_step_(bad_step), what_(what) {}
  std::string name() const override { return "fake"; }
  std::string device_name(int d) const override { return "fake-" + std::to_string(d); }
  StepResult run_step(int step, const DataSource&) override {
    StepResult r;
    r.step = step;
    r.mb_losses = {2.0, 2.0};
    poisoned_ = step == bad_step_;
    if (poisoned_ && what_ == What::Loss) r.mb_losses[1] = std::numeric_limits<double>::quiet_NaN();
    r.loss = 0.5 * (r.mb_losses[0] + r.mb_losses[1]);
    return r;
  }
  std::vector<NamedTensor> grads() const override { return tensors(what_ == What::Grad); }
  std::vector<NamedTensor> params() const override { return tensors(what_ == What::Param); }

 private:
  std::vector<NamedTensor> tensors(bool poison) const {
    values_ = {1.0f, 2.0f, 3.0f};
    if (poisoned_ && poison) values_[2] = std::numeric_limits<float>::infinity();
    return {{"layers.3.mlp.w_up", std::span<const float>(values_)}};
  }
  int bad_step_;
  What what_;
  bool poisoned_ = false;
  mutable std::vector<float> values_;
};

TEST(RunLimits, NonFiniteStepsStopTheRunNamingStepAndDevice) {
  PlanRequest req;
  req.devices = 2;
  req.microbatches = 2;
  const Program program = lower_plan(build_plan(req, 6));  // layers 3..5 on device 1
  const DataSource data = [](int, int) { return MicroBatchData{}; };
  struct Case {
    FakeBackend::What what;
    std::string needle;
  };
  for (const Case& c : {Case{FakeBackend::What::Loss, "the loss of micro-batch 1 is nan (computed on device 1"},
                        Case{FakeBackend::What::Grad, "a gradient is not finite: layers.3.mlp.w_up[2] = inf on device 1"},
                        Case{FakeBackend::What::Param, "made a parameter non-finite: layers.3.mlp.w_up[2]"}}) {
    FakeBackend backend(2, c.what);
    std::vector<int> seen;
    try {
      execute_run(backend, program, 5, data, nullptr, RunInfo{}, [&](const RecordedStep& s) { seen.push_back(s.result.step); });
      FAIL() << c.needle;
    } catch (const TrainingDiverged& e) {
      EXPECT_NE(std::string(e.what()).find("training diverged at step 2: "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
    EXPECT_EQ(seen, (std::vector<int>{0, 1}));  // the diverged step is not reported as a step
  }
}

}  // namespace
}  // namespace adaptis::exec
