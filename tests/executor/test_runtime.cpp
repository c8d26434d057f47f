// The device-thread runtime on a deterministic toy StageCompute: bitwise equality with a single-device
// run for every schedule and placement, measured timelines, the watchdog and failure paths, and the
// mailbox transport.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <map>
#include <set>
#include <thread>

#include "adaptis/executor/lowering.h"
#include "adaptis/executor/runtime.h"
#include "adaptis/model/error.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"
#include "toy_stage.h"

using namespace adaptis;
using namespace adaptis::exec;
using namespace adaptis::exec::testing;

namespace {

bool try_plan(const std::string& schedule, int devices, int m, int layers_per_stage, Plan& out,
              const std::string& placement = "", std::string* why = nullptr) {
  try {
    ScheduleOptions so;
    so.devices = devices;
    so.microbatches = m;
    Plan probe = generate_schedule(parse_schedule_kind(schedule), so);
    PlanRequest req;
    req.schedule = schedule;
    req.devices = devices;
    req.microbatches = m;
    req.placement = placement;
    out = build_plan(req, layers_per_stage * probe.placement.num_stages());
    return true;
  } catch (const InputError& e) {
    if (why) *why = e.what();
    return false;
  }
}

void expect_bitwise(const std::vector<NamedTensor>& got, const std::vector<StageCompute::Tensor>& ref_tensors,
                    const std::vector<float>& ref, const std::string& what) {
  std::map<std::string, std::span<const float>> by_name;
  for (const auto& t : got) by_name[t.name] = t.data;
  ASSERT_EQ(by_name.size(), ref_tensors.size()) << what;
  for (const auto& t : ref_tensors) {
    auto it = by_name.find(t.name);
    ASSERT_NE(it, by_name.end()) << what << ": tensor " << t.name << " missing";
    ASSERT_EQ(it->second.size(), t.size) << what << ": " << t.name;
    ASSERT_EQ(0, std::memcmp(it->second.data(), ref.data() + t.offset, t.size * sizeof(float)))
        << what << ": tensor " << t.name << " differs";
  }
}

// Runs `plan` for `steps` and checks losses, gradients and parameters against the single-device run.
void expect_matches_reference(const Plan& plan, const StageFactory& make, int steps, const DataSource& data,
                              const LoweringOptions& lo = {}) {
  const int L = plan.partition.num_layers();
  RuntimeOptions ro;
  ro.optimizer.lr = 0.05f;
  ReferenceResult ref = run_reference(make, L, plan.num_microbatches, steps, data, ro.optimizer);
  PipelineRuntime rt(lower_plan(plan, lo), make, make_mailbox_transport(plan.num_devices()), ro);
  for (int step = 0; step < steps; ++step) {
    StepResult r = rt.run_step(step, data);
    EXPECT_EQ(r.loss, ref.losses[step]) << plan.name << " step " << step;
    expect_bitwise(rt.grads(), ref.tensors, ref.grads[step], plan.name + " grads step " + std::to_string(step));
  }
  expect_bitwise(rt.params(), ref.tensors, ref.params, plan.name + " params");
}

}  // namespace

TEST(Runtime, EveryBuiltInScheduleMatchesSingleDeviceBitwise) {
  // A size a schedule's own rule refuses (e.g. DualPipeV's m >= 2p) is passed over, but every built-in
  // schedule must run on at least one of them: none is skipped silently.
  std::map<std::string, std::string> refused;  // schedule -> why its last size was refused
  std::set<std::string> ran;
  for (const auto& info : all_schedules())
    for (int devices : {2, 4})
      for (int m : {4, 8}) {
        Plan plan;
        std::string why;
        if (!try_plan(info.name, devices, m, 2, plan, "", &why)) {
          refused[info.name] = why;
          continue;
        }
        SCOPED_TRACE(std::string(info.name) + " p=" + std::to_string(devices) + " m=" + std::to_string(m));
        expect_matches_reference(plan, toy_factory(plan.partition.num_layers()), 2, toy_data());
        ran.insert(info.name);
      }
  for (const auto& info : all_schedules())
    EXPECT_TRUE(ran.count(info.name)) << info.name << " ran on no size; last refusal: " << refused[info.name];
}

