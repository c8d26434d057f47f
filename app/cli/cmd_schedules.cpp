// `adaptis schedules`: the built-in schedules and what they need; `--torch-rules` lists what
// PyTorch's pipelining runtime requires of any plan exported to it.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "adaptis/planner.h"
#include "adaptis/planner/torch_rules.h"
#include "cli/commands.h"

namespace adaptis::cli {

namespace {
struct SchedulesArgs {
  bool json = false;
  bool torch_rules = false;
};

int run_schedules(const SchedulesArgs& a) {
  if (a.torch_rules) {
    if (a.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& r : torch_rules()) arr.push_back({{"rule", r.name}, {"description", r.description}});
      std::cout << arr.dump(2) << "\n";
    } else {
      std::printf("Rules of PyTorch's pipelining runtime (checked by `export --pytorch-csv` and `optimize --target "
                  "torch`):\n");
      for (const auto& r : torch_rules()) std::printf("  %-22s %s\n", r.name, r.description);
    }
    return 0;
  }
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& s : all_schedules()) arr.push_back({{"name", s.name}, {"description", s.description}});
    std::cout << arr.dump(2) << "\n";
    return 0;
  }
  for (const auto& s : all_schedules()) std::printf("%-24s %s\n", s.name, s.description);
  return 0;
}
}  // namespace

void register_schedules(CLI::App& app, Runner& run) {
  auto args = std::make_shared<SchedulesArgs>();
  CLI::App* cmd = app.add_subcommand("schedules", "List the built-in schedules");
  cmd->add_flag("--json", args->json, "Machine-readable output");
  cmd->add_flag("--torch-rules", args->torch_rules, "List the rules PyTorch's pipelining runtime imposes on a plan");
  cmd->callback([args, &run] { run = [args] { return run_schedules(*args); }; });
}

}  // namespace adaptis::cli
