// Variable-length units in the explorer core: a plan started over units runs them with their own
// costs (each action as long as its unit costs, so the Gantt draws units by cost) and keeps them
// through schedule, device, partition and placement edits, undo, saved sessions and the optimizer;
// a micro-batch edit is refused with the reason; the Data view's histogram and unit rows match the
// lengths, the plan and its simulation; the selected action names its unit.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/units.h"
#include "explorer/explorer.h"
#include "explorer/explorer_driver.h"
#include "explorer/session_file.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

constexpr long long kRef = 4096;  // the cost table's reference micro-batch, in tokens

// synthetic_costs with a reference micro-batch and an attention part that grows with the pairs, so
// two units of equal tokens but different documents cost differently; attention layers' keys and values
// are a tenth of what they keep.
CostTable varlen_costs(int layers = 8) {
  CostTable c = test_support::synthetic_costs(layers);
  c.tokens_per_microbatch = double(kRef);
  c.pairs_per_microbatch = 0.5 * double(kRef) * double(kRef);
  for (LayerCost& l : c.layers) {
    l.kv_bytes = 0;
    if (l.kind == "attention") {
      l.f_pair_ms = 0.4 * l.f_ms;
      l.b_pair_ms = 0.4 * l.b_ms;
      l.kv_bytes = 0.1 * (l.act_b_bytes + l.act_w_bytes);
    }
  }
  return c;
}

WorkUnit unit(std::vector<long long> docs, int row = -1, int slice = 0, long long offset = 0) {
  WorkUnit u;
  u.docs = std::move(docs);
  u.row = row;
  u.slice = slice;
  u.first_doc_offset = offset;
  return u;
}

// One long document, the same tokens as four short ones, a short one, and a row cut into two slices.
std::vector<WorkUnit> test_units() {
  std::vector<WorkUnit> u = {unit({4096}), unit({1024, 1024, 1024, 1024}), unit({512}), unit({2048}, 0, 0),
                             unit({2048}, 0, 1, 2048)};
  return u;
}

// The lengths the units could have come from (the histogram's input).
std::shared_ptr<const SequenceLengths> test_lengths() {
  return test_support::lengths_in_memory({4096, 1024, 1024, 1024, 1024, 512, 4096}, kRef, "test lengths");
}

// What the session says made the units (the test's units are hand-made; the view shows this).
SequenceProcessing test_processing() {
  SequenceProcessing p;
  p.mode = PackingMode::Pack;
  p.order = UnitOrder::LongFirst;
  return p;
}

Explorer varlen_session(bool with_lengths = true, int devices = 4) {
  ExplorerConfig cfg;
  cfg.optimizer.threads = 1;
  cfg.optimizer.time_limit_s = 0.5;
  if (with_lengths) {
    cfg.lengths.data = test_lengths();
    cfg.lengths.processing = test_processing();
  }
  app::Inputs in{varlen_costs(), make_uniform_cluster(devices), SimOptions{}};
  in.units = test_units();
  Explorer ex(in, cfg);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = devices;
  req.units = in.units;
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

// Every compute box lasts what its unit costs on its stage (speed-1.0 devices): F, B, W or BW.
void expect_boxes_cost_their_unit(const Explorer& ex) {
  const Evaluation& e = ex.editor().eval();
  const std::vector<WorkUnit>& units = e.plan.units;
  ASSERT_FALSE(units.empty());
  const CostReference ref = cost_reference(ex.editor().costs());
  size_t checked = 0;
  for (const DeviceLanes& d : e.timeline.devices)
    for (const TimelineBox& b : d.compute.boxes) {
      ASSERT_GE(b.mb, 0);
      ASSERT_LT(b.mb, static_cast<int>(units.size()));
      const UnitStageCost c = unit_stage_cost(e.stages[static_cast<size_t>(b.stage)], units[static_cast<size_t>(b.mb)], ref);
      const double want = b.op == Op::F ? c.f_ms : b.op == Op::B ? c.b_ms : b.op == Op::W ? c.w_ms : c.b_ms + c.w_ms;
      EXPECT_NEAR(b.end - b.start, want, 1e-6 * std::max(1.0, want))
          << "box " << op_name(b.op) << " s" << b.stage << " mb" << b.mb << " of " << e.plan.name;
      ++checked;
    }
  EXPECT_EQ(checked, e.timeline.num_actions);
}

const TimelineBox* f_box(const Explorer& ex, int stage, int mb) {
  const TimelineData& tl = ex.editor().eval().timeline;
  const PathStep w = tl.locate(Op::F, stage, mb);
  if (w.device < 0) return nullptr;
  return &tl.devices[static_cast<size_t>(w.device)].compute.boxes[static_cast<size_t>(w.index)];
}

}  // namespace

