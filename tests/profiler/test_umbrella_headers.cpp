// Each library's umbrella header is its whole public interface: a program that includes only the umbrellas
// can load a model, plan, lower, run, record and profile. This file is compiled against nothing else; it
// lives with the profiler's tests because the profiler library links all the others.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <unistd.h>

#include "adaptis/executor.h"
#include "adaptis/model.h"
#include "adaptis/planner.h"
#include "adaptis/profiler.h"
#include "adaptis/store.h"

using namespace adaptis;

TEST(UmbrellaHeaders, ThePublicInterfacePlansRunsRecordsAndProfiles) {
  const exec::NetConfig cfg = exec::load_net_config(std::string(ADAPTIS_SOURCE_DIR) + "/samples/models/tiny-llama.json");
  PlanRequest req;
  req.schedule = "1f1b";
  req.devices = 2;
  req.microbatches = 2;
  const exec::LayerUnits units = exec::plan_layer_units(cfg, false);
  const int layers = units.count();
  const Plan plan = build_plan(req, layers);
  const exec::Program program = exec::map_program_layers(exec::lower_plan(plan), units.bounds);
  EXPECT_TRUE(exec::check_program(program).ok());

  auto backend = exec::make_cpu_run_backend(program, cfg);
  const auto dir = std::filesystem::temp_directory_path() / ("adaptis-umbrella-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    exec::RunStore store((dir / "runs.db").string());
    exec::RunInfo info;
    info.plan = plan_to_json(plan);  // a run's record holds its plan, checked when it is read back
    info.num_devices = plan.num_devices();
    info.num_stages = plan.num_stages();
    info.num_microbatches = plan.num_microbatches;
    const exec::RunOutcome out = exec::execute_run(*backend, program, 1, exec::model_data(cfg), &store, info);
    EXPECT_GT(out.measured_iteration_ms, 0);
    EXPECT_EQ(store.load_run(out.run_id).steps.size(), 1u);
  }
  std::filesystem::remove_all(dir);

  prof::CpuProfileOptions po;
  po.repeats = 1;
  po.warmup = 0;
  const CostTable costs = prof::profile_cpu(cfg, po);
  EXPECT_EQ(costs.num_layers(), layers);
}
