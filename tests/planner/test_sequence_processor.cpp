// The sequence processor: packing by tokens and by cost, slicing, elastic processing and unit order,
// and its invariants (every token placed once, budgets kept, slices of a row consecutive and in order,
// a row's slices adding up to its pairs).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "adaptis/model/error.h"
#include "adaptis/planner/sequence_processor.h"

using namespace adaptis;

namespace {

// A 7B-like unit cost: per token and per pair (attention is ~15% of the work at 4k tokens).
UnitCostModel model() {
  UnitCostModel m;
  m.fixed_ms = 0.5;
  m.per_token_ms = 1e-3;
  m.per_pair_ms = 1e-3 * 0.15 / 2048;
  return m;
}

SequenceLengths data(std::vector<long long> lengths, long long context) {
  SequenceLengths d;
  d.lengths = std::move(lengths);
  d.context = context;
  d.origin = "test";
  return d;
}

SequenceLengths skewed() {
  LengthOptions o;
  o.context = 8192;
  o.global_batch_tokens = 1 << 19;
  return load_sequence_lengths("long-tail:tail=0.05,seed=4", o);
}

void check_invariants(const SequenceLengths& d, const std::vector<WorkUnit>& units, long long budget, const char* what) {
  long long tokens = 0;
  double pairs = 0;
  for (const auto& u : units) {
    tokens += u.tokens();
    pairs += u.pairs();
    if (u.padded_tokens == 0) {
      EXPECT_LE(u.tokens(), budget) << what;
    }
  }
  double want = 0;
  for (long long s : d.lengths) want += 0.5 * double(s) * double(s);
  EXPECT_EQ(tokens, d.total_tokens()) << what;
  bool padded = false;
  for (const auto& u : units) padded = padded || u.padded_tokens > 0;
  if (!padded) {
    EXPECT_NEAR(pairs, want, 1e-9 * want) << what;
  }
  EXPECT_TRUE(unit_problems(units).empty()) << what << ": " << unit_problems(units).front();
  // Slices of a row are consecutive and in slice order.
  std::map<int, int> last_index, last_slice;
  for (int i = 0; i < static_cast<int>(units.size()); ++i) {
    const WorkUnit& u = units[i];
    if (u.row < 0) continue;
    if (last_index.count(u.row)) {
      EXPECT_EQ(last_index[u.row], i - 1) << what;
      EXPECT_EQ(last_slice[u.row], u.slice - 1) << what;
    } else {
      EXPECT_EQ(u.slice, 0) << what;
    }
    last_index[u.row] = i;
    last_slice[u.row] = u.slice;
  }
}

double imbalance(const std::vector<WorkUnit>& units, const UnitCostModel& m) {
  double mx = 0, sum = 0;
  for (const auto& u : units) mx = std::max(mx, m.ms(u)), sum += m.ms(u);
  return mx / (sum / double(units.size()));
}

}  // namespace

TEST(SequenceProcessor, EveryModeKeepsTokensBudgetsAndSliceOrder) {
  const SequenceLengths d = skewed();
  for (PackingMode mode : {PackingMode::Pad, PackingMode::PackTokens, PackingMode::Pack, PackingMode::Slice, PackingMode::Elastic})
    for (long long budget : {8192LL, 4096LL, 2048LL})
      for (UnitOrder order : {UnitOrder::AsBuilt, UnitOrder::LongFirst, UnitOrder::ShortFirst, UnitOrder::Interleaved}) {
        SequenceProcessing p;
        p.mode = mode;
        p.unit_tokens = budget;
        p.units = 24;
        p.slices = 3;
        p.order = order;
        std::vector<WorkUnit> units = process_sequences(d, model(), p);
        check_invariants(d, units, mode == PackingMode::Pad ? d.context : budget, describe(p).c_str());
      }
}

TEST(SequenceProcessor, PaddingPadsEverySequenceToTheContext) {
  const SequenceLengths d = data({100, 8000, 9000, 5}, 8192);
  SequenceProcessing p;
  p.mode = PackingMode::Pad;
  std::vector<WorkUnit> units = process_sequences(d, model(), p);
  // 100, 8000 and 5 padded; 9000 cut into two slices.
  ASSERT_EQ(units.size(), 5u);
  EXPECT_EQ(units[0].run_tokens(), 8192);
  EXPECT_EQ(units[0].tokens(), 100);
  EXPECT_TRUE(units[2].is_slice() && units[3].is_slice());
  EXPECT_EQ(units[2].tokens() + units[3].tokens(), 9000);
}

TEST(SequenceProcessor, PackingByCostBalancesWhatPackingByTokensCannot) {
  // Half the tokens in 4 long documents, half in many short ones: equal-token packs differ a lot in
  // attention pairs; cost-balanced packs do not.
  std::vector<long long> lens(4, 6000);
  for (int i = 0; i < 240; ++i) lens.push_back(100);
  const SequenceLengths d = data(lens, 16384);
  UnitCostModel m = model();
  m.per_pair_ms *= 8;  // attention-heavy (long context) so the imbalance is visible
  SequenceProcessing p;
  p.unit_tokens = 16384;
  p.units = 6;  // 4 units get a long document; equal tokens then put short ones beside them
  p.mode = PackingMode::PackTokens;
  std::vector<WorkUnit> by_tokens = process_sequences(d, m, p);
  p.mode = PackingMode::Pack;
  std::vector<WorkUnit> by_cost = process_sequences(d, m, p);
  EXPECT_EQ(by_tokens.size(), by_cost.size());
  EXPECT_LT(imbalance(by_cost, m), imbalance(by_tokens, m) - 0.05)
      << "by cost " << imbalance(by_cost, m) << " vs by tokens " << imbalance(by_tokens, m);
  // Equal-token packs are within one short document of each other.
  long long lo = 1LL << 40, hi = 0;
  for (const auto& u : by_tokens) lo = std::min(lo, u.tokens()), hi = std::max(hi, u.tokens());
  EXPECT_LE(hi - lo, 100);
}

