// The explorers' plan editor: every edit goes through validation and simulation, invalid edits are
// refused with an explanation and leave the plan untouched, undo/redo restore snapshots, a drag
// gesture is one undo step, and schedule choices that give no plan are kept as a pending request.
#include <gtest/gtest.h>

#include <filesystem>

#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "common/format.h"
#include "explorer/plan_editor.h"
#include "explorer/plan_summary.h"
#include "explorer/session_file.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

// Heterogeneous: every 4th layer is heavy.
CostTable costs(int layers) {
  return test_support::synthetic_layers(
      layers, [](int i) { return 1.0 + (i % 4 == 0 ? 2.0 : 0.0); }, [](int) { return "mlp"; });
}

PlanEditor make_editor(int devices = 4, int layers = 16, bool cluster_fixed = true) {
  PlanEditor ed(costs(layers), make_uniform_cluster(devices), SimOptions{});
  ed.set_cluster_fixed(cluster_fixed);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = devices;
  req.microbatches = 8;
  EditResult r = ed.load_request(req);
  EXPECT_TRUE(r.applied) << r.message;
  return ed;
}

}  // namespace

TEST(PlanEditor, LoadsABuiltInScheduleAndSimulatesIt) {
  PlanEditor ed = make_editor();
  ASSERT_TRUE(ed.has_plan());
  EXPECT_EQ(ed.plan().num_devices(), 4);
  EXPECT_EQ(ed.plan().num_microbatches, 8);
  EXPECT_TRUE(ed.sim().ok);
  EXPECT_GT(ed.sim().iteration_ms, 0);
  EXPECT_FALSE(ed.can_undo());  // loading the first plan is not an undoable edit
}

TEST(PlanEditor, MovingABoundaryResimulatesAndUndoRestores) {
  PlanEditor ed = make_editor();
  const double before = ed.sim().iteration_ms;
  const auto bounds = ed.plan().partition.bounds;  // 0,4,8,12,16
  const uint64_t rev = ed.revision();
  EditResult r = ed.move_boundary(1, 3);
  ASSERT_TRUE(r.applied) << r.message;
  EXPECT_EQ(ed.plan().partition.bounds[1], 3);
  EXPECT_GT(ed.revision(), rev);
  EXPECT_NE(ed.sim().iteration_ms, before);  // heavy layer 0 now shares stage 0 with fewer layers
  ASSERT_TRUE(ed.can_undo());
  ASSERT_TRUE(ed.undo());
  EXPECT_EQ(ed.plan().partition.bounds, bounds);
  EXPECT_DOUBLE_EQ(ed.sim().iteration_ms, before);
  ASSERT_TRUE(ed.can_redo());
  ASSERT_TRUE(ed.redo());
  EXPECT_EQ(ed.plan().partition.bounds[1], 3);
}

TEST(PlanEditor, ABoundaryCannotEmptyAStage) {
  PlanEditor ed = make_editor();
  const auto bounds = ed.plan().partition.bounds;
  EditResult r = ed.move_boundary(2, 4);  // stage 1 = [4, 8) would become empty
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("stage 1 would have no layers"), std::string::npos) << r.message;
  EXPECT_EQ(ed.plan().partition.bounds, bounds);
  EXPECT_EQ(ed.last_error(), r.message);
  EXPECT_FALSE(ed.can_undo());
  r = ed.move_boundary(9, 3);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("boundaries between stages are 1..3"), std::string::npos) << r.message;
}

TEST(PlanEditor, AGestureIsOneUndoStep) {
  PlanEditor ed = make_editor();
  const auto bounds = ed.plan().partition.bounds;
  ed.begin_gesture();
  EXPECT_TRUE(ed.move_boundary(1, 5).applied);
  EXPECT_TRUE(ed.move_boundary(1, 6).applied);
  EXPECT_TRUE(ed.move_boundary(1, 7).applied);
  ed.end_gesture();
  EXPECT_EQ(ed.undo_labels().size(), 1u);
  ed.undo();
  EXPECT_EQ(ed.plan().partition.bounds, bounds);
}

TEST(PlanEditor, ReorderingThatBreaksDependenciesIsRefusedWithTheValidatorsReason) {
  PlanEditor ed = make_editor();
  const auto orders = ed.plan().schedule;
  // Device 0 under 1F1B starts F s0 mb0 ... ; put its first backward before every forward.
  const auto& list = ed.plan().schedule[0];
  int first_bw = -1;
  for (size_t i = 0; i < list.size(); ++i)
    if (list[i].op == Op::BW) {
      first_bw = static_cast<int>(i);
      break;
    }
  ASSERT_GT(first_bw, 0);
  EditResult r = ed.move_action(0, first_bw, 0);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("BW comes before its F"), std::string::npos) << r.message;
  EXPECT_EQ(ed.plan().schedule, orders);
}

