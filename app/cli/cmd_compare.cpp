// `adaptis compare`: every built-in schedule on the same inputs, side by side.
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/compare.h"
#include "cli/inputs.h"
#include "cli/lengths_options.h"
#include "cli/memory_options.h"
#include "cli/option_ranges.h"
#include "cli/report.h"

namespace adaptis::cli {

namespace {
struct CompareArgs {
  InputOptions in;
  PlanOptions plan;
  MemoryOptions memory;
  LengthsOptions lengths;
  bool json = false;
  bool gantt = false;
  int width = 0;
};
}  // namespace

void register_compare(CLI::App& app, Runner& run) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* cmd = app.add_subcommand("compare", "Compare all built-in schedules on the same model and cluster");
  add_input_options(cmd, args->in);
  add_plan_options(cmd, args->plan, false);
  add_memory_options(cmd, args->memory);
  add_lengths_options(cmd, args->lengths);
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--gantt", args->gantt, "Draw the fastest plan's Gantt chart");
  cmd->add_option("--width", args->width, "Gantt width in characters (default: terminal width)")
      ->check(int_range(kMinChartWidth, kMaxChartWidth));
  cmd->callback([args, &run] {
    run = [args] {
      Inputs in = load_inputs(args->in);
      std::optional<LoadedLengths> lengths;
      if (args->lengths.given()) lengths = apply_lengths(args->lengths, in, PackingMode::PackTokens);
      PlanRequest base = make_plan_request(args->plan, in);
      // Every built-in schedule runs on this input: size the check by the most stages any of them makes.
      std::vector<ScheduleKind> every;
      for (const auto& info : all_schedules()) every.push_back(info.kind);
      check_limits(args->in, in, base.microbatches,
                   std::min<long long>(in.costs.num_layers(), planned_stages(base, every)));
      // Every built-in with each uniform memory policy the flags allow (auto: none, selective, full, ...).
      const MemoryChoices mc = parse_memory_options(args->memory);
      std::vector<CompareRow> rows =
          compare_schedules(base, in, mc.given ? uniform_policies(mc) : std::vector<StageMemoryPolicy>{{}});
      // What no plan of this input can beat: how much any schedule, or `optimize`, could still gain.
      const IterationLowerBound bound =
          in.units.empty() ? iteration_lower_bound(in.costs, in.cluster, base.devices, base.microbatches, in.sim)
                           : iteration_lower_bound(in.costs, in.cluster, base.devices, in.units, in.sim);
      if (args->json) {
        nlohmann::json j = compare_json(rows);
        j["lower_bound"] = lower_bound_json(bound);
        if (lengths) {
          const CompareRow* best = fastest(rows);
          j["varlen"] = varlen_json(*lengths, in.units, best ? best->sim : SimResult{});
          for (size_t i = 0; i < rows.size(); ++i)
            if (rows[i].ok && rows[i].sim.iteration_ms > 0)
              j["schedules"][i]["tokens_per_s"] = double(lengths->data.total_tokens()) / (rows[i].sim.iteration_ms * 1e-3);
        }
        std::cout << j.dump(2) << "\n";
      } else {
        std::cout << "model " << terminal_safe(in.costs.model.empty() ? in.costs.source : in.costs.model) << ", "
                  << in.cluster.num_devices() << " devices (" << terminal_safe(in.cluster.name) << "), " << base.microbatches
                  << (in.units.empty() ? " micro-batches\n" : " units\n");
        if (lengths) {
          const CompareRow* best = fastest(rows);
          std::cout << varlen_summary(*lengths, in.units, best ? best->sim : SimResult{});
        }
        std::cout << compare_table(rows);
        const CompareRow* best = fastest(rows);
        std::printf("lower bound: %.3f ms (%s); no plan of this input can be faster", bound.ms, bound.binding.c_str());
        if (best)
          std::printf(", the fastest here is %.1f%% above it (try `adaptis optimize`)",
                      100.0 * (best->sim.iteration_ms / bound.ms - 1));
        std::printf("\n");
        if (args->gantt) {
          if (best) {
            TextGanttOptions g;
            g.width = args->width > 0 ? args->width : terminal_width();
            g.color = stdout_has_color();
            std::cout << "\nfastest: " << terminal_safe(best->name) << "\n" << render_text_gantt(best->sim, g);
          }
        }
      }
      return fastest(rows) ? 0 : 2;
    };
  });
}

}  // namespace adaptis::cli
