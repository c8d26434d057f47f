// The TUI over variable-length units (--lengths): the Data view (8) draws the length histogram and one
// row per unit with its cost, simulated time and a bar; j/k move through the units and enter shows the
// unit's actions on the Gantt, whose detail line names the unit; m/M are refused with the reason; a
// plan without units says how to get them.
#include <gtest/gtest.h>

#include <algorithm>

#include "adaptis/planner.h"
#include "adaptis/planner/units.h"
#include "common/format.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui_test_support.h"

using namespace adaptis;
using namespace adaptis::tui;
using namespace adaptis::tui::test_support;

namespace {

constexpr long long kContext = 4096;

// Whole documents of the given lengths, one unit each, then a row cut into two slices.
std::vector<WorkUnit> units_of(const std::vector<long long>& docs) {
  std::vector<WorkUnit> out;
  for (long long d : docs) {
    WorkUnit u;
    u.docs = {d};
    out.push_back(u);
  }
  WorkUnit a, b;
  a.docs = {3000};
  a.row = 0;
  b.docs = {3000};
  b.row = 0;
  b.slice = 1;
  b.first_doc_offset = 3000;
  out.push_back(a);
  out.push_back(b);
  return out;
}

const std::vector<long long> kDocs = {4096, 2048, 1024, 512, 256, 128};

TuiState varlen_state(bool with_lengths = true) {
  app::Inputs in = test_inputs();
  in.costs.tokens_per_microbatch = double(kContext);
  in.costs.pairs_per_microbatch = 0.5 * double(kContext) * double(kContext);
  in.units = units_of(kDocs);
  explorer::ExplorerConfig cfg;
  if (with_lengths) {
    std::vector<long long> docs = kDocs;
    docs.push_back(6000);
    cfg.lengths = packed_lengths(std::move(docs), kContext, "tui test lengths");
  }
  PlanRequest r;
  r.schedule = "1f1b";
  r.units = in.units;
  cfg.db_path = "/nonexistent/runs.db";
  cfg.model_path = "/models/test.json";
  return make_state(std::move(in), r, cfg);
}

std::string row_with(const Screen& scr, const std::string& needle) {
  for (int y = 0; y < scr.height(); ++y)
    if (scr.row(y).find(needle) != std::string::npos) return scr.row(y);
  return "";
}

}  // namespace

TEST(TuiVarlen, DataViewShowsTheHistogramAndEveryUnit) {
  TuiState s = press(varlen_state(), "8");
  ASSERT_TRUE(valid(s)) << message(s);
  ASSERT_EQ(s.view, View::Data);
  EXPECT_EQ(plan(s).num_microbatches, 8);
  const Screen scr = render(s, 120, 40);
  expect_frame(scr, s);
  const std::string text = scr.text();
  EXPECT_NE(scr.row(0).find("8 Data"), std::string::npos) << text;
  EXPECT_NE(text.find("7 sequences, 14064 tokens, context 4096, longest 6000 (tui test lengths)"), std::string::npos) << text;
  EXPECT_NE(text.find("processing pack-tokens, <=4096 tok/unit"), std::string::npos) << text;
  EXPECT_NE(text.find("8 units (2 slices), 14064 tokens"), std::string::npos) << text;
  // Every unit has a row with what it holds, its tokens and its costs; the longest has the full bar.
  const explorer::VarlenView& v = s.core.varlen();
  ASSERT_EQ(v.units.size(), 8u);
  for (const explorer::UnitRow& u : v.units) {
    const std::string row = row_with(scr, u.what);
    ASSERT_FALSE(row.empty()) << "no row for unit " << u.unit << " (" << u.what << ")\n" << text;
    EXPECT_NE(row.find(std::to_string(u.tokens)), std::string::npos) << row;
    EXPECT_NE(row.find(app::format_ms(u.cost_ms)), std::string::npos) << row;
    EXPECT_NE(row.find(app::format_ms(u.simulated_ms)), std::string::npos) << row;
  }
  const auto bar = [](const std::string& row) { return std::count(row.begin(), row.end(), '='); };
  const std::string longest = row_with(scr, "1 doc, 4096 tok"), shortest = row_with(scr, "1 doc, 128 tok");
  EXPECT_GT(bar(longest), 3 * bar(shortest)) << longest << "\n" << shortest;
  // The histogram: its header and a bin holding the 6000-token sequence.
  EXPECT_NE(text.find("length            sequences   tokens    s^2/2"), std::string::npos) << text;
  EXPECT_NE(text.find("[  4096,   8192)         2"), std::string::npos) << text;
  // At 80x24 the frame still holds.
  expect_frame(render(s, 80, 24), s);
}

