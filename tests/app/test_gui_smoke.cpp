// End-to-end: `adaptis gui` under Xvfb renders a sample plan and saves a screenshot that is not
// blank (many distinct colours, the F and BW box colours present, no single colour covering the
// whole window). Also: without a display, or without the GUI built, the command fails with a
// clear error instead of crashing. Skips when xvfb-run is missing or the GUI is not built.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#ifdef ADAPTIS_HAVE_GUI
#include <stb_image.h>
#endif

#include "adaptis/model/json_file.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/planner.h"
#include "explorer/session_file.h"

namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

fs::path scratch(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("adaptis-gui-smoke-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d / name;
}

// Runs `adaptis <args>` under `xvfb-run -a` with its output in `log` and returns adaptis's own exit
// status. xvfb-run exits with codes of its own when cleaning up its directory races another instance
// on a loaded machine (5), which says nothing about adaptis; the status is read from a file instead.
[[maybe_unused]] int run_gui_under_xvfb(const std::string& args, const fs::path& log) {
  const fs::path rc_file = fs::path(log.string() + ".rc");
  fs::remove(rc_file);
  const int xvfb = run("xvfb-run -a -s '-screen 0 1280x800x24' sh -c '\"$0\" \"$@\" > " + log.string() +
                       " 2>&1; echo $? > " + rc_file.string() + "' " + std::string(ADAPTIS_BINARY) + " " + args);
  std::ifstream in(rc_file);
  int rc = -1;
  if (!(in >> rc)) return 1000 + xvfb;  // adaptis never ran: Xvfb did not start
  return rc;
}

#ifdef ADAPTIS_HAVE_GUI
// A decoded screenshot (RGB) and the pixel counts the tests check.
struct Screenshot {
  int w = 0, h = 0;
  std::vector<unsigned char> px;

  bool load(const fs::path& png) {
    int n = 0;
    unsigned char* data = stbi_load(png.string().c_str(), &w, &h, &n, 3);
    if (!data) return false;
    px.assign(data, data + static_cast<size_t>(w) * h * 3);
    stbi_image_free(data);
    return true;
  }
  long pixels() const { return static_cast<long>(w) * h; }
  // Pixels within 6 of (r, g, b) in every channel, in rows from `first_row` down.
  long count(int r, int g, int b, int first_row = 0) const {
    long k = 0;
    for (long i = static_cast<long>(first_row) * w; i < pixels(); ++i) {
      const unsigned char* p = &px[static_cast<size_t>(i) * 3];
      k += std::abs(p[0] - r) <= 6 && std::abs(p[1] - g) <= 6 && std::abs(p[2] - b) <= 6;
    }
    return k;
  }
  // Colours at 5 bits per channel: how many distinct ones, and the most pixels any one covers.
  std::pair<size_t, long> colour_spread() const {
    std::map<uint32_t, long> hist;
    for (long i = 0; i < pixels(); ++i) {
      const unsigned char* p = &px[static_cast<size_t>(i) * 3];
      ++hist[(p[0] >> 3) << 10 | (p[1] >> 3) << 5 | (p[2] >> 3)];
    }
    long most = 0;
    for (const auto& [c, k] : hist) most = std::max(most, k);
    return {hist.size(), most};
  }
};
#endif

const std::string kModel = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json";

}  // namespace

TEST(GuiSmoke, WithoutADisplayTheCommandExplainsInsteadOfCrashing) {
  const fs::path log = scratch("nodisplay.log");
  const int rc = run("env -u DISPLAY -u WAYLAND_DISPLAY " + std::string(ADAPTIS_BINARY) + " gui --model " + kModel +
                     " --devices 2 --frames 1 > " + log.string() + " 2>&1");
  const std::string out = slurp(log);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("error: adaptis gui:"), std::string::npos) << out;
#ifdef ADAPTIS_HAVE_GUI
  EXPECT_NE(out.find("no display"), std::string::npos) << out;
#else
  EXPECT_NE(out.find("built without the desktop GUI"), std::string::npos) << out;
#endif
}

