// Re-packing variable-length data from inside the explorers, and sessions that keep the lengths: the
// core makes other units of the same lengths (mode, token budget, least units, slices per row, order,
// slicing), rebuilds and re-simulates the plan over them as one undo step, and refuses what does not
// apply with the reason (slices on a Mamba model, a budget below the longest sequence with slicing
// off, no lengths). A saved session records the lengths and the processing and reopens with the same
// units and the same simulated iteration; a malformed lengths field names the file and the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "adaptis/planner/memory_policy.h"
#include "adaptis/planner/sequence_processor.h"
#include "adaptis/planner/units.h"
#include "explorer/explorer.h"
#include "explorer/lengths_json.h"
#include "explorer/session_file.h"
#include "explorer_test_support.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

constexpr long long kContext = 4096;

// synthetic_costs with the context as reference micro-batch and an attention part that grows with the
// pairs; `mamba` makes every third layer a Mamba layer.
CostTable costs(bool mamba = false) {
  CostTable c = test_support::synthetic_costs(12);
  c.tokens_per_microbatch = double(kContext);
  c.pairs_per_microbatch = 0.5 * double(kContext) * double(kContext);
  for (size_t i = 0; i < c.layers.size(); ++i) {
    LayerCost& l = c.layers[i];
    if (l.kind == "attention") {
      l.f_pair_ms = 0.4 * l.f_ms;
      l.b_pair_ms = 0.4 * l.b_ms;
    }
    if (mamba && i % 3 == 1) l.kind = "mamba";
  }
  return c;
}

// A skewed iteration: many short documents, a few long ones (one past half the context).
std::shared_ptr<const SequenceLengths> lengths() {
  return test_support::lengths_in_memory(
      {3900, 300, 120, 2600, 80, 640, 1500, 90, 200, 3100, 700, 60, 1024, 400, 2048, 150, 950, 75}, kContext,
      "repack test lengths");
}

SequenceProcessing pack_tokens() {
  SequenceProcessing p;
  p.mode = PackingMode::PackTokens;
  return p;
}

// Rows of at most 2048 tokens, each cut into two slices.
SequenceProcessing slices_of_2048_tokens() {
  SequenceProcessing p;
  p.mode = PackingMode::Slice;
  p.unit_tokens = 2048;
  p.slices = 2;
  return p;
}

Explorer session(bool mamba = false, const std::string& schedule = "1f1b") {
  ExplorerConfig cfg;
  cfg.optimizer.threads = 1;
  cfg.lengths.spec = "repack-test.lengths";
  cfg.lengths.data = lengths();
  cfg.lengths.processing = pack_tokens();
  app::Inputs in{costs(mamba), make_uniform_cluster(4), SimOptions{}};
  in.units = process_sequences(*cfg.lengths.data, unit_cost_model(in.costs), pack_tokens());
  Explorer ex(in, cfg);
  PlanRequest req;
  req.schedule = schedule;
  req.devices = 4;
  req.units = in.units;
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

long long tokens_of(const std::vector<WorkUnit>& units) {
  long long t = 0;
  for (const WorkUnit& u : units) t += u.tokens();
  return t;
}

}  // namespace