TEST(ExplorerVarlen, StartsOverTheUnitsAndDrawsEachAsLongAsItCosts) {
  ASSERT_TRUE(unit_problems(test_units()).empty()) << unit_problems(test_units()).front();
  Explorer ex = varlen_session();
  ASSERT_TRUE(ex.has_plan());
  const Plan& p = ex.editor().plan();
  EXPECT_EQ(p.units, test_units());
  EXPECT_EQ(p.num_microbatches, 5);
  expect_boxes_cost_their_unit(ex);
  // Widths follow cost: equal tokens in one document outlast four documents (attention pairs), and
  // the short unit is the narrowest.
  const TimelineBox* long_doc = f_box(ex, 0, 0);
  const TimelineBox* four_docs = f_box(ex, 0, 1);
  const TimelineBox* short_doc = f_box(ex, 0, 2);
  ASSERT_TRUE(long_doc && four_docs && short_doc);
  EXPECT_GT(long_doc->end - long_doc->start, four_docs->end - four_docs->start);
  EXPECT_GT(four_docs->end - four_docs->start, short_doc->end - short_doc->start);
  // The same iteration as the command line's simulation of the same plan.
  const SimResult cli = simulate(p, ex.editor().costs(), ex.editor().cluster(), ex.editor().sim_options());
  ASSERT_TRUE(cli.ok) << cli.error;
  EXPECT_NEAR(ex.editor().sim().iteration_ms, cli.iteration_ms, 1e-9 * cli.iteration_ms);
}

TEST(ExplorerVarlen, EditsKeepTheUnits) {
  Explorer ex = varlen_session();
  const std::vector<WorkUnit> units = test_units();
  auto expect_units = [&](const EditResult& r, const char* what) {
    EXPECT_TRUE(r.applied) << what << ": " << r.message;
    EXPECT_EQ(ex.editor().plan().units, units) << what;
    EXPECT_EQ(ex.editor().plan().num_microbatches, 5) << what;
    EXPECT_EQ(ex.editor().request().units, units) << what;
    expect_boxes_cost_their_unit(ex);
  };
  expect_units(ex.choose_schedule("gpipe"), "schedule gpipe");
  expect_units(ex.choose_schedule("seq1f1b"), "schedule seq1f1b (units only)");
  expect_units(ex.choose_schedule("1f1b"), "schedule 1f1b");
  expect_units(ex.set_devices(2), "devices 2");
  expect_units(ex.nudge_boundary(1, +1), "partition");
  expect_units(ex.balance_partition(), "balance");
  expect_units(ex.move_stage(1, 0), "placement");  // a hand edit: the plan's orders become data
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, units);
  // Cycling walks the unit-only schedules too.
  bool saw_terapipe = false;
  for (int i = 0; i < 20 && !saw_terapipe; ++i) {
    ex.cycle_schedule(+1);
    saw_terapipe = ex.editor().request().schedule == "terapipe";
  }
  EXPECT_TRUE(saw_terapipe);
  EXPECT_EQ(ex.editor().plan().units, units);
}

TEST(ExplorerVarlen, MicroBatchEditIsRefusedWithTheReason) {
  Explorer ex = varlen_session();
  const uint64_t rev = ex.revision();
  const EditResult r = ex.set_microbatches(8);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("variable-length unit"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("5 units"), std::string::npos) << r.message;
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(ex.revision(), rev);
  EXPECT_EQ(ex.editor().plan().num_microbatches, 5);
  EXPECT_TRUE(ex.editor().pending_problem().empty()) << "a refusal is not a pending request";
}

TEST(ExplorerVarlen, APlanWithoutUnitsDropsThemAndUnitOnlySchedulesAreRefused) {
  Explorer ex = varlen_session();
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.microbatches = 6;
  ASSERT_TRUE(ex.load_plan(build_plan(req, 8), "plain").applied) << ex.message().text;
  EXPECT_TRUE(ex.editor().request().units.empty());
  EXPECT_FALSE(ex.varlen().has_units);
  EXPECT_TRUE(ex.choose_schedule("1f1b").applied);
  EXPECT_TRUE(ex.set_microbatches(7).applied) << ex.message().text;
  const EditResult r = ex.choose_schedule("seq1f1b");
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("--lengths"), std::string::npos) << r.message;
}