TEST(Runtime, IrregularPlacementAndPartitionMatchBitwise) {
  Plan plan;
  std::string why;
  ASSERT_TRUE(try_plan("1f1b", 4, 6, 2, plan, "2|0|3|1", &why)) << why;
  plan.partition = Partition::from_sizes({3, 1, 2, 4});  // uneven layer counts
  expect_matches_reference(plan, toy_factory(10), 2, toy_data());
}

TEST(Runtime, ReceiveLookaheadDoesNotChangeResults) {
  Plan plan;
  ASSERT_TRUE(try_plan("gpipe", 3, 4, 1, plan));
  for (int la : {0, 1, 100}) expect_matches_reference(plan, toy_factory(3), 1, toy_data(), {la});
}

TEST(Runtime, SameDeviceStagesAndOverlappedPairsMatchBitwise) {
  // Stages 0,1 on device 0 (local hand-over), an overlapped F&BW pair on device 1.
  Plan plan;
  plan.name = "custom";
  plan.num_microbatches = 2;
  plan.partition = Partition::from_sizes({1, 2, 1});
  plan.placement.device_stages = {{0, 1}, {2}};
  plan.schedule = {
      {{Op::F, 0, 0}, {Op::F, 1, 0}, {Op::F, 0, 1}, {Op::F, 1, 1}, {Op::B, 1, 0}, {Op::B, 0, 0}, {Op::BW, 1, 1},
       {Op::W, 1, 0}, {Op::BW, 0, 1}, {Op::W, 0, 0}},
      {{Op::F, 2, 0}, {Op::F, 2, 1}, {Op::BW, 2, 0, true}, {Op::BW, 2, 1}},
  };
  expect_matches_reference(plan, toy_factory(4), 2, toy_data());
}

TEST(Runtime, MeasuredTimelineIsCompleteOrderedAndCausal) {
  Plan plan;
  ASSERT_TRUE(try_plan("1f1b", 4, 8, 1, plan));
  Program prog = lower_plan(plan);
  PipelineRuntime rt(prog, toy_factory(4), make_mailbox_transport(4));
  StepResult r = rt.run_step(0, toy_data());
  ASSERT_EQ(r.intervals.size(), 4u);
  std::map<std::tuple<int, int, int>, int64_t> send_start;
  for (int d = 0; d < 4; ++d) {
    ASSERT_EQ(r.intervals[d].size(), prog.devices[d].size());
    int64_t prev_end = r.start_ns;
    for (size_t i = 0; i < prog.devices[d].size(); ++i) {
      const Interval& iv = r.intervals[d][i];
      EXPECT_GE(iv.start_ns, prev_end) << "device " << d << " #" << i;
      EXPECT_LE(iv.start_ns, iv.end_ns);
      prev_end = iv.end_ns;
      const Instruction& ins = prog.devices[d][i];
      if (ins.kind == InstrKind::Send)
        send_start[{static_cast<int>(ins.tensor.kind), ins.tensor.stage, ins.tensor.mb}] = iv.start_ns;
    }
    EXPECT_LE(prev_end, r.pipeline_end_ns);
    EXPECT_GE(r.optimizer[d].start_ns, prev_end);
    EXPECT_GT(r.peak_activation_bytes[d], 0u);
  }
  // A wait cannot end before its message was sent.
  for (int d = 0; d < 4; ++d)
    for (size_t i = 0; i < prog.devices[d].size(); ++i) {
      const Instruction& ins = prog.devices[d][i];
      if (ins.kind != InstrKind::WaitRecv) continue;
      auto key = std::make_tuple(static_cast<int>(ins.tensor.kind), ins.tensor.stage, ins.tensor.mb);
      ASSERT_TRUE(send_start.count(key));
      EXPECT_GE(r.intervals[d][i].end_ns, send_start[key]) << ins.to_string();
    }
  EXPECT_GT(r.iteration_ms(), 0);
  EXPECT_GE(r.step_ms(), r.iteration_ms());
  EXPECT_TRUE(rt.transport().pending().empty());
}