TEST(ExplorerRepack, ANewProcessingRebuildsTheUnitsAndTheIteration) {
  Explorer ex = session();
  const std::vector<WorkUnit> before = ex.editor().plan().units;
  const double t_before = ex.editor().sim().iteration_ms;
  ASSERT_EQ(ex.lengths_on_screen().processing, pack_tokens());

  const SequenceProcessing p = slices_of_2048_tokens();
  const EditResult r = ex.set_processing(p);
  ASSERT_TRUE(r.applied) << r.message;
  const Plan& plan = ex.editor().plan();
  // The units are what the processing makes of the lengths, one micro-batch each, every token kept.
  const std::vector<WorkUnit> want = process_sequences(*lengths(), unit_cost_model(ex.editor().costs()), p);
  EXPECT_EQ(plan.units, want);
  EXPECT_NE(plan.units, before);
  EXPECT_EQ(plan.num_microbatches, static_cast<int>(want.size()));
  EXPECT_EQ(tokens_of(plan.units), lengths()->total_tokens());
  EXPECT_TRUE(std::any_of(plan.units.begin(), plan.units.end(), [](const WorkUnit& u) { return u.is_slice(); }));
  EXPECT_EQ(ex.editor().request().schedule, "1f1b");
  // Re-simulated: the simulation covers the new units and its iteration differs.
  EXPECT_EQ(ex.editor().sim().unit_work_ms.size(), want.size());
  EXPECT_NE(ex.editor().sim().iteration_ms, t_before);
  EXPECT_EQ(ex.varlen().units.size(), want.size());
  EXPECT_EQ(ex.varlen().processing, describe(p));
  EXPECT_FALSE(ex.message().error) << ex.message().text;

  // One undo step: undo gives the old units, time and processing back; redo the new ones.
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, before);
  EXPECT_DOUBLE_EQ(ex.editor().sim().iteration_ms, t_before);
  EXPECT_EQ(ex.varlen().processing, describe(pack_tokens()));
  ASSERT_TRUE(ex.redo());
  EXPECT_EQ(ex.varlen().processing, describe(p));
}

TEST(ExplorerRepack, EachKnobStepsFromThePlansProcessing) {
  Explorer ex = session();
  ASSERT_TRUE(ex.step_packing_mode(+1).applied) << ex.message().text;  // pack-tokens -> pack
  EXPECT_EQ(ex.lengths_on_screen().processing->mode, PackingMode::Pack);
  ASSERT_TRUE(ex.step_unit_tokens(-1).applied) << ex.message().text;  // context -> half of it
  EXPECT_EQ(ex.lengths_on_screen().processing->unit_tokens, kContext / 2);
  for (const WorkUnit& u : ex.editor().plan().units) EXPECT_LE(u.run_tokens(), kContext / 2) << describe_unit(u);
  const size_t n = ex.editor().plan().units.size();
  ASSERT_TRUE(ex.step_min_units(+1).applied) << ex.message().text;  // at least twice as many units
  EXPECT_EQ(ex.lengths_on_screen().processing->units, static_cast<int>(2 * n));
  EXPECT_GT(ex.editor().plan().units.size(), n);  // as many as the sequences allow
  ASSERT_TRUE(ex.step_unit_order(+1).applied) << ex.message().text;  // as-built -> long-first
  const UnitCostModel model = unit_cost_model(ex.editor().costs());
  const std::vector<WorkUnit>& u = ex.editor().plan().units;
  EXPECT_GE(model.ms(u.front()), model.ms(u.back()));
  EXPECT_EQ(ex.lengths_on_screen().processing->order, UnitOrder::LongFirst);
  // The budget back up to the context, and no further.
  ASSERT_TRUE(ex.step_unit_tokens(+1).applied);
  EXPECT_EQ(ex.lengths_on_screen().processing->unit_tokens, 0);
  EXPECT_FALSE(ex.step_unit_tokens(+1).applied);
  EXPECT_TRUE(ex.message().error);
}

