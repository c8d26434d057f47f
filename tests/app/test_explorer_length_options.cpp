// The iteration's context length and global batch changed from inside the explorers: the core asks for
// the lengths again (a ReadLengths effect the driver carries out off the UI thread with the library's
// loader, as the command line reads --lengths with --context / --global-batch-tokens), packs them with
// the plan's processing and rebuilds the plan over the new units as one undo step; what cannot apply is
// refused with the reason and leaves the plan as it was; a newer value supersedes a read in flight, and
// a read waiting on a FIFO nobody writes is stopped by it or by closing the explorer; a saved session
// keeps the new values and reopens them (and one saved before they existed still opens).
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/planner.h"
#include "adaptis/planner/sequence_processor.h"
#include "explorer/explorer.h"
#include "explorer/explorer_driver.h"
#include "explorer/session_file.h"
#include "explorer/session_open.h"
#include "explorer_test_support.h"
#include "fifo_test_support.h"
#include "scratch_dir_test.h"

using namespace adaptis;
using namespace adaptis::explorer;

namespace {

constexpr long long kContext = 4096;
const std::string kDist = "lognormal:median=1024,sigma=1,seed=5";
const std::string kMix = "# test\n3000\n500\n1200\n4000\n800\n2500\n100\n3900\n";  // 16000 tokens, the longest 4000

CostTable costs() {
  CostTable c = test_support::synthetic_costs(12);
  c.tokens_per_microbatch = double(kContext);
  c.pairs_per_microbatch = 0.5 * double(kContext) * double(kContext);
  return c;
}

SequenceProcessing pack_tokens(bool slicing = true) {
  SequenceProcessing p;
  p.mode = PackingMode::PackTokens;
  p.allow_slicing = slicing;
  return p;
}

// What the command line makes of `spec` with these options and processing.
std::vector<WorkUnit> units_of(const std::string& spec, LengthOptions o, const SequenceProcessing& p) {
  return process_sequences(load_sequence_lengths(spec, o), unit_cost_model(costs()), p);
}

// An explorer started like `adaptis tui --lengths SPEC --context C --global-batch-tokens G`.
Explorer start(const std::string& spec, LengthOptions o, const SequenceProcessing& p = pack_tokens()) {
  ExplorerConfig cfg;
  cfg.optimizer.threads = 1;
  cfg.db_path = "/nonexistent/runs.db";
  cfg.lengths.spec = spec;
  cfg.lengths.options = o;
  cfg.lengths.data = std::make_shared<const SequenceLengths>(load_sequence_lengths(spec, o));
  cfg.lengths.processing = p;
  app::Inputs in{costs(), make_uniform_cluster(4), SimOptions{}};
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = process_sequences(*cfg.lengths.data, unit_cost_model(in.costs), p);
  Explorer ex(in, cfg);
  EXPECT_TRUE(ex.start_with_request(req).applied) << ex.message().text;
  return ex;
}

LengthOptions options(long long context, long long batch) {
  LengthOptions o;
  o.context = context;
  o.global_batch_tokens = batch;
  return o;
}

// Carries out what the explorer asked for, as the front ends do after each command, and polls until
// the lengths are in (the driver reads them off the calling thread).
void settle(Explorer& ex) {
  ExplorerDriver driver;
  driver.carry_out(ex);
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return !ex.reading_lengths(); }))
      << "the lengths never came in";
}

// A refusal: nothing asked of the driver, the plan and the lengths as they were, the reason shown.
void expect_refused(Explorer& ex, const EditResult& r, const std::vector<WorkUnit>& units, const std::string& why) {
  EXPECT_FALSE(r.applied) << r.message;
  settle(ex);
  EXPECT_EQ(ex.editor().plan().units, units);
  EXPECT_TRUE(ex.message().error) << ex.message().text;
  EXPECT_NE(ex.message().text.find(why), std::string::npos) << ex.message().text;
}

}  // namespace