TEST(GuiSmoke, BadInputsFailBeforeAWindowOpens) {
  const fs::path log = scratch("badinput.log");
  const int rc = run("env -u DISPLAY " + std::string(ADAPTIS_BINARY) + " gui --costs /nonexistent/costs.json > " +
                     log.string() + " 2>&1");
  const std::string out = slurp(log);
  EXPECT_EQ(rc, 1) << out;
#ifdef ADAPTIS_HAVE_GUI
  EXPECT_NE(out.find("/nonexistent/costs.json"), std::string::npos) << out;
#else
  // A build without the GUI says so first, before reading any input.
  EXPECT_NE(out.find("built without the desktop GUI"), std::string::npos) << out;
#endif
}

TEST(GuiSmoke, ScreenshotUnderXvfbIsNotBlank) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  const fs::path png = scratch("shot.png"), log = scratch("shot.log");
  fs::remove(png);
  const int rc = run_gui_under_xvfb("gui --model " + kModel +
                                        " --devices 4 --microbatches 8 --schedule 1f1b --compare gpipe --size 1280x800" +
                                        " --db " + scratch("runs.db").string() + " --screenshot " + png.string() +
                                        " --frames 3",
                                    log);
  ASSERT_EQ(rc, 0) << slurp(log);
  Screenshot shot;
  ASSERT_TRUE(shot.load(png)) << "cannot decode " << png;
  EXPECT_EQ(shot.w, 1280);
  EXPECT_EQ(shot.h, 800);
  const auto [colours, most] = shot.colour_spread();
  EXPECT_GE(colours, 40u) << "too few distinct colours: blank or nearly blank window";
  EXPECT_LT(most, shot.pixels() * 7 / 10) << "one colour covers most of the window";
  EXPECT_GT(shot.count(66, 135, 222), 2000) << "no forward boxes drawn";        // Theme: forward boxes
  EXPECT_GT(shot.count(142, 104, 214), 2000) << "no backward boxes drawn";     // Theme: fused backward boxes
#endif
}

TEST(GuiSmoke, ARecordedRunOpensAsBAndAMissingRunIsAnError) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  const fs::path db = scratch("recorded.db"), log = scratch("recorded.log"), png = scratch("recorded.png");
  fs::remove(db);
  // Record one short run of the tiny model with the CPU executor.
  const int rc_run = run(std::string(ADAPTIS_BINARY) + " run --model " + kModel +
                         " --devices 2 --microbatches 4 --schedule 1f1b --steps 1 --db " + db.string() + " > " +
                         log.string() + " 2>&1");
  ASSERT_EQ(rc_run, 0) << slurp(log);
  const std::string gui = "gui --model " + kModel + " --devices 2 --microbatches 4 --size 1280x800 --db " + db.string();
  EXPECT_EQ(run_gui_under_xvfb(gui + " --compare-run latest --screenshot " + png.string(), log), 0) << slurp(log);
  EXPECT_TRUE(fs::exists(png));
  EXPECT_EQ(run_gui_under_xvfb(gui + " --compare-run 99 --frames 1", log), 1) << slurp(log);
  EXPECT_NE(slurp(log).find("no run 99"), std::string::npos) << slurp(log);
#endif
}

// --gpus / --global-batch-tokens: the cluster-plan search runs at start-up, its best row goes on
// screen, and the Gantt draws that plan's data-parallel lane (gradient sync in the theme's cyan)
// under the compute lane; the toolbar's throughput numbers join the headline.
TEST(GuiSmoke, ClusterPlansOpenWithTheBestRowAndItsCollectiveLanes) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  const fs::path png = scratch("cluster.png"), log = scratch("cluster.log");
  fs::remove(png);
  const std::string model = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/llama-2-7b.json";
  const std::string cluster = std::string(ADAPTIS_SOURCE_DIR) + "/samples/clusters/h100x8.json";
  ASSERT_EQ(run_gui_under_xvfb("gui --model " + model + " --cluster " + cluster +
                                   " --gpus 8 --global-batch-tokens 131072 --size 1280x800 --db " +
                                   scratch("runs.db").string() + " --screenshot " + png.string() + " --frames 3",
                               log),
            0)
      << slurp(log);
  Screenshot shot;
  ASSERT_TRUE(shot.load(png)) << "cannot decode " << png;
  EXPECT_GT(shot.count(64, 210, 230), 300) << "no gradient-sync lane drawn";  // Theme: collective[GradSync]
  EXPECT_GT(shot.count(142, 104, 214), 2000)  // Theme: fused backward boxes
      << "no backward boxes drawn (the best row's plan is not on screen)";
  // Without a model spec the flags are refused before a window opens.
  const fs::path bad = scratch("cluster-bad.log");
  EXPECT_EQ(run("env -u DISPLAY " + std::string(ADAPTIS_BINARY) + " gui --costs " + std::string(ADAPTIS_SOURCE_DIR) +
                "/samples/costs/peer-profiles/gpt-13B.json --gpus 8 > " + bad.string() + " 2>&1"),
            1);
  EXPECT_NE(slurp(bad).find("--gpus: the cluster-plan search derives per-GPU costs from a model spec"), std::string::npos)
      << slurp(bad);
