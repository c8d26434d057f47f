#pragma once
// Each subcommand lives in its own file and registers itself on the root CLI11 app.
// main.cpp calls every register_* function; a subcommand returns its process exit code.
#include <CLI/CLI.hpp>
#include <functional>

namespace adaptis::cli {

// The action to run once parsing succeeded; set by the chosen subcommand's callback.
using Runner = std::function<int()>;

void register_simulate(CLI::App& app, Runner& run);
void register_compare(CLI::App& app, Runner& run);
void register_optimize(CLI::App& app, Runner& run);
void register_plan(CLI::App& app, Runner& run);  // whole-cluster search (cluster_plan.h)
void register_export(CLI::App& app, Runner& run);
void register_import(CLI::App& app, Runner& run);
void register_tui(CLI::App& app, Runner& run);
void register_gui(CLI::App& app, Runner& run);
void register_costs(CLI::App& app, Runner& run);
void register_schedules(CLI::App& app, Runner& run);
void register_run(CLI::App& app, Runner& run);
void register_runs(CLI::App& app, Runner& run);  // `runs` and `show`
void register_profile(CLI::App& app, Runner& run);
void register_lengths(CLI::App& app, Runner& run);  // `lengths FILE|DIST`: histogram and packing

}  // namespace adaptis::cli