// } and { on the core: the global batch doubles (the distribution draws twice the tokens: more units),
// the context halves (redrawn within it; every unit at most the new context), each one undo step that
// brings back the old lengths with the old units; the Data view says what the iteration is.
TEST(ExplorerLengthOptions, DoublingTheBatchAndHalvingTheContextRebuildTheUnits) {
  Explorer ex = start(kDist, options(kContext, 32768));
  const std::vector<WorkUnit> start_units = ex.editor().plan().units;
  const double start_ms = ex.editor().sim().iteration_ms;
  EXPECT_EQ(ex.varlen().settings_line, "context 4096 tokens, global batch 32768 tokens");
  EXPECT_TRUE(ex.varlen().can_set_lengths);

  EditResult asked = ex.step_global_batch(+1);
  ASSERT_TRUE(asked.applied) << asked.message;
  EXPECT_TRUE(ex.reading_lengths());
  EXPECT_EQ(ex.editor().plan().units, start_units);  // nothing changes before the lengths are read
  settle(ex);
  EXPECT_FALSE(ex.reading_lengths());
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 65536), pack_tokens()));
  EXPECT_GT(ex.editor().plan().units.size(), start_units.size());
  EXPECT_EQ(ex.editor().plan().num_microbatches, static_cast<int>(ex.editor().plan().units.size()));
  EXPECT_GT(ex.editor().sim().iteration_ms, start_ms);
  EXPECT_EQ(ex.varlen().global_batch_tokens, 65536);
  EXPECT_EQ(ex.config().lengths.options.global_batch_tokens, 65536);
  EXPECT_EQ(ex.lengths_on_screen().data->total_tokens(), 65536);
  EXPECT_NE(ex.varlen().data_line.find("65536 tokens, context 4096"), std::string::npos) << ex.varlen().data_line;
  const std::vector<WorkUnit> doubled = ex.editor().plan().units;

  ASSERT_TRUE(ex.step_context(-1).applied);
  settle(ex);
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(2048, 65536), pack_tokens()));
  for (const WorkUnit& u : ex.editor().plan().units) EXPECT_LE(u.run_tokens(), 2048);
  EXPECT_EQ(ex.varlen().settings_line, "context 2048 tokens, global batch 65536 tokens");
  EXPECT_EQ(ex.lengths_on_screen().data->context, 2048);

  // Undo brings back the lengths with their units (a re-pack then uses those), redo the new ones.
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, doubled);
  EXPECT_EQ(ex.varlen().context, kContext);
  EXPECT_EQ(ex.lengths_on_screen().options.context, kContext);
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, start_units);
  EXPECT_EQ(ex.varlen().global_batch_tokens, 32768);
  EXPECT_DOUBLE_EQ(ex.editor().sim().iteration_ms, start_ms);
  ASSERT_TRUE(ex.step_packing_mode(-1).applied) << ex.message().text;  // pad, over the 32768 tokens on screen
  SequenceProcessing pad = pack_tokens();
  pad.mode = PackingMode::Pad;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 32768), pad));
  ASSERT_TRUE(ex.undo());
  ASSERT_TRUE(ex.redo());
  EXPECT_EQ(ex.varlen().global_batch_tokens, 32768);  // the redo is the pad re-pack, not the batch change
}

// Exact values, as the GUI's fields set them; a value the lengths already have changes nothing.
TEST(ExplorerLengthOptions, ExactValuesAndAValueAlreadySet) {
  Explorer ex = start(kDist, options(kContext, 32768));
  ASSERT_TRUE(ex.set_global_batch_tokens(3 * kContext).applied);
  settle(ex);
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 3 * kContext), pack_tokens()));
  ASSERT_TRUE(ex.set_context(8192).applied);
  settle(ex);
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(8192, 3 * kContext), pack_tokens()));
  const std::vector<WorkUnit> units = ex.editor().plan().units;
  const EditResult same = ex.set_context(8192);
  EXPECT_FALSE(same.applied);
  EXPECT_FALSE(ex.reading_lengths());
  EXPECT_NE(same.message.find("read with these already"), std::string::npos) << same.message;
  EXPECT_EQ(ex.editor().plan().units, units);
}

