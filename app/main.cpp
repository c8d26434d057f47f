// adaptis: pipeline-parallel plan explorer, optimizer and executor.
#include <CLI/CLI.hpp>
#include <iostream>

#include "adaptis/model/error.h"
#include "adaptis/model/heap_tuning.h"
#include "cli/commands.h"
#include "cli/field_flags.h"
#include "common/terminal_text.h"

int main(int argc, char** argv) {
  adaptis::keep_freed_heap_for_reuse();
  CLI::App app{"adaptis: partition, placement and schedule planning for pipeline-parallel training"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "adaptis 0.1.0");
  adaptis::cli::Runner run;
  adaptis::cli::register_simulate(app, run);
  adaptis::cli::register_compare(app, run);
  adaptis::cli::register_optimize(app, run);
  adaptis::cli::register_plan(app, run);
  adaptis::cli::register_export(app, run);
  adaptis::cli::register_import(app, run);
  adaptis::cli::register_tui(app, run);
  adaptis::cli::register_gui(app, run);
  adaptis::cli::register_costs(app, run);
  adaptis::cli::register_schedules(app, run);
  adaptis::cli::register_run(app, run);
  adaptis::cli::register_runs(app, run);
  adaptis::cli::register_profile(app, run);
  adaptis::cli::register_lengths(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0; real parse errors follow the same
    // "error: ..." convention and exit code as every other bad input.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "error: " << adaptis::app::terminal_safe_text(e.what()) << "\nRun with --help for more information.\n";
    return 1;
  }
  try {
    return run ? run() : 0;
  } catch (const adaptis::InputError& e) {
    // Messages quote names and values from the input files: printed with their control characters escaped.
    std::cerr << "error: " << adaptis::app::terminal_safe_text(adaptis::cli::cli_error_message(e)) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << adaptis::app::terminal_safe_text(e.what()) << "\n";
    return 70;
  }
}