#endif
}

// --lengths: the plan runs the variable-length units, and --tab data opens the Data tab with the
// length histogram and the unit table's cost bars (drawn in the forward colour, under the Gantt).
// A lengths file that does not exist is refused before a window opens.
TEST(GuiSmoke, VariableLengthUnitsOpenTheDataTab) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  const fs::path png = scratch("varlen.png"), log = scratch("varlen.log");
  fs::remove(png);
  ASSERT_EQ(run_gui_under_xvfb("gui --model " + kModel +
                                   " --devices 4 --lengths lognormal:median=512,sigma=1,seed=2 --context 2048"
                                   " --global-batch-tokens 32768 --tab data --size 1280x800 --db " +
                                   scratch("runs.db").string() + " --screenshot " + png.string() + " --frames 3",
                               log),
            0)
      << slurp(log);
  Screenshot shot;
  ASSERT_TRUE(shot.load(png)) << "cannot decode " << png;
  EXPECT_GE(shot.colour_spread().first, 40u) << "too few distinct colours: blank or nearly blank window";
  // Theme: forward colour, in the bottom pane (below the Gantt and the memory chart).
  EXPECT_GT(shot.count(66, 135, 222, shot.h * 3 / 4 + 1), 3000) << "no histogram or unit cost bars in the bottom pane";

  const fs::path bad = scratch("varlen-bad.log");
  EXPECT_EQ(run("env -u DISPLAY " + std::string(ADAPTIS_BINARY) + " gui --model " + kModel +
                " --lengths /nonexistent/lengths.txt > " + bad.string() + " 2>&1"),
            1);
  EXPECT_NE(slurp(bad).find("/nonexistent/lengths.txt"), std::string::npos) << slurp(bad);
  EXPECT_EQ(slurp(bad).find("no display"), std::string::npos) << slurp(bad);
#endif
}