// Refusals keep the plan: a global batch below the context (stepped, or typed and read), a value the
// library rejects (its own words), more units than the explorers plan, a live search driving the plan.
TEST(ExplorerLengthOptions, WhatCannotApplyIsRefusedAndThePlanStays) {
  Explorer ex = start(kDist, options(kContext, 8192));
  const std::vector<WorkUnit> units = ex.editor().plan().units;
  ASSERT_TRUE(ex.step_global_batch(-1).applied);  // 8192 -> 4096: one context's worth is still allowed
  settle(ex);
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  const std::vector<WorkUnit> one_context = ex.editor().plan().units;
  EXPECT_NE(one_context, units);
  expect_refused(ex, ex.step_global_batch(-1), one_context, "below the context of 4096 tokens");
  EXPECT_FALSE(ex.reading_lengths());

  // Typed: read, then refused once the lengths say what they hold.
  ASSERT_TRUE(ex.set_global_batch_tokens(1000).applied);
  expect_refused(ex, {false, ""}, one_context, "the global batch of 1000 tokens is below the context of 4096 tokens");
  EXPECT_EQ(ex.varlen().global_batch_tokens, 4096);

  ASSERT_TRUE(ex.set_context(-5).applied);  // the library's range check, in its words
  expect_refused(ex, {false, ""}, one_context, "context: must be in [1, ");

  expect_refused(ex, ex.set_global_batch_tokens(static_cast<long long>(kMaxExplorerUnits + 1) * kContext), one_context,
                 "more than 4096 units of the context");
  EXPECT_FALSE(ex.reading_lengths());

  ex.config().live_optimizer = true;
  ex.start_optimizer();
  ASSERT_TRUE(ex.editing_locked());
  expect_refused(ex, ex.step_context(+1), one_context, "a live optimizer search is changing the plan");
  ex.take_effects();
}

// A lengths file: the context left to the data is its longest sequence and the batch the whole file;
// a batch the file cannot fill and a context below a sequence with slicing off are the library's errors;
// a batch that cuts the file is read as the command line cuts it.
class ExplorerLengthOptionsFiles : public adaptis::test::ScratchDirTest {};

TEST_F(ExplorerLengthOptionsFiles, ALengthsFileIsReadAgainAndItsErrorsAreTheLibrarys) {
  const std::string file = write("mix.lengths", kMix);
  Explorer ex = start(file, options(0, 0), pack_tokens(false));
  const std::vector<WorkUnit> units = ex.editor().plan().units;
  EXPECT_EQ(ex.varlen().settings_line,
            "context 4000 tokens (the longest sequence), global batch 16000 tokens (the whole file)");

  ASSERT_TRUE(ex.step_global_batch(+1).applied);
  expect_refused(ex, {false, ""}, units, "holds 16000 tokens, fewer than the global batch of 32000");
  ASSERT_TRUE(ex.step_context(-1).applied);  // 2000: the 3000-token sequence on line 2 with slicing off
  expect_refused(ex, {false, ""}, units,
                 file + " line 2: a sequence of 3000 tokens is longer than the context of 2000");

  ASSERT_TRUE(ex.set_global_batch_tokens(8000).applied);
  settle(ex);
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(file, options(0, 8000), pack_tokens(false)));
  EXPECT_EQ(ex.lengths_on_screen().data->lengths, (std::vector<long long>{3000, 500, 1200, 3300}));
}

// Units that came with a plan file have no lengths to read again; lengths without their source (a
// session that did not record it) cannot be read again either.
TEST(ExplorerLengthOptions, WithoutLengthsOrTheirSourceItIsRefused) {
  app::Inputs in{costs(), make_uniform_cluster(4), SimOptions{}};
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 4;
  req.units = units_of(kDist, options(kContext, 32768), pack_tokens());
  Explorer bare(in, ExplorerConfig{});
  ASSERT_TRUE(bare.start_with_request(req).applied);
  expect_refused(bare, bare.step_context(+1), req.units, "the units came with the plan");
  EXPECT_FALSE(bare.varlen().can_set_lengths);

  ExplorerConfig cfg;
  cfg.lengths.data = std::make_shared<const SequenceLengths>(load_sequence_lengths(kDist, options(kContext, 32768)));
  cfg.lengths.processing = pack_tokens();
  Explorer no_source(in, cfg);
  ASSERT_TRUE(no_source.start_with_request(req).applied);
  EXPECT_FALSE(no_source.varlen().can_set_lengths);
  expect_refused(no_source, no_source.step_global_batch(+1), req.units, "where the lengths came from is not known");
}

