// The GUI's Data tab driven by synthetic frames (gui_frames_harness.h): it draws over variable-length
// units, its Re-pack widgets make other units of the same lengths through the explorer core, and a
// saved session reopens the lengths, the processing, the units and the iteration. Skipped when the GUI
// is not built.
#include <gtest/gtest.h>

#ifdef ADAPTIS_HAVE_GUI
#include <imgui.h>
#include <imgui_internal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner.h"
#include "adaptis/planner/sequence_processor.h"
#include "gui/gui_app.h"
#include "gui_frames_harness.h"

using namespace adaptis;
using namespace adaptis::gui;
using namespace adaptis::gui::frames_test;
namespace fs = std::filesystem;

// The synthetic costs at a reference micro-batch of one 4096-token sequence, so units scale from them.
static CostTable varlen_costs() {
  CostTable costs = synthetic_costs(16);
  costs.tokens_per_microbatch = 4096;
  costs.pairs_per_microbatch = 0.5 * 4096.0 * 4096.0;
  return costs;
}

// One iteration's sequence lengths at a 4096-token context, read from `origin`.
static std::shared_ptr<SequenceLengths> lengths_of(std::vector<long long> lengths, const std::string& origin) {
  return explorer::test_support::lengths_in_memory(std::move(lengths), 4096, origin);
}

// Five documents, and hand-made units that hold one each.
const std::vector<long long> kFiveDocs = {4096, 2048, 1024, 512, 3000};
static std::vector<WorkUnit> one_document_each(const std::vector<long long>& docs) {
  std::vector<WorkUnit> units(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) units[i].docs = {docs[i]};
  return units;
}

// 1F1B on 4 devices over the units `start` makes of `lengths`.
static PlanRequest request_over(const SequenceLengths& lengths, const CostTable& costs, const SequenceProcessing& start) {
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = process_sequences(lengths, unit_cost_model(costs), start);
  return req;
}