TEST(ExplorerRepack, ABudgetBelowTheLongestSequenceWithSlicingOffIsRefusedWithTheReason) {
  Explorer ex = session();
  const std::vector<WorkUnit> before = ex.editor().plan().units;
  const uint64_t rev = ex.revision();
  ASSERT_TRUE(ex.toggle_slicing().applied) << ex.message().text;  // the same units: nothing is sliced yet
  EXPECT_EQ(ex.editor().plan().units, before);
  EXPECT_FALSE(ex.lengths_on_screen().processing->allow_slicing);
  const EditResult r = ex.step_unit_tokens(-1);  // 2048 tokens: the 3900-token sequence no longer fits
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("3900 tokens"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("slicing is off"), std::string::npos) << r.message;
  EXPECT_TRUE(ex.message().error);
  // The plan stays; the refusal is kept (the view shows it) and the next step starts from it.
  EXPECT_EQ(ex.editor().plan().units, before);
  EXPECT_EQ(ex.revision(), rev);
  ASSERT_TRUE(ex.refused_processing().has_value());
  EXPECT_EQ(ex.refused_processing()->unit_tokens, kContext / 2);
  EXPECT_NE(ex.refused_processing_reason().find("slicing is off"), std::string::npos);
  EXPECT_EQ(ex.processing_to_edit().unit_tokens, kContext / 2);
  // Slice mode cuts every row, which slicing off forbids.
  SequenceProcessing slice = ex.processing_to_edit();
  slice.mode = PackingMode::Slice;
  slice.unit_tokens = 0;
  const EditResult rs = ex.set_processing(slice);
  EXPECT_FALSE(rs.applied);
  EXPECT_NE(rs.message.find("slicing is off, but slice makes slices"), std::string::npos) << rs.message;
  EXPECT_EQ(ex.editor().plan().units, before);
  // Slicing on again: the same budget applies, and the refusal is gone.
  ASSERT_TRUE(ex.toggle_slicing().applied) << ex.message().text;
  EXPECT_FALSE(ex.refused_processing().has_value());
  EXPECT_EQ(ex.lengths_on_screen().processing->unit_tokens, 0);
  EXPECT_EQ(ex.lengths_on_screen().processing->mode, PackingMode::Slice);
  EXPECT_TRUE(std::any_of(ex.editor().plan().units.begin(), ex.editor().plan().units.end(),
                          [](const WorkUnit& u) { return u.is_slice(); }));
}

TEST(ExplorerRepack, SlicingAModelWithMambaLayersIsRefusedWithTheReason) {
  Explorer ex = session(true);
  const std::vector<WorkUnit> before = ex.editor().plan().units;
  SequenceProcessing p;
  p.mode = PackingMode::Slice;
  const EditResult r = ex.set_processing(p);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("Mamba"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("layer 1"), std::string::npos) << r.message;
  EXPECT_EQ(ex.editor().plan().units, before);
  // Packing without slicing still applies on that model.
  p.mode = PackingMode::Pack;
  p.unit_tokens = 0;
  EXPECT_TRUE(ex.set_processing(p).applied) << ex.message().text;
  EXPECT_TRUE(slicing_blocker(costs(false)).empty());
}

// A block that carries a Mamba scan without saying so in its name or kind (LayerCost::recurrent): a re-pack
// into slices is refused naming it, and so is a plan whose own units are slices; packing still applies.
TEST(ExplorerRepack, ARecurrentBlockWhateverItsNameRefusesSlicesAndPlansMadeOfThem) {
  ExplorerConfig cfg;
  cfg.optimizer.threads = 1;
  cfg.lengths.spec = "repack-test.lengths";
  cfg.lengths.data = lengths();
  cfg.lengths.processing = pack_tokens();
  CostTable hybrid = costs();
  hybrid.layers[4].kind = "block";
  hybrid.layers[4].name = "mixer.3";
  hybrid.layers[4].recurrent = true;
  app::Inputs in{hybrid, make_uniform_cluster(4), SimOptions{}};
  in.units = process_sequences(*cfg.lengths.data, unit_cost_model(in.costs), pack_tokens());
  Explorer ex(in, cfg);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = in.units;
  ASSERT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  const std::vector<WorkUnit> before = ex.editor().plan().units;
  SequenceProcessing slice;
  slice.mode = PackingMode::Slice;
  const EditResult r = ex.set_processing(slice);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("layer 4 ('mixer.3', kind 'block') holds a Mamba layer"), std::string::npos) << r.message;
  EXPECT_EQ(ex.editor().plan().units, before);
  // A plan made of slices elsewhere (the same layers, nothing recurrent) does not load either.
  req.units = process_sequences(*cfg.lengths.data, unit_cost_model(costs()), slice);
  ASSERT_TRUE(std::any_of(req.units.begin(), req.units.end(), [](const WorkUnit& u) { return u.is_slice(); }));
  req.microbatches = static_cast<int>(req.units.size());
  const EditResult loaded = ex.load_plan(build_plan(req, hybrid.num_layers()), "sliced-plan.json");
  EXPECT_FALSE(loaded.applied);
  EXPECT_NE(loaded.message.find("sliced-plan.json: unit "), std::string::npos) << loaded.message;
  EXPECT_NE(loaded.message.find("is a slice, but layer 4 ('mixer.3'"), std::string::npos) << loaded.message;
  EXPECT_EQ(ex.editor().plan().units, before);
  SequenceProcessing pack;
  pack.mode = PackingMode::Pack;
  EXPECT_TRUE(ex.set_processing(pack).applied) << ex.message().text;
}