// A session saved after the change records the new values and reopens with them, the same units and the
// same iteration, and steps on from there; one saved before the fields existed still opens and steps
// from the values its lengths have.
TEST_F(ExplorerLengthOptionsFiles, TheNewValuesRoundTripAndAnOldSessionStillOpens) {
  Explorer ex = start(kDist, options(kContext, 32768));
  ASSERT_TRUE(ex.step_global_batch(+1).applied);
  settle(ex);
  ASSERT_TRUE(ex.step_context(+1).applied);
  settle(ex);
  ASSERT_FALSE(ex.message().error) << ex.message().text;
  const std::string path = at("session.json");
  const std::string costs_path = at("costs.json");
  save_cost_table(costs(), costs_path);
  ex.config().costs_path = costs_path;
  save_session(session_of(ex), path);

  const nlohmann::json j = read_json_file(path);
  EXPECT_EQ(j["lengths"]["context"], 8192);
  EXPECT_EQ(j["lengths"]["global_batch_tokens"], 65536);
  EXPECT_EQ(j["lengths"]["data"]["context"], 8192);

  Explorer back = open_session(load_session(path), path, ExplorerConfig{});
  EXPECT_EQ(back.editor().plan().units, ex.editor().plan().units);
  EXPECT_DOUBLE_EQ(back.editor().sim().iteration_ms, ex.editor().sim().iteration_ms);
  EXPECT_EQ(back.varlen().settings_line, "context 8192 tokens, global batch 65536 tokens");
  EXPECT_EQ(back.config().lengths.spec, kDist);
  ASSERT_TRUE(back.step_global_batch(-1).applied);
  settle(back);
  EXPECT_FALSE(back.message().error) << back.message().text;
  EXPECT_EQ(back.editor().plan().units, units_of(kDist, options(8192, 32768), pack_tokens()));

  // Saved before the fields existed: the data's own values, the same units.
  nlohmann::json old = j;
  old["lengths"].erase("context");
  old["lengths"].erase("global_batch_tokens");
  write_json_file(at("old.json"), old);
  Explorer reopened = open_session(load_session(at("old.json")), at("old.json"), ExplorerConfig{});
  EXPECT_EQ(reopened.editor().plan().units, ex.editor().plan().units);
  EXPECT_EQ(reopened.varlen().settings_line,
            "context 8192 tokens (the data's own), global batch 65536 tokens (the data's own)");
  ASSERT_TRUE(reopened.step_context(-1).applied);
  settle(reopened);
  EXPECT_FALSE(reopened.message().error) << reopened.message().text;
  EXPECT_EQ(reopened.editor().plan().units, units_of(kDist, options(4096, 65536), pack_tokens()));
}

// ---- reading off the UI thread ----

namespace {

// An explorer started from the lengths file `file` (kMix, slicing off), which then becomes a FIFO:
// reading it again waits until the test writes it.
class ExplorerLengthsFifo : public adaptis::test::ScratchDirTest {
 protected:
  std::string file;
  std::vector<WorkUnit> start_units;

  Explorer start_then_make_fifo() {
    file = write("mix.lengths", kMix);
    Explorer ex = start(file, options(0, 0), pack_tokens(false));
    start_units = ex.editor().plan().units;
    EXPECT_TRUE(adaptis::test::make_fifo(file)) << file << ": " << std::strerror(errno);
    return ex;
  }
};

}  // namespace

