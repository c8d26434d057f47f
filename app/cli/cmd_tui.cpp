// `adaptis tui`: the plan explorer in a terminal (ncurses), for users on SSH without a display.
// The same inputs as `simulate`; everything else is in app/tui/.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "adaptis/executor/run_store.h"
#include "cli/commands.h"
#include "cli/explorer_options.h"
#include "cli/option_ranges.h"
#include "cli/inputs.h"
#include "cli/memory_options.h"
#include "explorer/session_open.h"
#include "tui/keys.h"
#include "tui/render.h"
#include "tui/session.h"
#include "tui/terminal.h"

namespace adaptis::cli {

namespace {

struct TuiArgs {
  InputOptions in;
  PlanOptions plan;
  MemoryOptions memory;
  std::string keys;
  bool plain = false;
  std::string size;
  bool no_color = false;
  std::string db;
  std::string save = "adaptis-tui-plan.json";
  std::string session;  // --session: a saved GUI or TUI session instead of the inputs
  std::string session_out = "adaptis-tui-session.json";
  double optimize_seconds = 5;
  int optimize_threads = 0;
  std::vector<std::string> run_args;
  ClusterViewOptions cluster_view;
  LengthsOptions lengths;
};

// The terminal's size for the line mode: the tty's, else $COLUMNS/$LINES, else 80x24.
std::pair<int, int> terminal_size() {
  struct winsize ws {};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20 && ws.ws_row >= 5)
    return {ws.ws_col, ws.ws_row};
  int w = 80, h = 24;
  if (const char* c = std::getenv("COLUMNS"); c && std::atoi(c) >= 20) w = std::atoi(c);
  if (const char* l = std::getenv("LINES"); l && std::atoi(l) >= 5) h = std::atoi(l);
  return {w, h};
}

// Why `r` cannot launch a run from this binary ("" = it can; the explorer checks the inputs).
std::string run_blocker(CLI::App* root) {
  bool has_run = false;
  if (root)
    for (CLI::App* sub : root->get_subcommands([](CLI::App* a) { return a->get_name() == "run"; }))
      has_run = sub != nullptr;
  if (!has_run) return "this adaptis has no `run` command (the executor CLI is not built in)";
  return "";
}

// The options that say what to explore: a --session names all of that itself.
const char* const kSessionOwnFlagsNote = "a --session keeps its own inputs, cluster, plan, lengths and policies";

// --session with any option that picks inputs, a plan, lengths or policies: refused, naming them.
void refuse_with_session(const TuiArgs& a, const CLI::App* cmd) {
  static const std::vector<std::string> kAllowed = {
      "--session", "--session-out", "--keys", "--plain", "--size", "--no-color", "--db", "--save",
      "--optimize-seconds", "--optimize-threads", "--run-arg", "--help"};
  std::string given;
  for (const CLI::Option* o : cmd->get_options()) {
    const std::string name = o->get_name();
    if (o->count() == 0 || std::find(kAllowed.begin(), kAllowed.end(), name) != kAllowed.end()) continue;
    given += (given.empty() ? "" : ", ") + name;
  }
  if (!given.empty())
    throw InputError("--session " + a.session + ": " + kSessionOwnFlagsNote + "; drop " + given);
}

// `adaptis tui --session FILE`: the explorer the session held, with this command's budgets and paths.
tui::TuiState session_state(const TuiArgs& a, explorer::ExplorerConfig config) {
  const explorer::Session s = explorer::load_session(a.session);
  InputOptions in;
  in.model = s.inputs.model;
  config.cluster_plans = cluster_plan_setup(in, s.cluster, ClusterViewOptions{});
  explorer::Explorer core = explorer::open_session(s, a.session, std::move(config));
  if (!a.db.empty()) core.config().db_path = a.db;  // --db over the session's runs database
  tui::TuiState state = tui::make_state(std::move(core));
  state.core.note("opened session " + a.session);
  return state;
}

// What the explorer takes from this command whatever it shows: budgets, run store, where files go.
explorer::ExplorerConfig command_config(const TuiArgs& a, CLI::App* root) {
  explorer::ExplorerConfig config;
  config.db_path = a.db.empty() ? exec::default_run_db_path() : a.db;
  config.plan_out = a.save;
  config.session_out = a.session_out;
  config.run_blocker = run_blocker(root);
  config.run_args = a.run_args;
  config.optimizer.time_limit_s = a.optimize_seconds;
  config.optimizer.threads = a.optimize_threads;
  return config;
}

// The explorer over the command's inputs (--model/--costs, --plan, --lengths, --recompute, ...).
tui::TuiState inputs_state(const TuiArgs& a, explorer::ExplorerConfig config, ClusterViewOptions& cluster_view) {
  const ExplorerInputs in = explorer_inputs(a.in);
  // Every input is checked before the terminal changes mode, so bad input is a plain error line.
  Inputs inputs = load_inputs(in.options);
  // --lengths: the plan runs the units made from them (a plan file must have as many micro-batches).
  std::vector<std::string> lengths_notes;
  explorer::LengthsSource lengths = explorer_lengths(a.lengths, cluster_view, inputs, lengths_notes);
  // The cluster-plan view searches the whole cluster, even when a plan file narrows the inputs to a replica.
  explorer::ClusterPlanSetup cluster_plans = cluster_plan_setup(a.in, inputs.cluster, cluster_view);
  std::optional<Plan> plan_file;
  if (!a.plan.plan_file.empty()) {
    plan_file = resolve_plan(a.plan, inputs);
    fit_cluster_to_plan(inputs, a.in, *plan_file);
  }
  PlanRequest request = make_plan_request(a.plan, inputs);
  if (plan_file) request.partition.clear();  // --partition went into the plan file's import
  // --recompute/--offload: the starting plan's policy on every stage, and what `o` searches.
  const MemoryChoices memory = parse_memory_options(a.memory);
  std::optional<StageMemoryPolicy> start_policy;
  if (memory.given)
    start_policy = starting_memory_policy(memory, plan_file ? *plan_file : build_plan(request, inputs.costs.num_layers()),
                                          inputs.costs, inputs.cluster, inputs.sim);

  config.cluster_path = absolute_path(a.in.cluster);
  config.costs_label = in.label;
  config.costs_path = absolute_path(in.options.costs);
  config.model_path = absolute_path(a.in.model);
  config.cluster_plans = std::move(cluster_plans);
  config.lengths = std::move(lengths);
  if (memory.given) {
    config.optimizer.recompute_choices = memory.recompute;
    config.optimizer.offload_choices = memory.offload;
  }

  const std::string plan_label =
      plan_file ? std::filesystem::path(a.plan.plan_file).filename().string() : std::string();
  tui::TuiState state = tui::make_state(std::move(inputs), request, config, plan_file, plan_label);
  if (start_policy && state.core.has_plan()) {
    const explorer::EditResult r = state.core.set_memory_policy(-1, *start_policy);
    if (!r.applied && !r.message.empty()) throw InputError("--recompute/--offload: " + r.message);
  }
  for (const std::string& n : lengths_notes) state.core.note(n);
  return state;
}

int run_tui(const TuiArgs& a, CLI::App* root, const CLI::App* cmd) {
  if (!a.session.empty()) refuse_with_session(a, cmd);
  // Every input is checked before the terminal changes mode, so bad input is a plain error line.
  ClusterViewOptions cluster_view = a.cluster_view;
  tui::TuiState state = a.session.empty() ? inputs_state(a, command_config(a, root), cluster_view)
                                          : session_state(a, command_config(a, root));
  const std::vector<int> keys = tui::key::parse_script(a.keys);
  const std::pair<int, int> size = a.size.empty() ? terminal_size() : parse_size(a.size, kTuiSizeLimits, "80x24");
  if (cluster_view.given()) {
    state.view = tui::View::Cluster;
    state.core.start_cluster_search(true);
  }
  state.color = !a.no_color && std::getenv("NO_COLOR") == nullptr;
  const bool want_color = state.color;
  tui::TuiSession session(std::move(state));
  const bool fullscreen = !a.plain && tui::terminal_supports_fullscreen();
  auto [w, h] = size;
  session.resize(w, h);
  // Scripts see the result of what they started (an optimizer run, a launched run, the cluster-plan
  // search of --gpus / --global-batch-tokens).
  auto settle = [&] {
    if (a.plain)
      while (session.busy()) {
        session.poll();
        usleep(20000);
      }
    session.poll();
  };
  settle();
  for (int k : keys) {
    session.key(k);
    settle();
    if (session.quit_requested()) break;
  }
  if (a.plain) {
    // Plain text has no colour: the Gantt shows op letters, as on a monochrome terminal.
    session.set_color(false);
    tui::print_screen(tui::render(session.state(), w, h), std::cout);
    session.shutdown();
    return session.state().core.message().error ? 1 : 0;
  }
  if (session.quit_requested()) return 0;
  int rc = 0;
  if (!fullscreen) {
    session.set_color(false);
    rc = tui::run_line_mode(session, std::cin, std::cout, w, h);
  } else {
    rc = tui::run_terminal(session, want_color);
  }
  // After the terminal is restored: say what quitting stopped, and why we stopped.
  const std::string stopped = session.shutdown();
  if (!stopped.empty()) std::cerr << "adaptis tui: " << stopped << "\n";
  if (rc > 128) std::cerr << "adaptis tui: stopped by signal " << (rc - 128) << "\n";
  return rc;
}

}  // namespace