TEST(ExplorerRepack, WithoutLengthsThereIsNothingToRePack) {
  ExplorerConfig cfg;
  app::Inputs in{costs(), make_uniform_cluster(4), SimOptions{}};
  Explorer ex(in, cfg);
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  ASSERT_TRUE(ex.start_with_request(req).applied);
  EXPECT_NE(ex.repack_blocker().find("--lengths"), std::string::npos) << ex.repack_blocker();
  const EditResult r = ex.step_packing_mode(+1);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("--lengths"), std::string::npos) << r.message;
  EXPECT_TRUE(ex.editor().plan().units.empty());
}

TEST(ExplorerRepack, ACustomPlanIsRebuiltByItsSchedule) {
  Explorer ex = session();
  ASSERT_TRUE(ex.load_plan(ex.editor().plan(), "a plan file").applied) << ex.message().text;
  ASSERT_TRUE(ex.editor().state().custom);
  SequenceProcessing p;
  p.mode = PackingMode::Pack;
  p.unit_tokens = 2048;
  const EditResult r = ex.set_processing(p);
  ASSERT_TRUE(r.applied) << r.message;
  EXPECT_FALSE(ex.editor().state().custom);
  EXPECT_NE(ex.message().text.find("regenerated by 1f1b"), std::string::npos) << ex.message().text;
}

TEST(ExplorerRepack, ASavedSessionReopensTheSameUnitsAndIteration) {
  Explorer ex = session();
  SequenceProcessing p;
  p.mode = PackingMode::Elastic;
  p.unit_tokens = 2048;
  p.order = UnitOrder::Interleaved;
  ASSERT_TRUE(ex.set_processing(p).applied) << ex.message().text;
  const double t = ex.editor().sim().iteration_ms;

  Session s;
  s.inputs.costs = "/data/costs.json";
  s.cluster = ex.editor().cluster();
  s.request = ex.editor().request();
  s.plan = ex.editor().plan();
  s.lengths = ex.lengths_on_screen();
  const nlohmann::json j = session_to_json(s);
  EXPECT_EQ(j["lengths"]["spec"], "repack-test.lengths");
  EXPECT_EQ(j["lengths"]["processing"]["mode"], "elastic");
  const Session back = session_from_json(j, "round.json");
  ASSERT_TRUE(back.lengths.has_value());
  EXPECT_EQ(back.lengths->spec, "repack-test.lengths");
  EXPECT_EQ(back.lengths->data->lengths, lengths()->lengths);
  EXPECT_EQ(back.lengths->data->context, kContext);
  EXPECT_EQ(back.lengths->data->origin, "repack test lengths");
  EXPECT_EQ(back.lengths->processing, p);

  // The units made again from the saved lengths and processing are the plan's.
  const std::vector<WorkUnit> units = session_units(back, costs(), "round.json");
  EXPECT_EQ(units, ex.editor().plan().units);

  // Reopened as the GUI does: the same units, the same iteration, the processing known, re-packable.
  ExplorerConfig cfg;
  cfg.lengths = *back.lengths;
  Explorer again(app::Inputs{costs(), back.cluster, back.sim}, cfg);
  ASSERT_TRUE(again.start_with_request(back.request).applied) << again.message().text;
  EXPECT_EQ(again.editor().plan().units, ex.editor().plan().units);
  EXPECT_DOUBLE_EQ(again.editor().sim().iteration_ms, t);
  EXPECT_EQ(again.varlen().processing, describe(p));
  EXPECT_EQ(again.varlen().bins.size(), ex.varlen().bins.size());
  EXPECT_TRUE(again.step_packing_mode(+1).applied) << again.message().text;

  // A session whose plan does not run the units its lengths make is refused, naming the unit.
  Session edited = back;
  edited.lengths->processing->unit_tokens = 1024;
  try {
    session_units(edited, costs(), "edited.json");
    ADD_FAILURE() << "units that do not match were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("edited.json: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lengths.processing"), std::string::npos) << e.what();
  }
  // Without lengths the session reopens as before.
  Session plain = back;
  plain.lengths.reset();
  EXPECT_TRUE(session_to_json(plain)["lengths"].is_null());
  EXPECT_FALSE(session_from_json(session_to_json(plain), "plain.json").lengths.has_value());
  EXPECT_TRUE(session_units(plain, costs(), "plain.json").empty());
}