// The driver returns at once while the lengths file (here a FIFO) has nothing to give: the explorer says
// it is loading them and keeps its plan; once someone writes the file the lengths come in, packed into
// the units the command line makes of the same file.
TEST_F(ExplorerLengthsFifo, TheLengthsAreReadOffTheCallingThread) {
  Explorer ex = start_then_make_fifo();
  ExplorerDriver driver;
  ASSERT_TRUE(ex.set_global_batch_tokens(8000).applied);
  driver.carry_out(ex);  // nothing has been written yet: only a background read can be waiting
  EXPECT_TRUE(driver.busy());
  EXPECT_TRUE(ex.reading_lengths());
  EXPECT_EQ(ex.lengths_loading_text(), file + " with the data's own context, global batch 8000 tokens");
  for (int frame = 0; frame < 5; ++frame) {
    driver.poll(ex);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(ex.reading_lengths());
  EXPECT_EQ(ex.editor().plan().units, start_units);

  ASSERT_TRUE(adaptis::test::write_fifo(file, kMix)) << "the read never opened " << file;
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return !ex.reading_lengths(); }));
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_FALSE(driver.busy());
  EXPECT_EQ(ex.editor().plan().units, units_of(write("copy.lengths", kMix), options(0, 8000), pack_tokens(false)));
  EXPECT_EQ(ex.lengths_on_screen().data->lengths, (std::vector<long long>{3000, 500, 1200, 3300}));
}

// A bad line read in the background is refused with the command line's own words (the file and the
// line), and the plan stays.
TEST_F(ExplorerLengthsFifo, ABadFileReadInTheBackgroundNamesTheFileAndTheLine) {
  Explorer ex = start_then_make_fifo();
  const std::string bad = "3000\n12x\n";
  std::string library_error;
  try {
    load_sequence_lengths(write("bad.lengths", bad), options(0, 4000));
  } catch (const InputError& e) {
    library_error = e.what();
  }
  ASSERT_NE(library_error.find(at("bad.lengths") + " line 2: "), std::string::npos) << library_error;

  ExplorerDriver driver;
  ASSERT_TRUE(ex.set_global_batch_tokens(4000).applied);
  driver.carry_out(ex);
  ASSERT_TRUE(adaptis::test::write_fifo(file, bad));
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return !ex.reading_lengths(); }));
  EXPECT_TRUE(ex.message().error);
  EXPECT_EQ(ex.message().text, "data: the data's own context, global batch 4000 tokens: " +
                                   file + library_error.substr(at("bad.lengths").size()));
  EXPECT_EQ(ex.editor().plan().units, start_units);
}

// A new value while a read is in flight supersedes it: the steps go on from the value being read, the
// older read's lengths (or its error) are never adopted when they come in late, and only the newest
// becomes one undo step; through the driver likewise, whichever read finishes first.
TEST(ExplorerLengthOptions, ANewerValueSupersedesTheReadInFlight) {
  Explorer ex = start(kDist, options(kContext, 32768));
  const std::vector<WorkUnit> start_units = ex.editor().plan().units;
  ASSERT_TRUE(ex.step_global_batch(+1).applied);  // 65536
  const std::vector<Effect> older = ex.take_effects();
  ASSERT_EQ(older.size(), 1u);
  ASSERT_TRUE(ex.step_global_batch(+1).applied);  // from the 65536 being read: 131072
  const std::vector<Effect> newer = ex.take_effects();
  ASSERT_EQ(newer.size(), 1u);
  ASSERT_TRUE(older[0].lengths && newer[0].lengths);
  EXPECT_EQ(newer[0].lengths->options.global_batch_tokens, 131072);
  EXPECT_NE(ex.message().text.find("instead of the values asked for before"), std::string::npos) << ex.message().text;

  const std::atomic<bool> go_on{false};
  auto packed = [&](const Effect& e) {
    std::optional<PackedLengths> p = read_and_pack(*e.lengths, go_on);
    return p ? std::make_shared<const PackedLengths>(std::move(*p)) : nullptr;
  };
  ex.on_lengths_read(*older[0].lengths, packed(older[0]), "");
  ex.on_lengths_read(*older[0].lengths, nullptr, "the older read failed");
  EXPECT_TRUE(ex.reading_lengths());
  EXPECT_EQ(ex.editor().plan().units, start_units);
  EXPECT_EQ(ex.message().text.find("older read"), std::string::npos) << ex.message().text;
  ex.on_lengths_read(*newer[0].lengths, packed(newer[0]), "");
  EXPECT_FALSE(ex.reading_lengths());
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 131072), pack_tokens()));
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, start_units);

  ExplorerDriver driver;
  ASSERT_TRUE(ex.set_context(2048).applied);
  driver.carry_out(ex);
  ASSERT_TRUE(ex.set_context(1024).applied);
  driver.carry_out(ex);
  ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return !ex.reading_lengths() && !driver.busy(); }));
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(1024, 32768), pack_tokens()));
  ASSERT_TRUE(ex.undo());
  EXPECT_EQ(ex.editor().plan().units, start_units);
}