// A saved session over variable-length data (--session) opens with its lengths and the processing of
// its units: the Data tab draws the histogram and the unit cost bars. A session whose lengths field is
// malformed fails before a window opens, naming the file and the field.
TEST(GuiSmoke, ASessionWithLengthsOpensTheDataTab) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  using namespace adaptis;
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  // The session as the GUI saves one: the model's costs on its cluster, the units the processing makes.
  const Cluster cluster = make_uniform_cluster(4);
  CostTable costs = load_model_costs(kModel, cluster);
  LengthOptions lo;
  lo.context = 2048;
  lo.global_batch_tokens = 32768;
  const std::string spec = "lognormal:median=512,sigma=1,seed=2";
  auto data = std::make_shared<const SequenceLengths>(load_sequence_lengths(spec, lo));
  explorer::Session s;
  s.inputs.model = kModel;
  if (costs.tokens_per_microbatch <= 0) {
    costs.tokens_per_microbatch = double(lo.context);
    costs.pairs_per_microbatch = 0.5 * double(lo.context) * double(lo.context);
  }
  s.inputs.reference_tokens = costs.tokens_per_microbatch;
  s.inputs.reference_pairs = costs.pairs_per_microbatch;
  s.cluster = cluster;
  SequenceProcessing p;
  p.mode = PackingMode::Pack;
  p.order = UnitOrder::LongFirst;
  s.request.schedule = "1f1b";
  s.request.devices = 4;
  s.request.units = explorer::units_for(*data, costs, p);
  s.request.microbatches = static_cast<int>(s.request.units.size());
  s.plan = build_plan(s.request, costs.num_layers());
  s.lengths = explorer::LengthsSource{spec, lo, data, p};
  const fs::path session = scratch("lengths-session.json"), png = scratch("lengths-session.png"),
                 log = scratch("lengths-session.log");
  explorer::save_session(s, session.string());
  fs::remove(png);
  ASSERT_EQ(run_gui_under_xvfb("gui --session " + session.string() + " --tab data --size 1280x800 --db " +
                                   scratch("runs.db").string() + " --screenshot " + png.string() + " --frames 3",
                               log),
            0)
      << slurp(log);
  Screenshot shot;
  ASSERT_TRUE(shot.load(png)) << "cannot decode " << png;
  EXPECT_GE(shot.colour_spread().first, 40u) << "too few distinct colours: blank or nearly blank window";
  EXPECT_GT(shot.count(66, 135, 222, shot.h * 3 / 4 + 1), 3000) << "no histogram or unit cost bars in the bottom pane";

  nlohmann::json j = read_json_file(session.string());
  j["lengths"]["processing"]["mode"] = "squash";
  const fs::path bad = scratch("bad-lengths-session.json"), bad_log = scratch("bad-lengths-session.log");
  write_json_file(bad.string(), j);
  EXPECT_EQ(run("env -u DISPLAY " + std::string(ADAPTIS_BINARY) + " gui --session " + bad.string() + " > " +
                bad_log.string() + " 2>&1"),
            1);
  EXPECT_NE(slurp(bad_log).find(bad.string() + ": lengths.processing: field 'mode'"), std::string::npos)
      << slurp(bad_log);
  EXPECT_EQ(slurp(bad_log).find("no display"), std::string::npos) << slurp(bad_log);
#endif
}

// A plan with tensor parallelism (`adaptis plan --tp 4 --out`) opened in the GUI draws its
// tensor-parallel collective lane (the theme's pale yellow) under the compute lane; the data-parallel
// best row of the cluster test above has no tensor parallelism and draws none.
TEST(GuiSmoke, ATensorParallelPlanDrawsItsTpLane) {
#ifndef ADAPTIS_HAVE_GUI
  GTEST_SKIP() << "built without the desktop GUI";
#else
  if (run("command -v xvfb-run > /dev/null 2>&1") != 0) GTEST_SKIP() << "xvfb-run is not installed";
  const std::string model = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/llama-2-7b.json";
  const std::string cluster = std::string(ADAPTIS_SOURCE_DIR) + "/samples/clusters/h100x8.json";
  const std::string args = " --model " + model + " --cluster " + cluster;
  auto tp_pixels = [&](const std::string& tp) {
    const fs::path plan = scratch("tp" + tp + ".json"), png = scratch("tp" + tp + ".png"), log = scratch("tp" + tp + ".log");
    fs::remove(png);
    EXPECT_EQ(run(std::string(ADAPTIS_BINARY) + " plan" + args + " --gpus 8 --global-batch-tokens 131072 --tp " + tp +
                  " -q --top 1 --out " + plan.string() + " > " + log.string() + " 2>&1"),
              0)
        << slurp(log);
    EXPECT_EQ(run_gui_under_xvfb("gui" + args + " --plan " + plan.string() + " --size 1280x800 --db " +
                                     scratch("runs.db").string() + " --screenshot " + png.string() + " --frames 3",
                                 log),
              0)
        << slurp(log);
    Screenshot shot;
    EXPECT_TRUE(shot.load(png)) << "cannot decode " << png;
    return shot.px.empty() ? -1L : shot.count(250, 230, 120);  // Theme: collective[TensorParallel]
  };
  const long with_tp = tp_pixels("4"), without_tp = tp_pixels("1");
  EXPECT_GT(with_tp, 300) << "no tensor-parallel lane drawn for a tp4 plan";
  EXPECT_LT(without_tp, 50) << "a tensor-parallel lane drawn for a plan without tensor parallelism";
#endif
}