TEST(SequenceProcessor, ElasticSlicesTheLongTailAndPacksTheRest) {
  std::vector<long long> lens = {16000, 12000};
  for (int i = 0; i < 200; ++i) lens.push_back(150 + (i * 37) % 400);
  const SequenceLengths d = data(lens, 16384);
  SequenceProcessing p;
  p.mode = PackingMode::Elastic;
  p.unit_tokens = 8192;
  p.units = 12;
  std::vector<WorkUnit> units = process_sequences(d, model(), p);
  check_invariants(d, units, 8192, "elastic");
  int slices = 0;
  for (const auto& u : units) slices += u.is_slice();
  EXPECT_GE(slices, 4);  // both long sequences sliced
  EXPECT_LT(imbalance(units, model()), 1.6);
  // Slices shrink along a row (equal cost, later slices see more keys).
  for (size_t i = 1; i < units.size(); ++i) {
    if (units[i].row >= 0 && units[i].row == units[i - 1].row) {
      EXPECT_LE(units[i].tokens(), units[i - 1].tokens() + 1);
    }
  }
}

TEST(SequenceProcessor, LongFirstAndInterleavedOrders) {
  const SequenceLengths d = skewed();
  SequenceProcessing p;
  p.mode = PackingMode::Elastic;
  p.unit_tokens = 4096;
  p.units = 40;
  p.order = UnitOrder::LongFirst;
  std::vector<WorkUnit> units = process_sequences(d, model(), p);
  // Groups (a row's slices count together) are in non-increasing cost.
  std::vector<double> group_cost;
  for (size_t i = 0; i < units.size(); ++i) {
    if (i > 0 && units[i].row >= 0 && units[i].row == units[i - 1].row) group_cost.back() += model().ms(units[i]);
    else group_cost.push_back(model().ms(units[i]));
  }
  EXPECT_TRUE(std::is_sorted(group_cost.rbegin(), group_cost.rend()));
  p.order = UnitOrder::Interleaved;
  std::vector<WorkUnit> inter = process_sequences(d, model(), p);
  EXPECT_EQ(inter.size(), units.size());
  EXPECT_NE(inter, units);
}

TEST(SequenceProcessor, TooLongWithSlicingOffNamesTheSequence) {
  SequenceLengths d = data({100, 9000, 50}, 8192);
  d.lines = {1, 2, 3};
  d.origin = "batch.lengths";
  SequenceProcessing p;
  p.mode = PackingMode::Pack;
  p.allow_slicing = false;
  try {
    process_sequences(d, model(), p);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("batch.lengths line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("slicing is off"), std::string::npos) << e.what();
  }
  // A unit budget below the longest sequence (but within the context) is refused the same way.
  d.context = 16384;
  p.unit_tokens = 4096;
  EXPECT_THROW(process_sequences(d, model(), p), InputError);
  p.unit_tokens = 32768;
  EXPECT_THROW(process_sequences(d, model(), p), InputError);  // above the context
  EXPECT_THROW(parse_packing_mode("zip"), InputError);
  EXPECT_THROW(parse_unit_order("random"), InputError);
}

namespace {

TEST(SequenceProcessor, TightBudgetOnALongSequenceKeepsTheSliceCountBounded) {
  // A 128k sequence under a 2048-token budget: equal cost would need ever tinier late slices (the
  // attention pairs dominate); the slices stay within twice the fewest the budget allows.
  UnitCostModel c;
  c.per_token_ms = 1e-3;
  c.per_pair_ms = 1e-5;  // pairs dominate at this length
  SequenceLengths d = data({131072, 1000}, 131072);
  SequenceProcessing p;
  p.mode = PackingMode::PackTokens;
  p.unit_tokens = 2048;
  std::vector<WorkUnit> units = process_sequences(d, c, p);
  check_invariants(d, units, 2048, "tight budget");
  size_t slices = 0;
  for (const auto& u : units) slices += u.is_slice() ? 1 : 0;
  EXPECT_GE(slices, 131072u / 2048);
  EXPECT_LE(slices, 2u * 131072u / 2048);
}

}  // namespace

// Slice and elastic processing cut rows by design; with slicing off they are refused, naming the unit.
TEST(SequenceProcessor, SlicingModesWithSlicingOffAreRefused) {
  SequenceLengths d = data({3000, 2000, 500, 8000}, 8192);
  SequenceProcessing p;
  p.mode = PackingMode::Slice;
  p.slices = 2;
  p.allow_slicing = false;
  try {
    process_sequences(d, model(), p);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("slicing is off, but slice makes slices (unit "), std::string::npos) << e.what();
  }
  p.allow_slicing = true;
  EXPECT_NO_THROW(process_sequences(d, model(), p));
}
