// `adaptis tui` end to end in a real terminal: tmux runs it in a detached 80x24 pane, the test
// types keys (send-keys), reads the screen (capture-pane), resizes the window, quits or signals
// it, and checks the shell gets its terminal back. Each test has its own tmux server (-L NAME),
// killed in teardown; every wait is bounded. Skipped when tmux is not installed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "adaptis/planner/schedules.h"
#include "fifo_test_support.h"

namespace fs = std::filesystem;

namespace {

// Runs a shell command, returns its stdout+stderr; `rc` gets the exit status.
std::string sh(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

bool have_tmux() {
  int rc = -1;
  sh("tmux -V", &rc);
  return rc == 0;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A private tmux server running `adaptis tui ARGS` in one pane. The pane's script writes the TUI's
// pid, runs it, then prints its exit status and the terminal's line discipline flags (what a
// shell needs back: canonical input and echo) and stays open for the test to read.
class TuiPane {
 public:
  explicit TuiPane(const std::string& tui_args, const std::string& env = "", int width = 80, int height = 24) {
    static int counter = 0;
    const std::string id = std::to_string(::getpid()) + "-" + std::to_string(++counter);
    socket_ = "adaptis-tui-test-" + id;
    dir_ = fs::temp_directory_path() / ("adaptis-tui-tmux-" + id);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    pid_file_ = (dir_ / "tui.pid").string();
    std::ofstream(dir_ / "tui.sh") << "echo $$ > " << quote(pid_file_) << "\nexec env " << env << " "
                                   << quote(ADAPTIS_BINARY) << " tui " << tui_args << "\n";
    // Like an interactive shell, the pane's shell survives a Ctrl-C meant for the TUI (a trapped
    // signal, unlike an ignored one, is back to default in the TUI).
    std::ofstream(dir_ / "pane.sh")
        << "trap : INT\n"
        << "sh " << quote((dir_ / "tui.sh").string()) << "\n"
        << "echo \"TUI-EXIT=$?\"\n"
        << "echo \"TTY-FLAGS: $(stty -a | tr -s ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | "
           "tr '\\n' ' ')\"\n"
        << "exec sleep 60\n";
    int rc = -1;
    const std::string out = tmux("new-session -d -x " + std::to_string(width) + " -y " + std::to_string(height) +
                                     " " + quote("sh " + (dir_ / "pane.sh").string()),
                                 &rc);
    started_ = rc == 0;
    EXPECT_TRUE(started_) << out;
    socket_path_ = tmux("display-message -p '#{socket_path}'");
    while (!socket_path_.empty() && socket_path_.back() == '\n') socket_path_.pop_back();
  }
  ~TuiPane() {
    tmux("kill-server");
    // kill-server leaves the socket file behind.
    std::error_code ec;
    if (socket_path_.find("adaptis-tui-test-") != std::string::npos) fs::remove(socket_path_, ec);
    fs::remove_all(dir_, ec);
  }

  std::string tmux(const std::string& args, int* rc = nullptr) const {
    return sh("tmux -L " + socket_ + " -f /dev/null " + args, rc);
  }
  // The pane's text; with escapes, its colours and attributes as SGR sequences.
  std::string capture(bool escapes = false) const { return tmux(std::string("capture-pane -p") + (escapes ? " -e" : "")); }
  void keys(const std::string& k) const { tmux("send-keys " + k); }
  void literal(const std::string& text) const { tmux("send-keys -l " + quote(text)); }

  // Polls the screen until `ok` holds; false after `seconds` (the screen is then in `last`).
  bool wait_for(const std::function<bool(const std::string&)>& ok, double seconds = 10) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    do {
      last = capture();
      if (ok(last)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  bool wait_for_text(const std::string& needle, double seconds = 10) {
    return wait_for([&](const std::string& s) { return s.find(needle) != std::string::npos; }, seconds);
  }

  int tui_pid() const {
    int pid = 0;
    std::ifstream(pid_file_) >> pid;
    return pid;
  }
  bool started() const { return started_; }

  std::string last;

 private:
  std::string socket_;
  std::string socket_path_;
  fs::path dir_;
  std::string pid_file_;
  bool started_ = false;
};

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream is(text);
  for (std::string l; std::getline(is, l);) out.push_back(l);
  return out;
}

std::string line_starting(const std::string& text, const std::string& prefix) {
  for (const auto& l : lines(text))
    if (l.rfind(prefix, 0) == 0) return l;
  return "";
}

// The pane after the TUI left: its exit status printed by the shell, the line discipline back to
// canonical input with echo, and the TUI's screen gone (the alternate screen was left).
void expect_shell_restored(TuiPane& pane, int exit_status) {
  ASSERT_TRUE(pane.wait_for_text("TTY-FLAGS: ", 10)) << pane.last;
  EXPECT_NE(pane.last.find("TUI-EXIT=" + std::to_string(exit_status) + "\n"), std::string::npos) << pane.last;
  const std::string flags = line_starting(pane.last, "TTY-FLAGS: ");
  EXPECT_EQ(flags, "TTY-FLAGS: icanon echo") << pane.last;
  EXPECT_EQ(pane.last.find("1 Layers"), std::string::npos) << pane.last;
}

// A colour SGR: foreground/background 30-37, 40-47, 90-97, 100-107 or 256/RGB.
bool has_colour_sgr(const std::string& s) {
  static const std::regex colour("\x1b\\[[0-9;]*(3[0-7]|4[0-7]|9[0-7]|10[0-7]|38;|48;)[0-9;]*m");
  return std::regex_search(s, colour);
}

const std::string kModel = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/llama-2-7b.json";

std::string args(const std::string& extra = "") {
  return "--model " + quote(kModel) + " --db /nonexistent-adaptis-test/runs.db " + extra;
}

#define SKIP_WITHOUT_TMUX() \
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed"

}  // namespace

TEST(TuiTmux, MainViewKeysResizeAndQuit) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args());
  ASSERT_TRUE(pane.started());
  ASSERT_TRUE(pane.wait_for_text("partition 9,9,8,8")) << pane.last;
  const std::vector<std::string> screen = lines(pane.last);
  ASSERT_EQ(screen.size(), 24u) << pane.last;
  for (const auto& l : screen) EXPECT_LE(l.size(), 80u) << l;
  // At 80 columns the eight tabs leave no room for the title.
  EXPECT_EQ(screen[0].rfind(" 1 Layers  2 Plan  3 Gantt  4 Devices  5 Compare  6 Runs  7 Cluster  8 Data", 0), 0u)
      << pane.last;
  EXPECT_EQ(screen[1].rfind("llama-2-7b  1f1b  dev=4 mb=8 v=1 | ", 0), 0u) << pane.last;
  EXPECT_EQ(screen[23].rfind("q quit  ? help  tab view", 0), 0u) << pane.last;
  EXPECT_TRUE(has_colour_sgr(pane.capture(true)));

  // Gantt: zoom and pan.
  pane.literal("3");
  ASSERT_TRUE(pane.wait_for_text("window 0.00-")) << pane.last;
  EXPECT_NE(pane.last.find("\nd0 m "), std::string::npos) << pane.last;
  pane.literal("+");
  ASSERT_TRUE(pane.wait_for_text("zoom 2x")) << pane.last;
  pane.literal("l");
  ASSERT_TRUE(pane.wait_for([](const std::string& s) { return s.find("window 0.00-") == std::string::npos; }))
      << pane.last;

  // Schedule, micro-batches, devices.
  std::string next;
  const auto& all = adaptis::all_schedules();
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i].name == std::string("1f1b")) next = all[(i + 1) % all.size()].name;
  pane.literal("s");
  ASSERT_TRUE(pane.wait_for_text("llama-2-7b  " + next + "  ")) << pane.last;
  pane.literal("Sm");
  ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b  dev=4 mb=9 ")) << pane.last;
  pane.literal("d");
  ASSERT_TRUE(pane.wait_for_text("dev=5 mb=9")) << pane.last;

  // Partition boundary: the plan view's partition line changes and the message names it.
  pane.literal("2");
  ASSERT_TRUE(pane.wait_for_text("partition 7,7,7,7,6")) << pane.last;
  pane.literal(">");
  ASSERT_TRUE(pane.wait_for_text("partition 8,6,7,7,6")) << pane.last;
  // Memory: a recomputes every stage (selective), the plan view says so; undo takes it back.
  pane.literal("a");
  ASSERT_TRUE(pane.wait_for_text("recompute: selective on every stage")) << pane.last;
  EXPECT_NE(pane.last.find("policy stages 0-4 selective"), std::string::npos) << pane.last;
  pane.literal("u");
  ASSERT_TRUE(pane.wait_for_text("policy none")) << pane.last;

  // Resize: the frame follows the window.
  pane.tmux("resize-window -x 120 -y 40");
  ASSERT_TRUE(pane.wait_for([](const std::string& s) {
    const auto ls = lines(s);
    return ls.size() == 40 && ls[39].rfind("q quit", 0) == 0 && ls[39].find("r run") != std::string::npos;
  })) << pane.last;
  for (const auto& l : lines(pane.last)) EXPECT_LE(l.size(), 120u) << l;
  pane.literal("4");
  ASSERT_TRUE(pane.wait_for_text("in-between")) << pane.last;  // the wide devices view

  pane.literal("q");
  expect_shell_restored(pane, 0);
}

