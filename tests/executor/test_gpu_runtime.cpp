// The GPU runtimes on real plans: 4 virtual devices of one GPU (streams, then green contexts) and NCCL ranks
// (when the machine has several GPUs). Losses match the CPU runtime within the stated tolerance, pipelined GPU
// gradients equal single-device GPU gradients bitwise (deterministic kernels, W summed in micro-batch order),
// and the measured timeline is complete. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/lowering.h"
#include "adaptis/executor/run_store.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "gpu_test_util.h"

using namespace adaptis;
using namespace adaptis::exec;
using namespace adaptis::exec::testing;

namespace {

// Attention / MLP blocks (two per pipeline stage on 4 devices) plus embedding and head.
NetConfig tiny() {
  NetConfig cfg = make_net_config({LayerType::Attention, LayerType::Mlp, LayerType::Attention, LayerType::Mlp,
                                   LayerType::Attention, LayerType::Mlp});
  cfg.seq = 16;
  cfg.micro_batch = 2;
  return cfg;
}

Program program_for(const std::string& schedule, const NetConfig& cfg, int devices, int m) {
  PlanRequest req;
  req.schedule = schedule;
  req.devices = devices;
  req.microbatches = m;
  return lower_plan(build_plan(req, cfg.num_layers()));
}

std::map<std::string, std::vector<float>> by_name(const std::vector<NamedTensor>& ts) {
  std::map<std::string, std::vector<float>> out;
  for (const auto& t : ts) out[t.name].assign(t.data.begin(), t.data.end());
  return out;
}

void expect_same_bits(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b, const std::string& what) {
  auto ma = by_name(a), mb = by_name(b);
  ASSERT_EQ(ma.size(), mb.size()) << what;
  for (const auto& [name, va] : ma) {
    ASSERT_TRUE(mb.count(name)) << what << ": " << name;
    const auto& vb = mb[name];
    ASSERT_EQ(va.size(), vb.size()) << what << ": " << name;
    EXPECT_EQ(0, std::memcmp(va.data(), vb.data(), va.size() * sizeof(float))) << what << ": " << name << " differs";
  }
}

void check_virtual_devices(const std::string& schedule, bool green) {
  SCOPED_TRACE(schedule + (green ? " green contexts" : " streams"));
  const NetConfig cfg = tiny();
  const int m = 4, steps = 2;
  const DataSource data = model_data(cfg);
  GpuRunOptions opt;
  opt.green_contexts = green;
  // References: the CPU runtime on the same plan, and the GPU on one device.
  const Program prog = program_for(schedule, cfg, 4, m);
  PipelineRuntime cpu(prog, real_stage_factory(cfg), make_mailbox_transport(4));
  GpuPipelineRuntime single(program_for("1f1b", cfg, 1, m), cfg);
  std::unique_ptr<GpuPipelineRuntime> rt;
  try {
    rt = std::make_unique<GpuPipelineRuntime>(prog, cfg, opt);
  } catch (const InputError& e) {
    if (green) GTEST_SKIP() << "green contexts unavailable here: " << e.what();
    throw;
  }
  EXPECT_EQ(rt->info().device_names.size(), 4u);
  EXPECT_EQ(rt->info().green_contexts, green);
  for (int step = 0; step < steps; ++step) {
    const StepResult c = cpu.run_step(step, data);
    const StepResult s = single.run_step(step, data);
    const StepResult r = rt->run_step(step, data);
    EXPECT_NEAR(r.loss, c.loss, 1e-4 * std::fabs(c.loss)) << "step " << step;
    EXPECT_EQ(r.loss, s.loss) << "step " << step << ": pipelined GPU loss differs from one GPU device";
    expect_same_bits(rt->grads(), single.grads(), "grads step " + std::to_string(step));
    // The timeline: one interval per instruction, ordered per device, computes take time.
    ASSERT_EQ(r.intervals.size(), prog.devices.size());
    for (int d = 0; d < 4; ++d) {
      ASSERT_EQ(r.intervals[d].size(), prog.devices[d].size());
      for (size_t i = 0; i < prog.devices[d].size(); ++i) {
        EXPECT_LE(r.intervals[d][i].start_ns, r.intervals[d][i].end_ns);
        if (prog.devices[d][i].kind == InstrKind::Compute) {
          EXPECT_GT(r.intervals[d][i].end_ns, r.intervals[d][i].start_ns) << "device " << d << " #" << i;
          if (i > 0 && prog.devices[d][i - 1].kind == InstrKind::Compute) {
            EXPECT_GE(r.intervals[d][i].start_ns, r.intervals[d][i - 1].end_ns);
          }
        }
      }
      EXPECT_GT(r.peak_activation_bytes[d], 0u);
    }
    EXPECT_GT(r.iteration_ms(), 0);
    EXPECT_GE(r.end_ns, r.pipeline_end_ns);
    // The run store takes it like a CPU step.
    StepRecord rec = make_step_record(prog, r, checksum_hex(tensor_checksum(rt->grads())));
    EXPECT_EQ(rec.intervals.size(), prog.num_instructions() + 4);
  }
  expect_same_bits(rt->params(), single.params(), "params");
}

}  // namespace

