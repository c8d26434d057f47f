// TUI sessions: W saves the whole session (inputs, plan, lengths and the processing that made its units,
// memory policies) through the driver, a failed save says why and changes nothing, and a saved session
// reopens (explorer/session_open.h) with the same plan, units, lengths and policy; `adaptis tui
// --session FILE` opens one, refuses one it cannot read (naming the file) and refuses the input options
// a session names itself.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "adaptis/model/cost_table.h"
#include "adaptis/model/error.h"
#include "adaptis/planner.h"
#include "adaptis/planner/units.h"
#include "cli_test_support.h"
#include "explorer/session_open.h"
#include "scratch_dir_test.h"
#include "explorer/explorer_driver.h"
#include "tui/keys.h"
#include "tui/session.h"
#include "tui_test_support.h"

using namespace adaptis;
using namespace adaptis::tui;
using namespace adaptis::tui::test_support;
using adaptis::test::CliResult;

namespace {

constexpr long long kContext = 4096;
const std::vector<long long> kDocs = {4096, 2048, 1024, 512, 256, 128, 6000, 3000, 700};

class TuiSessionFile : public adaptis::test::ScratchDirTest {
 protected:
  // A state over units made from lengths, its costs from a real cost file (a session names it).
  TuiState varlen_state(const std::string& session_out) const {
    app::Inputs in = test_inputs();
    in.costs.tokens_per_microbatch = double(kContext);
    in.costs.pairs_per_microbatch = 0.5 * double(kContext) * double(kContext);
    const std::string costs = at("costs.json");
    save_cost_table(in.costs, costs);
    explorer::ExplorerConfig cfg;
    cfg.lengths = packed_lengths(kDocs, kContext, "tui session test lengths");
    in.units = process_sequences(*cfg.lengths.data, unit_cost_model(in.costs), *cfg.lengths.processing);
    PlanRequest r;
    r.schedule = "1f1b";
    r.units = in.units;
    cfg.db_path = at("runs.db");
    cfg.costs_path = costs;
    cfg.costs_label = costs;
    cfg.session_out = session_out;
    return make_state(std::move(in), r, cfg);
  }
};

// The same plan: partition, schedule (every action in order), units and memory policies.
void expect_same_plan(const Plan& a, const Plan& b) {
  EXPECT_EQ(a.partition.bounds, b.partition.bounds);
  EXPECT_EQ(a.schedule, b.schedule);
  EXPECT_EQ(a.units, b.units);
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.num_microbatches, b.num_microbatches);
}