void register_tui(CLI::App& app, Runner& run) {
  auto args = std::make_shared<TuiArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tui", "Explore plans in the terminal: layers, plan, Gantt, bubbles and memory, schedule comparison, runs");
  add_input_options(cmd, args->in);
  add_plan_options(cmd, args->plan);
  add_memory_options(cmd, args->memory);
  add_cluster_view_options(cmd, args->cluster_view);
  add_lengths_options(cmd, args->lengths);
  cmd->add_option("--keys", args->keys,
                  "Keys to press at start, e.g. \"3++<right>\" (names: <up> <down> <left> <right> <pgup> <pgdn> "
                  "<home> <end> <enter> <tab> <btab> <esc> <lt> <gt>)");
  cmd->add_flag("--plain", args->plain,
                "No terminal UI: apply --keys (waiting for the work they start), print the screen as text, exit "
                "(status 1 when the last message is an error)");
  cmd->add_option("--size", args->size,
                  "Screen size for --plain or line mode, WIDTHxHEIGHT in " + size_range_text(kTuiSizeLimits) +
                      " (default: terminal)");
  cmd->add_flag("--no-color", args->no_color, "Monochrome (also when NO_COLOR is set or the terminal has no colour)");
  cmd->add_option("--db", args->db,
                  "Run store for the runs view and launched runs (default $XDG_DATA_HOME/adaptis/runs.db or "
                  "~/.local/share/adaptis/runs.db, as `adaptis run`)");
  cmd->add_option("--save", args->save, "Where `w` saves the plan on screen")->capture_default_str();
  cmd->add_option("--optimize-seconds", args->optimize_seconds, "Optimizer time budget per `o`")
      ->capture_default_str()
      ->check(real_range(0, kMaxTimeBudgetS, true));
  cmd->add_option("--optimize-threads", args->optimize_threads,
                  "Optimizer threads (0 = all; at most 4 per hardware thread and 256)")
      ->check(int_range(0, max_threads_option()));
  cmd->add_option("--run-arg", args->run_args, "Extra argument for launched `adaptis run` (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--session", args->session,
                  "Open a saved session (GUI or TUI: its inputs, cluster, plan, comparison, view and lengths) "
                  "instead of --model/--costs/--plan/--lengths");
  cmd->add_option("--session-out", args->session_out, "Where `W` saves the session")->capture_default_str();
  CLI::App* root = &app;
  cmd->callback([args, &run, root, cmd] { run = [args, root, cmd] { return run_tui(*args, root, cmd); }; });
}

}  // namespace adaptis::cli