TEST(TuiTmux, NoColourWithNO_COLOR) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args(), "NO_COLOR=1");
  ASSERT_TRUE(pane.wait_for_text("partition 9,9,8,8")) << pane.last;
  pane.literal("3");
  ASSERT_TRUE(pane.wait_for_text("window 0.00-")) << pane.last;
  // Without colour the Gantt carries the op as a letter row.
  EXPECT_NE(pane.last.find("\nd0 o F"), std::string::npos) << pane.last;
  const std::string escaped = pane.capture(true);
  EXPECT_FALSE(has_colour_sgr(escaped)) << escaped;
  pane.literal("q");
  expect_shell_restored(pane, 0);
}

TEST(TuiTmux, NoColourOnATerminalWithout) {
  SKIP_WITHOUT_TMUX();
  // vt100 can address the cursor but has no colours: full screen, attributes only.
  TuiPane pane(args("--keys 3"), "TERM=vt100");
  ASSERT_TRUE(pane.wait_for_text("window 0.00-")) << pane.last;
  EXPECT_NE(pane.last.find("\nd0 o F"), std::string::npos) << pane.last;
  EXPECT_FALSE(has_colour_sgr(pane.capture(true)));
  pane.literal("q");
  pane.keys("Enter");  // in case this machine's terminfo lacks vt100 and the line mode runs
  ASSERT_TRUE(pane.wait_for_text("TUI-EXIT=0")) << pane.last;
}