TEST(ExplorerRepack, MalformedLengthsFieldsNameTheFileAndTheField) {
  Explorer ex = session();
  Session s;
  s.inputs.costs = "/data/costs.json";
  s.cluster = ex.editor().cluster();
  s.plan = ex.editor().plan();
  s.lengths = ex.lengths_on_screen();
  const nlohmann::json good = session_to_json(s);
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> spoil;
    const char* want;
  };
  const std::vector<Case> cases = {
      {"a zero length", [](nlohmann::json& j) { j["lengths"]["data"]["lengths"][3] = 0; },
       "s.json: lengths.data.lengths[3]: must be a whole number of tokens"},
      {"a fractional length", [](nlohmann::json& j) { j["lengths"]["data"]["lengths"][0] = 12.5; },
       "s.json: lengths.data.lengths[0]"},
      {"no lengths", [](nlohmann::json& j) { j["lengths"]["data"]["lengths"] = nlohmann::json::array(); },
       "s.json: lengths.data: field 'lengths' is empty"},
      {"no data", [](nlohmann::json& j) { j["lengths"].erase("data"); }, "s.json: lengths: field 'data' is missing"},
      {"no context", [](nlohmann::json& j) { j["lengths"]["data"].erase("context"); },
       "s.json: lengths.data: field 'context' is missing"},
      {"an unknown mode", [](nlohmann::json& j) { j["lengths"]["processing"]["mode"] = "squash"; },
       "s.json: lengths.processing: field 'mode': packing mode 'squash': unknown"},
      {"no mode", [](nlohmann::json& j) { j["lengths"]["processing"].erase("mode"); },
       "s.json: lengths.processing: field 'mode' is missing"},
      {"zero slices", [](nlohmann::json& j) { j["lengths"]["processing"]["slices"] = 0; },
       "s.json: lengths.processing: field 'slices' must be in [1, 4096], got 0"},
      {"slicing as text", [](nlohmann::json& j) { j["lengths"]["processing"]["allow_slicing"] = "yes"; },
       "s.json: lengths.processing: field 'allow_slicing' must be true or false"},
      {"an unknown order", [](nlohmann::json& j) { j["lengths"]["processing"]["order"] = "random"; },
       "s.json: lengths.processing: field 'order': unit order 'random': unknown"},
      {"a typo", [](nlohmann::json& j) { j["lengths"]["proccessing"] = nullptr; }, "s.json: lengths"},
      {"not an object", [](nlohmann::json& j) { j["lengths"] = 7; }, "s.json: lengths: must be an object"},
  };
  ASSERT_NO_THROW(session_from_json(good, "s.json"));
  for (const Case& c : cases) {
    nlohmann::json j = good;
    c.spoil(j);
    try {
      session_from_json(j, "s.json");
      ADD_FAILURE() << c.what << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.want), std::string::npos) << c.what << ": " << e.what();
    }
  }
}