TEST(ExplorerVarlen, DataViewRowsMatchTheLengthsThePlanAndItsSimulation) {
  Explorer ex = varlen_session();
  const VarlenView& v = ex.varlen();
  ASSERT_TRUE(v.has_units);
  const std::vector<WorkUnit> units = test_units();
  const UnitCostModel model = unit_cost_model(ex.editor().costs());
  const SimResult& sim = ex.editor().sim();
  ASSERT_EQ(sim.unit_work_ms.size(), units.size());
  ASSERT_EQ(v.units.size(), units.size());
  double max_cost = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const UnitRow& r = v.units[i];
    EXPECT_EQ(r.unit, static_cast<int>(i));
    EXPECT_EQ(r.what, describe_unit(units[i]));
    EXPECT_EQ(r.docs, static_cast<int>(units[i].docs.size()));
    EXPECT_EQ(r.tokens, units[i].run_tokens());
    EXPECT_DOUBLE_EQ(r.pairs, units[i].pairs());
    EXPECT_NEAR(r.cost_ms, model.ms(units[i]), 1e-9);
    EXPECT_DOUBLE_EQ(r.simulated_ms, sim.unit_work_ms[i]);
    EXPECT_EQ(r.slice, units[i].is_slice());
    max_cost = std::max(max_cost, r.cost_ms);
  }
  EXPECT_DOUBLE_EQ(v.max_cost_ms, max_cost);
  // Equal tokens, different documents: different costs (the pairs).
  EXPECT_GT(v.units[0].cost_ms, v.units[1].cost_ms);
  EXPECT_NE(v.units_line.find("5 units (2 slices)"), std::string::npos) << v.units_line;
  EXPECT_EQ(v.processing, describe(test_processing()));

  // The histogram covers every sequence and token of the lengths.
  const auto data = test_lengths();
  ASSERT_FALSE(v.bins.empty());
  long long seqs = 0, tokens = 0, most = 0;
  double token_share = 0, pair_share = 0;
  for (const LengthBinRow& b : v.bins) {
    EXPECT_LT(b.lo, b.hi);
    seqs += b.sequences;
    tokens += b.tokens;
    most = std::max(most, b.sequences);
    token_share += b.token_share;
    pair_share += b.pair_share;
  }
  EXPECT_EQ(seqs, static_cast<long long>(data->lengths.size()));
  EXPECT_EQ(tokens, data->total_tokens());
  EXPECT_EQ(most, v.max_bin_sequences);
  EXPECT_NEAR(token_share, 1.0, 1e-9);
  EXPECT_NEAR(pair_share, 1.0, 1e-9);
  EXPECT_NE(v.data_line.find("7 sequences"), std::string::npos) << v.data_line;

  // Without the lengths (units that came with a plan file) the rows stay and the data says why.
  Explorer bare = varlen_session(false);
  EXPECT_TRUE(bare.varlen().has_units);
  EXPECT_TRUE(bare.varlen().bins.empty());
  EXPECT_EQ(bare.varlen().units.size(), units.size());
  EXPECT_NE(bare.varlen().data_line.find("not known"), std::string::npos) << bare.varlen().data_line;
}

TEST(ExplorerVarlen, TheSelectedActionNamesItsUnit) {
  Explorer ex = varlen_session();
  EXPECT_EQ(ex.selected_unit_text(), "");
  for (int mb : {1, 3}) {
    const PathStep w = ex.editor().eval().timeline.locate(Op::F, 0, mb);
    ASSERT_GE(w.device, 0);
    Pick p;
    p.side = 0;
    p.device = w.device;
    p.index = w.index;
    ex.select(p);
    EXPECT_EQ(ex.selected_unit_text(), "unit " + std::to_string(mb) + ": " + describe_unit(test_units()[static_cast<size_t>(mb)]));
  }
  EXPECT_NE(ex.selected_unit_text().find("slice 0 of row 0"), std::string::npos) << ex.selected_unit_text();
  EXPECT_EQ(unit_text(ex.editor().plan(), 5), "");
  EXPECT_EQ(unit_text(ex.editor().plan(), -1), "");
}