TEST(TuiCli, PlainPrintsOneScreenAndExits) {
  int rc = -1;
  const std::string out = sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --size 80x24 --keys '3+'"), &rc);
  EXPECT_EQ(rc, 0) << out;
  const auto ls = lines(out);
  ASSERT_EQ(ls.size(), 24u) << out;
  EXPECT_NE(out.find("zoom 2x"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << out;  // plain text, no escapes
  const std::string bad = sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --keys '<nope>'"), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(bad.find("error: --keys: unknown key <nope>"), std::string::npos) << bad;
}

TEST(TuiCli, PlainStartsWithTheMemoryFlags) {
  int rc = -1;
  // Full recompute on every stage from the flags: the Gantt draws R actions and says the policy.
  const std::string out =
      sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --size 120x30 --recompute full --keys 3"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("R recompute"), std::string::npos) << out;
  EXPECT_NE(out.find("policy stages 0-3 full"), std::string::npos) << out;
  // A bad value is refused before the terminal changes mode, naming the flag.
  const std::string bad = sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --offload 2"), &rc);
  EXPECT_EQ(rc, 1) << bad;
  EXPECT_NE(bad.find("--offload"), std::string::npos) << bad;
}

TEST(TuiTmux, DumbTerminalGetsTheLineMode) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args(), "TERM=dumb");
  ASSERT_TRUE(pane.wait_for_text("keys (? help, q quit)>")) << pane.last;
  EXPECT_NE(pane.last.find("partition 9,9,8,8"), std::string::npos) << pane.last;
  pane.literal("3+");
  pane.keys("Enter");
  ASSERT_TRUE(pane.wait_for_text("zoom 2x")) << pane.last;
  EXPECT_NE(pane.last.find("\nd0 o "), std::string::npos) << pane.last;  // no colour: a letter row per device
  EXPECT_NE(pane.last.find("\nF forward  X backward"), std::string::npos) << pane.last;
  EXPECT_FALSE(has_colour_sgr(pane.capture(true)));
  pane.literal("q");
  pane.keys("Enter");
  ASSERT_TRUE(pane.wait_for_text("TUI-EXIT=0")) << pane.last;
}

TEST(TuiTmux, SignalsRestoreTheTerminal) {
  SKIP_WITHOUT_TMUX();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    SCOPED_TRACE(sig);
    TuiPane pane(args());
    ASSERT_TRUE(pane.wait_for_text("partition 9,9,8,8")) << pane.last;
    if (sig == SIGINT) {
      pane.keys("C-c");  // through the terminal, as a user would
    } else {
      ASSERT_GT(pane.tui_pid(), 0);
      ASSERT_EQ(::kill(pane.tui_pid(), sig), 0);
    }
    expect_shell_restored(pane, 128 + sig);
    EXPECT_NE(pane.last.find("adaptis tui: stopped by signal " + std::to_string(sig)), std::string::npos)
        << pane.last;
  }
}

TEST(TuiTmux, OptimizerShowsProgressThenItsPlan) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args("--optimize-seconds 1 --optimize-threads 1"));
  ASSERT_TRUE(pane.wait_for_text("partition 9,9,8,8")) << pane.last;
  pane.literal("o");
  ASSERT_TRUE(pane.wait_for_text("optimizing [")) << pane.last;
  ASSERT_TRUE(pane.wait_for_text("optimizer done", 15)) << pane.last;
  EXPECT_NE(lines(pane.last)[1].find("llama-2-7b  optimized  "), std::string::npos) << pane.last;
  EXPECT_NE(pane.last.find("plan      optimized: its own partition"), std::string::npos) << pane.last;
  pane.literal("q");
  expect_shell_restored(pane, 0);
}

TEST(TuiTmux, BadInputIsAnErrorBeforeTheScreenChanges) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane("--costs /nonexistent/costs.json");
  ASSERT_TRUE(pane.wait_for_text("TUI-EXIT=")) << pane.last;
  EXPECT_NE(pane.last.find("error: "), std::string::npos) << pane.last;
  EXPECT_NE(pane.last.find("/nonexistent/costs.json"), std::string::npos) << pane.last;
  EXPECT_EQ(pane.last.find("TUI-EXIT=0"), std::string::npos) << pane.last;
  expect_shell_restored(pane, 1);
}