TEST(TuiVarlen, EnterShowsTheUnitOnTheGanttAndTheDetailLineNamesIt) {
  TuiState s = press(varlen_state(), "8jjjjjj");
  ASSERT_EQ(s.cursor[static_cast<int>(View::Data)], 6);
  EXPECT_NE(row_with(render(s, 120, 40), "> ").find("slice 0 of row 0"), std::string::npos) << render(s, 120, 40).text();
  s = press(std::move(s), "<enter>");
  ASSERT_EQ(s.view, View::Gantt);
  const explorer::TimelineBox* b = s.core.selected_box();
  ASSERT_NE(b, nullptr) << message(s);
  EXPECT_EQ(b->mb, 6);
  const std::string text = render(s, 120, 40).text();
  EXPECT_NE(text.find("unit 6: " + describe_unit(plan(s).units[6])), std::string::npos) << text;
  // The cursor stops at the last unit.
  s = press(std::move(s), "8<end>jj");
  EXPECT_EQ(s.cursor[static_cast<int>(View::Data)], 7);
}

TEST(TuiVarlen, MicroBatchKeysAreRefusedAndOtherEditsKeepTheUnits) {
  TuiState s = varlen_state();
  const std::vector<WorkUnit> units = plan(s).units;
  s = press(std::move(s), "m");
  EXPECT_TRUE(message_is_error(s));
  EXPECT_NE(message(s).find("one micro-batch per variable-length unit (8 units"), std::string::npos) << message(s);
  EXPECT_EQ(plan(s).num_microbatches, 8);
  for (const char* k : {"D", ">", "e"}) {  // devices, partition (the schedules: test_explorer_varlen)
    s = press(std::move(s), k);
    ASSERT_TRUE(valid(s)) << k << ": " << message(s);
    EXPECT_FALSE(message_is_error(s)) << k << ": " << message(s);
    EXPECT_EQ(plan(s).units, units) << k;
  }
  EXPECT_EQ(plan(s).units, units);
  EXPECT_EQ(plan(s).num_devices(), 3);
}

TEST(TuiVarlen, WithoutUnitsTheDataViewSaysHowToGetThem) {
  TuiState s = press(start(), "8");
  const std::string text = render(s, 100, 30).text();
  EXPECT_NE(text.find("identical micro-batches"), std::string::npos) << text;
  EXPECT_NE(text.find("--lengths"), std::string::npos) << text;
  s = press(std::move(s), "<enter>");
  EXPECT_TRUE(message_is_error(s));
  EXPECT_EQ(s.view, View::Data);
  // Units without their lengths (a plan file's): the rows, and why there is no histogram.
  const std::string bare = render(press(varlen_state(false), "8"), 100, 30).text();
  EXPECT_NE(bare.find("not known here"), std::string::npos) << bare;
  EXPECT_NE(bare.find("8 units (2 slices)"), std::string::npos) << bare;
}