TEST(ExplorerVarlen, SessionsKeepTheUnits) {
  Explorer ex = varlen_session();
  Session s;
  s.inputs.costs = "/data/costs.json";
  s.inputs.reference_tokens = ex.editor().costs().tokens_per_microbatch;
  s.inputs.reference_pairs = ex.editor().costs().pairs_per_microbatch;
  s.cluster = ex.editor().cluster();
  s.request = ex.editor().request();
  s.plan = ex.editor().plan();
  const Session back = session_from_json(session_to_json(s), "test session");
  EXPECT_EQ(back.plan.units, test_units());
  EXPECT_EQ(back.request.units, test_units());
  EXPECT_DOUBLE_EQ(back.inputs.reference_tokens, double(kRef));
  EXPECT_DOUBLE_EQ(back.inputs.reference_pairs, 0.5 * double(kRef) * double(kRef));
  // A session without units keeps no reference; a malformed one names the field.
  Session plain = s;
  plain.inputs.reference_tokens = 0;
  EXPECT_FALSE(session_to_json(plain)["inputs"].contains("reference"));
  nlohmann::json bad = session_to_json(s);
  bad["inputs"]["reference"]["tokens"] = -1;
  try {
    session_from_json(bad, "bad session");
    ADD_FAILURE() << "a negative reference was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad session: inputs.reference"), std::string::npos) << e.what();
  }
  // Restored as a request, the plan runs the same units.
  Explorer again = varlen_session();
  ASSERT_TRUE(again.start_with_request(back.request).applied) << again.message().text;
  EXPECT_EQ(again.editor().plan().units, test_units());
}

TEST(ExplorerVarlen, TheOptimizerSearchesOverThePlansUnits) {
  Explorer ex = varlen_session();
  ExplorerDriver d;
  ex.start_optimizer();
  EXPECT_EQ(ex.optimizer().options.units, test_units());
  EXPECT_GT(ex.optimizer().bound_ms, 0);
  d.carry_out(ex);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ex.optimizer().state == JobState::Running && std::chrono::steady_clock::now() < deadline) {
    d.poll(ex);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  d.poll(ex);
  ASSERT_NE(ex.optimizer().state, JobState::Running);
  EXPECT_NE(ex.optimizer().state, JobState::Failed) << ex.optimizer().message;
  EXPECT_EQ(ex.editor().plan().units, test_units());
  expect_boxes_cost_their_unit(ex);
  d.shutdown();
}

namespace {

void select_action(Explorer& ex, Op op, int stage, int mb) {
  const PathStep w = ex.editor().eval().timeline.locate(op, stage, mb);
  ASSERT_GE(w.device, 0) << op_name(op) << " s" << stage << " mb" << mb;
  Pick p;
  p.side = 0;
  p.device = w.device;
  p.index = w.index;
  ex.select(p);
}

}  // namespace