// The cluster-plan view: --gpus / --global-batch-tokens open it with the search running; the ranked
// table comes back with the best row on screen; enter on another row shows its pipeline with the
// collective rows and the cluster line.
const std::string kCluster = std::string(ADAPTIS_SOURCE_DIR) + "/samples/clusters/h100x8.json";

TEST(TuiCli, PlainClusterViewRanksPlansAndARowShowsItsLanes) {
  int rc = -1;
  const std::string base = quote(ADAPTIS_BINARY) + " tui " +
                           args("--plain --size 100x30 --optimize-threads 1 --cluster " + quote(kCluster) +
                                " --gpus 8 --global-batch-tokens 131072");
  const std::string table = sh(base, &rc);
  ASSERT_EQ(rc, 0) << table;
  EXPECT_NE(table.find(" 7 Cluster"), std::string::npos) << table;
  EXPECT_NE(table.find("GPUs 8/8"), std::string::npos) << table;
  EXPECT_NE(table.find("batch 131072 tokens = 32 seq"), std::string::npos) << table;
  EXPECT_NE(table.find("    #  pp tp dp cp ep zero sp mbs    m rc       iter  tokens/s   MFU"), std::string::npos) << table;
  EXPECT_NE(table.find(">*  1 "), std::string::npos) << table;  // the cursor on the best row, which is on screen
  EXPECT_NE(lines(table)[1].find("cluster plan #1"), std::string::npos) << table;
  EXPECT_NE(table.find("ranked (fastest first)"), std::string::npos) << table;

  // Row 2 on the Gantt: its dp row (g sync, o optimizer) under the compute rows, the cluster line.
  const std::string gantt = sh(base + " --keys 'j<enter>'", &rc);
  ASSERT_EQ(rc, 0) << gantt;
  const auto ls = lines(gantt);
  EXPECT_NE(ls[1].find("cluster plan #2"), std::string::npos) << gantt;
  EXPECT_NE(ls[1].find("8 GPUs"), std::string::npos) << gantt;
  EXPECT_NE(ls[1].find("tok/s"), std::string::npos) << gantt;
  const std::string dp_row = line_starting(gantt, "   g ");
  EXPECT_NE(dp_row.find('g', 4), std::string::npos) << gantt;
  EXPECT_NE(dp_row.find('o', 4), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("g dp sync"), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("on 8 GPUs: "), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("exposed comm"), std::string::npos) << gantt;

  // Without a model spec the flags are refused up front, and the view says why.
  const std::string costs = quote(std::string(ADAPTIS_SOURCE_DIR) + "/samples/costs/peer-profiles/gpt-13B.json");
  const std::string no_model = sh(quote(ADAPTIS_BINARY) + " tui --plain --costs " + costs + " --gpus 8", &rc);
  EXPECT_EQ(rc, 1) << no_model;
  EXPECT_NE(no_model.find("--gpus: the cluster-plan search derives per-GPU costs from a model spec"), std::string::npos)
      << no_model;
  const std::string why = sh(quote(ADAPTIS_BINARY) + " tui --plain --size 100x30 --costs " + costs + " --keys 7", &rc);
  EXPECT_NE(why.find("start with --model FILE"), std::string::npos) << why;
  const std::string bad_batch = sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --global-batch-tokens 4097"), &rc);
  EXPECT_EQ(rc, 1) << bad_batch;
  EXPECT_NE(bad_batch.find("--global-batch-tokens: 4097 is not a whole number of 4096-token sequences"),
            std::string::npos)
      << bad_batch;
}

TEST(TuiTmux, ClusterViewSearchesPicksARowAndShowsTheLanes) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args("--optimize-threads 1 --cluster " + quote(kCluster)), "", 100, 30);
  ASSERT_TRUE(pane.started());
  ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
  pane.literal("7");
  ASSERT_TRUE(pane.wait_for_text("no cluster plans yet")) << pane.last;
  pane.literal("D");  // 4 GPUs
  ASSERT_TRUE(pane.wait_for_text("GPUs 4/8")) << pane.last;
  pane.literal("C");
  ASSERT_TRUE(pane.wait_for_text("ranked (fastest first)", 30)) << pane.last;
  EXPECT_NE(pane.last.find("cluster-plan search done"), std::string::npos) << pane.last;
  pane.literal("j");
  ASSERT_TRUE(pane.wait_for_text(">   2 ")) << pane.last;
  pane.keys("Enter");
  ASSERT_TRUE(pane.wait_for_text("g dp sync")) << pane.last;  // the Gantt's legend of the collective rows
  // The whole frame, footer included: a capture can land while the terminal is still being redrawn.
  ASSERT_TRUE(pane.wait_for_text("on 4 GPUs: ")) << pane.last;
  EXPECT_NE(lines(pane.last)[1].find("cluster plan #2"), std::string::npos) << pane.last;
  EXPECT_NE(line_starting(pane.last, "   g ").find_first_of("gzo", 4), std::string::npos) << pane.last;
  // Back in the table, the row on screen is marked.
  pane.literal("7");
  ASSERT_TRUE(pane.wait_for_text(">*  2 ")) << pane.last;
  pane.literal("q");
  expect_shell_restored(pane, 0);
}