// Variable-length units: the Data tab draws over them, the micro-batch count is theirs, and a saved
// session reopens the units with the reference micro-batch the costs were given at start-up (the
// cost file states none).
TEST(GuiDataTab, VariableLengthUnitsDrawTheDataTabAndASessionReopensThem) {
  Harness h;
  const fs::path dir = fs::temp_directory_path() / ("adaptis-gui-varlen-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string costs_path = (dir / "costs.json").string(), session = (dir / "session.json").string();
  save_cost_table(synthetic_costs(16), costs_path);  // no tokens per micro-batch
  const CostTable costs = varlen_costs();
  const std::vector<WorkUnit> units = one_document_each(kFiveDocs);
  GuiConfig cfg;
  cfg.costs_path = costs_path;
  cfg.runs_db = (dir / "runs.db").string();
  auto lengths = lengths_of(kFiveDocs, "test");
  cfg.lengths.data = lengths;
  GuiApp app(costs, make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = units;
  ASSERT_TRUE(app.start_with_request(req).applied) << status(app);
  app.ui().bottom_tab_request = BottomTab::Data;
  for (int i = 0; i < 3; ++i) h.frame(app);
  EXPECT_TRUE(app.core().varlen().has_units);
  EXPECT_EQ(app.core().varlen().bins.size(), 4u);  // 512, 1024, 2048 and 4096 (with 3000) bins
  const double t = editor(app).sim().iteration_ms;
  app.save_session_to(session);

  GuiApp other(synthetic_costs(16), make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  req.units.clear();
  ASSERT_TRUE(other.start_with_request(req).applied);
  other.open_session(session);
  h.frame(other);
  EXPECT_EQ(editor(other).plan().units, units);
  EXPECT_EQ(editor(other).request().units, units);
  EXPECT_NEAR(editor(other).sim().iteration_ms, t, 1e-9 * t);
  // The reopened session keeps its lengths (the same histogram) beside the units its plan came with.
  EXPECT_EQ(other.core().varlen().bins.size(), 4u);
  EXPECT_EQ(other.core().varlen().data_line, app.core().varlen().data_line);
  EXPECT_FALSE(other.core().set_microbatches(8).applied);
  fs::remove_all(dir);
}

namespace {

// Where the mouse hovers the item `label` of the child window whose name contains `window_part`:
// found by moving the mouse over the window a few pixels a frame, scrolling it on when needed (nullopt
// when it never does). The item's id is taken in that window, as the panel made it.
std::optional<ImVec2> find_item(Harness& h, GuiApp& app, const char* window_part, const char* label) {
  ImGuiWindow* w = nullptr;
  for (ImGuiWindow* win : ImGui::GetCurrentContext()->Windows)
    if (win->Active && std::string(win->Name).find(window_part) != std::string::npos) w = win;
  if (!w) return std::nullopt;
  const ImGuiID id = w->GetID(label);
  // What a short pane does not show, the wheel scrolls into view, from the top.
  const ImVec2 centre(w->Pos.x + w->Size.x / 2, w->Pos.y + w->Size.y / 2);
  h.frame(app, centre, false, 50);
  h.frame(app, centre);
  for (int scroll = 0; scroll < 6; ++scroll) {
    for (float y = w->Pos.y + 2; y < w->Pos.y + w->Size.y; y += 4)
      for (float x = w->Pos.x + 8; x < w->Pos.x + w->Size.x; x += 20) {
        h.frame(app, ImVec2(x, y));
        if (ImGui::GetCurrentContext()->HoveredId == id) return ImVec2(x, y);
      }
    h.frame(app, centre, false, -2);
    h.frame(app, centre);
  }
  return std::nullopt;
}

void click(Harness& h, GuiApp& app, ImVec2 at) {
  h.frame(app, at, false);
  h.frame(app, at, true);
  h.frame(app, at, false);
  h.frame(app, at, false);
}

// Frames go by until the lengths asked for are in (the driver reads them off the UI thread).
void until_lengths_read(Harness& h, GuiApp& app) {
  for (int i = 0; i < 6000 && app.core().reading_lengths(); ++i) {
    h.frame(app);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(app.core().reading_lengths()) << "the lengths never came in";
}

}  // namespace

// The Data tab's Re-pack group: the mode combo makes other units of the same lengths (the plan is
// rebuilt and re-simulated), the slicing checkbox turns slicing off, and slice mode is then refused
// with its reason while the plan stays.
TEST(GuiDataTab, TheRePackWidgetsMakeOtherUnits) {
  Harness h;
  const CostTable costs = varlen_costs();
  auto lengths = lengths_of({4096, 2048, 1024, 512, 3000, 700, 300, 2500, 90, 1800}, "gui repack test");
  SequenceProcessing start;
  start.mode = PackingMode::PackTokens;
  GuiConfig cfg;
  cfg.runs_db = (fs::temp_directory_path() / "adaptis-gui-frames-test.db").string();
  cfg.lengths.data = lengths;
  cfg.lengths.processing = start;
  GuiApp app(costs, make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  const PlanRequest req = request_over(*lengths, costs, start);
  ASSERT_TRUE(app.start_with_request(req).applied) << status(app);
  app.ui().bottom_tab_request = BottomTab::Data;
  for (int i = 0; i < 3; ++i) h.frame(app);
  const double t0 = editor(app).sim().iteration_ms;

  // Mode: pad, picked from the combo's list.
  const std::optional<ImVec2> mode = find_item(h, app, "##lengths", "mode##repack");
  ASSERT_TRUE(mode.has_value()) << "no mode combo in the Data tab";
  click(h, app, *mode);
  std::optional<ImVec2> pad = find_item(h, app, "##Combo", "pad");
  ASSERT_TRUE(pad.has_value()) << "the mode combo did not open";
  click(h, app, *pad);
  SequenceProcessing want = start;
  want.mode = PackingMode::Pad;
  EXPECT_EQ(editor(app).plan().units, process_sequences(*lengths, unit_cost_model(costs), want)) << status(app);
  EXPECT_EQ(app.core().varlen().processing, describe(want));
  EXPECT_GT(editor(app).sim().iteration_ms, t0);  // padding runs more tokens

  // Slicing off: the same units (nothing is longer than the context), now without slicing.
  const std::optional<ImVec2> slicing = find_item(h, app, "##lengths", "slice long sequences##repack");
  ASSERT_TRUE(slicing.has_value()) << "no slicing checkbox in the Data tab";
  click(h, app, *slicing);
  EXPECT_FALSE(app.core().processing_to_edit().allow_slicing) << status(app);
  const std::vector<WorkUnit> padded = editor(app).plan().units;

  // Slice mode cuts every row: with slicing off it is refused with the reason, and the plan stays.
  const std::optional<ImVec2> mode_again = find_item(h, app, "##lengths", "mode##repack");
  ASSERT_TRUE(mode_again.has_value());
  click(h, app, *mode_again);
  const std::optional<ImVec2> slice = find_item(h, app, "##Combo", "slice");
  ASSERT_TRUE(slice.has_value());
  click(h, app, *slice);
  ASSERT_TRUE(app.core().refused_processing().has_value()) << status(app);
  EXPECT_EQ(app.core().refused_processing()->mode, PackingMode::Slice);
  EXPECT_NE(app.core().refused_processing_reason().find("slicing is off"), std::string::npos)
      << app.core().refused_processing_reason();
  EXPECT_TRUE(status_is_error(app));
  EXPECT_EQ(editor(app).plan().units, padded);
  // One undo step per re-pack that changed the units (turning slicing off changed none).
  ASSERT_TRUE(app.core().undo());
  EXPECT_DOUBLE_EQ(editor(app).sim().iteration_ms, t0);
  EXPECT_EQ(editor(app).plan().units, req.units);
  EXPECT_FALSE(app.core().undo());
}

// The Data tab's Iteration group: x2 doubles the global batch and /2 halves the context through the
// explorer core (the frame's driver reads the distribution again), the plan runs the units the command
// line makes of the new values, and undo brings back the old ones. Halving the batch below the context
// is refused with the reason and the plan stays.
TEST(GuiDataTab, TheIterationButtonsChangeTheContextAndTheBatch) {
  Harness h;
  const CostTable costs = varlen_costs();
  const std::string spec = "lognormal:median=1024,sigma=1,seed=4";
  LengthOptions o;
  o.context = 4096;
  o.global_batch_tokens = 16384;
  SequenceProcessing start;
  start.mode = PackingMode::PackTokens;
  GuiConfig cfg;
  cfg.runs_db = (fs::temp_directory_path() / "adaptis-gui-frames-test.db").string();
  cfg.lengths.spec = spec;
  cfg.lengths.options = o;
  cfg.lengths.data = std::make_shared<const SequenceLengths>(load_sequence_lengths(spec, o));
  cfg.lengths.processing = start;
  GuiApp app(costs, make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  const PlanRequest req = request_over(*cfg.lengths.data, costs, start);
  ASSERT_TRUE(app.start_with_request(req).applied) << status(app);
  app.ui().bottom_tab_request = BottomTab::Data;
  for (int i = 0; i < 3; ++i) h.frame(app);
  auto units_of = [&](long long context, long long batch) {
    LengthOptions want;
    want.context = context;
    want.global_batch_tokens = batch;
    return process_sequences(load_sequence_lengths(spec, want), unit_cost_model(costs), start);
  };

  const std::optional<ImVec2> doubled = find_item(h, app, "##lengths", "x2##global_batch");
  ASSERT_TRUE(doubled.has_value()) << "no x2 button for the global batch in the Data tab";
  click(h, app, *doubled);
  until_lengths_read(h, app);
  EXPECT_FALSE(status_is_error(app)) << status(app);
  EXPECT_EQ(editor(app).plan().units, units_of(4096, 32768)) << status(app);
  EXPECT_EQ(app.core().varlen().global_batch_tokens, 32768);

  const std::optional<ImVec2> halved = find_item(h, app, "##lengths", "/2##context");
  ASSERT_TRUE(halved.has_value()) << "no /2 button for the context in the Data tab";
  click(h, app, *halved);
  until_lengths_read(h, app);
  EXPECT_FALSE(status_is_error(app)) << status(app);
  EXPECT_EQ(editor(app).plan().units, units_of(2048, 32768)) << status(app);
  EXPECT_EQ(app.core().varlen().settings_line, "context 2048 tokens, global batch 32768 tokens");

  ASSERT_TRUE(app.core().undo());
  EXPECT_EQ(editor(app).plan().units, units_of(4096, 32768));
  ASSERT_TRUE(app.core().undo());
  EXPECT_EQ(editor(app).plan().units, req.units);

  // 16384 -> 8192 -> 4096 (the context), then below it: refused, the plan kept.
  for (int i = 0; i < 3; ++i) {
    const std::optional<ImVec2> down = find_item(h, app, "##lengths", "/2##global_batch");
    ASSERT_TRUE(down.has_value()) << "no /2 button for the global batch in the Data tab";
    click(h, app, *down);
    until_lengths_read(h, app);
  }
  EXPECT_TRUE(status_is_error(app));
  EXPECT_NE(status(app).find("below the context of 4096 tokens"), std::string::npos) << status(app);
  EXPECT_EQ(editor(app).plan().units, units_of(4096, 4096));
}

// A session saved after a re-pack reopens with its lengths, the processing, the same units and the same
// iteration, and can be re-packed again; a malformed lengths field is an error naming the file and the
// field, and the app keeps what it had.
TEST(GuiDataTab, ASessionReopensTheLengthsAndTheProcessing) {
  Harness h;
  const fs::path dir = fs::temp_directory_path() / ("adaptis-gui-lengths-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string costs_path = (dir / "costs.json").string(), session = (dir / "session.json").string();
  save_cost_table(synthetic_costs(16), costs_path);  // no reference micro-batch: the session keeps it
  const CostTable costs = varlen_costs();
  auto lengths = lengths_of({4096, 2048, 1024, 512, 3000, 700, 300, 2500, 90, 1800, 3900, 60}, "gui session test");
  SequenceProcessing start;
  start.mode = PackingMode::PackTokens;
  GuiConfig cfg;
  cfg.costs_path = costs_path;
  cfg.runs_db = (dir / "runs.db").string();
  cfg.lengths.spec = "uniform:min=1,max=4096";
  cfg.lengths.options.context = 4096;
  cfg.lengths.data = lengths;
  cfg.lengths.processing = start;
  GuiApp app(costs, make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  const PlanRequest req = request_over(*lengths, costs, start);
  ASSERT_TRUE(app.start_with_request(req).applied) << status(app);
  SequenceProcessing p;
  p.mode = PackingMode::Slice;
  p.unit_tokens = 2048;
  p.slices = 3;
  p.order = UnitOrder::LongFirst;
  ASSERT_TRUE(app.core().set_processing(p).applied) << status(app);
  h.frame(app);
  const double t = editor(app).sim().iteration_ms;
  app.save_session_to(session);

  GuiApp other(synthetic_costs(16), make_uniform_cluster(4), SimOptions{}, GuiConfig{}, h.theme());
  PlanRequest plain;
  plain.schedule = "1f1b";
  plain.devices = 4;
  ASSERT_TRUE(other.start_with_request(plain).applied);
  other.open_session(session);
  h.frame(other);
  EXPECT_EQ(editor(other).plan().units, editor(app).plan().units);
  EXPECT_DOUBLE_EQ(editor(other).sim().iteration_ms, t);
  EXPECT_EQ(other.core().varlen().processing, describe(p));
  EXPECT_EQ(other.core().config().lengths.spec, "uniform:min=1,max=4096");
  EXPECT_EQ(other.core().config().lengths.options.context, 4096);
  EXPECT_EQ(other.core().varlen().data_line, app.core().varlen().data_line);
  ASSERT_TRUE(other.core().step_slices(+1).applied) << status(other);  // and re-packs from there
  EXPECT_EQ(other.core().varlen().processing.find("slice, <=2048 tok/unit, 4 slices/row"), 0u)
      << other.core().varlen().processing;

  // A malformed field: the file and the field are named, and the app keeps its session.
  nlohmann::json j = read_json_file(session);
  j["lengths"]["processing"]["order"] = "sideways";
  write_json_file((dir / "bad.json").string(), j);
  const std::vector<WorkUnit> kept = editor(other).plan().units;
  try {
    other.open_session((dir / "bad.json").string());
    ADD_FAILURE() << "a bad unit order was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: lengths.processing: field 'order'"), std::string::npos) << e.what();
  }
  // Lengths that no longer make the plan's units (a hand-edited session) are refused too.
  j = read_json_file(session);
  j["lengths"]["data"]["lengths"][0] = 17;
  write_json_file((dir / "edited.json").string(), j);
  try {
    other.open_session((dir / "edited.json").string());
    ADD_FAILURE() << "lengths that do not make the plan's units were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("edited.json: "), std::string::npos) << e.what();
  }
  EXPECT_EQ(editor(other).plan().units, kept);
  fs::remove_all(dir);
}


// The details pane of a selected action over units has the per-unit checkpointing button: a click makes
// the action's stage recompute its unit (one R, for that unit), a second click keeps it again.
TEST(GuiDataTab, TheDetailsPaneCheckpointsTheSelectedUnit) {
  Harness h;
  const CostTable costs = varlen_costs();
  const std::vector<WorkUnit> units = one_document_each(kFiveDocs);
  GuiConfig cfg;
  cfg.runs_db = (fs::temp_directory_path() / "adaptis-gui-frames-test.db").string();
  GuiApp app(costs, make_uniform_cluster(4), SimOptions{}, cfg, h.theme());
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = units;
  ASSERT_TRUE(app.start_with_request(req).applied) << status(app);
  const explorer::PathStep w = editor(app).eval().timeline.locate(Op::F, 1, 2);
  ASSERT_GE(w.device, 0);
  app.core().select(explorer::pick_of(0, w));
  app.ui().bottom_tab_request = BottomTab::Details;
  for (int i = 0; i < 3; ++i) h.frame(app);
  const std::optional<ImVec2> on = find_item(h, app, "##bottom_body", "Checkpoint this unit on this stage");
  ASSERT_TRUE(on.has_value()) << "no checkpoint button in the details pane";
  click(h, app, *on);
  const Plan& plan = editor(app).plan();
  ASSERT_EQ(plan.memory.size(), static_cast<size_t>(plan.num_stages())) << status(app);
  EXPECT_EQ(plan.memory[1].units, std::vector<int>{2}) << status(app);
  int r = 0;
  for (const auto& list : plan.schedule)
    for (const Action& a : list) r += a.op == Op::R ? 1 : 0;
  EXPECT_EQ(r, 1);
  const std::optional<ImVec2> off = find_item(h, app, "##bottom_body", "Keep this unit's activations");
  ASSERT_TRUE(off.has_value()) << "the button did not turn into its undo";
  click(h, app, *off);
  EXPECT_TRUE(editor(app).plan().memory.empty() || editor(app).plan().memory[1] == StageMemoryPolicy{}) << status(app);
}

#else
TEST(GuiDataTab, SkippedWithoutTheGui) { GTEST_SKIP() << "built without the desktop GUI"; }
#endif