TEST(PlanEditor, ReorderingThatDeadlocksIsRefused) {
  PlanEditor ed = make_editor(2, 4);
  // Device 1 (last stage) runs F1.0 BW1.0 F1.1 ...; device 0 runs F0.0 F0.1 BW0.0 ...
  // Moving device 0's BW0.0 before F0.1 makes device 1 wait for F0.1 while device 0 waits for BW1.0:
  // fine (BW1.0 only needs F1.0). Instead move device 1's F1.1 behind all its backwards: still fine.
  // A real cycle: device 0 does BW0.0 before F0.0 of mb 1? That's a local error. Build a cross-device
  // cycle: device 1 runs BW1.1 before F1.0 is impossible locally (different mbs): swap so device 1
  // waits for F0.1 first while device 0 waits for BW1.0 first.
  const auto& d1 = ed.plan().schedule[1];
  int f11 = -1;
  for (size_t i = 0; i < d1.size(); ++i)
    if (d1[i].op == Op::F && d1[i].mb == 1) f11 = static_cast<int>(i);
  ASSERT_GE(f11, 0);
  // Device 0 list: F0.0 F0.1 BW0.0 F0.2 ...; move BW0.0 to the front of F0.1 is valid; instead move
  // device 0's BW0.0 to position 1 and device 1's F1.1 to the front -> device 1 needs F0.1, which
  // device 0 only runs after BW0.0, which needs BW1.0, which device 1 runs after F1.1: a cycle.
  const auto& d0 = ed.plan().schedule[0];
  int bw00 = -1;
  for (size_t i = 0; i < d0.size(); ++i)
    if (d0[i].op == Op::BW && d0[i].mb == 0) bw00 = static_cast<int>(i);
  ASSERT_GE(bw00, 0);
  ASSERT_TRUE(ed.move_action(0, bw00, 1).applied) << ed.last_error();
  EditResult r = ed.move_action(1, f11, 0);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("deadlock"), std::string::npos) << r.message;
}

TEST(PlanEditor, MovingAStageRemapsOrdersIntoAValidPlan) {
  PlanEditor ed = make_editor();
  EditResult r = ed.move_stage(3, 0);  // device 0 now holds stages 0 and 3
  ASSERT_TRUE(r.applied) << r.message;
  EXPECT_TRUE(validate_plan(ed.plan(), 16).ok());
  EXPECT_EQ(ed.plan().placement.device_stages[0], (std::vector<int>{0, 3}));
  EXPECT_TRUE(ed.plan().placement.device_stages[3].empty());
  EXPECT_TRUE(ed.plan().schedule[3].empty());
  EXPECT_EQ(ed.plan().schedule[0].size(), 2u * 2 * 8);
  EXPECT_TRUE(ed.state().custom);
  // A hand-edited plan cannot silently regenerate for another micro-batch count.
  r = ed.set_microbatches(16);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("choose a schedule first"), std::string::npos) << r.message;
  // Choosing a schedule regenerates (and is undoable).
  ASSERT_TRUE(ed.set_schedule("1f1b").applied);
  EXPECT_FALSE(ed.state().custom);
  ASSERT_TRUE(ed.set_microbatches(16).applied);
  EXPECT_EQ(ed.plan().num_microbatches, 16);
  ed.undo();
  ed.undo();
  EXPECT_TRUE(ed.state().custom);
  EXPECT_TRUE(ed.plan().schedule[3].empty());
}

TEST(PlanEditor, ScheduleChangesKeepAMatchingPartition) {
  PlanEditor ed = make_editor();
  ASSERT_TRUE(ed.move_boundary(2, 9).applied);
  ASSERT_TRUE(ed.set_schedule("gpipe").applied) << ed.last_error();
  EXPECT_EQ(ed.plan().name, "gpipe");
  EXPECT_EQ(ed.plan().partition.bounds[2], 9);
  EditResult r = ed.set_schedule("no-such-schedule");
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("unknown schedule"), std::string::npos);
  EXPECT_EQ(ed.plan().name, "gpipe");
}