// --lengths: the plan runs the variable-length units (the same iteration `simulate` predicts for
// them), the Data view shows the length histogram and the units, enter on a unit shows it on the
// Gantt with the unit in the detail line; bad lengths are an error line before the terminal changes.
const std::string kLengths = "--devices 4 --lengths lognormal:median=2048,sigma=1,seed=3 --context 4096 "
                             "--global-batch-tokens 65536";

// "| 123.45 ms " on the summary line, in ms.
double summary_iteration_ms(const std::string& screen) {
  std::smatch m;
  static const std::regex re("\\| ([0-9.]+) (us|ms|s) ");
  const std::string l = lines(screen).size() > 1 ? lines(screen)[1] : "";
  if (!std::regex_search(l, m, re)) return -1;
  const double v = std::stod(m[1]);
  return m[2] == "us" ? v / 1000 : m[2] == "s" ? v * 1000 : v;
}

TEST(TuiCli, PlainLengthsShowTheDataViewAndSimulateLikeTheCommandLine) {
  int rc = -1;
  const std::string base = quote(ADAPTIS_BINARY) + " tui " + args("--plain --size 110x40 " + kLengths);
  const std::string data = sh(base + " --keys 8", &rc);
  ASSERT_EQ(rc, 0) << data;
  EXPECT_NE(data.find(" 8 Data"), std::string::npos) << data;
  EXPECT_NE(data.find("sequences, 65536 tokens, context 4096"), std::string::npos) << data;
  EXPECT_NE(data.find("processing pack-tokens"), std::string::npos) << data;
  EXPECT_NE(data.find("length            sequences   tokens    s^2/2"), std::string::npos) << data;
  EXPECT_NE(data.find(" units (0 slices), 65536 tokens"), std::string::npos) << data;
  EXPECT_NE(data.find(">     0 "), std::string::npos) << data;  // the cursor on unit 0

  // The summary's iteration is simulate's for the same units.
  const std::string json = sh(quote(ADAPTIS_BINARY) + " simulate --json --model " + quote(kModel) + " " + kLengths, &rc);
  ASSERT_EQ(rc, 0) << json;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(json, m, std::regex("\"iteration_time_ms\": ([0-9.eE+-]+)"))) << json;
  const double want = std::stod(m[1]);
  const double got = summary_iteration_ms(data);
  ASSERT_GT(got, 0) << data;
  EXPECT_NEAR(got, want, 0.006 * want + 0.01) << data;
  std::smatch mb;
  ASSERT_TRUE(std::regex_search(json, mb, std::regex("\"microbatches\": ([0-9]+)"))) << json;
  EXPECT_NE(lines(data)[1].find("mb=" + mb[1].str() + " "), std::string::npos) << data;

  // Enter on unit 2 shows its first action, and the detail line says what the unit holds.
  const std::string gantt = sh(base + " --keys '8jj<enter>'", &rc);
  ASSERT_EQ(rc, 0) << gantt;
  EXPECT_NE(gantt.find("F s0 mb2 on d0"), std::string::npos) << gantt;
  EXPECT_NE(gantt.find("; unit 2: "), std::string::npos) << gantt;
  // m is refused with the reason (the plain run's last message is an error: status 1).
  const std::string refused = sh(base + " --keys m", &rc);
  EXPECT_EQ(rc, 1) << refused;
  EXPECT_NE(refused.find("one micro-batch per variable-length unit"), std::string::npos) << refused;

  // Bad lengths: one error line naming the input, status 1.
  const fs::path empty = fs::temp_directory_path() / ("adaptis-tui-empty-lengths-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(empty).close();
  for (const std::string& bad : {std::string("/nonexistent/lengths.txt"), empty.string(),
                                 std::string("lognormal:median=-5,sigma=1")}) {
    const std::string out = sh(quote(ADAPTIS_BINARY) + " tui " + args("--plain --lengths " + quote(bad) +
                                                                          " --context 4096 --global-batch-tokens 65536"),
                               &rc);
    EXPECT_EQ(rc, 1) << bad << ": " << out;
    EXPECT_EQ(out.rfind("error: ", 0), 0u) << bad << ": " << out;
    EXPECT_EQ(lines(out).size(), 1u) << bad << ": " << out;
    EXPECT_EQ(out.find("1 Layers"), std::string::npos) << bad << ": " << out;
  }
  fs::remove(empty);
}