// K on a selected action checkpoints its unit on its stage (an R appears for it, the Plan view's memory
// column shows the policy), K again keeps it; an early slice checkpoints too (it keeps its keys and values).
TEST(TuiVarlen, KCheckpointsTheSelectedUnitOnItsStage) {
  TuiState s = press(varlen_state(), "8jj<enter>");  // unit 2 on the Gantt
  const explorer::TimelineBox* b = s.core.selected_box();
  ASSERT_NE(b, nullptr) << message(s);
  const int stage = b->stage;
  s = press(std::move(s), "K");
  ASSERT_TRUE(valid(s)) << message(s);
  EXPECT_NE(message(s).find("recomputes unit 2"), std::string::npos) << message(s);
  ASSERT_FALSE(plan(s).memory.empty());
  EXPECT_EQ(plan(s).memory[static_cast<size_t>(stage)].units, std::vector<int>{2});
  EXPECT_NE(render(press(s, "2"), 120, 40).text().find("full on 1 unit"), std::string::npos)
      << render(press(s, "2"), 120, 40).text();
  s = press(std::move(s), "K");
  EXPECT_NE(message(s).find("keeps unit 2"), std::string::npos) << message(s);
  EXPECT_TRUE(plan(s).memory.empty() || plan(s).memory[static_cast<size_t>(stage)] == StageMemoryPolicy{});
  s = press(std::move(s), "8<end>k<enter>K");  // unit 6: slice 0 of row 0
  EXPECT_NE(message(s).find("recomputes unit 6"), std::string::npos) << message(s);
}

// The Data view's re-pack keys reach the core: p steps the packing mode and the plan runs the units the
// processing makes of the lengths; c with B below the longest sequence is refused, shown in the view;
// the same keys elsewhere keep their own meaning (p in the Gantt is the producer).
TEST(TuiVarlen, DataViewKeysRePackTheLengths) {
  TuiState s = press(varlen_state(), "8p");
  ASSERT_TRUE(valid(s)) << message(s);
  SequenceProcessing want;
  want.mode = PackingMode::Pack;
  want.unit_tokens = 4096;
  const std::vector<WorkUnit> units =
      process_sequences(*s.core.config().lengths.data, unit_cost_model(s.core.editor().costs()), want);
  EXPECT_EQ(plan(s).units, units);
  EXPECT_EQ(plan(s).num_microbatches, static_cast<int>(units.size()));
  std::string text = render(s, 120, 40).text();
  EXPECT_NE(text.find("processing pack, <=4096 tok/unit"), std::string::npos) << text;
  EXPECT_NE(text.find("re-pack: p/P mode"), std::string::npos) << text;

  s = press(std::move(s), "cB");  // slicing off, then 2048 tokens: the 6000-token sequence cannot fit
  EXPECT_TRUE(s.core.message().error);
  text = render(s, 120, 40).text();
  EXPECT_NE(text.find("refused pack, <=2048 tok/unit, no slicing:"), std::string::npos) << text;
  EXPECT_EQ(plan(s).units, units);

  TuiState g = press(varlen_state(), "3<enter>p");
  EXPECT_EQ(g.view, View::Gantt);
  EXPECT_EQ(plan(g).units, units_of(kDocs));
}

// } asks for the lengths again: the key returns at once (the read is an effect the session's driver
// carries out off the UI thread) and, until they are in, the Data view says what it is loading while
// the plan stays as it was.
TEST(TuiVarlen, TheDataViewSaysWhileTheLengthsAreLoading) {
  TuiState start = varlen_state();
  start.core.config().lengths.spec = "/data/tui-test.lengths";
  const std::vector<WorkUnit> units = plan(start).units;
  TuiState s = press(std::move(start), "8}");
  EXPECT_TRUE(s.core.reading_lengths()) << message(s);
  EXPECT_EQ(plan(s).units, units);
  const Screen scr = render(s, 120, 40);
  expect_frame(scr, s);
  EXPECT_NE(scr.text().find("loading lengths... /data/tui-test.lengths with the data's own context, global batch "
                            "28128 tokens"),
            std::string::npos)
      << scr.text();
}