// Per-unit checkpointing from the timeline: the selected action's stage starts recomputing its unit (an
// R appears for that unit only and takes that unit's recompute time), again stops it; an early slice,
// whose keys later slices read, recomputes keeping its keys and values.
TEST(ExplorerVarlen, TheSelectedUnitCanBeCheckpointedOnItsStage) {
  Explorer ex = varlen_session();
  EXPECT_FALSE(ex.toggle_unit_recompute().applied);  // nothing selected
  select_action(ex, Op::F, 0, 0);
  const EditResult on = ex.toggle_unit_recompute();
  ASSERT_TRUE(on.applied) << on.message;
  EXPECT_NE(ex.message().text.find("stage 0 recomputes unit 0"), std::string::npos) << ex.message().text;
  const Plan& plan = ex.editor().plan();
  ASSERT_EQ(plan.memory.size(), static_cast<size_t>(plan.num_stages()));
  EXPECT_EQ(plan.memory[0].recompute, Recompute::Full);
  EXPECT_EQ(plan.memory[0].units, std::vector<int>{0});
  int r_actions = 0;
  for (const auto& list : plan.schedule)
    for (const Action& a : list)
      if (a.op == Op::R) {
        ++r_actions;
        EXPECT_EQ(a.stage, 0);
        EXPECT_EQ(a.mb, 0);
      }
  EXPECT_EQ(r_actions, 1);
  const Evaluation& e = ex.editor().eval();
  ASSERT_TRUE(e.ok());
  const UnitStageCost c = e.unit_costs[0];  // stage 0, unit 0
  EXPECT_TRUE(c.recompute);
  EXPECT_GT(c.recompute_ms, 0);
  EXPECT_NEAR(e.sim.devices[0].recompute_ms, c.recompute_ms, 1e-9);

  // A second unit on the same stage, then both off again.
  select_action(ex, Op::F, 0, 1);
  ASSERT_TRUE(ex.toggle_unit_recompute().applied) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().memory[0].units, (std::vector<int>{0, 1}));
  ASSERT_TRUE(ex.toggle_unit_recompute().applied) << ex.message().text;
  select_action(ex, Op::F, 0, 0);
  ASSERT_TRUE(ex.toggle_unit_recompute().applied) << ex.message().text;
  EXPECT_FALSE(has_memory_policy(ex.editor().plan()));

  // Unit 3 is slice 0 of row 0: slice 1 reads its keys and values, which it keeps as it recomputes.
  select_action(ex, Op::F, 0, 3);
  const EditResult early = ex.toggle_unit_recompute();
  ASSERT_TRUE(early.applied) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().memory[0].units, std::vector<int>{3});
  const Evaluation& e3 = ex.editor().eval();
  ASSERT_TRUE(e3.ok());
  const UnitStageCost& s3 = e3.unit_costs[3];
  EXPECT_TRUE(s3.recompute);
  EXPECT_LT(s3.kept(), s3.act_b_bytes + s3.act_w_bytes);
  EXPECT_GT(s3.kept(), e3.stages[0].kept_bytes * double(ex.editor().plan().units[3].tokens()) /
                           ex.editor().costs().tokens_per_microbatch);  // + its keys and values
}

// Recompute on every stage over units means every unit (the early slice keeps its keys and values), and
// the plan stays valid.
TEST(ExplorerVarlen, StageRecomputeOverUnitsCoversEveryUnit) {
  Explorer ex = varlen_session();
  ASSERT_TRUE(ex.set_recompute(-1, Recompute::Full).applied) << ex.message().text;
  const Plan& plan = ex.editor().plan();
  for (const StageMemoryPolicy& p : plan.memory) EXPECT_TRUE(p.units.empty());
  int r_actions = 0;
  for (const auto& list : plan.schedule)
    for (const Action& a : list) r_actions += a.op == Op::R;
  EXPECT_EQ(r_actions, plan.num_stages() * static_cast<int>(plan.units.size()));
  EXPECT_TRUE(validate_plan(plan, ex.editor().costs().num_layers()).ok());
  ASSERT_TRUE(ex.editor().eval().ok());
  double rec = 0;
  for (const auto& d : ex.editor().eval().sim.devices) rec += d.recompute_ms;
  EXPECT_GT(rec, 0);
  ASSERT_TRUE(ex.auto_memory_policy().applied || !ex.message().text.empty());
  EXPECT_TRUE(validate_plan(ex.editor().plan(), ex.editor().costs().num_layers()).ok());
}

// The explorers' offload steps work over units: each (stage, unit) copies its own share of what its F keeps.
TEST(ExplorerVarlen, OffloadOverUnitsCopiesEachUnitsShare) {
  Explorer ex = varlen_session();
  ASSERT_TRUE(ex.step_offload(-1, +1).applied) << ex.message().text;
  const Plan& plan = ex.editor().plan();
  ASSERT_TRUE(validate_plan(plan, ex.editor().costs().num_layers()).ok());
  ASSERT_TRUE(ex.editor().eval().ok()) << ex.message().text;
  const SimResult& sim = ex.editor().eval().sim;
  ASSERT_FALSE(sim.host_transfers.empty());
  std::vector<UnitStageCost> uc;
  unit_stage_costs(ex.editor().eval().stages, plan.units, cost_reference(ex.editor().costs()), uc, plan.memory);
  for (const HostTransfer& x : sim.host_transfers)
    EXPECT_DOUBLE_EQ(x.bytes, uc[static_cast<size_t>(x.stage) * plan.units.size() + static_cast<size_t>(x.mb)].offload_bytes)
        << "stage " << x.stage << " unit " << x.mb;
  double offloaded = 0;
  for (const auto& d : sim.devices) offloaded += d.offloaded_bytes;
  EXPECT_GT(offloaded, 0);
}