TEST(TuiTmux, DataViewOverLengthsAndBadLengthsLeaveTheTerminalAlone) {
  SKIP_WITHOUT_TMUX();
  {
    TuiPane pane(args(kLengths), "", 100, 30);
    ASSERT_TRUE(pane.started());
    ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
    pane.literal("8");
    ASSERT_TRUE(pane.wait_for_text(" units (0 slices)")) << pane.last;
    EXPECT_NE(pane.last.find("sequences, 65536 tokens"), std::string::npos) << pane.last;
    pane.literal("j");
    pane.keys("Enter");
    ASSERT_TRUE(pane.wait_for_text("; unit 1: ")) << pane.last;
    pane.literal("q");
    expect_shell_restored(pane, 0);
  }
  TuiPane bad(args("--lengths /nonexistent/lengths.txt"), "", 100, 30);
  ASSERT_TRUE(bad.started());
  ASSERT_TRUE(bad.wait_for_text("TUI-EXIT=1")) << bad.last;
  EXPECT_NE(bad.last.find("error: /nonexistent/lengths.txt"), std::string::npos) << bad.last;
  expect_shell_restored(bad, 1);
}

// Re-packing from the Data view: P/p step the packing mode (the plan is rebuilt over the new units and
// re-simulated: the summary's iteration changes), u undoes it, c turns slicing off and B halves the
// budget below the longest sequence, which is refused with the reason in the view; the help lists the
// keys. On a Mamba model slicing is refused in a plain run (status 1) naming the layer.
TEST(TuiTmux, DataViewRePacksTheUnitsAndShowsRefusals) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args(kLengths), "", 110, 40);
  ASSERT_TRUE(pane.started());
  ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
  pane.literal("8");
  ASSERT_TRUE(pane.wait_for_text("processing pack-tokens")) << pane.last;
  ASSERT_TRUE(pane.wait_for_text(" units (0 slices)")) << pane.last;
  const double start_ms = summary_iteration_ms(pane.last);
  ASSERT_GT(start_ms, 0) << pane.last;
  EXPECT_NE(pane.last.find("re-pack: p/P mode"), std::string::npos) << pane.last;
  pane.literal("P");  // pack-tokens -> pad: one sequence per unit, padded to the context
  ASSERT_TRUE(pane.wait_for_text("processing pad")) << pane.last;
  EXPECT_NE(pane.last.find(" padding; cost"), std::string::npos) << pane.last;
  EXPECT_GT(summary_iteration_ms(pane.last), start_ms) << pane.last;
  pane.literal("u");
  ASSERT_TRUE(pane.wait_for_text("processing pack-tokens")) << pane.last;
  EXPECT_NEAR(summary_iteration_ms(pane.last), start_ms, 1e-6 * start_ms) << pane.last;
  pane.literal("pp");  // pack-tokens -> pack -> slice (2 slices per packed row)
  ASSERT_TRUE(pane.wait_for_text("processing slice, 2 slices/row")) << pane.last;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(pane.last, m, std::regex(" units \\(([0-9]+) slices\\)"))) << pane.last;
  EXPECT_GT(std::stoi(m[1]), 0) << pane.last;
  EXPECT_NE(summary_iteration_ms(pane.last), start_ms) << pane.last;
  pane.literal("u");  // back to the packed units (pack made the same ones as pack-tokens here)
  static const std::regex just_pack("processing pack(-tokens)? *(\n|$)");
  ASSERT_TRUE(pane.wait_for([](const std::string& s) { return std::regex_search(s, just_pack); })) << pane.last;
  EXPECT_NEAR(summary_iteration_ms(pane.last), start_ms, 1e-6 * start_ms) << pane.last;
  pane.literal("c");
  ASSERT_TRUE(pane.wait_for_text(", no slicing")) << pane.last;
  pane.literal("B");
  ASSERT_TRUE(pane.wait_for_text("<=2048 tok/unit, no slicing: ")) << pane.last;
  EXPECT_NE(pane.last.find("refused pack"), std::string::npos) << pane.last;
  EXPECT_NE(pane.last.find("slicing is off"), std::string::npos) << pane.last;
  EXPECT_NEAR(summary_iteration_ms(pane.last), start_ms, 1e-6 * start_ms) << pane.last;  // the plan stays
  pane.literal("?");
  ASSERT_TRUE(pane.wait_for_text("re-pack: p/P mode (pad pack-tokens pack slice elastic)")) << pane.last;
  pane.literal("q");
  expect_shell_restored(pane, 0);

  int rc = -1;
  const std::string mamba = std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-nemotron-h.json";
  const std::string out =
      sh(quote(ADAPTIS_BINARY) + " tui --plain --size 110x40 --db /nonexistent-adaptis-test/runs.db --model " +
             quote(mamba) +
             " --devices 4 --lengths lognormal:median=256,sigma=1,seed=3 --context 1024 --global-batch-tokens 16384 "
             "--keys 8pp",
         &rc);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("refused slice, 2 slices/row: it makes slices"), std::string::npos) << out;
  EXPECT_NE(out.find("Mamba layer"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, just_pack)) << out;  // the plan keeps the units of pack
}