// Each key, then the session polled until what it started is done (the lengths are read off the UI
// thread), as `adaptis tui --plain --keys` does.
void press_all(TuiSession& session, const std::string& script) {
  for (int k : key::parse_script(script)) {
    session.key(k);
    for (int i = 0; i < 12000 && session.busy(); ++i) {
      session.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    session.poll();
  }
}

TEST_F(TuiSessionFile, WSavesARePackedCheckpointedPlanAndItReopensTheSame) {
  const std::string path = at("tui-session.json");
  TuiSession session(varlen_state(path));
  // Re-pack (p: pack), then checkpoint unit 2 on its stage (K on its selected action).
  press_all(session, "8p");
  ASSERT_TRUE(valid(session.state())) << message(session.state());
  press_all(session, "8jj<enter>K");
  ASSERT_NE(message(session.state()).find("recomputes unit 2"), std::string::npos) << message(session.state());
  const Plan saved = plan(session.state());
  const double t = sim(session.state()).iteration_ms;
  press_all(session, "W");
  EXPECT_FALSE(message_is_error(session.state())) << message(session.state());
  EXPECT_EQ(message(session.state()), "saved the session to " + path);
  expect_same_plan(plan(session.state()), saved);  // saving edits nothing

  const explorer::Session s = explorer::load_session(path);
  EXPECT_FALSE(s.custom);  // built from its request: the policy is the plan's, set again on opening
  ASSERT_TRUE(s.lengths.has_value());
  TuiState back = make_state(explorer::open_session(s, path, explorer::ExplorerConfig{}));
  ASSERT_TRUE(valid(back)) << message(back);
  expect_same_plan(plan(back), saved);
  ASSERT_FALSE(plan(back).memory.empty());
  EXPECT_DOUBLE_EQ(sim(back).iteration_ms, t);
  ASSERT_NE(back.core.config().lengths.data, nullptr);
  EXPECT_EQ(back.core.config().lengths.data->lengths, kDocs);
  EXPECT_EQ(back.core.varlen().processing, session.state().core.varlen().processing);
  EXPECT_EQ(back.core.config().costs_path, at("costs.json"));
  // The reopened session re-packs from its lengths, as the saved one did.
  back = press(std::move(back), "8p");
  EXPECT_TRUE(valid(back)) << message(back);
  EXPECT_NE(back.core.varlen().processing, session.state().core.varlen().processing);
}

// In the Data view ( halves the context and { halves the global batch: the driver reads the lengths file
// again (the budget of 4096 tokens capped at the new context, the file cut to the batch), the view says
// what the iteration is, W saves the session with the new values and it reopens with the same plan and
// data; u undoes a change like any edit.
TEST_F(TuiSessionFile, ContextAndBatchKeysReadTheLengthsAgainAndWKeepsThem) {
  std::string text;
  for (long long d : kDocs) text += std::to_string(d) + "\n";
  const std::string file = write("docs.lengths", text);  // 17764 tokens
  TuiState start = varlen_state(at("tui-session.json"));
  explorer::LengthsSource& l = start.core.config().lengths;
  l.spec = file;
  l.options.context = kContext;
  TuiSession session(std::move(start));
  const std::vector<WorkUnit> before = plan(session.state()).units;
  press_all(session, "8(");
  ASSERT_FALSE(message_is_error(session.state())) << message(session.state());
  EXPECT_NE(message(session.state()).find("token budget 4096 capped at the context"), std::string::npos)
      << message(session.state());
  for (const WorkUnit& u : plan(session.state()).units) EXPECT_LE(u.run_tokens(), 2048);
  press_all(session, "{");
  ASSERT_FALSE(message_is_error(session.state())) << message(session.state());
  const std::string settings = session.state().core.varlen().settings_line;
  EXPECT_EQ(settings, "context 2048 tokens, global batch 8882 tokens");
  const std::string screen = render(session.state(), 120, 40).text();
  EXPECT_NE(screen.find("iteration context 2048 tokens, global batch 8882 tokens  ( ) context  { } batch"),
            std::string::npos) << screen;
  SequenceProcessing budget = *packed_lengths({1}, kContext, "").processing;
  budget.unit_tokens = 0;
  LengthOptions cut;
  cut.context = 2048;
  cut.global_batch_tokens = 8882;
  EXPECT_EQ(plan(session.state()).units,
            process_sequences(load_sequence_lengths(file, cut), unit_cost_model(session.state().core.editor().costs()),
                              budget));
  const Plan changed = plan(session.state());
  const double t = sim(session.state()).iteration_ms;

  press_all(session, "W");
  ASSERT_EQ(message(session.state()), "saved the session to " + at("tui-session.json"));
  const explorer::Session s = explorer::load_session(at("tui-session.json"));
  ASSERT_TRUE(s.lengths.has_value());
  EXPECT_EQ(s.lengths->spec, file);
  EXPECT_EQ(s.lengths->options.context, 2048);
  EXPECT_EQ(s.lengths->options.global_batch_tokens, 8882);
  TuiState back = make_state(explorer::open_session(s, at("tui-session.json"), explorer::ExplorerConfig{}));
  expect_same_plan(plan(back), changed);
  EXPECT_DOUBLE_EQ(sim(back).iteration_ms, t);
  EXPECT_EQ(back.core.varlen().settings_line, settings);

  press_all(session, "uu");
  EXPECT_EQ(plan(session.state()).units, before);
  EXPECT_EQ(session.state().core.varlen().context, kContext);
}

TEST_F(TuiSessionFile, AFailedSaveSaysWhyAndChangesNothing) {
  const std::string path = at("missing-dir/sub/tui-session.json");
  TuiSession session(varlen_state(path));
  press_all(session, "8p");
  const Plan before = plan(session.state());
  press_all(session, "W");
  EXPECT_TRUE(message_is_error(session.state()));
  EXPECT_EQ(message(session.state()).rfind("cannot save the session: ", 0), 0u) << message(session.state());
  EXPECT_NE(message(session.state()).find("tui-session.json"), std::string::npos) << message(session.state());
  expect_same_plan(plan(session.state()), before);
  EXPECT_FALSE(std::filesystem::exists(path));
  // The state only asks; the driver writes.
  TuiState asked = press(varlen_state(at("x.json")), "W");
  EXPECT_TRUE(effect(asked, explorer::EffectKind::SaveSession));
  EXPECT_FALSE(std::filesystem::exists(at("x.json")));
}

TEST_F(TuiSessionFile, ASessionKeepsThePinnedComparisonAndTheView) {
  const std::string path = at("plain.json");
  app::Inputs in = test_inputs();
  save_cost_table(in.costs, at("costs.json"));
  explorer::ExplorerConfig cfg;
  cfg.costs_path = at("costs.json");
  cfg.db_path = at("runs.db");
  cfg.session_out = path;
  PlanRequest req;
  req.schedule = "1f1b";
  TuiState s = make_state(in, req, cfg);
  s.core.pin_current();
  ASSERT_TRUE(s.core.move_boundary(1, 6).applied) << message(s);
  s.core.set_window(3, 9);
  s = press(std::move(s), "W");
  explorer::ExplorerDriver driver;
  driver.carry_out(s.core);
  ASSERT_FALSE(message_is_error(s)) << message(s);
  TuiState back = make_state(explorer::open_session(explorer::load_session(path), path, explorer::ExplorerConfig{}));
  expect_same_plan(plan(back), plan(s));
  EXPECT_TRUE(back.core.comparing());
  ASSERT_NE(back.core.side(1).plan(), nullptr);
  EXPECT_EQ(back.core.side(1).plan()->partition.bounds, s.core.side(1).plan()->partition.bounds);
  EXPECT_NEAR(back.core.view().window.t0, 3, 1e-9);
  EXPECT_NEAR(back.core.view().window.t1, 9, 1e-9);
  EXPECT_TRUE(plan(back).units.empty());
}

// ---- the command ----

class TuiSessionCli : public adaptis::test::ScratchDirTest {
 protected:
  const std::string samples = std::string(ADAPTIS_SOURCE_DIR) + "/samples";
  const std::string llama = samples + "/models/llama-2-7b.json";
  const std::string mix = samples + "/data/pretrain-mix.lengths";
  CliResult run(const std::string& args) const { return adaptis::test::run_cli(args, false, "NO_COLOR=1"); }
};

TEST_F(TuiSessionCli, TuiSessionOpensWhatWSaved) {
  const std::string out = at("s.json");
  CliResult r = run("tui --model " + llama + " --devices 4 --lengths " + mix +
                    " --pack pack-tokens --unit-tokens 4096 --db " + at("runs.db") + " --plain --size 120x40 --keys \"8pW\" --session-out " + out);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("saved the session to " + out), std::string::npos) << r.out;
  const explorer::Session s = explorer::load_session(out);
  ASSERT_TRUE(s.lengths.has_value());

  r = run("tui --session " + out + " --plain --size 120x40 --keys 8");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("opened session " + out), std::string::npos) << r.out;
  ASSERT_TRUE(s.lengths->processing.has_value());
  EXPECT_EQ(s.lengths->processing->mode, PackingMode::Pack);  // what p made of it, not the start's
  EXPECT_NE(r.out.find("processing " + describe(*s.lengths->processing).substr(0, 60)), std::string::npos) << r.out;
}

TEST_F(TuiSessionCli, BadSessionFilesExitOneNamingTheFile) {
  const std::string missing = at("nope.json");
  CliResult r = run("tui --session " + missing + " --plain --size 120x40");
  EXPECT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;

  const std::string broken = write("broken.json", "{\"format\": \"adaptis-gui-session/1\", ");
  r = run("tui --session " + broken + " --plain --size 120x40");
  EXPECT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.err.find(broken), std::string::npos) << r.err;

  const std::string wrong = write("wrong.json", "{\"format\": \"adaptis-plan/1\"}");
  r = run("tui --session " + wrong + " --plain --size 120x40");
  EXPECT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.err.find(wrong + ": format"), std::string::npos) << r.err;
}

TEST_F(TuiSessionCli, SessionWithInputOptionsIsRefusedNamingThem) {
  const std::string any = write("s.json", "{}");
  CliResult r = run("tui --session " + any + " --model " + llama + " --lengths " + mix + " --plain");
  EXPECT_EQ(r.code, 1) << r.err << r.out;
  EXPECT_NE(r.err.find("--session"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--lengths"), std::string::npos) << r.err;
}

}  // namespace