TEST(PlanEditor, BadNumbersAreRefused) {
  PlanEditor ed = make_editor();
  EXPECT_FALSE(ed.set_microbatches(0).applied);
  EXPECT_FALSE(ed.set_devices(8).applied);  // the cluster has 4
  EXPECT_FALSE(ed.set_device_speed(0, 0).applied);
  EXPECT_FALSE(ed.set_device_speed(7, 1).applied);
  EXPECT_FALSE(ed.move_stage(9, 0).applied);
  EXPECT_FALSE(ed.move_action(0, 0, 999).applied);
  EXPECT_FALSE(ed.set_partition({4, 4, 4}).applied);
  EditResult r = ed.set_partition({4, 4, 4, 5});
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("17 layers but the model has 16"), std::string::npos) << r.message;
  EXPECT_FALSE(ed.can_undo());
}

TEST(PlanEditor, ClusterWhatIfsChangeTheSimulation) {
  PlanEditor ed = make_editor();
  const double before = ed.sim().iteration_ms;
  ASSERT_TRUE(ed.set_device_speed(2, 0.5).applied);
  EXPECT_GT(ed.sim().iteration_ms, before);
  ASSERT_TRUE(ed.set_memory_limit(0, 1e9).applied);  // below its static memory
  EXPECT_TRUE(ed.sim().oom);
  ed.undo();
  ed.undo();
  EXPECT_DOUBLE_EQ(ed.sim().iteration_ms, before);
  EXPECT_FALSE(ed.sim().oom);
}

TEST(PlanEditor, LinkEditsChangeTransferCostsAndBadLinksAreRefused) {
  PlanEditor ed = make_editor();
  const double before = ed.sim().iteration_ms;
  Link slow;
  slow.latency_ms = 5.0;
  ASSERT_TRUE(ed.set_links(slow, slow).applied);
  EXPECT_GT(ed.sim().iteration_ms, before);  // every P2P hop now costs 5 ms
  Link bad;
  bad.latency_ms = -1;
  EditResult r = ed.set_links(bad, slow);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("latency"), std::string::npos) << r.message;
  EXPECT_DOUBLE_EQ(ed.cluster().intra_node.latency_ms, 5.0);  // the refused edit changed nothing
  ASSERT_TRUE(ed.undo());
  EXPECT_DOUBLE_EQ(ed.sim().iteration_ms, before);
}

TEST(PlanEditor, BalancingThePartitionEvensStageTimes) {
  PlanEditor ed = make_editor(4, 16);
  // Put most layers on stage 0, then balance.
  ASSERT_TRUE(ed.set_partition({10, 2, 2, 2}).applied);
  const double skewed = ed.sim().iteration_ms;
  ASSERT_TRUE(ed.balance_partition().applied) << ed.last_error();
  EXPECT_LT(ed.sim().iteration_ms, skewed);
  double lo = 1e300, hi = 0;
  for (const StageCost& s : ed.stage_costs()) {
    lo = std::min(lo, s.f_ms + s.b_ms);
    hi = std::max(hi, s.f_ms + s.b_ms);
  }
  EXPECT_LE(hi / lo, 1.5);  // layers are 3 or 9 ms (F+B), so stages cannot match exactly
  // Balancing a balanced partition is refused with a reason, not a silent no-op.
  EditResult again = ed.balance_partition();
  EXPECT_FALSE(again.applied);
  EXPECT_NE(again.message.find("already balanced"), std::string::npos) << again.message;
}

TEST(PlanEditor, LoadingAPlanForMoreDevicesThanTheClusterIsRefused) {
  PlanEditor ed = make_editor(2, 8);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  Plan p = build_plan(req, 8);
  EditResult r = ed.load_plan(p, "file");
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("4 devices but the cluster has 2"), std::string::npos) << r.message;
}

TEST(PlanEditor, ARequestThatGivesNoPlanIsKeptPendingAndStepsOn) {
  PlanEditor ed = make_editor();
  ASSERT_TRUE(ed.move_boundary(1, 5).applied);
  // 1F1B runs one stage per device: two are refused, the plan stays, the request is remembered.
  EditResult r = ed.set_stages_per_device(2);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(ed.request().stages_per_device, 2);
  EXPECT_FALSE(ed.pending_problem().empty());
  EXPECT_EQ(ed.plan().name, "1f1b");
  // The next choice starts from the pending request: the schedule's own chunk count again works,
  // and keeps the partition that still fits.
  ASSERT_TRUE(ed.set_stages_per_device(0).applied) << ed.last_error();
  EXPECT_TRUE(ed.pending_problem().empty());
  EXPECT_EQ(ed.plan().partition.bounds[1], 5);
  // A schedule with another stage count resets a hand-made partition, and says so.
  r = ed.set_schedule("interleaved-1f1b");
  ASSERT_TRUE(r.applied) << r.message;
  EXPECT_NE(r.message.find("partition reset to even"), std::string::npos) << r.message;
  EXPECT_EQ(ed.plan().num_stages(), 8);
  // Undo drops a pending request first.
  EXPECT_FALSE(ed.set_stages_per_device(5).applied);  // 20 stages for 16 layers
  EXPECT_TRUE(ed.undo());
  EXPECT_TRUE(ed.pending_problem().empty());
  EXPECT_EQ(ed.plan().num_stages(), 8);
}