namespace {

// The number in "N units (" of the Data view's units line (-1 when it is not on screen).
int units_on_screen(const std::string& screen) {
  std::smatch m;
  static const std::regex re("([0-9]+) units \\(");
  return std::regex_search(screen, m, re) ? std::stoi(m[1]) : -1;
}

std::string line_containing(const std::string& text, const std::string& needle) {
  for (const auto& l : lines(text))
    if (l.find(needle) != std::string::npos) return l;
  return "";
}

}  // namespace

// The iteration from the Data view: } doubles the global batch (the distribution draws twice the tokens:
// more units, one micro-batch each), ( halves the context (redrawn within it), u undoes it, and the view
// says what the iteration is at each step; { below the context is refused with the reason and the plan
// stays; the help lists the keys.
TEST(TuiTmux, DataViewChangesTheContextAndTheGlobalBatch) {
  SKIP_WITHOUT_TMUX();
  TuiPane pane(args(kLengths), "", 110, 40);
  ASSERT_TRUE(pane.started());
  ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
  pane.literal("8");
  ASSERT_TRUE(pane.wait_for_text("iteration context 4096 tokens, global batch 65536 tokens  ( ) context  { } batch"))
      << pane.last;
  ASSERT_TRUE(pane.wait_for_text(" units (0 slices)")) << pane.last;
  const int start_units = units_on_screen(pane.last);
  ASSERT_GT(start_units, 0) << pane.last;
  const double start_ms = summary_iteration_ms(pane.last);

  pane.literal("}");
  // The whole Data view redrawn: the iteration line and the units line of the new units.
  ASSERT_TRUE(pane.wait_for([&](const std::string& s) {
    return s.find("iteration context 4096 tokens, global batch 131072 tokens") != std::string::npos &&
           units_on_screen(s) > start_units;
  })) << pane.last;
  EXPECT_NE(pane.last.find("sequences, 131072 tokens, context 4096"), std::string::npos) << pane.last;
  EXPECT_GT(units_on_screen(pane.last), start_units) << pane.last;
  EXPECT_GT(summary_iteration_ms(pane.last), start_ms) << pane.last;
  EXPECT_NE(lines(pane.last)[1].find("mb=" + std::to_string(units_on_screen(pane.last)) + " "), std::string::npos)
      << pane.last;

  pane.literal("(");
  ASSERT_TRUE(pane.wait_for([](const std::string& s) {
    return s.find("iteration context 2048 tokens, global batch 131072 tokens") != std::string::npos &&
           s.find("sequences, 131072 tokens, context 2048, longest ") != std::string::npos;
  })) << pane.last;
  std::smatch m;
  const std::string data = line_containing(pane.last, "sequences, 131072 tokens, context 2048, longest ");
  ASSERT_TRUE(std::regex_search(data, m, std::regex("longest ([0-9]+)"))) << pane.last;
  EXPECT_LE(std::stoll(m[1]), 2048) << pane.last;

  pane.literal("u");
  ASSERT_TRUE(pane.wait_for_text("iteration context 4096 tokens, global batch 131072 tokens")) << pane.last;

  // Context 8192, then the batch halved down to it; once more would be below it: refused.
  pane.literal("){{{{");
  ASSERT_TRUE(pane.wait_for([](const std::string& s) {
    return s.find("iteration context 8192 tokens, global batch 8192 tokens") != std::string::npos &&
           s.find("sequences, 8192 tokens, context 8192") != std::string::npos && units_on_screen(s) > 0;
  })) << pane.last;
  const double before_ms = summary_iteration_ms(pane.last);
  const int before_units = units_on_screen(pane.last);
  pane.literal("{");
  ASSERT_TRUE(pane.wait_for_text("below the context of 8192 tokens")) << pane.last;
  EXPECT_NE(pane.last.find("iteration context 8192 tokens, global batch 8192 tokens"), std::string::npos) << pane.last;
  EXPECT_EQ(summary_iteration_ms(pane.last), before_ms) << pane.last;
  EXPECT_EQ(units_on_screen(pane.last), before_units) << pane.last;

  pane.literal("?");
  ASSERT_TRUE(pane.wait_for_text("( ) context /2 x2   { } global batch /2 x2")) << pane.last;
  pane.literal("q");
  expect_shell_restored(pane, 0);
}

