// The GPU backends' behaviour on machines without a usable GPU (and in builds without CUDA): every entry
// point refuses with one message naming why, nothing crashes, and the pure option checks work anywhere.
#include <gtest/gtest.h>

#include <string>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"

using namespace adaptis;
using namespace adaptis::exec;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

Program tiny_program(int devices, int m) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = devices;
  req.microbatches = m;
  return lower_plan(build_plan(req, make_net_config({LayerType::Attention, LayerType::Mlp}).num_layers()));
}

}  // namespace

TEST(GpuAvailability, ReasonNamesTheCauseWhenThereIsNoGpu) {
  std::string why = "unchanged";
  const bool ok = gpu_available(&why);
  if (ok) {
    EXPECT_TRUE(built_with_cuda());
    EXPECT_TRUE(why.empty()) << why;
    GTEST_SKIP() << "a GPU is present; the no-GPU message is not observable here";
  }
  if (built_with_cuda())
    EXPECT_TRUE(contains(why, "no CUDA device")) << why;
  else
    EXPECT_EQ(why, "this adaptis was built without CUDA");
  EXPECT_FALSE(gpu_available(nullptr));  // the null pointer form works too
}

TEST(GpuAvailability, EveryEntryPointRefusesWithTheReason) {
  std::string why;
  if (gpu_available(&why)) GTEST_SKIP() << "a GPU is present";
  const NetConfig cfg = make_net_config({LayerType::Attention, LayerType::Mlp});
  auto expect_refusal = [&](auto&& call, const std::string& what) {
    try {
      call();
      ADD_FAILURE() << what << ": no error without a GPU";
    } catch (const InputError& e) {
      EXPECT_TRUE(contains(e.what(), why)) << what << ": '" << e.what() << "' does not say '" << why << "'";
    }
  };
  expect_refusal([&] { make_gpu_stage(cfg, 0, 2, 1); }, "make_gpu_stage");
  expect_refusal([&] { gpu_stage_factory(cfg)(0, 2, 1); }, "gpu_stage_factory");
  expect_refusal([&] { GpuPipelineRuntime rt(tiny_program(2, 4), cfg); }, "GpuPipelineRuntime");
  GpuRunOptions nccl;
  nccl.backend = GpuBackend::Nccl;
  expect_refusal([&] { GpuPipelineRuntime rt(tiny_program(2, 4), cfg, nccl); }, "GpuPipelineRuntime nccl");
  if (!built_with_cuda()) {
    expect_refusal([&] { list_gpus(); }, "list_gpus");
    expect_refusal([&] { nccl_unique_id_hex(); }, "nccl_unique_id_hex");
  } else {
    EXPECT_TRUE(list_gpus().empty());
  }
}

TEST(GpuOptions, PrecisionNamesRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(parse_gpu_precision("fp32"), GpuPrecision::Fp32);
  EXPECT_EQ(parse_gpu_precision("BF16"), GpuPrecision::Bf16);
  EXPECT_EQ(parse_gpu_precision("bfloat16"), GpuPrecision::Bf16);
  for (GpuPrecision p : {GpuPrecision::Fp32, GpuPrecision::Bf16}) EXPECT_EQ(parse_gpu_precision(gpu_precision_name(p)), p);
  try {
    parse_gpu_precision("fp8");
    ADD_FAILURE() << "fp8 accepted";
  } catch (const InputError& e) {
    EXPECT_EQ(e.field(), "precision") << e.what();
    EXPECT_TRUE(contains(e.what(), "fp8")) << e.what();
  }
  // bf16 is the looser mode, and both are meaningful tolerances.
  const GpuTolerance f = gpu_reference_tolerance(GpuPrecision::Fp32), b = gpu_reference_tolerance(GpuPrecision::Bf16);
  EXPECT_GT(f.rtol, 0);
  EXPECT_LT(f.rtol, b.rtol);
  EXPECT_LE(b.rtol, 5e-2);
}

TEST(GpuOptions, RunOptionsAreValidatedWithoutAGpu) {
  // "" when refused on `field` (the GpuRunOptions member at fault), else what happened.
  auto refused = [](const GpuRunOptions& o, int devices, const std::string& field) {
    try {
      validate_gpu_run_options(o, devices);
      return std::string("accepted");
    } catch (const InputError& e) {
      return e.field() == field ? std::string() : "field '" + e.field() + "': " + e.what();
    }
  };
  GpuRunOptions ok;
  EXPECT_NO_THROW(validate_gpu_run_options(ok, 4));
  GpuRunOptions o = ok;
  o.sms_per_device = -1;
  EXPECT_EQ(refused(o, 4, "sms_per_device"), "");
  o = ok;
  o.sms_per_device = 16;  // without green contexts
  EXPECT_EQ(refused(o, 4, "sms_per_device"), "");
  o = ok;
  o.backend = GpuBackend::Nccl;
  o.gpus = {0, 1};
  EXPECT_EQ(refused(o, 4, "gpus"), "");  // wrong length
  o.gpus = {0, 1, 1, 2};
  EXPECT_EQ(refused(o, 4, "gpus"), "");  // one rank per GPU
  o.gpus = {0, 1, 2, 3};
  EXPECT_NO_THROW(validate_gpu_run_options(o, 4));
  o.green_contexts = true;
  EXPECT_EQ(refused(o, 4, "green_contexts"), "");
  o = ok;
  o.watchdog_ms = 0;
  EXPECT_EQ(refused(o, 4, "watchdog_ms"), "");
  EXPECT_EQ(std::string(gpu_backend_name(GpuBackend::VirtualDevices)), "cuda");
  EXPECT_EQ(std::string(gpu_backend_name(GpuBackend::Nccl)), "nccl");
}