// The plan's processing changed while the lengths were read (a re-pack meanwhile): they are packed by
// the processing now in use, not by the one the read was asked with.
TEST(ExplorerLengthOptions, ARePackWhileReadingPacksTheNewLengthsItsWay) {
  Explorer ex = start(kDist, options(kContext, 32768));
  ASSERT_TRUE(ex.step_global_batch(+1).applied);
  const std::vector<Effect> asked = ex.take_effects();
  ASSERT_EQ(asked.size(), 1u);
  ASSERT_TRUE(ex.step_packing_mode(-1).applied) << ex.message().text;  // pad, over the lengths on screen
  SequenceProcessing pad = pack_tokens();
  pad.mode = PackingMode::Pad;
  ASSERT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 32768), pad));
  const std::atomic<bool> go_on{false};
  std::optional<PackedLengths> packed = read_and_pack(*asked[0].lengths, go_on);
  ASSERT_TRUE(packed.has_value());
  EXPECT_EQ(packed->units, units_of(kDist, options(kContext, 65536), pack_tokens()));  // as asked
  ex.on_lengths_read(*asked[0].lengths, std::make_shared<const PackedLengths>(std::move(*packed)), "");
  EXPECT_FALSE(ex.message().error) << ex.message().text;
  EXPECT_EQ(ex.editor().plan().units, units_of(kDist, options(kContext, 65536), pad));
  EXPECT_EQ(ex.varlen().global_batch_tokens, 65536);
}

// A read waiting on a FIFO nobody writes stops when the value goes back to the lengths on screen, and
// when the explorer closes (shutdown, or the driver's end): nothing waits for a writer.
TEST_F(ExplorerLengthsFifo, AReadWaitingOnAFifoStopsWhenNoLongerWanted) {
  Explorer ex = start_then_make_fifo();
  {
    ExplorerDriver driver;
    ASSERT_TRUE(ex.set_global_batch_tokens(8000).applied);
    driver.carry_out(ex);
    ASSERT_TRUE(ex.set_global_batch_tokens(0).applied);  // the whole file: what is on screen
    EXPECT_FALSE(ex.reading_lengths());
    EXPECT_NE(ex.message().text.find("stopped reading them with the data's own context, global batch 8000 tokens"),
              std::string::npos)
        << ex.message().text;
    driver.carry_out(ex);
    ASSERT_TRUE(test_support::poll_driver_until(driver, ex, [&] { return !driver.busy(); }));
    EXPECT_FALSE(ex.message().error) << ex.message().text;
    EXPECT_EQ(ex.editor().plan().units, start_units);

    ASSERT_TRUE(ex.set_global_batch_tokens(8000).applied);
    driver.carry_out(ex);
    EXPECT_EQ(driver.shutdown(), "stopped reading the lengths");
    EXPECT_FALSE(driver.busy());
  }
  ExplorerDriver closing;
  ASSERT_TRUE(ex.set_global_batch_tokens(12000).applied);
  closing.carry_out(ex);
  EXPECT_TRUE(closing.busy());
}  // `closing` goes with the read still waiting: its end stops it