TEST(ExplorerRepack, UnitsTheScheduleCannotRunAreRefusedAndThePlanStays) {
  // Megatron's interleaved schedule with one group of all the 2048-token units needs at least that many
  // micro-batches: context-sized units are fewer.
  ExplorerConfig cfg;
  SequenceProcessing start = pack_tokens();
  start.unit_tokens = 2048;
  cfg.lengths.data = lengths();
  cfg.lengths.processing = start;
  app::Inputs in{costs(), make_uniform_cluster(4), SimOptions{}};
  Explorer ex(in, cfg);
  PlanRequest req;
  req.schedule = "interleaved-1f1b";
  req.devices = 4;
  req.units = process_sequences(*cfg.lengths.data, unit_cost_model(in.costs), start);
  req.group_size = static_cast<int>(req.units.size());
  ASSERT_GE(req.group_size, 8);
  ASSERT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  const std::vector<WorkUnit> before = ex.editor().plan().units;
  const EditResult r = ex.step_unit_tokens(+1);
  EXPECT_FALSE(r.applied);
  EXPECT_NE(r.message.find("micro-batches"), std::string::npos) << r.message;
  EXPECT_EQ(ex.editor().plan().units, before);
  EXPECT_TRUE(ex.problem().empty()) << ex.problem();  // no pending request over the refused units
  EXPECT_EQ(ex.editor().request().units, before);
  ASSERT_TRUE(ex.refused_processing().has_value());
  EXPECT_EQ(ex.refused_processing()->unit_tokens, 0);
  EXPECT_EQ(ex.varlen().processing, describe(start));
}

// Re-packing a plan with per-unit checkpointing: the selection named the old units, so each recomputing
// stage now covers every unit of the new ones (early slices keep their keys and values), the plan stays
// valid and the message says so.
TEST(ExplorerRepack, PerUnitCheckpointingFollowsTheNewUnits) {
  Explorer ex = session();
  ASSERT_TRUE(ex.set_recompute(0, Recompute::Full).applied) << ex.message().text;
  const PathStep w = ex.editor().eval().timeline.locate(Op::F, 1, 0);
  ASSERT_GE(w.device, 0);
  ex.select(pick_of(0, w));
  ASSERT_TRUE(ex.toggle_unit_recompute().applied) << ex.message().text;  // stage 1: unit 0 only
  ASSERT_EQ(ex.editor().plan().memory[1].units, std::vector<int>{0});

  const SequenceProcessing p = slices_of_2048_tokens();
  const EditResult r = ex.set_processing(p);
  ASSERT_TRUE(r.applied) << r.message;
  const Plan& plan = ex.editor().plan();
  EXPECT_NE(ex.message().text.find("per-unit checkpointing now covers every unit"), std::string::npos)
      << ex.message().text;
  ASSERT_TRUE(std::any_of(plan.units.begin(), plan.units.end(), [](const WorkUnit& u) { return u.row >= 0; }))
      << "slicing by 2 makes slices";
  EXPECT_EQ(plan.memory[0].recompute, Recompute::Full);
  EXPECT_EQ(plan.memory[1].recompute, Recompute::Full);
  EXPECT_TRUE(plan.memory[0].units.empty());
  EXPECT_TRUE(plan.memory[1].units.empty());
  EXPECT_TRUE(validate_plan(plan, ex.editor().costs().num_layers()).ok());
  EXPECT_TRUE(ex.editor().eval().ok());
}