TEST(GpuRuntime, FourVirtualDevices1F1BMatchesCpuAndSingleDevice) {
  ADAPTIS_REQUIRE_GPU();
  check_virtual_devices("1f1b", false);
}

TEST(GpuRuntime, FourVirtualDevicesZbH1MatchesCpuAndSingleDevice) {
  ADAPTIS_REQUIRE_GPU();
  check_virtual_devices("zb-h1", false);
}

TEST(GpuRuntime, GreenContextPartitionsMatchToo) {
  ADAPTIS_REQUIRE_GPU();
  check_virtual_devices("1f1b", true);
}

TEST(GpuRuntime, InterleavedPlacementWithSameDeviceStages) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = tiny();
  PlanRequest req;
  req.schedule = "interleaved-1f1b";
  req.devices = 2;
  req.microbatches = 4;
  const Program prog = lower_plan(build_plan(req, cfg.num_layers()));
  GpuPipelineRuntime rt(prog, cfg);
  GpuPipelineRuntime single(program_for("1f1b", cfg, 1, 4), cfg);
  const DataSource data = model_data(cfg);
  const StepResult a = rt.run_step(0, data), b = single.run_step(0, data);
  EXPECT_EQ(a.loss, b.loss);
  expect_same_bits(rt.grads(), single.grads(), "interleaved grads");
}

TEST(GpuRuntime, NcclRanksInOneProcessMatchVirtualDevices) {
  ADAPTIS_REQUIRE_GPU();
  const auto gpus = list_gpus();
  if (gpus.size() < 2) GTEST_SKIP() << "NCCL needs one GPU per rank; this machine has " << gpus.size();
  const NetConfig cfg = tiny();
  const Program prog = program_for("1f1b", cfg, 2, 4);
  GpuRunOptions nccl;
  nccl.backend = GpuBackend::Nccl;
  GpuPipelineRuntime rt(prog, cfg, nccl);
  GpuPipelineRuntime vd(prog, cfg);
  const DataSource data = model_data(cfg);
  for (int step = 0; step < 2; ++step) {
    const StepResult a = rt.run_step(step, data), b = vd.run_step(step, data);
    EXPECT_EQ(a.loss, b.loss) << "step " << step;
    ASSERT_EQ(a.intervals.size(), 2u);
    EXPECT_EQ(a.intervals[1].size(), prog.devices[1].size());
  }
  expect_same_bits(rt.grads(), vd.grads(), "nccl vs virtual devices");
}

TEST(GpuRuntime, BadOptionsAreInputErrors) {
  ADAPTIS_REQUIRE_GPU();
  const NetConfig cfg = tiny();
  GpuRunOptions opt;
  opt.gpu = 999;
  EXPECT_THROW(GpuPipelineRuntime(program_for("1f1b", cfg, 2, 4), cfg, opt), InputError);
  opt = {};
  opt.green_contexts = true;
  opt.sms_per_device = 100000;
  EXPECT_THROW(GpuPipelineRuntime(program_for("1f1b", cfg, 2, 4), cfg, opt), InputError);
}
