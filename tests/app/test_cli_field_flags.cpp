// The libraries name the option at fault by its field; the CLI maps fields to its flags in one table
// (app/cli/field_flags.h). These tests keep that table honest: every flag in it exists on some command,
// library errors carry fields the table knows, and the CLI prints the flag where the library said the field.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "adaptis/executor/gpu.h"
#include "adaptis/executor/tensor_parallel.h"
#include "adaptis/model/cluster.h"
#include "adaptis/model/error.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/planner/cluster_search.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"
#include "cli/commands.h"
#include "cli/field_flags.h"

using namespace adaptis;

namespace {

// The field of the InputError `fn` throws ("<none>" when it throws none, "<no field>" when it has none).
std::string field_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.field().empty() ? "<no field>" : e.field();
  }
  return "<none>";
}

}  // namespace

TEST(CliFieldFlags, EveryFlagInTheTableIsAnOptionOfSomeCommand) {
  CLI::App app;
  cli::Runner run;
  cli::register_simulate(app, run);
  cli::register_compare(app, run);
  cli::register_optimize(app, run);
  cli::register_export(app, run);
  cli::register_import(app, run);
  cli::register_tui(app, run);
  cli::register_gui(app, run);
  cli::register_costs(app, run);
  cli::register_schedules(app, run);
  cli::register_run(app, run);
  cli::register_runs(app, run);
  cli::register_profile(app, run);
  cli::register_plan(app, run);
  for (const auto& [field, flag] : cli::field_flags()) {
    bool found = false;
    for (CLI::App* sub : app.get_subcommands({}))
      if (sub->get_option_no_throw(flag) != nullptr) found = true;
    EXPECT_TRUE(found) << "field '" << field << "' maps to " << flag << ", which no command has";
  }
}

TEST(CliFieldFlags, LibraryErrorsNameFieldsTheTableMaps) {
  const std::string fields[] = {
      field_of([] { make_uniform_cluster(0); }),
      field_of([] { generate_schedule(ScheduleKind::OneFOneB, {0, 8}); }),
      field_of([] { generate_schedule(ScheduleKind::OneFOneB, {4, 0}); }),
      field_of([] { parse_schedule_kind("warp"); }),
      field_of([] { parse_partition("4,x"); }),
      field_of([] { parse_placement("0|0", 2, 1); }),
      field_of([] { exec::parse_gpu_precision("fp8"); }),
      field_of([] {
        exec::GpuRunOptions o;
        o.watchdog_ms = 0;
        exec::validate_gpu_run_options(o, 2);
      }),
      field_of([] { exec::check_tensor_parallel(exec::NetConfig{}, 0); }),
  };
  for (const std::string& f : fields) EXPECT_NE(cli::flag_for_field(f), "") << "no flag for library field '" << f << "'";
}

TEST(CliFieldFlags, ClusterSearchErrorsNameFieldsTheTableMaps) {
  const ModelSpec model = load_model_spec(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/llama-2-7b.json");
  const Cluster cluster = load_cluster(std::string(ADAPTIS_SOURCE_DIR) + "/samples/clusters/dgx-h100.json");
  auto search = [&](const std::function<void(ClusterSearchOptions&)>& edit) {
    return field_of([&] {
      ClusterSearchOptions o;
      o.global_batch_tokens = 4096LL * 64;
      edit(o);
      search_cluster_plans(model, cluster, o);
    });
  };
  const std::string fields[] = {
      search([](ClusterSearchOptions& o) { o.global_batch_tokens = 0; }),
      search([](ClusterSearchOptions& o) { o.gpus = 4096; }),
      search([](ClusterSearchOptions& o) { o.tp = {16}; }),
      search([](ClusterSearchOptions& o) { o.pp = {0}; }),
      search([](ClusterSearchOptions& o) { o.cp = {0}; }),
      search([](ClusterSearchOptions& o) { o.ep = {0}; }),
      search([](ClusterSearchOptions& o) { o.micro_batch_sizes = {0}; }),
      search([](ClusterSearchOptions& o) { o.zero_levels = {4}; }),
      search([](ClusterSearchOptions& o) { o.optimize_top = -1; }),
      search([](ClusterSearchOptions& o) { o.evaluations = -1; }),
  };
  for (const std::string& f : fields) EXPECT_NE(cli::flag_for_field(f), "") << "no flag for library field '" << f << "'";
}

TEST(CliFieldFlags, MessagesUseTheFlagWhereTheLibraryNamedTheField) {
  EXPECT_EQ(cli::cli_error_message(InputError("microbatches", "must be >= 1, got 0")), "--microbatches: must be >= 1, got 0");
  EXPECT_EQ(cli::cli_error_message(InputError("time_limit_s", "must be > 0")), "--time-limit-s: must be > 0");
  // The library's own wording, as the GUI and TUI show it.
  EXPECT_STREQ(InputError("microbatches", "must be >= 1, got 0").what(), "microbatches: must be >= 1, got 0");
  // No field, or a field no flag sets: the message as it is.
  EXPECT_EQ(cli::cli_error_message(InputError("plan.json: stages[2]: missing")), "plan.json: stages[2]: missing");
  EXPECT_EQ(cli::cli_error_message(InputError("layers", "empty")), "layers: empty");
}
