// `adaptis simulate`: one plan through the performance model.
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {
struct SimulateArgs {
  InputOptions in;
  PlanOptions plan;
  MemoryOptions memory;
  LengthsOptions lengths;
  bool json = false;
  bool gantt = false;
  int gaps = 0;
  int width = 0;
};
}  // namespace

void register_simulate(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd = app.add_subcommand("simulate", "Simulate one plan: iteration time, bubbles, memory per device");
  add_input_options(cmd, args->in);
  add_plan_options(cmd, args->plan);
  add_memory_options(cmd, args->memory);
  add_lengths_options(cmd, args->lengths);
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--gantt", args->gantt, "Draw a Gantt chart in the terminal");
  cmd->add_option("--gaps", args->gaps, "List the N largest idle gaps with their causes")->check(int_range(0, kMaxGaps));
  cmd->add_option("--width", args->width, "Gantt width in characters (default: terminal width)")
      ->check(int_range(kMinChartWidth, kMaxChartWidth));
  cmd->callback([args, &run] {
    run = [args] {
      Inputs in = load_inputs(args->in);
      std::optional<LoadedLengths> lengths;
      if (args->lengths.given()) lengths = apply_lengths(args->lengths, in, PackingMode::PackTokens);
      Plan plan = resolve_plan(args->plan, in);
      fit_cluster_to_plan(in, args->in, plan);
      std::string chosen;
      plan = apply_memory_options(plan, parse_memory_options(args->memory), in.costs, in.cluster, in.sim, chosen);
      SimResult sim = simulate(plan, in.costs, in.cluster, in.sim);
      if (args->json) {
        nlohmann::json j = simulation_json(plan, sim);
        if (!chosen.empty()) j["memory_choice"] = chosen;
        j["model"] = in.costs.model;
        j["cost_source"] = in.costs.source;
        j["cluster"] = in.cluster.name;
        if (lengths) j["varlen"] = varlen_json(*lengths, plan.units, sim);
        std::cout << j.dump(2) << "\n";
      } else {
        if (!chosen.empty()) std::cout << chosen << "\n";
        if (lengths) std::cout << varlen_summary(*lengths, plan.units, sim);
        std::cout << simulation_table(plan, sim);
        if (args->gantt) {
          TextGanttOptions g;
          g.width = args->width > 0 ? args->width : terminal_width();
          g.color = stdout_has_color();
          std::cout << "\n" << render_text_gantt(sim, g);
        }
        if (args->gaps > 0) std::cout << "\n" << gaps_table(sim, static_cast<size_t>(args->gaps));
      }
      return sim.ok ? (sim.oom ? 3 : 0) : 2;
    };
  });
}

}  // namespace adaptis::cli