// W saves the session to --session-out; after quitting, `adaptis tui --session FILE` opens the same plan
// over the same data: the re-packed processing, the changed global batch, the same units and the same
// simulated iteration. The file holds what the screen showed.
TEST(TuiTmux, WSavesTheSessionAndReopeningShowsTheSamePlanAndData) {
  SKIP_WITHOUT_TMUX();
  const fs::path dir = fs::temp_directory_path() / ("adaptis-tui-tmux-session-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = (dir / "tui-session.json").string();
  std::string saved_screen;
  {
    TuiPane pane(args(kLengths + " --session-out " + quote(out)), "", 110, 40);
    ASSERT_TRUE(pane.started());
    ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
    pane.literal("8");
    ASSERT_TRUE(pane.wait_for_text("processing pack-tokens")) << pane.last;
    pane.literal("}");
    ASSERT_TRUE(pane.wait_for_text("global batch 131072 tokens")) << pane.last;
    pane.literal("p");
    static const std::regex pack("processing pack *(\n|$)");
    ASSERT_TRUE(pane.wait_for([](const std::string& s) { return std::regex_search(s, pack); })) << pane.last;
    pane.literal("W");
    ASSERT_TRUE(pane.wait_for_text("saved the session to " + out)) << pane.last;
    saved_screen = pane.last;
    pane.literal("q");
    expect_shell_restored(pane, 0);
  }
  std::ifstream in(out);
  ASSERT_TRUE(in.good()) << "W wrote no " << out;
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("\"global_batch_tokens\": 131072"), std::string::npos) << text.str().substr(0, 2000);
  EXPECT_NE(text.str().find("\"mode\": \"pack\""), std::string::npos) << text.str().substr(0, 2000);

  TuiPane reopened("--session " + quote(out) + " --db /nonexistent-adaptis-test/runs.db", "", 110, 40);
  ASSERT_TRUE(reopened.started());
  ASSERT_TRUE(reopened.wait_for_text("opened session " + out)) << reopened.last;
  reopened.literal("8");
  ASSERT_TRUE(reopened.wait_for([](const std::string& s) {
    return s.find("iteration context 4096 tokens, global batch 131072 tokens") != std::string::npos &&
           s.find("processing ") != std::string::npos && units_on_screen(s) > 0;
  })) << reopened.last;
  for (const std::string& needle : {std::string("sequences, 131072 tokens, context 4096"), std::string("processing "),
                                    std::string(" units (")}) {
    const std::string want = line_containing(saved_screen, needle);
    ASSERT_FALSE(want.empty()) << needle << "\n" << saved_screen;
    EXPECT_EQ(line_containing(reopened.last, needle), want) << reopened.last;
  }
  EXPECT_EQ(summary_iteration_ms(reopened.last), summary_iteration_ms(saved_screen)) << reopened.last;
  EXPECT_GT(summary_iteration_ms(saved_screen), 0) << saved_screen;
  reopened.literal("q");
  expect_shell_restored(reopened, 0);
  fs::remove_all(dir);
}

// A lengths file slow to give its lengths (a FIFO nobody has written yet): { returns at once, the Data
// view says what it is loading and the terminal still answers keys; once the file is written the units
// of half the batch come in; quitting while a read waits does not wait for it.
TEST(TuiTmux, ReadingTheLengthsKeepsTheTerminalResponsive) {
  SKIP_WITHOUT_TMUX();
  const fs::path dir = fs::temp_directory_path() / ("adaptis-tui-fifo-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string file = (dir / "iteration.lengths").string();
  std::string text;
  long long tokens = 0;
  for (int i = 0; i < 64; ++i) {
    const long long n = 200 + (i * 977) % 3000;
    text += std::to_string(n) + "\n";
    tokens += n;
  }
  std::ofstream(file) << text;
  {
    TuiPane pane(args("--devices 4 --lengths " + quote(file)), "", 110, 40);
    ASSERT_TRUE(pane.started());
    ASSERT_TRUE(pane.wait_for_text("llama-2-7b  1f1b")) << pane.last;
    pane.literal("8");
    ASSERT_TRUE(pane.wait_for_text("sequences, " + std::to_string(tokens) + " tokens")) << pane.last;
    ASSERT_TRUE(adaptis::test::make_fifo(file));

    pane.literal("{");
    ASSERT_TRUE(pane.wait_for_text("loading lengths... " + file)) << pane.last;
    pane.literal("1");  // another view, and back: the keys are answered while the read waits
    ASSERT_TRUE(pane.wait_for([](const std::string& s) { return s.find("loading lengths") == std::string::npos; }))
        << pane.last;
    pane.literal("8");
    ASSERT_TRUE(pane.wait_for_text("loading lengths... " + file)) << pane.last;
    EXPECT_NE(pane.last.find("sequences, " + std::to_string(tokens) + " tokens"), std::string::npos) << pane.last;

    ASSERT_TRUE(adaptis::test::write_fifo(file, text)) << "the TUI never opened " << file;
    ASSERT_TRUE(pane.wait_for_text("sequences, " + std::to_string(tokens / 2) + " tokens")) << pane.last;
    EXPECT_EQ(pane.last.find("loading lengths"), std::string::npos) << pane.last;

    pane.literal("{");  // nobody writes the FIFO this time: q still quits at once
    ASSERT_TRUE(pane.wait_for_text("loading lengths... " + file)) << pane.last;
    pane.literal("q");
    expect_shell_restored(pane, 0);
    EXPECT_NE(pane.last.find("adaptis tui: stopped reading the lengths"), std::string::npos) << pane.last;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}