TEST(Runtime, DeadlockingInstructionListsStopWithDiagnosticWithinTimeout) {
  // Both devices wait for each other before sending.
  Program p;
  p.num_microbatches = 1;
  p.stage_bounds = {0, 1, 2};
  p.stage_device = {0, 1};
  p.device_stages = {{0}, {1}};
  const TensorTag act{TensorKind::Activation, 0, 0}, grad{TensorKind::Gradient, 1, 0};
  p.devices = {
      {Instruction::post_recv(grad, 1), Instruction::wait_recv(grad, 1), Instruction::compute({Op::F, 0, 0}),
       Instruction::send(act, 1), Instruction::compute({Op::BW, 0, 0})},
      {Instruction::post_recv(act, 0), Instruction::wait_recv(act, 0), Instruction::compute({Op::F, 1, 0}),
       Instruction::compute({Op::BW, 1, 0}), Instruction::send(grad, 0)},
  };
  ASSERT_FALSE(check_program(p).ok());
  EXPECT_THROW(PipelineRuntime(p, toy_factory(2), make_mailbox_transport(2)), InputError);

  RuntimeOptions ro;
  ro.check_program = false;
  ro.watchdog_ms = 150;
  PipelineRuntime rt(p, toy_factory(2), make_mailbox_transport(2), ro);
  auto t0 = std::chrono::steady_clock::now();
  std::string msg;
  try {
    rt.run_step(0, toy_data());
    ADD_FAILURE() << "a deadlocking program ran to the end";
  } catch (const ExecutionError& e) {
    msg = e.what();
  }
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(waited, 5.0);
  EXPECT_NE(msg.find("stuck"), std::string::npos) << msg;
  EXPECT_NE(msg.find("device 0 waiting at #1 'WAIT grad s1 mb0 <- d1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("device 1 waiting at #1 'WAIT act s0 mb0 <- d0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("receive posted, never sent"), std::string::npos) << msg;
  // The runtime refuses to continue after a failed iteration.
  EXPECT_THROW(rt.run_step(1, toy_data()), ExecutionError);
}

TEST(Runtime, FailingComputeStopsAllDevicesAndNamesTheInstruction) {
  Plan plan;
  ASSERT_TRUE(try_plan("1f1b", 3, 4, 1, plan));
  ToyConfig cfg;
  cfg.fail_forward_mb = 2;
  RuntimeOptions ro;
  ro.watchdog_ms = 5000;
  PipelineRuntime rt(lower_plan(plan), toy_factory(3, cfg), make_mailbox_transport(3), ro);
  auto t0 = std::chrono::steady_clock::now();
  try {
    rt.run_step(0, toy_data());
    ADD_FAILURE() << "expected a failure";
  } catch (const ExecutionError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("device 0 failed at #"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'F s0 mb2'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("injected failure"), std::string::npos) << msg;
  }
  // Other devices were woken by the abort, not by the 5 s watchdog.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
}

TEST(Runtime, StageFactoryFailureIsReported) {
  Plan plan;
  ASSERT_TRUE(try_plan("gpipe", 2, 2, 1, plan));
  StageFactory bad = [](int a, int, int) -> std::unique_ptr<StageCompute> {
    if (a == 1) throw InputError("no memory for stage at layer 1");
    return std::make_unique<ToyStage>(ToyConfig{}, a, a + 1, 2, 2);
  };
  try {
    PipelineRuntime rt(lower_plan(plan), bad, make_mailbox_transport(2));
    ADD_FAILURE() << "expected a failure";
  } catch (const ExecutionError& e) {
    EXPECT_NE(std::string(e.what()).find("device 1: no memory for stage at layer 1"), std::string::npos) << e.what();
  }
}

TEST(Runtime, TransportDeviceCountMustMatch) {
  Plan plan;
  ASSERT_TRUE(try_plan("gpipe", 2, 2, 1, plan));
  EXPECT_THROW(PipelineRuntime(lower_plan(plan), toy_factory(2), make_mailbox_transport(3)), InputError);
}

TEST(Runtime, ChecksumIsBitExact) {
  std::vector<float> a = {1.f, 2.f, 3.f}, b = a;
  std::vector<NamedTensor> ta = {{"x", a}}, tb = {{"x", b}};
  EXPECT_EQ(tensor_checksum(ta), tensor_checksum(tb));
  b[1] = std::nextafter(2.f, 3.f);
  EXPECT_NE(tensor_checksum(ta), tensor_checksum(tb));
  std::vector<NamedTensor> tc = {{"y", a}};
  EXPECT_NE(tensor_checksum(ta), tensor_checksum(tc));
  EXPECT_EQ(checksum_hex(0x1234).size(), 16u);
}

// A mailbox over two host stores, as the runtime attaches them.
struct TwoDevices {
  std::unique_ptr<Transport> tr = make_mailbox_transport(2);
  HostTensorStore store[2];
  TwoDevices() {
    tr->attach(0, store[0]);
    tr->attach(1, store[1]);
  }
  // Puts `values` into device d's store under `t`.
  void hold(int d, const TensorTag& t, const std::vector<float>& values) {
    auto span = store[d].create(t, values.size());
    std::copy(values.begin(), values.end(), span.begin());
  }
  std::vector<float> held(int d, const TensorTag& t) {
    auto span = store[d].get(t, "test");
    return {span.begin(), span.end()};
  }
};

TEST(MailboxTransport, SendBeforeAndAfterPostDeliver) {
  TwoDevices x;
  const TensorTag t1{TensorKind::Activation, 0, 0}, t2{TensorKind::Activation, 0, 1};
  const std::vector<float> src = {1, 2, 3};
  x.hold(0, t1, src);
  x.hold(0, t2, src);
  x.tr->send(0, 1, t1);  // before the post: staged
  EXPECT_THROW(x.store[0].get(t1, "sent"), std::logic_error) << "a sent tensor stays in the sender's store";
  x.tr->post_recv(1, 0, t1, 3);
  x.tr->post_recv(1, 0, t2, 3);
  x.tr->send(0, 1, t2);  // after the post: straight into the receiver's buffer
  x.tr->wait_recv(1, 0, t1);
  x.tr->wait_recv(1, 0, t2);
  EXPECT_EQ(x.held(1, t1), src);
  EXPECT_EQ(x.held(1, t2), src);
  EXPECT_EQ(x.store[0].bytes(), 0u);
  EXPECT_EQ(x.store[1].bytes(), 2 * 3 * sizeof(float));
  EXPECT_TRUE(x.tr->pending().empty());
}

TEST(MailboxTransport, WaitBlocksUntilSendFromAnotherThread) {
  TwoDevices x;
  const TensorTag t{TensorKind::Gradient, 1, 0};
  x.tr->post_recv(0, 1, t, 2);
  std::thread sender([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    x.hold(1, t, {5, 6});
    x.tr->send(1, 0, t);
  });
  x.tr->wait_recv(0, 1, t);
  sender.join();
  EXPECT_EQ(x.held(0, t), (std::vector<float>{5, 6}));
}

TEST(MailboxTransport, AbortWakesWaiters) {
  TwoDevices x;
  const TensorTag t{TensorKind::Gradient, 1, 0};
  x.tr->post_recv(0, 1, t, 2);
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    x.tr->abort("test abort");
  });
  EXPECT_THROW(x.tr->wait_recv(0, 1, t), TransportAborted);
  aborter.join();
  EXPECT_TRUE(x.tr->aborted());
  ASSERT_EQ(x.tr->pending().size(), 1u);
  EXPECT_NE(x.tr->pending()[0].find("receive posted, never sent"), std::string::npos);
  x.tr->reset();
  EXPECT_FALSE(x.tr->aborted());
  EXPECT_TRUE(x.tr->pending().empty());
}

TEST(MailboxTransport, ProtocolMisuseThrows) {
  TwoDevices x;
  const TensorTag t{TensorKind::Activation, 0, 0};
  x.hold(0, t, {1, 2});
  x.tr->send(0, 1, t);
  EXPECT_THROW(x.tr->send(0, 1, t), std::logic_error);        // sent twice (no longer held)
  x.hold(0, t, {1, 2});
  EXPECT_THROW(x.tr->send(0, 1, t), std::logic_error);        // sent twice (held again)
  EXPECT_THROW(x.tr->post_recv(1, 0, t, 3), std::logic_error);  // size mismatch
  EXPECT_THROW(x.tr->wait_recv(1, 0, {TensorKind::Activation, 0, 5}), std::logic_error);  // never posted
  EXPECT_THROW(x.tr->send(0, 2, t), std::logic_error);        // no device 2
  auto lone = make_mailbox_transport(2);
  EXPECT_THROW(lone->post_recv(1, 0, t, 2), std::logic_error);  // no store attached
}