TEST(PlanEditor, AClusterWithoutAFileGrowsAndShrinksWithTheDevices) {
  PlanEditor ed = make_editor(4, 16, false);
  ed.set_device_speed(3, 0.5);
  ASSERT_TRUE(ed.set_devices(6).applied) << ed.last_error();
  EXPECT_EQ(ed.cluster().num_devices(), 6);
  EXPECT_EQ(ed.plan().num_devices(), 6);
  EXPECT_DOUBLE_EQ(ed.cluster().devices[5].speed, 0.5);  // copies of the last device
  ASSERT_TRUE(ed.set_devices(2).applied);
  EXPECT_EQ(ed.cluster().num_devices(), 2);
  EditResult r = ed.set_devices(17);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("16 layers"), std::string::npos) << r.message;
}

TEST(PlanSummary, DiffReportsTheChange) {
  PlanEditor ed = make_editor();
  PlanSummary a = summarize(ed.sim(), "1f1b");
  ASSERT_TRUE(ed.set_schedule("gpipe").applied);
  PlanSummary b = summarize(ed.sim(), "gpipe");
  SummaryDiff d = diff(a, b);
  EXPECT_DOUBLE_EQ(d.iteration_ms, b.iteration_ms - a.iteration_ms);
  EXPECT_GT(d.peak_memory_bytes, 0);  // GPipe keeps every micro-batch's activations
  EXPECT_NEAR(d.speedup, a.iteration_ms / b.iteration_ms, 1e-12);
  PlanSummary m = summarize_timeline(ed.sim().timeline, "as measured");
  EXPECT_NEAR(m.iteration_ms, b.iteration_ms, 1e-9);
  EXPECT_NEAR(m.bubble_ratio, b.bubble_ratio, 1e-9);
  EXPECT_EQ(app::format_bytes(1.5 * 1024 * 1024 * 1024), "1.50 GiB");
}

TEST(SessionFile, RoundTripsThroughJson) {
  PlanEditor ed = make_editor();
  ASSERT_TRUE(ed.move_stage(3, 2).applied);
  Session s;
  s.inputs.costs = "/tmp/costs.json";
  s.cluster = ed.cluster();
  s.cluster.devices[1].speed = 0.75;
  s.sim = ed.sim_options();
  s.request = ed.state().request;
  s.custom = ed.state().custom;
  s.plan = ed.plan();
  s.compare = ed.plan();
  s.compare_label = "pinned";
  s.view_t0 = 1;
  s.view_t1 = 2;
  const std::string path = (std::filesystem::temp_directory_path() / "adaptis_gui_session_test.json").string();
  save_session(s, path);
  Session t = load_session(path);
  EXPECT_EQ(t.inputs.costs, s.inputs.costs);
  EXPECT_EQ(t.plan.schedule, s.plan.schedule);
  EXPECT_EQ(t.plan.placement.device_stages, s.plan.placement.device_stages);
  EXPECT_DOUBLE_EQ(t.cluster.devices[1].speed, 0.75);
  EXPECT_TRUE(t.custom);
  ASSERT_TRUE(t.compare.has_value());
  EXPECT_EQ(t.compare_label, "pinned");
  EXPECT_DOUBLE_EQ(t.view_t1, 2);
  std::filesystem::remove(path);
}

TEST(SessionFile, BadSessionsNameTheField) {
  auto j = nlohmann::json::parse(R"({"format": "adaptis-gui-session/1", "inputs": {"costs": "x"},
                                    "cluster": {"devices": [{"speed": -1}]}, "plan": {}})");
  try {
    session_from_json(j, "s.json");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("s.json: cluster.devices[0]: field 'speed'"), std::string::npos) << e.what();
  }
  j = nlohmann::json::parse(R"({"format": "something-else"})");
  EXPECT_THROW(session_from_json(j, "s.json"), InputError);
  j = nlohmann::json::parse(R"({"format": "adaptis-gui-session/1", "inputs": {"costs": "a", "model": "b"}})");
  try {
    session_from_json(j, "s.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("exactly one of"), std::string::npos);
  }
}
